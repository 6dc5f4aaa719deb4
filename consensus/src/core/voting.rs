//! Voting and safety: when this node signs a vote, and what it does with the votes it gets.
//!
//! The room owns the [`SafetyRules`] (the only code that signs votes, timeouts and proposals,
//! and the data that must reach the disk first), the votes collected for the next certificate,
//! the equivocation detector, and the one proposal parked while its batches or the state root
//! its header claims are not here yet. Its rules:
//! - a vote is signed only by [`SafetyRules::vote`], after the payload and the claimed state
//!   root were checked, and only once its safety data is in a `PersistSafety` pushed before it;
//! - signatures of proposals and votes are checked, and recorded for equivocation, before
//!   anything else happens to the message, so two conflicting signed messages always become
//!   evidence;
//! - votes go to the leader of the next round on the block voted for; a vote for another
//!   leader's round is refused, and one for the certificate just formed is still counted in.

use super::roots::Claim;
use super::{Action, Core, Environment, PayloadCheck, PayloadSource, Phase, Refusal};
use crate::certificates::{VoteCollector, qc_key};
use crate::equivocation::EquivocationDetector;
use crate::safety::{SafetyRules, Signed};
use runnet_types::consensus::{Evidence, MessageBody, Proposal, Vote, proposal_signing_bytes};
use runnet_types::{Domain, Hash};

pub(super) struct Voting {
    pub(super) safety: SafetyRules,
    pub(super) votes: VoteCollector,
    pub(super) equivocation: EquivocationDetector,
    /// A proposal of the current round waiting for its batches or for the execution of the
    /// height its header claims a root at.
    pub(super) parked: Option<(Proposal, Hash)>,
}

impl Voting {
    pub(super) fn new(safety: SafetyRules) -> Voting {
        Voting {
            safety,
            votes: VoteCollector::default(),
            equivocation: EquivocationDetector::default(),
            parked: None,
        }
    }

    /// A new round: votes and a parked proposal of another round are of no use any more.
    pub(super) fn enter_round(&mut self, round: u64) {
        self.votes.reset(round);
        self.equivocation.prune(round);
        if self
            .parked
            .as_ref()
            .is_some_and(|(p, _)| p.block.round() != round)
        {
            self.parked = None;
        }
    }

    /// Forgets the parked proposal if `gone` says its block is (say, no longer in the tree).
    pub(super) fn forget_parked_if(&mut self, gone: impl Fn(&Hash) -> bool) {
        if self.parked.as_ref().is_some_and(|(_, hash)| gone(hash)) {
            self.parked = None;
        }
    }

