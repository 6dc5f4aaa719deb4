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
    entries: Mutex<HashMap<Vec<u8>, Option<Vec<u8>>>>,
    capacity: usize,
}

impl ValueCache {
    pub fn new(capacity: usize) -> ValueCache {
        ValueCache {
            entries: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    fn get(&self, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.entries.lock().ok()?.get(key).cloned()
    }

    fn insert(&self, key: &[u8], value: Option<Vec<u8>>) {
        if let Ok(mut entries) = self.entries.lock() {
            // Clearing when full is crude but cheap and predictable; the store stays the truth.
            if entries.len() >= self.capacity {
                entries.clear();
            }
            entries.insert(key.to_vec(), value);
        }
    }

    /// After a commit: the cache must never serve a value older than the store's.
    pub fn absorb(&self, changes: &ChangeSet) {
        for (key, value) in changes {
            self.insert(key, value.clone());
        }
    }

    /// Forget everything (after a failed commit, when the store's content is uncertain).
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
        }
    }
}

/// For each key a transaction wrote: what `changes` held for it before (`None`: nothing).
type Journal = Vec<(Vec<u8>, Option<Option<Vec<u8>>>)>;

/// Keys and values in ascending key order.
type Entries = Vec<(Vec<u8>, Vec<u8>)>;

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
        let value = self.store.get(key)?;
        self.cache.insert(key, value.clone());
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
