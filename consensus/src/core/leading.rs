//! Who leads a round: the schedule among the validators eligible in the block the round extends
//! (see [`crate::reputation`]), and the blames a new block must carry.

use super::{Core, Environment, PayloadSource};
use crate::reputation::{REPUTATION_WINDOW_BLOCKS, Reputation, SEEN_BLOCKS, seen_in};
use crate::tree::MAX_TREE_BLOCKS;
use runnet_types::consensus::ProposedBlock;
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Which committee members may lead a round whose block extends `certified`: seen at work
    /// in it and not blamed in the last window of its chain. `None` when that block is not
    /// known here.
    pub(super) fn eligible(&self, certified: &Hash) -> Option<(Vec<bool>, u64)> {
        let root = self.tree.root();
        // The uncommitted blocks from `certified` down to the committed tip, newest first. They
        // are of the current epoch (the tree starts afresh with each).
        let mut chain: Vec<&ProposedBlock> = Vec::new();
        let mut cursor = *certified;
        while cursor != root.info.hash {
            let block = self.tree.proposed(&cursor)?;
            chain.push(block);
            cursor = block.header().parent;
            if chain.len() > MAX_TREE_BLOCKS {
                return None;
            }
        }
        let height = chain.first().map_or(root.info.height, |b| b.height());
        let round = chain.first().map_or(root.info.round, |b| b.round());
        let mut seen: BTreeSet<Address> = BTreeSet::new();
        for block in chain.iter().take(SEEN_BLOCKS) {
            seen.extend(seen_in(block, &self.committee));
        }
        let from_committed = SEEN_BLOCKS.saturating_sub(chain.len());
        seen.extend(self.reputation.seen_in_last(from_committed).copied());
        let above = height.saturating_sub(REPUTATION_WINDOW_BLOCKS);
        let mut blamed: BTreeSet<Address> = self
            .reputation
            .blamed_between(above, height)
            .copied()
            .collect();
        for block in &chain {
            if block.height() > above {
                for i in &block.header().failed_leaders {
                    if let Some(v) = self.committee.get(*i) {
                        blamed.insert(v.address);
                    }
                }
            }
        }
        let mask = self
            .committee
            .validators()
            .iter()
            .map(|v| seen.contains(&v.address) && !blamed.contains(&v.address))
            .collect();
        Some((mask, round))
    }

    /// Who leads `round` when its block extends `certified`. `None` when that block is not
    /// known here.
    pub fn leader_extending(&self, round: u64, certified: &Hash) -> Option<u32> {
        #[cfg(test)]
        if self.config.flaw == crate::safety::Flaw::IgnoreLock {
            // The flawed core of the simulator's own test leads by the plain schedule too:
            // under the reputation rule a forking leader seldom leads a round on an old
            // certificate, and the broken vote rule would go unexercised.
            return Some(self.leaders.leader(round));
        }
        let (eligible, certified_round) = self.eligible(certified)?;
        let first = certified_round.saturating_add(1);
        let leaders = self
            .leaders
            .leaders_from(first, round.max(first), &eligible);
        leaders.last().map(|l| l.leader)
    }

    /// The validators a block of `round` extending `certified` blames for the rounds in
    /// between (of the last [`crate::leader::TRIED_ROUNDS`]): each failed round's leader, and
    /// each validator passed over since because it was to collect a failed round's votes. One
    /// of the two may be innocent; a failed round cannot tell which.
    pub(super) fn blame(&self, round: u64, certified: &Hash) -> Option<Vec<u32>> {
        #[cfg(test)]
        if self.config.flaw == crate::safety::Flaw::IgnoreLock {
            return Some(Vec::new());
        }
        let (eligible, certified_round) = self.eligible(certified)?;
        let first = certified_round.saturating_add(1);
        if round <= first {
            return Some(Vec::new());
        }
        let mut blamed = BTreeSet::new();
        for l in self.leaders.leaders_from(first, round, &eligible) {
            if l.round < round {
                blamed.insert(l.leader);
            }
            blamed.extend(l.passed_over);
        }
        Some(blamed.into_iter().collect())
    }

    /// The reputation of the committed chain up to `tip`, read back from the last window of
    /// committed blocks (after a restart). A block the environment no longer holds is passed
    /// over: nodes keep at least the window (docs/consensus.md).
    pub(super) fn rebuild_reputation(env: &E, tip: u64) -> Reputation {
        let mut reputation = Reputation::default();
        let first = tip
            .saturating_sub(REPUTATION_WINDOW_BLOCKS)
            .saturating_add(1);
        let mut committee = None;
        for height in first.max(1)..=tip {
            let Some(block) = env.committed_block(height) else {
                continue;
            };
            let epoch = block.epoch();
            if committee.as_ref().is_none_or(
                |c: &std::sync::Arc<runnet_types::consensus::Committee>| c.epoch() != epoch,
            ) {
                committee = env.committee(epoch);
            }
            if let Some(c) = &committee {
                reputation.commit(&block, c);
            }
        }
        reputation
    }
}
