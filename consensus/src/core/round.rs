//! Rounds and the pacemaker: which round this node is in, when it gives up on it, and the one
//! timer the driver keeps for it.
//!
//! The room owns the [`Pacemaker`], the timeouts collected for the current round and what the
//! driver's timer was last set to. Its rules:
//! - the round only moves forward, and only on a certificate: a quorum certificate of round r or
//!   a timeout certificate of round r lets a node enter r+1 ([`Core::enter_round`]);
//! - a node times out a round once (re-sending the same signed timeout after that), and joins
//!   the timeout as soon as more than a third of the stake did, so a round nobody can finish
//!   ends within one timeout of the first honest node's;
//! - the driver holds exactly one timer: [`Core::schedule_timer`] asks for a new one only when
//!   the deadline changes, and never for the past.

use super::{Action, Core, Environment, PayloadSource, Phase, Refusal};
use crate::certificates::{TimeoutCollector, tc_key};
use crate::pacemaker::Pacemaker;
use crate::safety::Signed;
use runnet_types::Address;
use runnet_types::Domain;
use runnet_types::consensus::{MessageBody, Timeout, TimeoutCert};
use runnet_types::genesis::ConsensusParams;

pub(super) struct RoundRoom {
    pub(super) pacemaker: Pacemaker,
    pub(super) timeouts: TimeoutCollector,
    /// The timer the driver was last asked for.
    timer_set: Option<u64>,
    /// The wake-up `wake_now` asked for, kept until a timer event delivers it: a later event
    /// rescheduling the timer must not drop it (a lone validator would then sit until its round
    /// timed out).
    wake_at: Option<u64>,
}

impl RoundRoom {
    pub(super) fn new(params: &ConsensusParams) -> RoundRoom {
        RoundRoom {
            pacemaker: Pacemaker::new(params),
            timeouts: TimeoutCollector::default(),
            timer_set: None,
            wake_at: None,
        }
    }

    /// A new epoch: the round count starts again at 1.
    pub(super) fn reset_for_epoch(&mut self) {
        self.timeouts = TimeoutCollector::default();
        self.pacemaker.reset_epoch();
    }

    /// The driver's timer went off: it is spent, and the next one must be set again.
    pub(super) fn timer_spent(&mut self) {
        self.timer_set = None;
        self.wake_at = None;
    }

