//! Authenticated storage of the state: a key-value map whose whole content is committed to by one
//! Merkle root, with a proof for any key's value (or its absence) against that root.
//!
//! The state transition reads through [`Store::get`] and hands each block's changes to
//! [`Store::commit`] in one call, which writes them (values, tree nodes, version and root) in one
//! atomic batch. [`Store::commit_with`] adds the caller's [`SideWrite`]s to that same batch: the
//! node's receipts of the block, which must never lag or lead the state they describe. Two
//! implementations behind the same trait give the same roots for the same
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
    #[error("side write refused: {0}")]
    Side(String),
}

/// A write outside the state, to another column family of the same database, made in the same
/// atomic write as a commit. Not part of the state: it never changes the root, and the state never
/// reads it back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SideWrite {
    pub column: &'static str,
    pub key: Vec<u8>,
    pub value: SideValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SideValue {
    Put(Vec<u8>),
    Delete,
    /// The root this commit computes, as its 32 bytes: only the commit knows it, and a caller
    /// recording the root beside its other writes needs it in the same atomic write.
    NewRoot,
}

impl SideWrite {
    pub fn put(column: &'static str, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) -> Self {
        SideWrite {
            column,
            key: key.into(),
            value: SideValue::Put(value.into()),
        }
    }

    pub fn delete(column: &'static str, key: impl Into<Vec<u8>>) -> Self {
        SideWrite {
            column,
            key: key.into(),
            value: SideValue::Delete,
        }
    }

    pub fn new_root(column: &'static str, key: impl Into<Vec<u8>>) -> Self {
        SideWrite {
            column,
            key: key.into(),
            value: SideValue::NewRoot,
        }
    }

    /// The bytes to write for a commit whose root is `root`; `None` deletes.
    pub fn bytes<'a>(&'a self, root: &'a Hash) -> Option<&'a [u8]> {
        match &self.value {
            SideValue::Put(bytes) => Some(bytes),
            SideValue::Delete => None,
            SideValue::NewRoot => Some(root.as_bytes()),
        }
    }
}

/// Refuses side writes into the state's own column families (before anything is written): they
/// would change the state behind the tree's back, and its root would no longer commit to it.
pub(crate) fn check_side_writes(side: &[SideWrite]) -> Result<(), StoreError> {
    match side
        .iter()
        .find(|w| [rocks::VALUES_CF, rocks::TREE_CF, rocks::META_CF].contains(&w.column))
    {
        Some(w) => Err(StoreError::Side(format!(
            "column family {} belongs to the state",
            w.column
        ))),
        None => Ok(()),
    }
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

    /// As [`Store::commit`], and `side` in the same atomic write: all of it or none of it
    /// survives a crash. Refused, before anything is written, when a side write names a column
    /// family of the state or one the database lacks. A store that holds only the state (the
    /// default) refuses any side write.
    fn commit_with(
        &self,
        version: u64,
        changes: &ChangeSet,
        side: &[SideWrite],
    ) -> Result<Hash, StoreError> {
        if let Some(w) = side.first() {
            return Err(StoreError::Side(format!(
                "this store keeps nothing outside the state (column family {})",
                w.column
            )));
        }
        self.commit(version, changes)
    }

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
