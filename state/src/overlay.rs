//! A block's working state: reads fall through to the committed store, writes collect in an
//! ordered change set that becomes the block's one atomic commit. A journal undoes the writes of a
//! transaction whose payload fails, so a failure changes nothing but gas and nonce.

use crate::store::{ChangeSet, Store, StoreError};
use runnet_types::encoding;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::sync::Mutex;

/// Committed values recently read or written, so hot accounts skip the store. Only ever asked
/// for one key at a time: its iteration order never reaches anything hashed.
/// Decodes a stored value; a value that does not decode means the store is corrupt.
pub fn decode_value<T: Serialize + DeserializeOwned>(
    key: &[u8],
    bytes: &[u8],
) -> Result<T, StoreError> {
    encoding::decode(bytes)
        .map_err(|e| StoreError::Corrupt(format!("value under key {}: {e}", hex::encode(key))))
}

pub struct ValueCache {
    entries: Mutex<CacheEntries>,
    capacity: usize,
}

#[derive(Default)]
struct CacheEntries {
    values: HashMap<Vec<u8>, Option<Vec<u8>>>,
    /// Bumped by every commit the cache absorbs (and every clear). A reader that missed notes it
    /// before reading the store and inserts what it read only if no commit came in between:
    /// otherwise the value it read may be older than the one the commit absorbed, and caching it
    /// would serve the next block a stale value (a silent divergence of this node's state).
    generation: u64,
}

impl ValueCache {
    pub fn new(capacity: usize) -> ValueCache {
        ValueCache {
            entries: Mutex::new(CacheEntries::default()),
            capacity,
        }
    }

    fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.entries.lock().ok()?.values.get(key).cloned()
    }

    /// The generation to hand [`ValueCache::insert_read`] after a store read.
    fn generation(&self) -> u64 {
        self.entries
            .lock()
            .map(|e| e.generation)
            .unwrap_or(u64::MAX)
    }

    /// A value read from the store after [`ValueCache::generation`] said `seen`: cached only if
    /// no commit was absorbed since.
    fn insert_read(&self, key: &[u8], value: Option<Vec<u8>>, seen: u64) {
        if let Ok(mut entries) = self.entries.lock()
            && entries.generation == seen
        {
            self.insert_locked(&mut entries, key, value);
        }
    }

    fn insert_locked(&self, entries: &mut CacheEntries, key: &[u8], value: Option<Vec<u8>>) {
        // Clearing when full is crude but cheap and predictable; the store stays the truth.
        if entries.values.len() >= self.capacity {
            entries.values.clear();
        }
        entries.values.insert(key.to_vec(), value);
    }

    /// After a commit: the cache must never serve a value older than the store's.
    pub fn absorb(&self, changes: &ChangeSet) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            for (key, value) in changes {
                self.insert_locked(&mut entries, key, value.clone());
            }
        }
    }

    /// Forget everything (after a failed commit, when the store's content is uncertain).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.generation = entries.generation.wrapping_add(1);
            entries.values.clear();
        }
    }
}

/// For each key a transaction wrote: what `changes` held for it before (`None`: nothing).
type Journal = Vec<(Vec<u8>, Option<Option<Vec<u8>>>)>;

/// A key and its value.
type Entry = (Vec<u8>, Vec<u8>);

/// Keys and values in ascending key order.
type Entries = Vec<Entry>;

pub struct Overlay<'a> {
    store: &'a dyn Store,
    cache: &'a ValueCache,
    changes: ChangeSet,
    /// While a transaction's payload runs: what each touched key held in `changes` before.
    journal: Option<Journal>,
}

