//! Leader election: a deterministic, stake-weighted rotation.
//!
//! Every node derives the same schedule from the committee alone. Each validator gets slots in
//! a cycle in proportion to its stake, and the slots are interleaved by smooth weighted
//! round-robin (each validator's turns spread as evenly as its weight allows); the cycle starts
//! at an offset drawn from the epoch, so the first leader changes from epoch to epoch.
//!
//! Why a rotation and not an independent draw per round: the 2-chain rule commits when three
//! consecutive rounds have honest leaders (one proposes, the next two gather the votes). With
//! slots proportional to stake and faulty validators holding less than a third, the honest slots
//! of a cycle outnumber twice the faulty ones, so by pigeonhole every cycle holds three honest
//! leaders in a row. An independent draw gives no such bound: a run of bad luck can starve
//! commits for as long as it lasts.
//!
//! A crashed validator would still cost its slots: votes of the round before its slot go to it
//! and are lost, then its own round times out. So while the chain is moving, a round whose block
//! extends a certificate of the round just before it skips a scheduled leader that was not seen
//! at work in that certified block ([`LeaderSchedule::active_leader`], after Carousel, Cohen et
//! al. 2022): everyone who must agree on the leader holds that block, so they agree. After a
//! timeout the plain schedule applies again, and with it the pigeonhole bound above.

use runnet_types::consensus::Committee;
use runnet_types::encoding::hash_of;

/// Slots per validator in a cycle, on average: enough that rounding stakes to slots barely moves
/// anyone's share.
const SLOTS_PER_VALIDATOR: u128 = 100;

/// Failed rounds in a row the leader rule looks back over (beyond, rounds fail for want of a
/// quorum, not for one leader).
pub const TRIED_ROUNDS: u64 = 16;

/// Who leads a round, and who was passed over for it (see [`LeaderSchedule::leaders_from`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RoundLeader {
    pub round: u64,
    pub leader: u32,
    /// The validator that would have led had the rounds before not failed: the one that was to
    /// collect the previous round's votes.
    pub passed_over: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderSchedule {
    epoch: u64,
    cycle: Vec<u32>,
    offset: u64,
}

impl LeaderSchedule {
    pub fn new(committee: &Committee) -> LeaderSchedule {
        let n = committee.len().max(1) as u128;
        let total = committee.total_stake().max(1);
        let target = SLOTS_PER_VALIDATOR * n;
        // At least one slot each: a validator with a sliver of stake still leads sometimes.
        let weights: Vec<u128> = committee
            .validators()
            .iter()
            .map(|v| (u128::from(v.stake) * target / total).max(1))
            .collect();
        let length: u128 = weights.iter().sum();
        let mut current = vec![0i128; weights.len()];
        let mut cycle = Vec::with_capacity(length as usize);
        for _ in 0..length {
            let mut best = 0usize;
            for (i, w) in weights.iter().enumerate() {
                current[i] += *w as i128;
                if current[i] > current[best] {
                    best = i;
                }
            }
            current[best] -= length as i128;
            cycle.push(best as u32);
        }
        let digest = hash_of(&("leader", committee.chain_id(), committee.epoch()));
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest.0[..8]);
        LeaderSchedule {
            epoch: committee.epoch(),
            offset: u64::from_le_bytes(first) % (length.max(1) as u64),
            cycle,
        }
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The committee index of the leader of `round`.
    pub fn leader(&self, round: u64) -> u32 {
        let length = self.cycle.len().max(1) as u64;
        let slot = (round % length + self.offset) % length;
        self.cycle.get(slot as usize).copied().unwrap_or(0)
    }

