//! Block headers and blocks.
//!
//! A block names batches of transactions by digest; the batches travel separately and are
//! verified once when they arrive. The header carries the height and state root of the latest
//! block its proposer had executed (never its own post-state: execution follows commit), so nodes
//! cross-check roots at that height.

use crate::address::Address;
use crate::encoding;
use crate::hash::Hash;
use crate::vrf::VrfProof;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    pub height: u64,
    pub round: u64,
    pub epoch: u64,
    pub parent: Hash,
    /// The committee indexes that signed the parent's certificate (the block's justify). The
    /// certificate itself travels beside the block, outside its hash, and a block certified
    /// twice has copies with different signers; naming them here makes every copy agree on who
    /// was seen at work, which the leader rule reads.
    pub justify_signers: Vec<u32>,
    /// The committee indexes of the leaders of the rounds between the justify's and this one
    /// (the first few of them, distinct, ascending): rounds that produced no certified block.
    /// The leader rule keeps them from leading for a while, and voters check the list, so
    /// every node reads the same history (consensus/src/reputation.rs).
    pub failed_leaders: Vec<u32>,
    /// Validators that may not lead a round extending this block, each with the height up to
    /// which that holds: the parent's list, without what has run out, plus this block's blames
    /// for the reputation window. Carried header to header (and checked by voters) so that a
    /// node needs only a block's parent to know it, however much history it has pruned.
    pub leader_exclusions: Vec<(Address, u64)>,
    pub proposer: Address,
    /// Hash of the ordered list of batch digests the block carries.
    pub batches_root: Hash,
    /// The latest block the proposer had executed, and its state root.
    pub executed_height: u64,
    pub executed_state_root: Hash,
    /// The proposer's VRF proof over the previous seed (the randomness beacon).
    pub vrf: VrfProof,
    /// The proposer's clock, milliseconds since the Unix epoch. Informational: the state
    /// transition never reads it.
    pub timestamp_ms: u64,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        encoding::hash_of(self)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub batches: Vec<Hash>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    /// Whether the header commits to exactly these batch digests.
    pub fn batches_match_header(&self) -> bool {
        batches_root(&self.batches) == self.header.batches_root
    }
}

pub fn batches_root(batches: &[Hash]) -> Hash {
    encoding::hash_of(batches)
}

/// The seed chain of the beacon: `seed_h = blake3(seed_{h-1}, vrf_output_h)`.
pub fn next_seed(previous: &Hash, vrf_output: &Hash) -> Hash {
    encoding::hash_of(&(previous, vrf_output))
}

/// `seed_0 = blake3("seed", chain id, genesis hash)`.
pub fn genesis_seed(chain_id: &str, genesis_hash: &Hash) -> Hash {
    encoding::hash_of(&("seed", chain_id, genesis_hash))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_hash_covers_every_field() {
        let header = BlockHeader {
            chain_id: "c".into(),
            height: 1,
            round: 1,
            epoch: 0,
            parent: Hash::ZERO,
            justify_signers: vec![0, 2],
            failed_leaders: vec![1],
            leader_exclusions: vec![(Address([2; 20]), 9)],
            proposer: Address([1; 20]),
            batches_root: batches_root(&[]),
            executed_height: 0,
            executed_state_root: Hash::ZERO,
            vrf: VrfProof::default(),
            timestamp_ms: 0,
        };
        let base = header.hash();
        let mut changed = header.clone();
        changed.timestamp_ms = 1;
        assert_ne!(changed.hash(), base);
        let mut changed = header.clone();
        changed.executed_state_root = Hash([1; 32]);
        assert_ne!(changed.hash(), base);
        let mut changed = header.clone();
        changed.justify_signers = vec![0, 3];
        assert_ne!(changed.hash(), base);
        let mut changed = header.clone();
        changed.failed_leaders = vec![3];
        assert_ne!(changed.hash(), base);
        let mut changed = header.clone();
        changed.leader_exclusions = vec![(Address([2; 20]), 10)];
        assert_ne!(changed.hash(), base);
        let block = Block {
            header,
            batches: vec![],
        };
        assert!(block.batches_match_header());
        let mut tampered = block.clone();
        tampered.batches.push(Hash([5; 32]));
        assert!(!tampered.batches_match_header());
    }

    #[test]
    fn seeds_chain() {
        let s0 = genesis_seed("c", &Hash([1; 32]));
        assert_ne!(s0, genesis_seed("d", &Hash([1; 32])));
        let s1 = next_seed(&s0, &Hash([2; 32]));
        assert_ne!(s1, next_seed(&s0, &Hash([3; 32])));
    }
}
