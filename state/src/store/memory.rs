//! The in-memory store, for tests and simulation.

use super::proof::Proof;
use super::tree::{self, EMPTY_ROOT};
use super::{ChangeSet, Store, StoreError};
use runnet_types::Hash;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

#[derive(Default)]
struct Inner {
    values: BTreeMap<Vec<u8>, Vec<u8>>,
    version: u64,
    root: Hash,
}

/// A [`Store`] held in memory (BTreeMap-backed).
#[derive(Default)]
pub struct MemStore {
    inner: RwLock<Inner>,
}

impl MemStore {
    pub fn new() -> MemStore {
        MemStore::default()
    }

    fn leaves(values: &BTreeMap<Vec<u8>, Vec<u8>>) -> Vec<(Hash, Hash)> {
        let mut leaves: Vec<(Hash, Hash)> = values
            .iter()
            .map(|(k, v)| {
                let path = tree::key_hash(k);
                (path, tree::leaf_hash(&path, &tree::value_hash(v)))
            })
            .collect();
        leaves.sort();
        leaves
    }
}

impl Store for MemStore {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        // A poisoned lock still holds a consistent state: commits swap in complete new state only.
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(inner.values.get(key).cloned())
    }

    fn scan_prefix(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        Ok(inner
            .values
            .range(prefix.to_vec()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn commit(&self, version: u64, changes: &ChangeSet) -> Result<Hash, StoreError> {
        let mut inner = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if inner.version.checked_add(1) != Some(version) {
            return Err(StoreError::VersionGap {
                current: inner.version,
                got: version,
            });
        }
        let mut values = inner.values.clone();
        for (key, value) in changes {
            match value {
                Some(value) => values.insert(key.clone(), value.clone()),
                None => values.remove(key),
            };
        }
        let root = tree::root_of_sorted(&Self::leaves(&values), 0);
        *inner = Inner {
            values,
            version,
            root,
        };
        Ok(root)
    }

    fn root(&self) -> Hash {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .root
    }

    fn version(&self) -> u64 {
        self.inner
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .version
    }

    fn prove(&self, key: &[u8]) -> Result<(Option<Vec<u8>>, Proof), StoreError> {
        let inner = self.inner.read().unwrap_or_else(PoisonError::into_inner);
        let leaves = Self::leaves(&inner.values);
        let path = tree::key_hash(key);
        let mut slice: &[(Hash, Hash)] = &leaves;
        let mut siblings = Vec::new();
        let mut depth = 0;
        let other_leaf = loop {
            match slice {
                [] => break None,
                [(p, _)] => {
                    break if *p == path {
                        None
                    } else {
                        inner
                            .values
                            .iter()
                            .find(|(k, _)| tree::key_hash(k) == *p)
                            .map(|(_, v)| (*p, tree::value_hash(v)))
                    };
                }
                _ => {
                    let split = slice.partition_point(|(p, _)| !tree::bit(p, depth));
                    let (left, right) = slice.split_at(split);
                    if tree::bit(&path, depth) {
                        siblings.push(tree::root_of_sorted(left, depth + 1));
                        slice = right;
                    } else {
                        siblings.push(tree::root_of_sorted(right, depth + 1));
                        slice = left;
                    }
                    depth += 1;
                }
            }
        };
        let _ = EMPTY_ROOT;
        Ok((
            inner.values.get(key).cloned(),
            Proof {
                siblings,
                other_leaf,
            },
        ))
    }
}
