//! The RocksDB store: values, tree pages and the head (version and root) in three column families,
//! each commit one `WriteBatch` written with the WAL on (with the caller's side writes to the
//! node's column families, if any), and the top of the tree cached in memory.

use super::tree::{self, Page, PageKey, PageSource, Slot};
use super::{ChangeSet, SideWrite, Store, StoreError, VersionedProof, check_side_writes};
use rocksdb::{
    BlockBasedOptions, Cache, ColumnFamily, ColumnFamilyDescriptor, DB, DBCompressionType,
    Direction, IteratorMode, Options, ReadOptions, WriteBatch, WriteOptions,
};
use runnet_types::Hash;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};

/// Column family of the state's values: the raw key to the raw value.
pub const VALUES_CF: &str = "state_values";
/// Column family of the tree's pages: [`PageKey::encode`] to [`Page::encode`].
pub const TREE_CF: &str = "state_tree";
/// Column family of the head: [`HEAD_KEY`] to the version and root slot.
pub const META_CF: &str = "state_meta";
/// The one key of [`META_CF`].
pub const HEAD_KEY: &[u8] = b"head";
/// First byte of the head's encoding; a different layout gets a different number.
const FORMAT: u8 = 1;

/// Pages less than this many nibbles deep stay in memory once read or written: at most
/// 1 + 16 + 16² + 16³ + 16⁴ = 69,905 pages (~1.6 KB each in memory: ~115 MB at most), which
/// covers every page of a state of ~10,000 keys and every page above the last level of one of
/// ~1,000,000.
pub const CACHE_DEPTH: usize = 5;

/// Memtable size of the state's column families.
const WRITE_BUFFER_BYTES: usize = 8 << 20;

/// Shared block cache of the state's column families.
const BLOCK_CACHE_BYTES: usize = 128 << 20;
/// Values of the node's column families at least this large are kept in blob files.
const BLOB_MIN_BYTES: u64 = 4 << 10;
/// The bound on all memtables of the database together.
const MEMTABLES_BYTES: usize = 96 << 20;
/// Past this much log, the memtables holding the oldest log file are flushed so it can go.
const MAX_LOG_BYTES: u64 = 64 << 20;
/// Log files kept for reuse once out of use.
const RECYCLED_LOG_FILES: usize = 8;

/// Whether files in `path` (created if missing) can be opened for direct I/O: not on tmpfs, for
/// one. Without it, flushes and compactions go through the page cache as usual.
pub(super) fn direct_io_works(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if std::fs::create_dir_all(path).is_err() {
            return false;
        }
        let probe = path.join(".direct-io-probe");
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(libc::O_DIRECT)
            .open(&probe);
        let _ = std::fs::remove_file(&probe);
        opened.is_ok()
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

fn io(error: rocksdb::Error) -> StoreError {
    StoreError::Io(error.to_string())
}

struct Inner {
    version: u64,
    root: Slot,
    /// Pages above [`CACHE_DEPTH`], exactly as committed. Looked up by key only, never iterated.
    cache: HashMap<PageKey, Arc<Page>>,
}

/// A [`Store`] in RocksDB. `Send + Sync`: reads go straight to RocksDB, a commit holds the write
/// lock of the in-memory head and cache while it computes and writes.
pub struct RocksStore {
    db: Arc<DB>,
    inner: RwLock<Inner>,
    write_options: WriteOptions,
}

/// Reads pages from the cache, then RocksDB; remembers what it read from RocksDB.
struct Pages<'a> {
    db: &'a DB,
    tree: &'a ColumnFamily,
    cache: &'a HashMap<PageKey, Arc<Page>>,
    read: RefCell<Vec<(PageKey, Arc<Page>)>>,
}

impl PageSource for Pages<'_> {
    fn page(&self, key: &PageKey) -> Result<Option<Arc<Page>>, StoreError> {
        if let Some(page) = self.cache.get(key) {
            return Ok(Some(page.clone()));
        }
        let Some(bytes) = self.db.get_pinned_cf(self.tree, key.encode()).map_err(io)? else {
            return Ok(None);
        };
        let page = Arc::new(Page::decode(&bytes)?);
        if key.depth() < CACHE_DEPTH {
            self.read.borrow_mut().push((*key, page.clone()));
        }
        Ok(Some(page))
    }
}

fn encode_head(version: u64, root: &Slot) -> Vec<u8> {
    let mut out = Vec::with_capacity(1 + 8 + 65);
    out.push(FORMAT);
    out.extend_from_slice(&version.to_le_bytes());
    root.encode_into(&mut out);
    out
}

