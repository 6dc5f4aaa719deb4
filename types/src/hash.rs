//! 32-byte blake3 digests.

use crate::bytes::fixed_bytes;

fixed_bytes!(
    /// A blake3 digest: ids of services, runners, executions, processes; block and batch hashes;
    /// state roots.
    Hash,
    32,
    ""
);

impl Hash {
    pub const ZERO: Hash = Hash([0; 32]);

    /// blake3 of raw bytes. Structured values hash through [`crate::encoding::hash_of`].
    pub fn digest(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }
}
