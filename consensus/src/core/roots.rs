//! State roots: the ones this node computed, and the ones committed headers claim.
//!
//! A header carries the height and state root of the latest block its proposer had executed.
//! Two rules make a divergent state impossible to miss:
//! - a voter checks the claim before it votes: against its own root when it has executed that
//!   height, and otherwise it waits until it has (the proposal is parked like one whose batches
//!   are missing). So no honest validator ever votes for a header whose root it did not check;
//! - every node checks the claims of committed headers against its own roots, now or once it
//!   executes that height, and stops on a mismatch. A committed header was checked by at least
//!   one honest voter, so a mismatch means this node's state is not the chain's.
//!
//! Heights older than the [`ROOTS_KEPT`] last executed ones are not checked (after a restart a
//! header may name one): the check needs only the recent past, and its memory is bounded.

use runnet_types::Hash;
use std::collections::BTreeMap;

/// Executed roots remembered, and committed claims waiting for execution, at most.
pub(crate) const ROOTS_KEPT: usize = 4_096;

/// What a voter may do with a header's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Checked and equal, or too old (or the genesis claim) to be checked.
    Fine,
    /// Not executed here yet: wait for it.
    Wait,
    /// This node computed another root at that height.
    Wrong { ours: Hash },
}

/// This node's state is not the chain's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Divergence {
    pub height: u64,
    pub ours: Hash,
    pub claimed: Hash,
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "state root mismatch at height {}: this node computed {}, a committed header \
             carries {}; this node's state is not the chain's (restore its data/ from a good \
             copy or resync it)",
            self.height, self.ours, self.claimed
        )
    }
}

#[derive(Default)]
pub(crate) struct StateRoots {
    executed: BTreeMap<u64, Hash>,
    /// Committed headers' claims for heights not executed here yet.
    claimed: BTreeMap<u64, Hash>,
    latest: (u64, Hash),
}

impl StateRoots {
    pub fn new(height: u64, root: Hash) -> StateRoots {
        let mut roots = StateRoots {
            latest: (height, root),
            ..StateRoots::default()
        };
        if height > 0 {
            roots.executed.insert(height, root);
        }
        roots
    }

    /// The latest executed height and its root.
    pub fn latest(&self) -> (u64, Hash) {
        self.latest
    }

    /// This node's root at `height`, if remembered.
    pub fn at(&self, height: u64) -> Option<Hash> {
        if height == self.latest.0 {
            return Some(self.latest.1);
        }
        self.executed.get(&height).copied()
    }

    /// The state machine executed `height`: remember its root, and check what committed
    /// headers claimed for it.
    pub fn executed(&mut self, height: u64, root: Hash) -> Result<(), Divergence> {
        if height < self.latest.0 {
            return Ok(());
        }
        self.latest = (height, root);
        self.executed.insert(height, root);
        while self.executed.len() > ROOTS_KEPT {
            self.executed.pop_first();
        }
        // Claims at or below this height can all be settled now.
        let later = self.claimed.split_off(&height.saturating_add(1));
        let settled = std::mem::replace(&mut self.claimed, later);
        for (claimed_height, claimed) in settled {
            self.settle(claimed_height, claimed)?;
        }
        Ok(())
    }

    /// Before a vote: may this header's claim be voted for?
    pub fn check_claim(&self, height: u64, claimed: Hash) -> Claim {
        if height == 0 {
            return Claim::Fine;
        }
        if height > self.latest.0 {
            return Claim::Wait;
        }
        match self.at(height) {
            Some(ours) if ours != claimed => Claim::Wrong { ours },
            _ => Claim::Fine,
        }
    }

    /// A committed header claimed `claimed` at `height`: check it now if executed here, or
    /// once it is.
    pub fn committed(&mut self, height: u64, claimed: Hash) -> Result<(), Divergence> {
        if height == 0 {
            return Ok(());
        }
        if height <= self.latest.0 {
            return self.settle(height, claimed);
        }
        match self.claimed.get(&height) {
            // Two committed headers disagree: ours will differ from one of them.
            Some(first) if *first != claimed => Err(Divergence {
                height,
                ours: *first,
                claimed,
            }),
            Some(_) => Ok(()),
            None => {
                if self.claimed.len() < ROOTS_KEPT {
                    self.claimed.insert(height, claimed);
                }
                Ok(())
            }
        }
    }

    fn settle(&self, height: u64, claimed: Hash) -> Result<(), Divergence> {
        match self.at(height) {
            Some(ours) if ours != claimed => Err(Divergence {
                height,
                ours,
                claimed,
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash {
        Hash([n; 32])
    }

    #[test]
    fn a_vote_waits_for_execution_and_refuses_a_wrong_claim() {
        let mut roots = StateRoots::new(0, Hash::ZERO);
        assert_eq!(roots.check_claim(0, h(9)), Claim::Fine);
        assert_eq!(roots.check_claim(1, h(1)), Claim::Wait);
        roots.executed(1, h(1)).unwrap();
        assert_eq!(roots.check_claim(1, h(1)), Claim::Fine);
        assert_eq!(roots.check_claim(1, h(2)), Claim::Wrong { ours: h(1) });
    }

    #[test]
    fn a_committed_claim_is_checked_now_or_at_execution() {
        let mut roots = StateRoots::new(3, h(3));
        assert!(roots.committed(3, h(3)).is_ok());
        assert!(roots.committed(3, h(4)).is_err());
        // Not executed yet: remembered, checked when it is.
        assert!(roots.committed(5, h(5)).is_ok());
        assert!(roots.executed(4, h(4)).is_ok());
        let divergence = roots.executed(5, h(6)).unwrap_err();
        assert_eq!(
            divergence,
            Divergence {
                height: 5,
                ours: h(6),
                claimed: h(5)
            }
        );
        assert!(divergence.to_string().contains("height 5"));
    }

    #[test]
    fn two_committed_headers_that_disagree_are_a_divergence() {
        let mut roots = StateRoots::new(0, Hash::ZERO);
        assert!(roots.committed(2, h(2)).is_ok());
        assert!(roots.committed(2, h(2)).is_ok());
        assert!(roots.committed(2, h(7)).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let mut roots = StateRoots::new(0, Hash::ZERO);
        for height in 1..=(ROOTS_KEPT as u64 + 10) {
            roots.executed(height, h(1)).unwrap();
        }
        assert_eq!(roots.executed.len(), ROOTS_KEPT);
        // Too old to check: fine, not a divergence.
        assert_eq!(roots.check_claim(1, h(2)), Claim::Fine);
        for height in 0..(ROOTS_KEPT as u64 + 10) {
            roots.committed(1_000_000 + height, h(1)).unwrap();
        }
        assert_eq!(roots.claimed.len(), ROOTS_KEPT);
    }
}
