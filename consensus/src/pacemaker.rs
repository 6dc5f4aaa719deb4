//! The pacemaker: which round we are in, when to give up on it, and when a leader with nothing to
//! order should propose anyway.
//!
//! Round timeouts double with each round since the last commit, up to a cap, and fall back to the
//! base as soon as something commits: after a network partition every node's timeout grows until
//! the rounds overlap long enough for a leader to gather a quorum, without a fixed timeout that is
//! too short for a slow network or too long for a fast one.
//!
//! An idle network does not spin: a leader with no payload waits up to the empty-block interval
//! before proposing an empty block (one event per second for the whole node), and a payload
//! arriving meanwhile ends the wait at once.

use runnet_types::genesis::ConsensusParams;

/// Timeouts never exceed 2^MAX_DOUBLINGS times the base, whatever the cap says.
const MAX_DOUBLINGS: u64 = 32;

#[derive(Clone, Debug)]
pub struct Pacemaker {
    base_ms: u64,
    max_ms: u64,
    empty_wait_ms: u64,
    retransmit_ms: u64,
    round: u64,
    round_deadline_ms: u64,
    retransmit_at_ms: u64,
    propose_at_ms: Option<u64>,
    /// When the leader may propose a block that does not fill itself (the block pace).
    pace_at_ms: Option<u64>,
}

impl Pacemaker {
    pub fn new(params: &ConsensusParams) -> Pacemaker {
        let base_ms = params.base_round_timeout_ms.max(1);
        let max_ms = params.max_round_timeout_ms.max(base_ms);
        Pacemaker {
            base_ms,
            max_ms,
            // A leader that waited longer than half a round would be timed out by the others
            // before its empty block arrived.
            empty_wait_ms: params.empty_block_interval_ms.min(base_ms / 2),
            // Longer than the empty-block wait, so an idle round ends before anything is re-sent.
            retransmit_ms: (base_ms / 4).saturating_mul(3).max(1),
            round: 0,
            round_deadline_ms: u64::MAX,
            retransmit_at_ms: u64::MAX,
            propose_at_ms: None,
            pace_at_ms: None,
        }
    }

