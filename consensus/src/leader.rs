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

use runnet_types::consensus::Committee;
use runnet_types::encoding::hash_of;

/// Slots per validator in a cycle, on average: enough that rounding stakes to slots barely moves
/// anyone's share.
const SLOTS_PER_VALIDATOR: u128 = 100;

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

    pub fn cycle_len(&self) -> usize {
        self.cycle.len()
    }
}

/// The leader of `round` (builds the schedule: cache a [`LeaderSchedule`] on hot paths).
pub fn leader(committee: &Committee, round: u64) -> u32 {
    LeaderSchedule::new(committee).leader(round)
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::consensus::ValidatorInfo;
    use runnet_types::{Address, PublicKey, VrfPublicKey};

    fn committee(stakes: &[u64]) -> Committee {
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
