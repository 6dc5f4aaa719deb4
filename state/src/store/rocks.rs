//! The RocksDB store (work in progress: opening fails until it is complete).

use super::proof::Proof;
use super::{ChangeSet, Store, StoreError};
use runnet_types::Hash;
use std::path::Path;

/// A [`Store`] in RocksDB.
pub struct RocksStore {
    _private: (),
}

impl RocksStore {
    /// Opens (or creates) the store at `path`, at its last committed version and root.
    pub fn open(_path: &Path) -> Result<RocksStore, StoreError> {
        Err(StoreError::Io("RocksStore is not implemented yet".into()))
    }
}

impl Store for RocksStore {
    fn get(&self, _key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Err(StoreError::Io("RocksStore is not implemented yet".into()))
    }

    fn scan_prefix(
        &self,
        _prefix: &[u8],
        _after: Option<&[u8]>,
        _limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        Err(StoreError::Io("RocksStore is not implemented yet".into()))
    }

    fn commit(&self, _version: u64, _changes: &ChangeSet) -> Result<Hash, StoreError> {
        Err(StoreError::Io("RocksStore is not implemented yet".into()))
    }

    fn root(&self) -> Hash {
        Hash::ZERO
    }

    fn version(&self) -> u64 {
        0
    }

    fn prove(&self, _key: &[u8]) -> Result<(Option<Vec<u8>>, Proof), StoreError> {
        Err(StoreError::Io("RocksStore is not implemented yet".into()))
    }
}