    /// The leader of `round` while the chain is moving (the round's block extends a certificate
    /// of the round just before it): the scheduled leader if it is `active`, otherwise one of
    /// the active validators, spread over them in proportion to stake.
    ///
    /// `active[i]` says whether committee member `i` was seen at work in the block the round
    /// extends (it signed that block's certificate, or proposed the block). A crashed validator
    /// signs nothing, so it stops being scheduled one block after it stops voting, and comes
    /// back the first time its vote is counted again. When no one is active (an epoch's root),
    /// this is the plain schedule.
    pub fn active_leader(&self, round: u64, active: &[bool]) -> u32 {
        let scheduled = self.leader(round);
        let is_active = |i: u32| active.get(i as usize).copied().unwrap_or(false);
        if is_active(scheduled) {
            return scheduled;
        }
        // The cycle with the inactive validators' slots taken out keeps the others' shares.
        let eligible = self.cycle.iter().filter(|i| is_active(**i)).count() as u64;
        if eligible == 0 {
            return scheduled;
        }
        // Consecutive rounds land far apart among them (Fibonacci hashing), so the inactive
        // validator's turns are not all taken by one neighbour.
        let spread = round
            .wrapping_add(self.offset)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            >> 32;
        let pick = spread % eligible;
        self.cycle
            .iter()
            .copied()
            .filter(|i| is_active(*i))
            .nth(pick as usize)
            .unwrap_or(scheduled)
    }

    /// The leaders of the rounds of blocks extending a certificate of round `first - 1`, up to
    /// `round`: the last [`TRIED_ROUNDS`] of `first..=round`, oldest first.
    ///
    /// The first round after the certificate is led by [`Self::active_leader`]. A later one is
    /// reached only through timeouts: every round since `first` failed, and in 2-chain HotStuff
    /// a round fails for its leader or for the one that was to collect its votes (the next
    /// round's [`Self::active_leader`]). So a round reached through timeouts is led, the same
    /// way, by an eligible validator that is neither: not the leader of a failed round since
    /// `first`, and not the one [`Self::active_leader`] names for the round itself (without
    /// this, a crashed validator would fail two rounds in a row, the second with a doubled
    /// timeout). When no one is left, the round's active leader leads.
    pub fn leaders_from(&self, first: u64, round: u64, eligible: &[bool]) -> Vec<RoundLeader> {
        let start = first.max(round.saturating_sub(TRIED_ROUNDS - 1));
        let mut untried = eligible.to_vec();
        let mut out = Vec::new();
        for r in start..=round {
            let primary = self.active_leader(r, eligible);
            let mut passed_over = None;
            let leader = if r == first {
                primary
            } else {
                if let Some(t) = untried.get_mut(primary as usize) {
                    *t = false;
                }
                if untried.iter().any(|t| *t) {
                    let leader = self.active_leader(r, &untried);
                    passed_over = (leader != primary).then_some(primary);
                    leader
                } else {
                    primary
                }
            };
            if let Some(t) = untried.get_mut(leader as usize) {
                *t = false;
            }
            out.push(RoundLeader {
                round: r,
                leader,
                passed_over,
            });
        }
        out
    }

    pub fn cycle_len(&self) -> usize {
        self.cycle.len()
    }
}