impl<'a> Overlay<'a> {
    pub fn new(store: &'a dyn Store, cache: &'a ValueCache) -> Overlay<'a> {
        Overlay {
            store,
            cache,
            changes: ChangeSet::new(),
            journal: None,
        }
    }

    pub fn get_raw(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(value) = self.changes.get(key) {
            return Ok(value.clone());
        }
        if let Some(value) = self.cache.get(key) {
            return Ok(value);
        }
        let seen = self.cache.generation();
        let value = self.store.get(key)?;
        self.cache.insert_read(key, value.clone(), seen);
        Ok(value)
    }

    pub fn get<T: Serialize + DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        self.get_raw(key)?
            .map(|bytes| decode_value(key, &bytes))
            .transpose()
    }

    pub fn put<T: Serialize>(&mut self, key: Vec<u8>, value: &T) {
        self.set(key, Some(encoding::encode(value)));
    }

    pub fn put_raw(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.set(key, Some(value));
    }

    pub fn delete(&mut self, key: Vec<u8>) {
        self.set(key, None);
    }

    fn set(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
        if let Some(journal) = &mut self.journal {
            journal.push((key.clone(), self.changes.get(&key).cloned()));
        }
        self.changes.insert(key, value);
    }

    /// Every live key with `prefix`, in ascending order, this block's writes included.
    pub fn scan(&self, prefix: &[u8]) -> Result<Entries, StoreError> {
        let mut merged: ChangeSet = self
            .store
            .scan_prefix(prefix, None, usize::MAX)?
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect();
        for (key, value) in self
            .changes
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
        {
            merged.insert(key.clone(), value.clone());
        }
        Ok(merged
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect())
    }

    /// The first live key with `prefix` strictly after `after` (when given), this block's writes
    /// included: a queue read from its head without scanning all of it.
    pub fn first_after(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
    ) -> Result<Option<Entry>, StoreError> {
        use std::ops::Bound;
        let lower = match after {
            Some(a) => Bound::Excluded(a.to_vec()),
            None => Bound::Included(prefix.to_vec()),
        };
        let from_changes = self
            .changes
            .range((lower, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .find_map(|(k, v)| v.as_ref().map(|v| (k.clone(), v.clone())));
        // The first committed key this block has not rewritten or deleted.
        let mut cursor = after.map(<[u8]>::to_vec);
        let from_store = loop {
            let batch = self.store.scan_prefix(prefix, cursor.as_deref(), 64)?;
            let Some((last, _)) = batch.last() else {
                break None;
            };
            let last = last.clone();
            if let Some(found) = batch
                .into_iter()
                .find(|(k, _)| !self.changes.contains_key(k))
            {
                break Some(found);
            }
            cursor = Some(last);
        };
        Ok(match (from_changes, from_store) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        })
    }

    pub fn begin_tx(&mut self) {
        self.journal = Some(Vec::new());
    }

    pub fn keep_tx(&mut self) {
        self.journal = None;
    }

    pub fn undo_tx(&mut self) {
        if let Some(journal) = self.journal.take() {
            for (key, previous) in journal.into_iter().rev() {
                match previous {
                    Some(value) => self.changes.insert(key, value),
                    None => self.changes.remove(&key),
                };
            }
        }
    }

    pub fn into_changes(self) -> ChangeSet {
        self.changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;

    #[test]
    fn first_after_merges_the_block_writes_with_the_store() {
        let store = MemStore::new();
        let committed: ChangeSet = [b"q/1", b"q/2", b"q/3", b"r/0"]
            .into_iter()
            .map(|k| (k.to_vec(), Some(b"old".to_vec())))
            .collect();
        store.commit(1, &committed).unwrap();
        let cache = ValueCache::new(16);
        let mut overlay = Overlay::new(&store, &cache);
        let first = |o: &Overlay<'_>, after: Option<&[u8]>| {
            o.first_after(b"q/", after)
                .unwrap()
                .map(|(k, v)| (String::from_utf8(k).unwrap(), v))
        };
        assert_eq!(first(&overlay, None), Some(("q/1".into(), b"old".to_vec())));
        // Deleted in this block: skipped; rewritten: the new value; a new key in between.
        overlay.delete(b"q/1".to_vec());
        overlay.put_raw(b"q/2".to_vec(), b"new".to_vec());
        overlay.put_raw(b"q/25".to_vec(), b"mid".to_vec());
        assert_eq!(first(&overlay, None), Some(("q/2".into(), b"new".to_vec())));
        assert_eq!(
            first(&overlay, Some(b"q/2")),
            Some(("q/25".into(), b"mid".to_vec()))
        );
        assert_eq!(
            first(&overlay, Some(b"q/25")),
            Some(("q/3".into(), b"old".to_vec()))
        );
        // Past the prefix there is nothing, even with other kinds of keys after it.
        assert_eq!(first(&overlay, Some(b"q/3")), None);
        overlay.delete(b"q/3".to_vec());
        assert_eq!(first(&overlay, Some(b"q/25")), None);
    }

    /// A store whose reads of one key pause between reading and returning, so a test can commit
    /// in that gap: the race between an outside reader (API, mempool, agent) and a block commit.
    struct PausingStore {
        inner: MemStore,
        key: Vec<u8>,
        read: std::sync::mpsc::Sender<()>,
        go: std::sync::Mutex<std::sync::mpsc::Receiver<()>>,
    }

    impl Store for PausingStore {
        fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
            let value = self.inner.get(key)?;
            if key == self.key {
                let _ = self.read.send(());
                let _ = self.go.lock().unwrap().recv();
            }
            Ok(value)
        }
        fn scan_prefix(
            &self,
            prefix: &[u8],
            after: Option<&[u8]>,
            limit: usize,
        ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
            self.inner.scan_prefix(prefix, after, limit)
        }
        fn commit(
            &self,
            version: u64,
            changes: &ChangeSet,
        ) -> Result<runnet_types::Hash, StoreError> {
            self.inner.commit(version, changes)
        }
        fn root(&self) -> runnet_types::Hash {
            self.inner.root()
        }
        fn version(&self) -> u64 {
            self.inner.version()
        }
        fn prove_versioned(&self, key: &[u8]) -> Result<crate::store::VersionedProof, StoreError> {
            self.inner.prove_versioned(key)
        }
    }

    #[test]
    fn a_read_that_loses_a_race_with_a_commit_never_caches_the_old_value() {
        let key = b"account/a".to_vec();
        let (read_tx, read_rx) = std::sync::mpsc::channel();
        let (go_tx, go_rx) = std::sync::mpsc::channel();
        let store = PausingStore {
            inner: MemStore::new(),
            key: key.clone(),
            read: read_tx,
            go: std::sync::Mutex::new(go_rx),
        };
        let old: ChangeSet = [(key.clone(), Some(b"old".to_vec()))].into_iter().collect();
        store.commit(1, &old).unwrap();
        let cache = ValueCache::new(16);
        std::thread::scope(|scope| {
            // An outside reader misses the cache and reads the committed value "old" ...
            let reader = scope.spawn(|| Overlay::new(&store, &cache).get_raw(&key).unwrap());
            read_rx.recv().unwrap();
            // ... a block commits "new" and the cache absorbs it before the reader returns ...
            let new: ChangeSet = [(key.clone(), Some(b"new".to_vec()))].into_iter().collect();
            store.commit(2, &new).unwrap();
            cache.absorb(&new);
            go_tx.send(()).unwrap();
            assert_eq!(reader.join().unwrap(), Some(b"old".to_vec()));
        });
        // ... and the next block must read "new", from the cache or the store.
        go_tx.send(()).unwrap();
        assert_eq!(
            Overlay::new(&store, &cache).get_raw(&key).unwrap(),
            Some(b"new".to_vec())
        );
    }
}
