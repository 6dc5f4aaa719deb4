//! Proofs that a key has a given value, or no value, in the map committed to by a root.

use super::tree::{EMPTY_ROOT, bit, key_hash, leaf_hash, node_hash, value_hash};
use runnet_types::Hash;
use serde::{Deserialize, Serialize};

/// The deepest a proof can go: one sibling per bit of a key's path.
pub const MAX_PROOF_DEPTH: usize = 256;

/// A proof of a key's value (inclusion) or absence (exclusion) against a state root.
///
/// It lists the sibling hashes on the key's path from the root down to where the path ends: at the
/// key's own leaf (inclusion), at an empty subtree, or at the leaf of another key whose path shares
/// those first bits (both exclusion).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Proof {
    /// Sibling hashes from the root's children down to the end of the path.
    pub siblings: Vec<Hash>,
    /// For an exclusion proof ending at another key's leaf: that leaf's key hash and value hash.
    pub other_leaf: Option<(Hash, Hash)>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("proof has {0} siblings, more than the {MAX_PROOF_DEPTH} bits of a path")]
    TooDeep(usize),
    #[error("proof of a present value carries another key's leaf")]
    UnexpectedLeaf,
    #[error("the other leaf in an exclusion proof is the key itself")]
    SameKey,
    #[error("the other leaf in an exclusion proof is not on the key's path")]
    OffPath,
    #[error("proof leads to root {computed}, not {expected}")]
    RootMismatch { expected: Hash, computed: Hash },
}

impl Proof {
    /// Checks that under `root`, `key` has `value` (`None`: has no value).
    pub fn verify(&self, root: &Hash, key: &[u8], value: Option<&[u8]>) -> Result<(), ProofError> {
        let depth = self.siblings.len();
        if depth > MAX_PROOF_DEPTH {
            return Err(ProofError::TooDeep(depth));
        }
        let path = key_hash(key);
        let mut hash = match (value, &self.other_leaf) {
            (Some(value), None) => leaf_hash(&path, &value_hash(value)),
            (Some(_), Some(_)) => return Err(ProofError::UnexpectedLeaf),
            (None, None) => EMPTY_ROOT,
            (None, Some((other_path, other_value))) => {
                if *other_path == path {
                    return Err(ProofError::SameKey);
                }
                if (0..depth).any(|i| bit(other_path, i) != bit(&path, i)) {
                    return Err(ProofError::OffPath);
                }
                leaf_hash(other_path, other_value)
            }
        };
        for (index, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if bit(&path, index) {
                node_hash(sibling, &hash)
            } else {
                node_hash(&hash, sibling)
            };
        }
        if hash == *root {
            Ok(())
        } else {
            Err(ProofError::RootMismatch {
                expected: *root,
                computed: hash,
            })
        }
    }
}
