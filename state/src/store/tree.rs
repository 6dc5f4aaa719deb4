//! The sparse Merkle tree's definition: how keys, values and subtrees hash.
//!
//! Every key sits at the path `blake3(key)` (256 bits, most significant bit first), so the tree stays
//! balanced whatever the keys look like. A subtree holding no key hashes to [`Hash::ZERO`], a subtree
//! holding exactly one key hashes to that key's leaf hash (the leaf is "collapsed" up to the highest
//! node whose subtree holds only it), and any other subtree hashes to [`node_hash`] of its two
//! halves. The root is therefore a pure function of the key/value set.

use runnet_types::Hash;

/// blake3 key of leaf hashes (keyed hashing separates the domains; 64-byte inputs stay one block).
const LEAF_KEY: [u8; 32] = *b"runnet-state-merkle-leaf-v1_____";
/// blake3 key of internal node hashes.
const NODE_KEY: [u8; 32] = *b"runnet-state-merkle-node-v1_____";

/// The root of the empty map (and the hash of any empty subtree).
pub const EMPTY_ROOT: Hash = Hash::ZERO;

/// Where a key sits in the tree.
pub fn key_hash(key: &[u8]) -> Hash {
    Hash::digest(key)
}

/// What a leaf commits to of its value.
pub fn value_hash(value: &[u8]) -> Hash {
    Hash::digest(value)
}

/// The hash of a leaf: its key's path and its value's hash.
pub fn leaf_hash(key_hash: &Hash, value_hash: &Hash) -> Hash {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(key_hash.as_bytes());
    input[32..].copy_from_slice(value_hash.as_bytes());
    Hash(*blake3::keyed_hash(&LEAF_KEY, &input).as_bytes())
}

/// The hash of an internal node from its two children's hashes.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut input = [0u8; 64];
    input[..32].copy_from_slice(left.as_bytes());
    input[32..].copy_from_slice(right.as_bytes());
    Hash(*blake3::keyed_hash(&NODE_KEY, &input).as_bytes())
}

/// Bit `index` (0 = most significant of byte 0) of a path.
#[inline]
pub fn bit(path: &Hash, index: usize) -> bool {
    (path.0[index / 8] >> (7 - index % 8)) & 1 == 1
}

/// Reference implementation: the root of a set of leaves `(key_hash, leaf_hash)` sorted by key hash,
/// all sharing their first `depth` bits. Recomputes everything; tests compare the stores against it.
pub fn root_of_sorted(leaves: &[(Hash, Hash)], depth: usize) -> Hash {
    match leaves {
        [] => EMPTY_ROOT,
        [(_, leaf)] => *leaf,
        _ => {
            let split = leaves.partition_point(|(path, _)| !bit(path, depth));
            node_hash(
                &root_of_sorted(&leaves[..split], depth + 1),
                &root_of_sorted(&leaves[split..], depth + 1),
            )
        }
    }
}
