//! Authenticated storage of the state: a key-value map whose whole content is committed to by one
//! Merkle root, with a proof for any key's value (or its absence) against that root.
//!
//! The state transition reads through [`Store::get`] and hands each block's changes to
//! [`Store::commit`] in one call, which writes them (values, tree nodes, version and root) in one
//! atomic batch. Two implementations behind the same trait give the same roots for the same
//! changes: RocksDB for nodes, memory for tests and simulation.
//!
//! The commitment is a sparse Merkle tree over blake3 (`tree`): keys sit at `blake3(key)`, single
//! leaves collapse upwards, so the root is a pure function of the map's content. It is stored in
//! pages of four binary levels addressed by path, latest version only; a commit reads and rewrites
//! only the pages on the changed paths. docs/storage.md has the layout, the choice and the figures.

pub mod memory;
pub mod proof;
pub mod rocks;
pub mod tree;

#[cfg(test)]
mod tests;

pub use memory::MemStore;
pub use proof::{Proof, ProofError};
pub use rocks::RocksStore;

use runnet_types::Hash;
use std::collections::BTreeMap;

/// A block's writes: `Some(value)` sets a key, `None` deletes it. Ordered, so applying them is
/// deterministic.
pub type ChangeSet = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O: {0}")]
    Io(String),
    #[error("storage is corrupt: {0}")]
    Corrupt(String),
    #[error("commit of version {got} does not follow version {current}")]
    VersionGap { current: u64, got: u64 },
}

/// The committed state: its values, its root, its version (the height of the last executed block).
pub trait Store: Send + Sync {
    /// The value of `key` in the last committed version.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Keys beginning with `prefix`, in ascending byte order, starting strictly after `after`
    /// when given, at most `limit` of them.
    #[allow(clippy::type_complexity)] // The signature is fixed; it reads plainly enough.
    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>;

    /// Applies `changes` as version `version` (which must be the current version + 1), atomically,
    /// and returns the new root. The cost grows with the number of changed keys, not with the size
    /// of the state.
    fn commit(&self, version: u64, changes: &ChangeSet) -> Result<Hash, StoreError>;

    /// The root of the last committed version (the root of the empty map before any commit).
    fn root(&self) -> Hash;

    /// The last committed version, 0 before any commit.
    fn version(&self) -> u64;

    /// The value of `key` in the last committed version, with a proof against the root of that
    /// same version, and that version and root: one consistent read even while another thread
    /// commits.
    fn prove_versioned(&self, key: &[u8]) -> Result<VersionedProof, StoreError>;

    /// The value of `key` in the last committed version, with a proof against [`Store::root`].
    fn prove(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof), StoreError> {
        let proved = self.prove_versioned(key)?;
        Ok((proved.value, proved.proof))
    }
}

/// A value (or its absence) with its proof, and the version and root the proof checks against.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedProof {
    pub version: u64,
    pub root: Hash,
    pub value: Option<Vec<u8>>,
    pub proof: Proof,
}
