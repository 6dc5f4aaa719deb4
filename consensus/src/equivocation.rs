//! Spotting a validator that signs two different proposals or votes for one round.
//!
//! Every signed proposal and vote of the current epoch whose signature checks out is remembered
//! for rounds near the current one, before any other check can drop it, so a conflicting second
//! message is caught even when the first was useless (stale, not from the leader, not voteable).

use runnet_types::consensus::{Evidence, SignedHeader, SignedVote, VoteData};
use runnet_types::{BlockHeader, Hash, PublicKey, Signature};
use std::collections::{BTreeMap, BTreeSet};

/// Messages this many rounds away from the current round are not remembered (a validator can
/// sign any round, and memory must stay bounded).
pub const EQUIVOCATION_WINDOW: u64 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Proposal,
    Vote,
}

#[derive(Default)]
pub(crate) struct EquivocationDetector {
    proposals: BTreeMap<(u64, u32), (Hash, SignedHeader)>,
    votes: BTreeMap<(u64, u32), SignedVote>,
    reported: BTreeSet<(u64, u32, Kind)>,
}

/// Whether `round` is close enough to `current` to be remembered.
pub fn in_window(round: u64, current: u64) -> bool {
    round.saturating_add(EQUIVOCATION_WINDOW) >= current
        && round <= current.saturating_add(EQUIVOCATION_WINDOW)
}

impl EquivocationDetector {
    pub(crate) fn clear(&mut self) {
        *self = EquivocationDetector::default();
    }

    /// Forgets rounds that fell out of the window.
    pub(crate) fn prune(&mut self, current: u64) {
        let floor = current.saturating_sub(EQUIVOCATION_WINDOW);
        self.proposals.retain(|(r, _), _| *r >= floor);
        self.votes.retain(|(r, _), _| *r >= floor);
        self.reported.retain(|(r, _, _)| *r >= floor);
    }

    /// Records a proposal with a valid signature of committee member `index`.
    pub(crate) fn proposal(
        &mut self,
        current: u64,
        index: u32,
        signer: &PublicKey,
        header: &BlockHeader,
        hash: Hash,
        signature: &Signature,
    ) -> Option<Evidence> {
        if !in_window(header.round, current) {
            return None;
        }
        let key = (header.round, index);
        match self.proposals.get(&key) {
            None => {
                self.proposals.insert(
                    key,
                    (
                        hash,
                        SignedHeader {
                            header: header.clone(),
                            signature: *signature,
                        },
                    ),
                );
                None
            }
            Some((first_hash, _)) if *first_hash == hash => None,
            Some((_, first)) => {
                if !self.reported.insert((header.round, index, Kind::Proposal)) {
                    return None;
                }
                Some(Evidence::Proposals {
                    signer: *signer,
                    first: first.clone(),
                    second: SignedHeader {
                        header: header.clone(),
                        signature: *signature,
                    },
                })
            }
        }
    }

    /// Records a vote with a valid signature of committee member `index`.
    pub(crate) fn vote(
        &mut self,
        current: u64,
        index: u32,
        signer: &PublicKey,
        data: &VoteData,
        signature: &Signature,
    ) -> Option<Evidence> {
        if !in_window(data.round, current) {
            return None;
        }
        let key = (data.round, index);
        match self.votes.get(&key) {
            None => {
                self.votes.insert(
                    key,
                    SignedVote {
                        data: data.clone(),
                        signature: *signature,
                    },
                );
                None
            }
            Some(first) if first.data == *data => None,
            Some(first) => {
                if !self.reported.insert((data.round, index, Kind::Vote)) {
                    return None;
                }
                Some(Evidence::Votes {
                    signer: *signer,
                    first: first.clone(),
                    second: SignedVote {
                        data: data.clone(),
                        signature: *signature,
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(round: u64, block: u8) -> VoteData {
        VoteData {
            epoch: 0,
            round,
            height: 1,
            block: Hash([block; 32]),
            parent: Hash::ZERO,
            parent_round: 0,
        }
    }

    #[test]
    fn reports_once_per_conflict_and_ignores_repeats() {
        let mut d = EquivocationDetector::default();
        let key = PublicKey([1; 32]);
        let sig = Signature([0; 64]);
        assert!(d.vote(5, 0, &key, &data(5, 1), &sig).is_none());
        assert!(d.vote(5, 0, &key, &data(5, 1), &sig).is_none());
        assert!(d.vote(5, 1, &key, &data(5, 2), &sig).is_none());
        let e = d.vote(5, 0, &key, &data(5, 2), &sig).unwrap();
        assert_eq!(e.round(), 5);
        assert!(d.vote(5, 0, &key, &data(5, 3), &sig).is_none());
        // Far-away rounds are not remembered.
        assert!(d.vote(5, 2, &key, &data(500, 1), &sig).is_none());
        assert!(d.vote(5, 2, &key, &data(500, 2), &sig).is_none());
        d.prune(200);
        assert!(d.vote(200, 0, &key, &data(5, 4), &sig).is_none());
    }
}
