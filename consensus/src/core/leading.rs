//! Who leads a round: the schedule among the validators eligible in the block the round extends
//! (see [`crate::reputation`]), and the blames a new block must carry.
//!
//! The room owns the [`LeaderSchedule`] of the epoch and who the last committed blocks show at
//! work ([`RecentlySeen`]). Its rule: every node computes the same leader for a round from the
//! same chain, reading only blocks (never local observations), so a proposal's leader and
//! blames can be checked by anyone holding its parent.

use super::{Core, Environment, PayloadSource};
use crate::leader::LeaderSchedule;
use crate::reputation::{RecentlySeen, SEEN_BLOCKS, eligible_mask, next_exclusions, seen_in};
use crate::tree::MAX_TREE_BLOCKS;
use runnet_types::consensus::{Committee, ProposedBlock};
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;

pub(super) struct Leading {
    pub(super) schedule: LeaderSchedule,
    /// Who the last committed blocks show at work (reputation.rs).
    pub(super) seen: RecentlySeen,
}

impl Leading {
    pub(super) fn new(committee: &Committee, seen: RecentlySeen) -> Leading {
        Leading {
            schedule: LeaderSchedule::new(committee),
            seen,
        }
    }

    /// The schedule of a new epoch's committee (who was seen at work carries over).
    pub(super) fn enter_epoch(&mut self, committee: &Committee) {
        self.schedule = LeaderSchedule::new(committee);
    }
}

/// A round's leader and the blames its block carries.
pub(super) struct RoundPlan {
    pub(super) leader: u32,
    /// Committee indexes, ascending: the header's `failed_leaders`.
    pub(super) blamed: Vec<u32>,
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Which committee members may lead a round whose block extends `certified`: seen at work
    /// in the last blocks of its chain and not excluded by it. `None` when that block is not
    /// known here.
    pub(super) fn eligible(&self, certified: &Hash) -> Option<(Vec<bool>, u64)> {
        let root = self.chain.tree.root();
        // The uncommitted blocks from `certified` down to the committed tip, newest first. They
        // are of the current epoch (the tree starts afresh with each).
        let mut chain: Vec<&ProposedBlock> = Vec::new();
        let mut cursor = *certified;
        while cursor != root.info.hash {
            let block = self.chain.tree.proposed(&cursor)?;
            chain.push(block);
            cursor = block.header().parent;
            if chain.len() > MAX_TREE_BLOCKS {
                return None;
            }
        }
        let round = chain.first().map_or(root.info.round, |b| b.round());
        let mut seen: BTreeSet<Address> = BTreeSet::new();
        for block in chain.iter().take(SEEN_BLOCKS) {
            seen.extend(seen_in(block, &self.seat.committee));
        }
        let from_committed = SEEN_BLOCKS.saturating_sub(chain.len());
        seen.extend(self.leading.seen.in_last(from_committed).copied());
        // The newest block's exclusions hold for rounds extending it (the tip's after a
        // restart: the root keeps its block; the genesis excludes no one).
        let newest = chain.first().copied().or(root.block.as_deref());
        let excluded: BTreeSet<Address> = newest
            .map(|b| {
                b.header()
                    .leader_exclusions
                    .iter()
                    .map(|(who, _)| *who)
                    .collect()
            })
            .unwrap_or_default();
        let mask = eligible_mask(&self.seat.committee, &seen, &excluded);
        Some((mask, round))
    }

    /// Who leads `round` when its block extends `certified`. `None` when that block is not
    /// known here.
    pub fn leader_extending(&self, round: u64, certified: &Hash) -> Option<u32> {
        self.round_plan(round, certified).map(|plan| plan.leader)
    }

    /// Who leads `round` when its block extends `certified`, and whom that block blames for
    /// the rounds in between (of the last [`crate::leader::TRIED_ROUNDS`]): each failed round's
    /// leader, and each validator passed over since because it was to collect a failed round's
    /// votes. One of the two may be innocent; a failed round cannot tell which. Both from one
    /// reading of the chain. `None` when `certified` is not known here.
    pub(super) fn round_plan(&self, round: u64, certified: &Hash) -> Option<RoundPlan> {
        #[cfg(test)]
        if self.config.flaw == crate::safety::Flaw::IgnoreLock {
            // The flawed core of the simulator's own test leads by the plain schedule too:
            // under the reputation rule a forking leader seldom leads a round on an old
            // certificate, and the broken vote rule would go unexercised.
            return Some(RoundPlan {
                leader: self.leading.schedule.leader(round),
                blamed: Vec::new(),
            });
        }
        let (eligible, certified_round) = self.eligible(certified)?;
        let first = certified_round.saturating_add(1);
        let leaders = self
            .leading
            .schedule
            .leaders_from(first, round.max(first), &eligible);
        let leader = leaders.last()?.leader;
        let mut blamed = BTreeSet::new();
        if round > first {
            for l in &leaders {
                if l.round < round {
                    blamed.insert(l.leader);
                }
                blamed.extend(l.passed_over);
            }
        }
        Some(RoundPlan {
            leader,
            blamed: blamed.into_iter().collect(),
        })
    }

    /// The exclusions a block of `height` blaming `blamed` (committee indexes) must carry on
    /// `parent`. `None` when the parent is not known here.
    pub(super) fn exclusions(
        &self,
        parent: &Hash,
        blamed: &[u32],
        height: u64,
    ) -> Option<Vec<(Address, u64)>> {
        #[cfg(test)]
        if self.config.flaw == crate::safety::Flaw::IgnoreLock {
            return Some(Vec::new());
        }
        let root = self.chain.tree.root();
        let carried: &[(Address, u64)] = if *parent == root.info.hash {
            root.block
                .as_deref()
                .map_or(&[], |b| b.header().leader_exclusions.as_slice())
        } else {
            &self.chain.tree.proposed(parent)?.header().leader_exclusions
        };
        let blamed: Vec<Address> = blamed
            .iter()
            .filter_map(|i| self.seat.committee.get(*i).map(|v| v.address))
            .collect();
        Some(next_exclusions(carried, &blamed, height))
    }

    /// Who the last few committed blocks up to `tip` show at work, read back after a restart.
    /// A node keeps at least that many blocks (docs/consensus.md).
    pub(super) fn rebuild_seen(env: &E, tip: u64) -> RecentlySeen {
        let mut seen = RecentlySeen::default();
        let first = tip
            .saturating_sub(SEEN_BLOCKS as u64)
            .saturating_add(1)
            .max(1);
        for height in first..=tip {
            let Some(block) = env.committed_block(height) else {
                continue;
            };
            if let Some(committee) = env.committee(block.epoch()) {
                seen.commit(&block, &committee);
            }
        }
        seen
    }
}