    /// The timeout of a round entered `rounds_since_commit` rounds after the last commit:
    /// `base * 2^k`, capped.
    pub fn round_timeout_ms(&self, rounds_since_commit: u64) -> u64 {
        let doublings = rounds_since_commit.min(MAX_DOUBLINGS) as u32;
        self.base_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_ms)
    }

    pub fn max_timeout_ms(&self) -> u64 {
        self.max_ms
    }

    pub fn empty_wait_ms(&self) -> u64 {
        self.empty_wait_ms
    }

    pub fn round(&self) -> u64 {
        self.round
    }

    /// Enters `round` if it is newer; returns whether it did.
    pub fn enter(&mut self, round: u64, now_ms: u64, rounds_since_commit: u64) -> bool {
        if round <= self.round {
            return false;
        }
        self.round = round;
        self.propose_at_ms = None;
        self.pace_at_ms = None;
        self.round_deadline_ms = now_ms.saturating_add(self.round_timeout_ms(rounds_since_commit));
        self.retransmit_at_ms = now_ms.saturating_add(self.retransmit_ms);
        true
    }

    /// Whether it is time to re-send what we signed in this round (a lost proposal, vote or
    /// timeout would otherwise cost the whole round); re-arms when it is.
    pub fn retransmit_due(&mut self, now_ms: u64) -> bool {
        if now_ms < self.retransmit_at_ms {
            return false;
        }
        self.retransmit_at_ms = now_ms.saturating_add(self.retransmit_ms);
        true
    }

    /// After a local timeout: the same round, tried again (and the timeout re-sent) one timeout
    /// later, for peers that lost it.
    pub fn rearm(&mut self, now_ms: u64, rounds_since_commit: u64) {
        self.round_deadline_ms = now_ms.saturating_add(self.round_timeout_ms(rounds_since_commit));
    }

    /// The round is alive (we just voted in it): count its timeout, and the wait before
    /// re-sending, from now. Otherwise a round entered early (at start, or by a timeout
    /// certificate) whose leader first waits out the empty-block interval would time out just
    /// as the next proposal arrives.
    pub fn restart_clock(&mut self, now_ms: u64, rounds_since_commit: u64) {
        self.round_deadline_ms = now_ms.saturating_add(self.round_timeout_ms(rounds_since_commit));
        self.retransmit_at_ms = now_ms.saturating_add(self.retransmit_ms);
    }

    /// Stops the round timer (the epoch ended; nothing to time out until the next one).
    pub fn stop(&mut self) {
        self.round_deadline_ms = u64::MAX;
        self.retransmit_at_ms = u64::MAX;
        self.propose_at_ms = None;
        self.pace_at_ms = None;
    }

    /// Restarts the rounds for a new epoch.
    pub fn reset_epoch(&mut self) {
        self.round = 0;
        self.stop();
    }

    pub fn round_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.round_deadline_ms
    }

    /// A leader with nothing to order: when may it propose an empty block? Starts the wait on the
    /// first call of the round.
    pub fn empty_block_due(&mut self, now_ms: u64) -> bool {
        let at = *self
            .propose_at_ms
            .get_or_insert(now_ms.saturating_add(self.empty_wait_ms));
        now_ms >= at
    }

    /// The block pace: may a block be proposed, `wait_ms` from the first time this round
    /// asks? Starts the wait on the first call of the round.
    pub fn pace_due(&mut self, now_ms: u64, wait_ms: u64) -> bool {
        let at = *self
            .pace_at_ms
            .get_or_insert(now_ms.saturating_add(wait_ms));
        now_ms >= at
    }

    pub fn clear_wait(&mut self) {
        self.propose_at_ms = None;
        self.pace_at_ms = None;
    }

    /// The next instant the core wants to be woken up at.
    pub fn next_deadline(&self) -> Option<u64> {
        let mut deadline = self.round_deadline_ms.min(self.retransmit_at_ms);
        for p in [self.propose_at_ms, self.pace_at_ms].into_iter().flatten() {
            deadline = deadline.min(p);
        }
        (deadline != u64::MAX).then_some(deadline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The numbers these tests are written in (not the genesis defaults, which may move).
    fn params() -> ConsensusParams {
        ConsensusParams {
            empty_block_interval_ms: 1_000,
            base_round_timeout_ms: 2_000,
            max_round_timeout_ms: 30_000,
            ..ConsensusParams::default()
        }
    }

    #[test]
    fn timeouts_double_with_rounds_since_commit_up_to_the_cap() {
        let p = Pacemaker::new(&params());
        assert_eq!(p.round_timeout_ms(0), 2_000);
        assert_eq!(p.round_timeout_ms(1), 4_000);
        assert_eq!(p.round_timeout_ms(2), 8_000);
        assert_eq!(p.round_timeout_ms(3), 16_000);
        assert_eq!(p.round_timeout_ms(4), 30_000);
        assert_eq!(p.round_timeout_ms(1_000), 30_000);
        assert_eq!(p.round_timeout_ms(u64::MAX), 30_000);
        let huge = Pacemaker::new(&ConsensusParams {
            max_round_timeout_ms: u64::MAX,
            ..params()
        });
        assert_eq!(huge.round_timeout_ms(u64::MAX), 2_000u64 << 32);
    }

    #[test]
    fn entering_a_round_sets_its_deadline_and_old_rounds_are_ignored() {
        let mut p = Pacemaker::new(&params());
        assert!(p.enter(1, 100, 0));
        // First the retransmission, 1.5 s in; then the timeout, 2 s in.
        assert_eq!(p.next_deadline(), Some(1_600));
        assert!(!p.retransmit_due(1_599));
        assert!(p.retransmit_due(1_600));
        assert_eq!(p.next_deadline(), Some(2_100));
        assert!(!p.enter(1, 500, 0));
        assert!(!p.enter(0, 500, 0));
        assert!(!p.round_expired(2_099));
        assert!(p.round_expired(2_100));
        // Three rounds since the last commit: 16 s.
        assert!(p.enter(5, 3_000, 3));
        assert!(p.retransmit_due(4_500));
        assert_eq!(p.next_deadline(), Some(6_000));
        assert!(p.retransmit_due(6_000));
        assert!(p.retransmit_due(7_500));
        assert!(p.retransmit_due(18_000));
        assert_eq!(p.next_deadline(), Some(19_000));
        // A commit resets the growth for the next round.
        assert!(p.enter(6, 20_000, 0));
        assert!(p.retransmit_due(21_500));
        assert_eq!(p.next_deadline(), Some(22_000));
        p.rearm(22_000, 0);
        assert_eq!(p.next_deadline(), Some(23_000));
    }

    #[test]
    fn empty_block_wait_starts_once_and_is_cleared_by_a_new_round() {
        let mut p = Pacemaker::new(&params());
        p.enter(1, 0, 0);
        assert!(!p.empty_block_due(10));
        assert_eq!(p.next_deadline(), Some(1_010));
        assert!(!p.empty_block_due(500));
        assert!(p.empty_block_due(1_010));
        p.enter(2, 1_100, 0);
        assert_eq!(p.next_deadline(), Some(2_600));
        // The wait never exceeds half the base timeout.
        let p = Pacemaker::new(&ConsensusParams {
            empty_block_interval_ms: 10_000,
            ..params()
        });
        assert_eq!(p.empty_wait_ms(), 1_000);
    }
}