    /// The timer the driver should hold now, if it differs from the one it holds.
    fn next_timer(&mut self, running: bool, now: u64, wake_now: bool) -> Option<u64> {
        let mut next = if running {
            self.pacemaker.next_deadline()
        } else {
            None
        };
        if wake_now {
            self.wake_at = Some(now);
        }
        if let Some(wake) = self.wake_at {
            next = Some(next.map_or(wake, |n| n.min(wake)));
        }
        // Never ask to be woken in the past: that would spin.
        let next = next.map(|at| at.max(now.saturating_add(1)));
        if next == self.timer_set {
            return None;
        }
        self.timer_set = next;
        next
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    pub(super) fn schedule_timer(&mut self) {
        let wake_now = std::mem::take(&mut self.fx.wake_now);
        let running = self.phase == Phase::Running;
        if let Some(at_ms) = self.rounds.next_timer(running, self.now, wake_now) {
            self.fx.push(Action::SetTimer { at_ms });
        }
    }

    pub(super) fn rounds_since_commit(&self, round: u64) -> u64 {
        round.saturating_sub(self.chain.tree.root().info.round.saturating_add(2))
    }

    pub(super) fn on_timer(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        if self.rounds.pacemaker.round_expired(self.now) {
            self.local_timeout();
        } else if self.rounds.pacemaker.retransmit_due(self.now) {
            self.retransmit();
        }
        self.maybe_propose();
    }

    /// Re-sends what we signed in the current round, for peers that lost it. Never signs
    /// anything new.
    fn retransmit(&mut self) {
        let (epoch, round) = (self.epoch(), self.round());
        let data = self.voting.safety.data();
        let proposal = data
            .last_proposal
            .clone()
            .filter(|p| p.block.epoch() == epoch && p.block.round() == round);
        let vote = data
            .last_vote
            .clone()
            .filter(|v| v.data.epoch == epoch && v.data.round == round);
        let timeout = data
            .last_timeout
            .clone()
            .filter(|t| t.data.epoch == epoch && t.data.round == round);
        if let Some(p) = proposal
            && self.proposing.proposed_round == round
        {
            self.broadcast(MessageBody::Proposal(p));
        }
        if let Some(v) = vote {
            self.send_vote(v);
        }
        if let Some(t) = timeout {
            self.broadcast(MessageBody::Timeout(t));
        }
    }

    pub(super) fn process_tc(&mut self, tc: TimeoutCert) {
        let round = tc.round;
        self.chain.raise_tc(tc);
        self.enter_round(round.saturating_add(1));
    }

    pub(super) fn enter_round(&mut self, round: u64) {
        if self.phase != Phase::Running {
            return;
        }
        let since = self.rounds_since_commit(round);
        if !self.rounds.pacemaker.enter(round, self.now, since) {
            return;
        }
        self.voting.enter_round(round);
        self.rounds.timeouts.reset(self.epoch(), round);
        self.sync.enter_round(round);
        self.maybe_propose();
    }

    // ---------------------------------------------------------------------------------------
    // Timeouts

    fn local_timeout(&mut self) {
        if self.restoring {
            return;
        }
        let round = self.round();
        let since = self.rounds_since_commit(round);
        self.rounds.pacemaker.rearm(self.now, since);
        let (Some(author), Some(index)) = (self.seat.address, self.seat.index) else {
            return;
        };
        let chain_id = self.config.chain_id.clone();
        let epoch = self.epoch();
        let signed = self.voting.safety.timeout(
            epoch,
            round,
            &self.chain.highest_qc,
            self.chain.highest_tc.as_ref(),
            author,
            &chain_id,
            self.env.crypto(),
        );
        let timeout = match signed {
            Ok(Signed::New(t)) => {
                self.persist();
                self.stats.timeouts += 1;
                t
            }
            Ok(Signed::Repeat(t)) => t,
            Err(e) => {
                self.refuse(e.into());
                return;
            }
        };
        self.broadcast(MessageBody::Timeout(timeout.clone()));
        self.count_timeout(index, &timeout);
    }

    pub(super) fn on_timeout(&mut self, from: Address, t: Timeout) -> Result<(), Refusal> {
        let index = self
            .seat
            .committee
            .index_of(&t.author)
            .ok_or(Refusal::NotInCommittee(t.author))?;
        let key = self
            .seat
            .committee
            .get(index)
            .map(|v| v.consensus_key)
            .ok_or(Refusal::NotInCommittee(t.author))?;
        if t.highest_qc.round() != t.data.hqc_round
            || t.data.hqc_round >= t.data.round
            || t.highest_qc.epoch() != t.data.epoch
        {
            return Err(Refusal::TimeoutCertMismatch);
        }
        let bytes = t.data.signing_bytes(&self.config.chain_id);
        if !self
            .crypto()
            .verify(&key, Domain::Timeout, &bytes, &t.signature)
        {
            return Err(Refusal::BadSignature("timeout"));
        }
        // A timeout's lock enters timeout certificates and so bounds the next proposal: it must
        // be backed by a real certificate, never a number a faulty validator made up.
        self.verify_qc_cached(&t.highest_qc)?;
        let epoch = self.epoch();
        if self.chain.qc_is_news(&t.highest_qc) {
            self.observe_certificate(Some(from), &t.highest_qc);
        }
        if self.epoch() != epoch || self.phase != Phase::Running {
            return Ok(());
        }
        let round = t.data.round;
        let current = self.round();
        if round < current {
            // The sender is behind: our sync info brings it to our round.
            self.status_to(from);
            return Err(Refusal::StaleRound { round, current });
        }
        if round > current {
            return Err(Refusal::FutureRound { round, current });
        }
        self.count_timeout(index, &t);
        Ok(())
    }

    fn count_timeout(&mut self, index: u32, t: &Timeout) {
        let tally = self.rounds.timeouts.add(&self.seat.committee, index, t);
        if let Some(tc) = tally.tc {
            self.stats.tcs_formed += 1;
            self.chain.formed(tc_key(&tc));
            self.process_tc(tc);
            return;
        }
        if tally.more_than_third
            && let Some(me) = self.seat.index
            && !self.rounds.timeouts.has(me)
            && t.data.round == self.round()
        {
            self.local_timeout();
        }
    }
}