fn decode_head(bytes: &[u8]) -> Result<(u64, Slot), StoreError> {
    match bytes {
        [FORMAT, rest @ ..] if rest.len() >= 8 => {
            let (version, slot) = rest.split_at(8);
            let mut le = [0u8; 8];
            le.copy_from_slice(version);
            Ok((u64::from_le_bytes(le), Slot::decode(slot)?))
        }
        [format, ..] if *format != FORMAT => Err(StoreError::Corrupt(format!(
            "state metadata has format {format}, this build reads format {FORMAT}"
        ))),
        _ => Err(StoreError::Corrupt(format!(
            "state metadata ({META_CF}/head) is malformed ({} bytes)",
            bytes.len()
        ))),
    }
}

impl RocksStore {
    /// Opens (or creates) the store in the RocksDB directory `path`, at its last committed version
    /// and root.
    pub fn open(path: &Path) -> Result<RocksStore, StoreError> {
        RocksStore::open_with_column_families(path, &[])
    }

    /// As [`RocksStore::open`], also opening (creating if missing) the column families `extra` with
    /// default options, for other data of the node in the same database (blocks, batches...): reach
    /// them through [`RocksStore::db`] and `DB::cf_handle`. Column families already in the
    /// database are always opened too, as RocksDB requires.
    pub fn open_with_column_families(
        path: &Path,
        extra: &[&str],
    ) -> Result<RocksStore, StoreError> {
        let mut db_options = Options::default();
        db_options.create_if_missing(true);
        db_options.create_missing_column_families(true);
        db_options.set_max_background_jobs(2);
        // All column families' memtables together (seven families of up to four 8 MB buffers
        // could otherwise hold 224 MB): past this, the largest is flushed early.
        db_options.set_db_write_buffer_size(MEMTABLES_BYTES);
        // Writes into pages the page cache has never held cost ten times more than into pages it
        // holds or has just freed (measured here: 0.46 against 5-15 GB/s; the kernel must fetch
        // fresh memory for each, on a virtual machine from the host). Under load, the node's
        // largest CPU cost was that copy (24 % of all samples in the raw benchmark). So files
        // written once and kept (tables, blob files) bypass the page cache, and the log reuses
        // a few files instead of making new ones: the memtables' log is bounded small, so a log
        // file falls out of use within seconds and its pages, still cached, take the next.
        if direct_io_works(path) {
            db_options.set_use_direct_io_for_flush_and_compaction(true);
        }
        db_options.set_recycle_log_file_num(RECYCLED_LOG_FILES);
        db_options.set_max_total_wal_size(MAX_LOG_BYTES);

        let cache = Cache::new_lru_cache(BLOCK_CACHE_BYTES);
        let state_cf = |compression: DBCompressionType| {
            let mut table = BlockBasedOptions::default();
            table.set_block_cache(&cache);
            table.set_bloom_filter(10.0, false);
            // Index and filter blocks live in the cache too, so memory stays bounded as the
            // database grows (outside it they are held for every open table: a validator's
            // resident memory grew by about 10 MB a minute at full load).
            table.set_cache_index_and_filter_blocks(true);
            table.set_pin_l0_filter_and_index_blocks_in_cache(true);
            let mut options = Options::default();
            options.set_block_based_table_factory(&table);
            options.set_compression_type(compression);
            // Small memtables: a commit inserts ~27,000 entries, and inserting into a skip list of
            // a few hundred thousand entries costs less than half as much as into one of millions
            // (measured: 4 and 8 MB beat the 64 MB default by 2x on a 20,000-key commit). More
            // buffers give the background flush room to keep up.
            options.set_write_buffer_size(WRITE_BUFFER_BYTES);
            options.set_max_write_buffer_number(4);
            options
        };

        // RocksDB refuses to open a database without naming all its column families.
        // No database yet gives an error here: it will be created with just ours.
        let mut names: Vec<String> = DB::list_cf(&Options::default(), path).unwrap_or_default();
        for name in extra {
            if !names.iter().any(|n| n == name) {
                names.push((*name).to_string());
            }
        }
        names.retain(|n| n != VALUES_CF && n != TREE_CF && n != META_CF);
        let mut descriptors = vec![
            ColumnFamilyDescriptor::new(VALUES_CF, state_cf(DBCompressionType::Lz4)),
            // Pages are hashes: they do not compress.
            ColumnFamilyDescriptor::new(TREE_CF, state_cf(DBCompressionType::None)),
            ColumnFamilyDescriptor::new(META_CF, Options::default()),
        ];
        // The node's column families (blocks, batches, the transaction index) take the same
        // small memtables: the index's keys are hashes, as random as the tree's, and with the
        // 64 MB default its inserts were the node's largest RocksDB cost under load. Batches are
        // mostly keys and signatures, which do not compress.
        //
        // Their large values (batches, blocks) go to blob files, written once: in the tree,
        // compaction rewrote every batch again and again (raw benchmark payloads: 334 MB/s
        // written for 22 MB/s of payloads, with the disk the limit). No blob garbage collection:
        // it would relocate live batches; blocks are pruned oldest first, so old blob files end
        // up holding only deleted batches and are dropped whole.
        descriptors.extend(names.into_iter().map(|name| {
            let mut options = state_cf(DBCompressionType::None);
            options.set_enable_blob_files(true);
            options.set_min_blob_size(BLOB_MIN_BYTES);
            ColumnFamilyDescriptor::new(name, options)
        }));
        let db = DB::open_cf_descriptors(&db_options, path, descriptors).map_err(|e| {
            StoreError::Io(format!(
                "opening the state database at {}: {e}",
                path.display()
            ))
        })?;
        let mut write_options = WriteOptions::default();
        write_options.disable_wal(false);
        let store = RocksStore {
            db: Arc::new(db),
            inner: RwLock::new(Inner {
                version: 0,
                root: Slot::Empty,
                cache: HashMap::new(),
            }),
            write_options,
        };
        store.load_head()?;
        Ok(store)
    }