/// The leader of `round` (builds the schedule: cache a [`LeaderSchedule`] on hot paths).
pub fn leader(committee: &Committee, round: u64) -> u32 {
    LeaderSchedule::new(committee).leader(round)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use runnet_types::consensus::ValidatorInfo;
    use runnet_types::{Address, PublicKey, VrfPublicKey};

    /// A test committee: validator i has address and key bytes i + 1 and the i-th stake.
    pub(crate) fn committee(stakes: &[u64]) -> Committee {
        let validators = stakes
            .iter()
            .enumerate()
            .map(|(i, s)| ValidatorInfo {
                address: Address([i as u8 + 1; 20]),
                consensus_key: PublicKey([i as u8 + 1; 32]),
                vrf_key: VrfPublicKey([0; 32]),
                stake: *s,
            })
            .collect();
        Committee::new(3, "test", validators, u64::MAX).unwrap()
    }

    #[test]
    fn deterministic_and_weighted_by_stake() {
        let c = committee(&[1, 1, 2, 6]);
        let s = LeaderSchedule::new(&c);
        assert_eq!(s, LeaderSchedule::new(&c));
        let mut counts = [0u32; 4];
        for round in 0..10_000 {
            counts[s.leader(round) as usize] += 1;
        }
        assert_eq!(counts, [1_000, 1_000, 2_000, 6_000]);
        // Huge stakes are fine.
        let big = committee(&[u64::MAX / 2, u64::MAX / 4, 1]);
        let s = LeaderSchedule::new(&big);
        assert!(s.cycle_len() >= 290, "{}", s.cycle_len());
        assert!((0..1000).any(|r| s.leader(r) == 2));
    }

    #[test]
    fn rotates_and_spreads_turns() {
        let c = committee(&[1, 1, 1, 1]);
        let s = LeaderSchedule::new(&c);
        for r in 0..100 {
            let window: std::collections::BTreeSet<u32> = (r..r + 4).map(|x| s.leader(x)).collect();
            assert_eq!(
                window.len(),
                4,
                "each of four equal validators leads once in any four rounds"
            );
        }
        // Epochs start at different places in the cycle.
        let firsts: std::collections::BTreeSet<u32> = (0..20)
            .map(|e| {
                let other = Committee::new(e, "test", c.validators().to_vec(), u64::MAX).unwrap();
                LeaderSchedule::new(&other).leader(1)
            })
            .collect();
        assert!(firsts.len() > 1);
    }

    #[test]
    fn an_inactive_scheduled_leader_is_replaced_by_active_ones_in_proportion_to_stake() {
        let c = committee(&[1, 1, 2, 6]);
        let s = LeaderSchedule::new(&c);
        let everyone = [true; 4];
        let none = [false; 4];
        for round in 0..1_000 {
            assert_eq!(s.active_leader(round, &everyone), s.leader(round));
            assert_eq!(s.active_leader(round, &none), s.leader(round));
        }
        // Validator 3 (stake 6) crashed: its rounds go to the others, 1:1:2.
        let without_3 = [true, true, true, false];
        let mut counts = [0u32; 4];
        for round in 0..10_000 {
            let l = s.active_leader(round, &without_3);
            counts[l as usize] += 1;
            if s.leader(round) != 3 {
                assert_eq!(
                    l,
                    s.leader(round),
                    "an active scheduled leader keeps its round"
                );
            }
        }
        assert_eq!(counts[3], 0);
        assert_eq!(counts[0] + counts[1] + counts[2], 10_000);
        for (i, share) in [(0, 0.25), (1, 0.25), (2, 0.5)] {
            let got = f64::from(counts[i]) / 10_000.0;
            assert!((got - share).abs() < 0.02, "validator {i}: {counts:?}");
        }
        // Indexes past the mask count as inactive (and never panic).
        for round in 0..100 {
            assert_eq!(s.active_leader(round, &[true]), 0);
        }
    }

    /// Whatever the stakes, faulty validators holding less than a third leave, in every cycle,
    /// three consecutive rounds led by honest validators: the 2-chain rule can commit.
    #[test]
    fn three_honest_leaders_in_a_row_every_cycle() {
        let cases: [(&[u64], &[usize]); 5] = [
            (&[1, 1, 1, 1], &[0]),
            (&[100, 400, 400, 400], &[0]),
            (&[3, 3, 1, 1, 1, 1, 1], &[2, 3]),
            (&[10, 10, 10, 10, 10, 10, 10], &[5, 6]),
            (&[32, 17, 17, 17, 17], &[0]),
        ];
        for (stakes, faulty) in cases {
            let c = committee(stakes);
            let total: u64 = stakes.iter().sum();
            let bad: u64 = faulty.iter().map(|i| stakes[*i]).sum();
            assert!(3 * bad < total);
            let s = LeaderSchedule::new(&c);
            let len = s.cycle_len() as u64;
            for start in (0..len).step_by(7) {
                let honest = |r: u64| !faulty.contains(&(s.leader(r) as usize));
                let found =
                    (start..start + len).any(|r| honest(r) && honest(r + 1) && honest(r + 2));
                assert!(found, "stakes {stakes:?} faulty {faulty:?}");
            }
        }
    }
}