    /// A new epoch: nothing collected in the last one counts.
    pub(super) fn reset_for_epoch(&mut self) {
        self.votes = VoteCollector::default();
        self.equivocation.clear();
        self.parked = None;
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Where votes for `block`, of `round`, go: the leader of the next round if it extends
    /// `block`, or the schedule's when `block` is not known here.
    pub fn vote_recipient(&self, round: u64, block: &Hash) -> u32 {
        let next = round.saturating_add(1);
        self.leader_extending(next, block)
            .unwrap_or_else(|| self.leading.schedule.leader(next))
    }

    pub(super) fn persist(&mut self) {
        self.voting
            .safety
            .note_certificates(&self.chain.highest_qc, self.chain.highest_tc.as_ref());
        let mut blocks = self.chain.tree.chain_to(&self.chain.highest_qc.block());
        if let Some(vote) = &self.voting.safety.data().last_vote {
            for b in self.chain.tree.chain_to(&vote.data.block) {
                if !blocks.iter().any(|x| x.hash() == b.hash()) {
                    blocks.push(b);
                }
            }
        }
        blocks.sort_by_key(|b| b.height());
        self.voting
            .safety
            .note_blocks(blocks.iter().map(|b| (**b).clone()).collect());
        self.fx
            .push(Action::PersistSafety(self.voting.safety.data().clone()));
    }

    fn report(&mut self, evidence: Evidence) {
        tracing::warn!(signer = %evidence.signer(), round = evidence.round(), "equivocation");
        self.stats.evidence += 1;
        self.fx.push(Action::ReportEvidence(evidence));
    }

    /// Checks the proposer's signature and records the proposal for equivocation.
    pub(super) fn precheck_proposal(&mut self, p: &Proposal) -> Result<Hash, Refusal> {
        let header = p.block.header();
        let index = self
            .seat
            .committee
            .index_of(&header.proposer)
            .ok_or(Refusal::NotInCommittee(header.proposer))?;
        let key = self
            .seat
            .committee
            .get(index)
            .map(|v| v.consensus_key)
            .ok_or(Refusal::NotInCommittee(header.proposer))?;
        let hash = p.block.hash();
        if !self.crypto().verify(
            &key,
            Domain::Proposal,
            &proposal_signing_bytes(&hash),
            &p.block.signature,
        ) {
            return Err(Refusal::BadSignature("proposal"));
        }
        let round = self.round();
        if let Some(e) =
            self.voting
                .equivocation
                .proposal(round, index, &key, header, hash, &p.block.signature)
        {
            self.report(e);
        }
        Ok(hash)
    }

    pub(super) fn precheck_vote(&mut self, v: &Vote) -> Result<u32, Refusal> {
        let index = self
            .seat
            .committee
            .index_of(&v.author)
            .ok_or(Refusal::NotInCommittee(v.author))?;
        let key = self
            .seat
            .committee
            .get(index)
            .map(|x| x.consensus_key)
            .ok_or(Refusal::NotInCommittee(v.author))?;
        let bytes = v.data.signing_bytes(&self.config.chain_id);
        if !self
            .crypto()
            .verify(&key, Domain::Vote, &bytes, &v.signature)
        {
            return Err(Refusal::BadSignature("vote"));
        }
        let round = self.round();
        if let Some(e) = self
            .voting
            .equivocation
            .vote(round, index, &key, &v.data, &v.signature)
        {
            self.report(e);
        }
        Ok(index)
    }

    pub(super) fn on_payload_ready(&mut self) {
        if let Some((p, hash)) = self.voting.parked.take() {
            self.try_vote(p, hash);
        }
        self.maybe_propose();
    }

    pub(super) fn on_executed(&mut self, height: u64, state_root: Hash) {
        if let Err(divergence) = self.roots.executed(height, state_root) {
            self.halt(divergence.to_string());
            return;
        }
        if self.phase == Phase::EpochEnded {
            self.try_enter_next_epoch();
        }
        // A proposal may have been waiting for this execution to check its header's root.
        if let Some((p, hash)) = self.voting.parked.take() {
            self.try_vote(p, hash);
        }
    }

    pub(super) fn try_vote(&mut self, p: Proposal, hash: Hash) {
        let Some(author) = self.seat.address else {
            return;
        };
        if self.restoring || self.halted {
            return;
        }
        if self.phase != Phase::Running || p.block.round() != self.round() {
            return;
        }
        match self.payload.check_payload(&p.block.block.batches) {
            PayloadCheck::Ready => {}
            PayloadCheck::Missing => {
                self.voting.parked = Some((p, hash));
                return;
            }
            PayloadCheck::OverLimit { items, bytes } => {
                self.refuse(Refusal::OverLimit { items, bytes });
                return;
            }
        }
        let header = &p.block.block.header;
        match self
            .roots
            .check_claim(header.executed_height, header.executed_state_root)
        {
            Claim::Fine => {}
            Claim::Wait => {
                self.voting.parked = Some((p, hash));
                return;
            }
            Claim::Wrong { .. } => {
                self.refuse(Refusal::WrongStateRoot {
                    height: header.executed_height,
                });
                return;
            }
        }
        let chain_id = self.config.chain_id.clone();
        let signed = self.voting.safety.vote(
            &p.block,
            hash,
            p.tc.as_ref(),
            author,
            &chain_id,
            self.env.crypto(),
        );
        match signed {
            Ok(Signed::New(vote)) => {
                self.persist();
                self.stats.votes += 1;
                let since = self.rounds_since_commit(self.round());
                self.rounds.pacemaker.restart_clock(self.now, since);
                self.send_vote(vote);
            }
            Ok(Signed::Repeat(vote)) => self.send_vote(vote),
            Err(e) => self.refuse(e.into()),
        }
    }

    pub(super) fn send_vote(&mut self, vote: Vote) {
        let next = self.vote_recipient(vote.data.round, &vote.data.block);
        if Some(next) == self.seat.index {
            self.add_vote(next, vote);
        } else if let Some(to) = self.seat.committee.get(next).map(|v| v.address) {
            self.send(to, MessageBody::Vote(vote));
        }
    }

    pub(super) fn on_vote(&mut self, v: Vote) -> Result<(), Refusal> {
        let round = v.data.round;
        let current = self.round();
        if round.saturating_add(1) == current && self.late_vote(&v) {
            return Ok(());
        }
        if round < current {
            return Err(Refusal::StaleRound { round, current });
        }
        if round > current {
            return Err(Refusal::FutureRound { round, current });
        }
        // A vote for a block not seen here yet cannot be placed; it is kept (the collector holds
        // one per validator and round), since the next leader may well be us.
        let next = self.leader_extending(round.saturating_add(1), &v.data.block);
        if next.is_some() && next != self.seat.index {
            return Err(Refusal::NotNextLeader { round });
        }
        let index = self
            .seat
            .committee
            .index_of(&v.author)
            .ok_or(Refusal::NotInCommittee(v.author))?;
        self.add_vote(index, v);
        Ok(())
    }

    /// A vote for the certificate this node formed in the round just before, arriving before
    /// the proposal built on it: counted into the certificate, so the block names everyone who
    /// voted in time (the block pace gives them 100 ms). With only the first quorum to arrive, a
    /// validator whose votes always come last would appear in no certificate, never be seen at
    /// work (so never lead), and be jailed for downtime though it votes every round.
    fn late_vote(&mut self, v: &Vote) -> bool {
        let qc = &self.chain.highest_qc;
        if self.proposing.proposed_round >= self.round() || qc.data != v.data {
            return false;
        }
        let Some(index) = self.seat.committee.index_of(&v.author) else {
            return false;
        };
        let Err(at) = qc.signers.binary_search(&index) else {
            return true;
        };
        if qc.signatures.len() != qc.signers.len() {
            return false;
        }
        let qc = &mut self.chain.highest_qc;
        qc.signers.insert(at, index);
        qc.signatures.insert(at, v.signature);
        self.stats.late_votes += 1;
        true
    }

    fn add_vote(&mut self, index: u32, vote: Vote) {
        let author = vote.author;
        if let Some(qc) = self.voting.votes.add(&self.seat.committee, index, &vote) {
            self.stats.qcs_formed += 1;
            self.chain.formed(qc_key(&qc));
            self.observe_certificate(Some(author), &qc);
        }
    }
}