    /// Reads the head, or writes the empty one into a new database; checks the root page.
    fn load_head(&self) -> Result<(), StoreError> {
        let meta = self.cf(META_CF)?;
        let (version, root) = match self.db.get_cf(meta, HEAD_KEY).map_err(io)? {
            Some(bytes) => decode_head(&bytes)?,
            None => {
                // A new database has nothing in any state column family; anything else without a
                // head has lost it.
                for name in [VALUES_CF, TREE_CF, META_CF] {
                    let cf = self.cf(name)?;
                    if let Some(entry) = self.db.iterator_cf(cf, IteratorMode::Start).next() {
                        entry.map_err(io)?;
                        return Err(StoreError::Corrupt(format!(
                            "state metadata entry {META_CF}/head is missing but {name} holds data"
                        )));
                    }
                }
                let mut batch = WriteBatch::default();
                batch.put_cf(meta, HEAD_KEY, encode_head(0, &Slot::Empty));
                self.db.write_opt(batch, &self.write_options).map_err(io)?;
                (0, Slot::Empty)
            }
        };
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if let Slot::Page(hash) = root {
            let pages = Pages {
                db: &self.db,
                tree: self.cf(TREE_CF)?,
                cache: &inner.cache,
                read: RefCell::new(Vec::new()),
            };
            let page = pages.page(&PageKey::ROOT)?.ok_or_else(|| {
                StoreError::Corrupt("the root page of the state tree is missing".into())
            })?;
            if page.hash() != hash {
                return Err(StoreError::Corrupt(format!(
                    "the root page of the state tree hashes to {}, the head says {hash}",
                    page.hash()
                )));
            }
            let read = pages.read.into_inner();
            inner.cache.extend(read);
        }
        inner.version = version;
        inner.root = root;
        Ok(())
    }

    /// The underlying database, shared with the node's other column families.
    pub fn db(&self) -> &Arc<DB> {
        &self.db
    }

    /// Number of tree pages held in memory.
    pub fn cached_pages(&self) -> usize {
        self.read().cache.len()
    }

