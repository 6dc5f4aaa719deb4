//! The uncommitted blocks, as a tree rooted at the last committed block.
//!
//! Every block in it has been checked (signature, certificate of its parent, VRF), so it also
//! carries the block's beacon seed. Committing moves the root forward and drops every block that
//! does not descend from the new root: those can never commit.

use runnet_types::Hash;
use runnet_types::consensus::{ProposedBlock, QuorumCert};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Most uncommitted blocks kept; a proposal beyond it waits for a commit to make room.
pub(crate) const MAX_TREE_BLOCKS: usize = 4096;
/// Recently committed blocks remembered (for extending an older certificate on purpose, which
/// only the simulator's byzantine validators do).
const HISTORY: usize = 8;

#[derive(Clone, Debug)]
pub(crate) struct TreeBlock {
    pub(crate) block: Arc<ProposedBlock>,
    pub(crate) hash: Hash,
    pub(crate) seed: Hash,
    pub(crate) vrf_output: Hash,
}

/// What a child needs to know of its parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) hash: Hash,
    pub(crate) height: u64,
    /// The round within the current epoch (0 for an epoch's root).
    pub(crate) round: u64,
    pub(crate) seed: Hash,
    /// The block's chain time (its header's timestamp; 0 for the genesis).
    pub(crate) timestamp_ms: u64,
}

/// The last committed block.
#[derive(Clone, Debug)]
pub(crate) struct Root {
    pub(crate) info: Parent,
    /// `None` for the genesis.
    pub(crate) block: Option<Arc<ProposedBlock>>,
}

#[derive(Clone, Debug)]
pub(crate) struct HistoryEntry {
    pub(crate) info: Parent,
    /// The certificate of this block, when known.
    pub(crate) qc: Option<QuorumCert>,
}

pub(crate) struct BlockTree {
    root: Root,
    blocks: BTreeMap<Hash, TreeBlock>,
    per_round: BTreeMap<u64, u32>,
    history: VecDeque<HistoryEntry>,
}

impl BlockTree {
    pub(crate) fn new(root: Root) -> BlockTree {
        BlockTree {
            root,
            blocks: BTreeMap::new(),
            per_round: BTreeMap::new(),
            history: VecDeque::new(),
        }
    }

    pub(crate) fn root(&self) -> &Root {
        &self.root
    }

    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    pub(crate) fn contains(&self, hash: &Hash) -> bool {
        *hash == self.root.info.hash || self.blocks.contains_key(hash)
    }

    pub(crate) fn get(&self, hash: &Hash) -> Option<&TreeBlock> {
        self.blocks.get(hash)
    }

    /// A block of the tree, or the committed root when it is a proposed block (not a genesis).
    pub(crate) fn proposed(&self, hash: &Hash) -> Option<&ProposedBlock> {
        if *hash == self.root.info.hash {
            return self.root.block.as_deref();
        }
        self.blocks.get(hash).map(|b| b.block.as_ref())
    }

    pub(crate) fn parent_info(&self, hash: &Hash) -> Option<Parent> {
        if *hash == self.root.info.hash {
            return Some(self.root.info);
        }
        self.blocks.get(hash).map(|b| Parent {
            hash: b.hash,
            height: b.block.height(),
            round: b.block.round(),
            seed: b.seed,
            timestamp_ms: b.block.header().timestamp_ms,
        })
    }

    pub(crate) fn in_round(&self, round: u64) -> u32 {
        self.per_round.get(&round).copied().unwrap_or(0)
    }

    pub(crate) fn insert(&mut self, block: TreeBlock) {
        let round = block.block.round();
        if self.blocks.insert(block.hash, block).is_none() {
            *self.per_round.entry(round).or_default() += 1;
        }
    }

    /// The blocks from just above the root up to `hash`, ascending; `None` when `hash` does not
    /// descend from the root through blocks we hold.
    pub(crate) fn path_from_root(&self, hash: &Hash) -> Option<Vec<&TreeBlock>> {
        let mut path = Vec::new();
        let mut cursor = *hash;
        while cursor != self.root.info.hash {
            let block = self.blocks.get(&cursor)?;
            cursor = block.block.header().parent;
            path.push(block);
        }
        path.reverse();
        Some(path)
    }

    /// Batches named by the blocks from the root up to `hash`: they are in flight and must not be
    /// proposed again.
    pub(crate) fn batches_in_flight(&self, hash: &Hash) -> BTreeSet<Hash> {
        self.path_from_root(hash)
            .unwrap_or_default()
            .iter()
            .flat_map(|b| b.block.block.batches.iter().copied())
            .collect()
    }

    /// Moves the root to `new_root` (a descendant of the current root, in the tree), remembering
    /// the committed blocks, and drops everything that does not descend from it.
    pub(crate) fn advance_root(&mut self, new_root: &Hash) {
        let Some(path) = self.path_from_root(new_root) else {
            return;
        };
        let path: Vec<TreeBlock> = path.into_iter().cloned().collect();
        // Each committed block's certificate is the justify of its child on the path.
        let old_root = self.root.info;
        let mut certs: Vec<Option<QuorumCert>> = path
            .iter()
            .skip(1)
            .map(|b| Some(b.block.justify.clone()))
            .collect();
        certs.push(None);
        let first_justify = path.first().map(|b| b.block.justify.clone());
        self.remember(old_root, first_justify);
        for (b, qc) in path.iter().zip(certs) {
            if b.hash != *new_root {
                self.remember(
                    Parent {
                        hash: b.hash,
                        height: b.block.height(),
                        round: b.block.round(),
                        seed: b.seed,
                        timestamp_ms: b.block.header().timestamp_ms,
                    },
                    qc,
                );
            }
        }
        let Some(last) = path.last() else { return };
        self.root = Root {
            info: Parent {
                hash: last.hash,
                height: last.block.height(),
                round: last.block.round(),
                seed: last.seed,
                timestamp_ms: last.block.header().timestamp_ms,
            },
            block: Some(last.block.clone()),
        };
        self.prune();
    }

    fn remember(&mut self, info: Parent, qc: Option<QuorumCert>) {
        if self
            .history
            .back()
            .is_some_and(|h| h.info.hash == info.hash)
        {
            return;
        }
        self.history.push_back(HistoryEntry { info, qc });
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    /// Keeps the blocks that descend from the root.
    fn prune(&mut self) {
        let mut order: Vec<(u64, Hash, Hash)> = self
            .blocks
            .values()
            .map(|b| (b.block.height(), b.hash, b.block.header().parent))
            .collect();
        order.sort();
        let mut keep = BTreeSet::new();
        keep.insert(self.root.info.hash);
        for (_, hash, parent) in order {
            if keep.contains(&parent) {
                keep.insert(hash);
            }
        }
        self.blocks.retain(|h, _| keep.contains(h));
        let root_round = self.root.info.round;
        self.per_round.retain(|r, _| *r > root_round);
    }

    /// A new epoch starts on the current root, whose round becomes 0.
    pub(crate) fn reset_for_epoch(&mut self) {
        self.blocks.clear();
        self.per_round.clear();
        self.history.clear();
        self.root.info.round = 0;
    }

    pub(crate) fn history(&self) -> impl Iterator<Item = &HistoryEntry> {
        self.history.iter()
    }

    /// The chain from the root to `hash` (for serving a peer), ascending, without the root.
    pub(crate) fn chain_to(&self, hash: &Hash) -> Vec<Arc<ProposedBlock>> {
        self.path_from_root(hash)
            .unwrap_or_default()
            .into_iter()
            .map(|b| b.block.clone())
            .collect()
    }
}
