//! The in-memory store, for tests and simulation: the same tree as [`super::RocksStore`], its pages
//! and values in maps, and the side writes committed with them in a map of their own.

use super::tree::{self, Page, PageKey, PageSource, Slot};
use super::{ChangeSet, SideWrite, Store, StoreError, VersionedProof, check_side_writes};
use runnet_types::Hash;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

#[derive(Default)]
struct Inner {
    values: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Looked up by key only, never iterated.
    pages: HashMap<PageKey, Arc<Page>>,
    root: Slot,
    version: u64,
    /// Side writes, by column family and key: what RocksDB would hold in the node's column
    /// families.
    side: BTreeMap<(String, Vec<u8>), Vec<u8>>,
}

impl PageSource for Inner {
    fn page(&self, key: &PageKey) -> Result<Option<Arc<Page>>, StoreError> {
        Ok(self.pages.get(key).cloned())
    }
}

/// A [`Store`] held in memory: values in a `BTreeMap`, tree pages in a map by position.
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Inner>,
}

impl MemStore {
    /// An empty store at version 0.
    pub fn new() -> MemStore {
        MemStore::default()
    }

    /// Number of keys with a value.
    pub fn len(&self) -> usize {
        self.read().values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.read().values.is_empty()
    }

    /// A value a side write put under `key` of column family `column`.
    pub fn side_value(&self, column: &str, key: &[u8]) -> Option<Vec<u8>> {
        self.read()
            .side
            .get(&(column.to_string(), key.to_vec()))
            .cloned()
    }

    /// Number of stored tree pages (for tests and sizing).
    pub fn page_count(&self) -> usize {
        self.read().pages.len()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A poisoned lock still holds a consistent state: a commit changes the maps only after
        // everything that can fail has succeeded, and nothing in between panics.
        self.inner.read().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read().values.get(key).cloned())
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        use std::ops::Bound;
        let inner = self.read();
        let start = match after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        Ok(inner
            .values
            .range::<[u8], _>((start, Bound::Unbounded))
            .take_while(|(key, _)| key.starts_with(prefix))
            .take(limit)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect())
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
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.version.checked_add(1) != Some(version) {
            return Err(StoreError::VersionGap {
                current: inner.version,
                got: version,
            });
        }
        let hashed = tree::hashed_changes(changes)?;
        let update = tree::update(&*inner, inner.root, &hashed)?;
        // Nothing below fails: the commit is all or nothing.
        for (key, page) in update.writes {
            match page {
                Some(page) => inner.pages.insert(key, page),
                None => inner.pages.remove(&key),
            };
        }
        for (key, value) in changes {
            match value {
                Some(value) => inner.values.insert(key.clone(), value.clone()),
                None => inner.values.remove(key),
            };
        }
        let root = update.root.hash();
        for write in side {
            let key = (write.column.to_string(), write.key.clone());
            match write.bytes(&root) {
                Some(bytes) => inner.side.insert(key, bytes.to_vec()),
                None => inner.side.remove(&key),
            };
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
        let inner = self.read();
        Ok(VersionedProof {
            version: inner.version,
            root: inner.root.hash(),
            value: inner.values.get(key).cloned(),
            proof: tree::prove(&*inner, inner.root, &tree::key_hash(key))?,
        })
    }
}