    fn cf(&self, name: &str) -> Result<&ColumnFamily, StoreError> {
        self.db
            .cf_handle(name)
            .ok_or_else(|| StoreError::Corrupt(format!("column family {name} is missing")))
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A poisoned lock still holds a consistent head and cache: a commit changes them only
        // after its batch is written, and nothing in between panics.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for RocksStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .db
            .get_pinned_cf(self.cf(VALUES_CF)?, key)
            .map_err(io)?
            .map(|value| value.to_vec()))
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let start = match after {
            Some(after) if after >= prefix => after,
            _ => prefix,
        };
        let mut options = ReadOptions::default();
        if let Some(end) = prefix_end(prefix) {
            options.set_iterate_upper_bound(end);
        }
        let iter = self.db.iterator_cf_opt(
            self.cf(VALUES_CF)?,
            options,
            IteratorMode::From(start, Direction::Forward),
        );
        for entry in iter {
            let (key, value) = entry.map_err(io)?;
            if !key.starts_with(prefix) {
                break;
            }
            if after.is_some_and(|after| &*key <= after) {
                continue;
            }
            out.push((key.into_vec(), value.into_vec()));
            if out.len() == limit {
                break;
            }
        }
        Ok(out)
    }

    fn commit(&self, version: u64, changes: &ChangeSet) -> Result<Hash, StoreError> {
        self.commit_with(version, changes, &[])
    }

    fn commit_with(
        &self,
        version: u64,
        changes: &ChangeSet,
        side: &[SideWrite],
    ) -> Result<Hash, StoreError> {
        check_side_writes(side)?;
        let side_columns = side
            .iter()
            .map(|w| {
                self.db.cf_handle(w.column).ok_or_else(|| {
                    StoreError::Side(format!("the database has no column family {}", w.column))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.version.checked_add(1) != Some(version) {
            return Err(StoreError::VersionGap {
                current: inner.version,
                got: version,
            });
        }
        let values = self.cf(VALUES_CF)?;
        let tree = self.cf(TREE_CF)?;
        let hashed = tree::hashed_changes(changes)?;
        let pages = Pages {
            db: &self.db,
            tree,
            cache: &inner.cache,
            read: RefCell::new(Vec::new()),
        };
        let update = tree::update(&pages, inner.root, &hashed)?;
        let read = pages.read.into_inner();

        let value_bytes: usize = changes
            .iter()
            .map(|(key, value)| key.len() + value.as_ref().map_or(0, Vec::len) + 24)
            .sum();
        let mut batch = WriteBatch::with_capacity_bytes(value_bytes + update.writes.len() * 600);
        for (key, value) in changes {
            match value {
                Some(value) => batch.put_cf(values, key, value),
                None => batch.delete_cf(values, key),
            }
        }
        let mut buffer = Vec::with_capacity(4 + 16 * 64);
        // In key order: RocksDB's memtable inserts a sorted run much faster than a shuffled one.
        let mut writes: Vec<_> = update
            .writes
            .iter()
            .map(|(key, page)| (key.encode_array(), page))
            .collect();
        writes.sort_unstable_by(|((a, a_len), _), ((b, b_len), _)| a[..*a_len].cmp(&b[..*b_len]));
        for ((key, len), page) in writes {
            match page {
                Some(page) => {
                    buffer.clear();
                    page.encode_into(&mut buffer);
                    batch.put_cf(tree, &key[..len], &buffer);
                }
                None => batch.delete_cf(tree, &key[..len]),
            }
        }
        let root = update.root.hash();
        for (write, column) in side.iter().zip(side_columns) {
            match write.bytes(&root) {
                Some(bytes) => batch.put_cf(column, &write.key, bytes),
                None => batch.delete_cf(column, &write.key),
            }
        }
        batch.put_cf(
            self.cf(META_CF)?,
            HEAD_KEY,
            encode_head(version, &update.root),
        );
        self.db.write_opt(batch, &self.write_options).map_err(io)?;

        // Written: now the memory follows.
        inner.cache.extend(read);
        for (key, page) in update.writes {
            if key.depth() < CACHE_DEPTH {
                match page {
                    Some(page) => inner.cache.insert(key, page),
                    None => inner.cache.remove(&key),
                };
            }
        }
        inner.root = update.root;
        inner.version = version;
        Ok(root)
    }

    fn root(&self) -> Hash {
        self.read().root.hash()
    }

    fn version(&self) -> u64 {
        self.read().version
    }

    fn prove_versioned(&self, key: &[u8]) -> Result<VersionedProof, StoreError> {
        // The read lock keeps commits out: the pages, the value and the root are of one version.
        let inner = self.read();
        let pages = Pages {
            db: &self.db,
            tree: self.cf(TREE_CF)?,
            cache: &inner.cache,
            read: RefCell::new(Vec::new()),
        };
        Ok(VersionedProof {
            version: inner.version,
            root: inner.root.hash(),
            proof: tree::prove(&pages, inner.root, &tree::key_hash(key))?,
            value: self.get(key)?,
        })
    }
}

/// The smallest key greater than every key beginning with `prefix`, if there is one.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}
