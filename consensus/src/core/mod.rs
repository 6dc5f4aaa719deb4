//! The sans-IO consensus core: events in, actions out.
//!
//! The core never touches a socket, a clock or a disk. The driver (the node's tokio task, or the
//! simulator) feeds it [`Event`]s carrying the current time and performs the [`Action`]s it
//! returns, in order. Order matters: a `PersistSafety` action comes before the vote, timeout or
//! proposal it protects, and the driver must finish writing it (synced) before performing the next
//! action, or stop if it cannot.

mod api;
mod epoch;
mod leading;
mod roots;
mod sync;

pub use api::{
    Action, CommittedBlock, CommittedTip, CoreConfig, Environment, Event, PayloadCheck,
    PayloadSource, Recovery, Refusal, StartError, Stats,
};
use roots::{Claim, StateRoots};

use crate::certificates::{
    CertCache, TimeoutCollector, VoteCollector, qc_key, tc_key, verify_qc, verify_tc,
};
use crate::crypto::Crypto;
use crate::equivocation::EquivocationDetector;
use crate::leader::LeaderSchedule;
use crate::pacemaker::Pacemaker;
use crate::reputation::{MAX_BLAMED, RecentlySeen};
#[cfg(test)]
use crate::safety::Flaw;
use crate::safety::{SafetyData, SafetyRules, Signed};
use crate::tree::{BlockTree, MAX_TREE_BLOCKS, Parent, Root, TreeBlock};
use runnet_types::block::{batches_root, genesis_seed, next_seed};
use runnet_types::consensus::{
    CommitProof, Committee, ConsensusMessage, Evidence, MessageBody, Proposal, ProposedBlock,
    QuorumCert, SyncInfo, Timeout, TimeoutCert, Vote, proposal_signing_bytes,
};
use runnet_types::{Address, Block, BlockHeader, Domain, Hash, PublicKey};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// How many heights behind its latest execution a proposer's header claims a state root.
const CLAIM_LAG: u64 = 2;

/// Most distinct uncertified blocks accepted for one round (an equivocating leader can sign any
/// number; the first few are enough to prove it).
const MAX_BLOCKS_PER_ROUND: u32 = 3;
/// Proposals kept while their parent is fetched.
const MAX_ORPHANS: usize = 4;
/// Messages of the next epoch kept while this one finishes.
const MAX_FUTURE_MESSAGES: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Running,
    /// The epoch's last block committed; waiting for the next committee.
    EpochEnded,
}

/// One validator's (or follower's) consensus state machine.
pub struct Core<E: Environment, P: PayloadSource> {
    pub(crate) config: CoreConfig,
    pub(crate) env: E,
    payload: P,
    me: PublicKey,
    pub(crate) committee: Arc<Committee>,
    leaders: LeaderSchedule,
    /// Who the last committed blocks show at work (reputation.rs).
    seen: RecentlySeen,
    my_index: Option<u32>,
    my_address: Option<Address>,
    phase: Phase,
    started: bool,
    /// Rebuilding state after a restart: nothing is signed until it is done.
    restoring: bool,
    pending_tip_proof: Option<CommitProof>,
    pub(crate) tree: BlockTree,
    root_qc: QuorumCert,
    pub(crate) highest_qc: QuorumCert,
    pub(crate) highest_tc: Option<TimeoutCert>,
    highest_commit: QuorumCert,
    commit_proof: CommitProof,
    safety: SafetyRules,
    pacemaker: Pacemaker,
    votes: VoteCollector,
    timeouts: TimeoutCollector,
    equivocation: EquivocationDetector,
    certs: CertCache,
    parked: Option<(Proposal, Hash)>,
    orphans: Vec<(Address, Proposal)>,
    future: VecDeque<(Address, ConsensusMessage)>,
    sync_in_flight: Option<u64>,
    status_sent: BTreeMap<Address, u64>,
    proposed_round: u64,
    proposed_this_event: bool,
    /// Batches of blocks committed while handling the current event. The driver tells the
    /// mempool about a commit only after `handle` returns, so a proposal made in the same event
    /// must skip these itself or it would name them a second time.
    committed_this_event: BTreeSet<Hash>,
    wake_now: bool,
    /// The wake-up `wake_now` asked for, kept until a timer event delivers it: a later event
    /// rescheduling the timer must not drop it (a lone validator would then sit until its round
    /// timed out).
    wake_at: Option<u64>,
    /// The roots this node computed and the ones committed headers claim (roots.rs).
    roots: StateRoots,
    /// Set once this node's state is found not to be the chain's: nothing more is signed.
    halted: bool,
    pub(crate) now: u64,
    timer_set: Option<u64>,
    stats: Stats,
    out: Vec<Action>,
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Builds a core from what survived (nothing, for a new node). Feed [`Event::Start`] next.
    pub fn new(
        config: CoreConfig,
        env: E,
        payload: P,
        recovery: Recovery,
    ) -> Result<Core<E, P>, StartError> {
        let me = env.crypto().public_key();
        let (root, epoch, proof) = match &recovery.tip {
            None => {
                let root = Root {
                    info: Parent {
                        hash: config.genesis_hash,
                        height: 0,
                        round: 0,
                        seed: genesis_seed(&config.chain_id, &config.genesis_hash),
                        timestamp_ms: 0,
                    },
                    block: None,
                };
                let proof = CommitProof {
                    blocks: Vec::new(),
                    qc: QuorumCert::root(0, config.genesis_hash, 0),
                };
                (root, 0, proof)
            }
            Some(tip) => {
                let root = Root {
                    info: Parent {
                        hash: tip.block.hash(),
                        height: tip.block.height(),
                        round: tip.block.round(),
                        seed: tip.seed,
                        timestamp_ms: tip.block.header().timestamp_ms,
                    },
                    block: Some(tip.block.clone()),
                };
                (root, tip.block.epoch(), tip.proof.clone())
            }
        };
        let committee = env.committee(epoch).ok_or(StartError::NoCommittee(epoch))?;
        if committee.epoch() != epoch || committee.chain_id() != config.chain_id {
            return Err(StartError::WrongCommittee {
                epoch,
                chain: committee.chain_id().to_string(),
            });
        }
        // Mid-epoch, the epoch's own root certificate is long committed and never needed again;
        // one on the tip certifies a committed block, so it cannot mislead anyone.
        let root_qc = QuorumCert::root(epoch, root.info.hash, root.info.height);
        let highest_commit = if proof.qc.epoch() == epoch {
            proof.qc.clone()
        } else {
            root_qc.clone()
        };
        let my_index = committee.index_of_key(&me);
        let my_address = my_index.and_then(|i| committee.get(i)).map(|v| v.address);
        let mut safety = SafetyRules::new(recovery.safety.unwrap_or_default());
        #[cfg(test)]
        {
            safety.flaw = config.flaw;
        }
        #[cfg(not(test))]
        let _ = &mut safety;
        let pacemaker = Pacemaker::new(&config.params);
        let seen = Self::rebuild_seen(&env, root.info.height);
        Ok(Core {
            seen,
            pending_tip_proof: recovery.tip.map(|t| t.proof),
            payload,
            me,
            my_index,
            my_address,
            phase: Phase::Running,
            started: false,
            restoring: false,
            tree: BlockTree::new(root),
            highest_qc: root_qc.clone(),
            root_qc,
            highest_tc: None,
            highest_commit,
            commit_proof: proof,
            safety,
            pacemaker,
            votes: VoteCollector::default(),
            timeouts: TimeoutCollector::default(),
            equivocation: EquivocationDetector::default(),
            certs: CertCache::default(),
            parked: None,
            orphans: Vec::new(),
            future: VecDeque::new(),
            sync_in_flight: None,
            status_sent: BTreeMap::new(),
            proposed_round: 0,
            proposed_this_event: false,
            committed_this_event: BTreeSet::new(),
            wake_now: false,
            wake_at: None,
            roots: StateRoots::new(recovery.executed_height, recovery.executed_state_root),
            halted: false,
            now: 0,
            timer_set: None,
            stats: Stats::default(),
            out: Vec::new(),
            leaders: LeaderSchedule::new(&committee),
            committee,
            env,
            config,
        })
    }

    pub fn epoch(&self) -> u64 {
        self.committee.epoch()
    }

    pub fn round(&self) -> u64 {
        self.pacemaker.round()
    }

    pub fn committed_height(&self) -> u64 {
        self.tree.root().info.height
    }

    pub fn committed_hash(&self) -> Hash {
        self.tree.root().info.hash
    }

    pub fn highest_qc(&self) -> &QuorumCert {
        &self.highest_qc
    }

    pub fn committee(&self) -> &Arc<Committee> {
        &self.committee
    }

    pub fn leaders(&self) -> &LeaderSchedule {
        &self.leaders
    }

    /// Whether this node votes in the current epoch.
    /// Whether the core found this node's state diverged from the chain's ([`Action::Halt`]).
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    pub fn is_validator(&self) -> bool {
        self.my_index.is_some()
    }

    pub fn safety_data(&self) -> &SafetyData {
        self.safety.data()
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    pub(crate) fn stats_mut(&mut self) -> &mut Stats {
        &mut self.stats
    }

    pub fn env(&self) -> &E {
        &self.env
    }

    pub fn payload_source(&mut self) -> &mut P {
        &mut self.payload
    }

    /// Handles one event and returns the actions to perform, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        // A node whose state is not the chain's does nothing more: the driver stops it.
        if self.halted {
            return Vec::new();
        }
        self.now = self.now.max(event.now_ms());
        self.proposed_this_event = false;
        self.committed_this_event.clear();
        if !self.started {
            self.start();
        }
        match event {
            Event::Start { .. } => {}
            Event::Message { from, message, .. } => {
                if let Err(refusal) = self.on_message(from, message) {
                    self.refuse(refusal);
                }
            }
            Event::Timer { .. } => {
                // The driver's timer is spent; the next one must be set again.
                self.timer_set = None;
                self.wake_at = None;
                self.on_timer();
            }
            Event::PayloadReady { .. } => self.on_payload_ready(),
            Event::BlockExecuted {
                height, state_root, ..
            } => self.on_executed(height, state_root),
        }
        self.schedule_timer();
        std::mem::take(&mut self.out)
    }

    // ---------------------------------------------------------------------------------------
    // Start, timers, payload, execution

    fn start(&mut self) {
        self.started = true;
        // What we signed and held before a restart, taken before anything can overwrite it.
        let saved = self.safety.data().clone();
        let entered = self.safety.enter_epoch(self.epoch());
        let proof = self
            .pending_tip_proof
            .take()
            .filter(|p| p.qc.epoch() == self.epoch());
        self.restore(proof, &saved);
        if entered {
            self.persist();
        }
        if self.epoch_over() {
            self.end_epoch();
        } else {
            self.enter_round(self.certified_round().saturating_add(1));
            // (A restored round was entered while nothing could be signed.)
            self.maybe_propose();
        }
        self.broadcast(MessageBody::Status);
    }

    /// Takes back what survived a restart: the blocks past the tip and the certificate that
    /// committed it (the driver's store), and the uncommitted blocks and highest certificates
    /// kept with the safety data, so we come back in the round we had reached. Everything is
    /// checked again (a file can be damaged), and nothing is signed meanwhile.
    pub(super) fn restore(&mut self, proof: Option<CommitProof>, saved: &SafetyData) {
        self.restoring = true;
        let mut blocks: Vec<ProposedBlock> = Vec::new();
        if let Some(p) = &proof {
            blocks.extend(p.blocks.iter().cloned());
        }
        if saved.epoch == self.epoch() {
            blocks.extend(saved.blocks.iter().cloned());
        }
        blocks.sort_by_key(|b| b.height());
        for block in &blocks {
            let hash = block.hash();
            if block.height() <= self.committed_height() || self.tree.contains(&hash) {
                continue;
            }
            match self.insert_block(block, hash, false, true) {
                Ok(()) => self.observe_certificate(None, &block.justify),
                Err(r) => self.refuse(r),
            }
        }
        if let Some(p) = proof {
            self.observe_certificate(None, &p.qc);
        }
        if saved.epoch == self.epoch() {
            if let Some(qc) = &saved.highest_qc
                && qc.epoch() == self.epoch()
                && qc.round() > self.highest_qc.round()
            {
                match self.verify_qc_cached(qc) {
                    Ok(()) => self.observe_certificate(None, qc),
                    Err(r) => self.refuse(r),
                }
            }
            if let Some(tc) = &saved.highest_tc
                && tc.epoch == self.epoch()
            {
                match self.verify_tc_cached(tc) {
                    Ok(()) => self.process_tc(tc.clone()),
                    Err(r) => self.refuse(r),
                }
            }
        }
        self.restoring = false;
    }

    fn certified_round(&self) -> u64 {
        let tc = self.highest_tc.as_ref().map_or(0, |tc| tc.round);
        self.highest_qc.round().max(tc)
    }

    /// Where votes for `block`, of `round`, go: the leader of the next round if it extends
    /// `block`, or the schedule's when `block` is not known here.
    pub fn vote_recipient(&self, round: u64, block: &Hash) -> u32 {
        let next = round.saturating_add(1);
        self.leader_extending(next, block)
            .unwrap_or_else(|| self.leaders.leader(next))
    }

    fn rounds_since_commit(&self, round: u64) -> u64 {
        round.saturating_sub(self.tree.root().info.round.saturating_add(2))
    }

    fn on_timer(&mut self) {
        if self.phase != Phase::Running {
            return;
        }
        if self.pacemaker.round_expired(self.now) {
            self.local_timeout();
        } else if self.pacemaker.retransmit_due(self.now) {
            self.retransmit();
        }
        self.maybe_propose();
    }

    /// Re-sends what we signed in the current round, for peers that lost it. Never signs
    /// anything new.
    fn retransmit(&mut self) {
        let (epoch, round) = (self.epoch(), self.round());
        let data = self.safety.data();
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
            && self.proposed_round == round
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

    fn on_payload_ready(&mut self) {
        if let Some((p, hash)) = self.parked.take() {
            self.try_vote(p, hash);
        }
        self.maybe_propose();
    }

    fn on_executed(&mut self, height: u64, state_root: Hash) {
        if let Err(divergence) = self.roots.executed(height, state_root) {
            self.halt(divergence.to_string());
            return;
        }
        if self.phase == Phase::EpochEnded {
            self.try_enter_next_epoch();
        }
        // A proposal may have been waiting for this execution to check its header's root.
        if let Some((p, hash)) = self.parked.take() {
            self.try_vote(p, hash);
        }
    }

    /// This node's state is not the chain's: tell the driver to stop, and sign nothing more.
    pub(crate) fn halt(&mut self, reason: String) {
        if !self.halted {
            self.halted = true;
            self.out.push(Action::Halt { reason });
        }
    }

    fn schedule_timer(&mut self) {
        let mut next = match self.phase {
            Phase::Running => self.pacemaker.next_deadline(),
            Phase::EpochEnded => None,
        };
        if std::mem::take(&mut self.wake_now) {
            self.wake_at = Some(self.now);
        }
        if let Some(wake) = self.wake_at {
            next = Some(next.map_or(wake, |n| n.min(wake)));
        }
        // Never ask to be woken in the past: that would spin.
        let next = next.map(|at| at.max(self.now.saturating_add(1)));
        if next != self.timer_set {
            if let Some(at_ms) = next {
                self.out.push(Action::SetTimer { at_ms });
            }
            self.timer_set = next;
        }
    }

    // ---------------------------------------------------------------------------------------
    // Output helpers

    pub(crate) fn sync_info(&self) -> SyncInfo {
        SyncInfo {
            highest_qc: self.highest_qc.clone(),
            highest_tc: self.highest_tc.clone(),
            highest_commit: self.highest_commit.clone(),
        }
    }

    pub(crate) fn message(&self, body: MessageBody) -> ConsensusMessage {
        ConsensusMessage {
            sync: self.sync_info(),
            body,
        }
    }

    pub(crate) fn send(&mut self, to: Address, body: MessageBody) {
        let message = self.message(body);
        self.out.push(Action::Send { to, message });
    }

    fn broadcast(&mut self, body: MessageBody) {
        let message = self.message(body);
        self.out.push(Action::Broadcast { message });
    }

    /// Our sync info for a peer that is behind, at most once per retransmission interval per
    /// peer (a peer cannot make us send more than it sends).
    fn status_to(&mut self, peer: Address) {
        let spacing = self.config.params.base_round_timeout_ms / 4;
        if self
            .status_sent
            .get(&peer)
            .is_some_and(|at| self.now < at.saturating_add(spacing))
        {
            return;
        }
        if self.status_sent.len() >= 1024 {
            self.status_sent.clear();
        }
        self.status_sent.insert(peer, self.now);
        self.send(peer, MessageBody::Status);
    }

    fn persist(&mut self) {
        self.safety
            .note_certificates(&self.highest_qc, self.highest_tc.as_ref());
        let mut blocks = self.tree.chain_to(&self.highest_qc.block());
        if let Some(vote) = &self.safety.data().last_vote {
            for b in self.tree.chain_to(&vote.data.block) {
                if !blocks.iter().any(|x| x.hash() == b.hash()) {
                    blocks.push(b);
                }
            }
        }
        blocks.sort_by_key(|b| b.height());
        self.safety
            .note_blocks(blocks.iter().map(|b| (**b).clone()).collect());
        self.out
            .push(Action::PersistSafety(self.safety.data().clone()));
    }

    fn report(&mut self, evidence: Evidence) {
        tracing::warn!(signer = %evidence.signer(), round = evidence.round(), "equivocation");
        self.stats.evidence += 1;
        self.out.push(Action::ReportEvidence(evidence));
    }

    pub(crate) fn refuse(&mut self, refusal: Refusal) {
        tracing::debug!(%refusal, "refused");
        *self.stats.refused.entry(refusal.kind()).or_default() += 1;
        self.stats.last_refusal = Some(refusal);
    }

    /// Whether this core runs the deliberately broken vote rule (test builds only).
    fn flawed(&self) -> bool {
        #[cfg(test)]
        return self.config.flaw == Flaw::IgnoreLock;
        #[cfg(not(test))]
        false
    }

    fn crypto(&self) -> &dyn Crypto {
        self.env.crypto()
    }

    // ---------------------------------------------------------------------------------------
    // Messages

    fn on_message(&mut self, from: Address, msg: ConsensusMessage) -> Result<(), Refusal> {
        let epoch = self.epoch();
        let body_epoch = msg.body_epoch();
        let sync_epoch = msg
            .sync
            .highest_qc
            .epoch()
            .max(msg.sync.highest_commit.epoch());
        // Sync traffic crosses epochs: a node ahead answers with its own (later) sync info, and
        // a node behind asks about its own (earlier) epoch.
        match msg.body {
            MessageBody::SyncResponse(resp) => {
                if self.phase == Phase::EpochEnded {
                    return Err(Refusal::EpochEnded);
                }
                if sync_epoch == epoch {
                    self.process_sync_info(from, &msg.sync)?;
                }
                if self.epoch() != epoch || self.phase != Phase::Running {
                    return Ok(());
                }
                return self.on_sync_response(from, resp);
            }
            MessageBody::SyncRequest(req) => {
                if sync_epoch > epoch || req.epoch > epoch {
                    self.request_sync(from);
                }
                self.serve_sync(from, &req);
                return Ok(());
            }
            _ => {}
        }
        if body_epoch > epoch || sync_epoch > epoch {
            if body_epoch == epoch + 1 && self.future.len() < MAX_FUTURE_MESSAGES {
                self.future.push_back((from, msg));
            }
            self.request_sync(from);
            return Err(Refusal::FutureEpoch {
                got: body_epoch.max(sync_epoch),
                current: epoch,
            });
        }
        if body_epoch < epoch {
            // The sender is an epoch behind and may have no one else to learn from (say we
            // were the only one to see the epoch end): our sync info sends it after the end.
            self.status_to(from);
            return Err(Refusal::StaleEpoch {
                got: body_epoch,
                current: epoch,
            });
        }
        // Signatures of proposals and votes first, so equivocation is caught whatever happens
        // to the message next.
        let proposal_hash = match &msg.body {
            MessageBody::Proposal(p) => Some(self.precheck_proposal(p)?),
            MessageBody::Vote(v) => {
                self.precheck_vote(v)?;
                None
            }
            _ => None,
        };
        if self.phase == Phase::EpochEnded {
            return Err(Refusal::EpochEnded);
        }
        self.process_sync_info(from, &msg.sync)?;
        if self.epoch() != epoch {
            // The sync info ended the epoch and we moved on: the body is stale now.
            return Ok(());
        }
        match msg.body {
            MessageBody::Proposal(p) => {
                let hash = proposal_hash.unwrap_or_else(|| p.block.hash());
                self.process_proposal(from, p, hash)
            }
            MessageBody::Vote(v) => self.on_vote(v),
            MessageBody::Timeout(t) => self.on_timeout(from, t),
            // Handled above.
            MessageBody::SyncRequest(_) | MessageBody::SyncResponse(_) => Ok(()),
            MessageBody::Status => Ok(()),
        }
    }

    /// Checks the proposer's signature and records the proposal for equivocation.
    fn precheck_proposal(&mut self, p: &Proposal) -> Result<Hash, Refusal> {
        let header = p.block.header();
        let index = self
            .committee
            .index_of(&header.proposer)
            .ok_or(Refusal::NotInCommittee(header.proposer))?;
        let key = self
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
            self.equivocation
                .proposal(round, index, &key, header, hash, &p.block.signature)
        {
            self.report(e);
        }
        Ok(hash)
    }

    fn precheck_vote(&mut self, v: &Vote) -> Result<u32, Refusal> {
        let index = self
            .committee
            .index_of(&v.author)
            .ok_or(Refusal::NotInCommittee(v.author))?;
        let key = self
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
            .equivocation
            .vote(round, index, &key, &v.data, &v.signature)
        {
            self.report(e);
        }
        Ok(index)
    }

    /// Whether a certificate could teach us anything (checking it costs signatures).
    fn qc_is_news(&self, qc: &QuorumCert) -> bool {
        let root_height = self.committed_height();
        qc.round() > self.highest_qc.round()
            || (qc.data.commits_parent() && qc.data.height.saturating_sub(1) > root_height)
            || (qc.data.height > root_height && !self.tree.contains(&qc.block()))
    }

    pub(crate) fn verify_qc_cached(&mut self, qc: &QuorumCert) -> Result<(), Refusal> {
        let digest = qc_key(qc);
        if self.certs.contains(&digest) {
            return Ok(());
        }
        verify_qc(qc, &self.committee, &self.root_qc, self.env.crypto())?;
        self.certs.insert(digest);
        Ok(())
    }

    fn verify_tc_cached(&mut self, tc: &TimeoutCert) -> Result<(), Refusal> {
        let digest = tc_key(tc);
        if self.certs.contains(&digest) {
            return Ok(());
        }
        verify_tc(tc, &self.committee, self.env.crypto())?;
        self.certs.insert(digest);
        Ok(())
    }

    fn process_sync_info(&mut self, from: Address, sync: &SyncInfo) -> Result<(), Refusal> {
        let epoch = self.epoch();
        for qc in [&sync.highest_commit, &sync.highest_qc] {
            if qc.epoch() != epoch || !self.qc_is_news(qc) {
                continue;
            }
            self.verify_qc_cached(qc)?;
            self.observe_certificate(Some(from), qc);
            if self.epoch() != epoch || self.phase != Phase::Running {
                return Ok(());
            }
        }
        if let Some(tc) = &sync.highest_tc
            && tc.epoch == epoch
            && tc.round >= self.round()
        {
            self.verify_tc_cached(tc)?;
            self.process_tc(tc.clone());
        }
        Ok(())
    }

    /// A verified certificate of the current epoch: raise the highest, commit what it commits,
    /// fetch what it certifies if we lack it, and move to the next round.
    pub(crate) fn observe_certificate(&mut self, from: Option<Address>, qc: &QuorumCert) {
        let epoch = self.epoch();
        if qc.epoch() != epoch {
            return;
        }
        if qc.round() > self.highest_qc.round() {
            self.highest_qc = qc.clone();
        }
        self.safety.observe_qc(qc);
        if self.tree.contains(&qc.block()) {
            self.try_commit(qc);
        } else if qc.data.height > self.committed_height()
            && let Some(peer) = from
        {
            self.request_sync(peer);
        }
        if self.epoch() == epoch && self.phase == Phase::Running {
            self.enter_round(qc.round().saturating_add(1));
        }
    }

    fn process_tc(&mut self, tc: TimeoutCert) {
        let round = tc.round;
        if self.highest_tc.as_ref().is_none_or(|h| h.round < round) {
            self.highest_tc = Some(tc);
        }
        self.enter_round(round.saturating_add(1));
    }

    fn enter_round(&mut self, round: u64) {
        if self.phase != Phase::Running {
            return;
        }
        let since = self.rounds_since_commit(round);
        if !self.pacemaker.enter(round, self.now, since) {
            return;
        }
        self.votes.reset(round);
        self.timeouts.reset(self.epoch(), round);
        self.equivocation.prune(round);
        if self
            .parked
            .as_ref()
            .is_some_and(|(p, _)| p.block.round() != round)
        {
            self.parked = None;
        }
        self.orphans.retain(|(_, p)| p.block.round() >= round);
        self.maybe_propose();
    }

    // ---------------------------------------------------------------------------------------
    // Proposals and blocks

    fn process_proposal(&mut self, from: Address, p: Proposal, hash: Hash) -> Result<(), Refusal> {
        let epoch = self.epoch();
        let round = p.block.round();
        if p.block.justify.epoch() != epoch {
            return Err(Refusal::StaleEpoch {
                got: p.block.justify.epoch(),
                current: epoch,
            });
        }
        self.verify_qc_cached(&p.block.justify)?;
        if let Some(tc) = &p.tc {
            if tc.epoch != epoch {
                return Err(Refusal::StaleEpoch {
                    got: tc.epoch,
                    current: epoch,
                });
            }
            self.verify_tc_cached(tc)?;
        }
        // The certificates stand on their own: use them even if the block turns out bad.
        self.observe_certificate(Some(from), &p.block.justify);
        if let Some(tc) = &p.tc
            && self.epoch() == epoch
            && self.phase == Phase::Running
        {
            self.process_tc(tc.clone());
        }
        if self.epoch() != epoch || self.phase != Phase::Running {
            return Ok(());
        }
        let certified = self.highest_qc.block() == hash;
        match self.insert_block(&p.block, hash, true, certified) {
            Ok(()) => {}
            Err(Refusal::MissingParent(parent)) => {
                if round >= self.round() && self.orphans.len() < MAX_ORPHANS {
                    self.orphans.push((from, p));
                }
                self.request_sync(from);
                return Err(Refusal::MissingParent(parent));
            }
            Err(e) => return Err(e),
        }
        let current = self.round();
        if round < current {
            return Err(Refusal::StaleRound { round, current });
        }
        if round > current {
            if !self.flawed() {
                return Err(Refusal::FutureRound { round, current });
            }
            // The broken rule trusts the proposal's round as it trusts its certificate.
            self.enter_round(round);
        }
        self.try_vote(p, hash);
        Ok(())
    }

    /// Checks a block against its parent and inserts it into the tree. The justify certificate
    /// is checked here too (cached). `certified`: the block is known to carry a certificate, so
    /// the per-round and size limits against spam do not apply.
    pub(crate) fn insert_block(
        &mut self,
        b: &ProposedBlock,
        hash: Hash,
        signature_checked: bool,
        certified: bool,
    ) -> Result<(), Refusal> {
        let h = b.header();
        if h.chain_id != self.config.chain_id {
            return Err(Refusal::WrongChain);
        }
        let epoch = self.epoch();
        if h.epoch != epoch {
            return Err(if h.epoch < epoch {
                Refusal::StaleEpoch {
                    got: h.epoch,
                    current: epoch,
                }
            } else {
                Refusal::FutureEpoch {
                    got: h.epoch,
                    current: epoch,
                }
            });
        }
        if self.tree.contains(&hash) {
            return Ok(());
        }
        if b.block.batches.len() > self.config.max_block_batches {
            return Err(Refusal::TooManyBatches(b.block.batches.len()));
        }
        if !b.block.batches_match_header() {
            return Err(Refusal::BadBlock("batches do not match the header's root"));
        }
        if h.justify_signers != b.justify.signers {
            return Err(Refusal::BadBlock(
                "the header does not name its certificate's signers",
            ));
        }
        let index = self
            .committee
            .index_of(&h.proposer)
            .ok_or(Refusal::NotInCommittee(h.proposer))?;
        if h.failed_leaders.len() as u64 > MAX_BLAMED {
            return Err(Refusal::BadBlock("the header blames too many leaders"));
        }
        let plan = self
            .round_plan(h.round, &h.parent)
            .ok_or(Refusal::MissingParent(h.parent))?;
        if plan.leader != index {
            return Err(Refusal::NotLeader { round: h.round });
        }
        if plan.blamed != h.failed_leaders {
            return Err(Refusal::BadBlock("the header blames the wrong leaders"));
        }
        if self
            .exclusions(&h.parent, &h.failed_leaders, h.height)
            .as_ref()
            != Some(&h.leader_exclusions)
        {
            return Err(Refusal::BadBlock("the header excludes the wrong leaders"));
        }
        let validator = self
            .committee
            .get(index)
            .cloned()
            .ok_or(Refusal::NotInCommittee(h.proposer))?;
        if !signature_checked
            && !self.crypto().verify(
                &validator.consensus_key,
                Domain::Proposal,
                &proposal_signing_bytes(&hash),
                &b.signature,
            )
        {
            return Err(Refusal::BadSignature("block"));
        }
        if b.justify.data.block != h.parent {
            return Err(Refusal::BadBlock("justify does not certify the parent"));
        }
        let parent = self
            .tree
            .parent_info(&h.parent)
            .ok_or(Refusal::MissingParent(h.parent))?;
        if Some(h.height) != parent.height.checked_add(1) {
            return Err(Refusal::BadBlock("height is not the parent's plus one"));
        }
        if b.justify.data.round != parent.round || b.justify.data.height != parent.height {
            return Err(Refusal::BadBlock("justify does not match the parent"));
        }
        if h.round <= parent.round {
            return Err(Refusal::BadBlock("round not above the parent's"));
        }
        // Chain time moves forward, and a fresh proposal may not run ahead of our clock by more
        // than the drift the chain allows (a certified block is past voting on).
        if h.timestamp_ms <= parent.timestamp_ms {
            return Err(Refusal::BadBlock("timestamp not after the parent's"));
        }
        let latest = self
            .now
            .saturating_add(self.config.params.max_clock_drift_ms);
        if !certified && h.timestamp_ms > latest {
            return Err(Refusal::TimestampAhead {
                ahead_ms: h.timestamp_ms - self.now,
            });
        }
        if h.executed_height >= h.height {
            return Err(Refusal::BadBlock("executed height not below the height"));
        }
        if self.committee.ends_at(parent.timestamp_ms) && !b.block.batches.is_empty() {
            return Err(Refusal::BadBlock("payload after the epoch's last block"));
        }
        if !certified {
            if self.tree.in_round(h.round) >= MAX_BLOCKS_PER_ROUND {
                return Err(Refusal::TooManyInRound(h.round));
            }
            if self.tree.len() >= MAX_TREE_BLOCKS {
                return Err(Refusal::TreeFull);
            }
        }
        self.verify_qc_cached(&b.justify)?;
        let output = self
            .crypto()
            .vrf_verify(&validator.vrf_key, &parent.seed.0, &h.vrf)
            .ok_or(Refusal::BadVrf)?;
        self.tree.insert(TreeBlock {
            block: Arc::new(b.clone()),
            hash,
            seed: next_seed(&parent.seed, &output),
            vrf_output: output,
        });
        Ok(())
    }

    fn try_vote(&mut self, p: Proposal, hash: Hash) {
        let Some(author) = self.my_address else {
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
                self.parked = Some((p, hash));
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
                self.parked = Some((p, hash));
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
        let signed = self.safety.vote(
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
                self.pacemaker.restart_clock(self.now, since);
                self.send_vote(vote);
            }
            Ok(Signed::Repeat(vote)) => self.send_vote(vote),
            Err(e) => self.refuse(e.into()),
        }
    }

    fn send_vote(&mut self, vote: Vote) {
        let next = self.vote_recipient(vote.data.round, &vote.data.block);
        if Some(next) == self.my_index {
            self.add_vote(next, vote);
        } else if let Some(to) = self.committee.get(next).map(|v| v.address) {
            self.send(to, MessageBody::Vote(vote));
        }
    }

    fn on_vote(&mut self, v: Vote) -> Result<(), Refusal> {
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
        if next.is_some() && next != self.my_index {
            return Err(Refusal::NotNextLeader { round });
        }
        let index = self
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
        let qc = &self.highest_qc;
        if self.proposed_round >= self.round() || qc.data != v.data {
            return false;
        }
        let Some(index) = self.committee.index_of(&v.author) else {
            return false;
        };
        let Err(at) = qc.signers.binary_search(&index) else {
            return true;
        };
        if qc.signatures.len() != qc.signers.len() {
            return false;
        }
        let qc = &mut self.highest_qc;
        qc.signers.insert(at, index);
        qc.signatures.insert(at, v.signature);
        self.stats.late_votes += 1;
        true
    }

    fn add_vote(&mut self, index: u32, vote: Vote) {
        let author = vote.author;
        if let Some(qc) = self.votes.add(&self.committee, index, &vote) {
            self.stats.qcs_formed += 1;
            self.certs.insert(qc_key(&qc));
            self.observe_certificate(Some(author), &qc);
        }
    }

    /// Propose if we lead the current round and have what it takes; otherwise wait (for the
    /// empty-block interval, for the parent, for a certificate).
    pub(super) fn maybe_propose(&mut self) {
        if self.phase != Phase::Running || self.restoring {
            return;
        }
        let round = self.round();
        let Some(index) = self.my_index else { return };
        let leader = self.leader_extending(round, &self.highest_qc.block());
        if leader != Some(index) || self.proposed_round >= round {
            return;
        }
        if self.proposed_this_event {
            // One proposal per event, so a validator holding a quorum alone does not run away
            // inside a single event.
            self.wake_now = true;
            return;
        }
        let epoch = self.epoch();
        match self.safety.proposal_for(epoch, round) {
            Ok(Some(previous)) => {
                // Signed before a restart: send the very same block again.
                self.proposed_round = round;
                self.pacemaker.clear_wait();
                let hash = previous.block.hash();
                self.broadcast(MessageBody::Proposal(previous.clone()));
                self.own_proposal(previous, hash);
                return;
            }
            Ok(None) => {}
            Err(e) => {
                self.refuse(e.into());
                return;
            }
        }
        let justify = self.highest_qc.clone();
        let tc = if justify.round().saturating_add(1) == round {
            None
        } else {
            match &self.highest_tc {
                Some(tc) if tc.round.saturating_add(1) == round => Some(tc.clone()),
                _ => {
                    self.pacemaker.clear_wait();
                    return;
                }
            }
        };
        let Some(parent) = self.tree.parent_info(&justify.block()) else {
            // We hold the certificate but not the block: fetch it first.
            self.pacemaker.clear_wait();
            return;
        };
        let after_epoch_end = self.committee.ends_at(parent.timestamp_ms);
        let mut in_flight = self.tree.batches_in_flight(&parent.hash);
        in_flight.extend(self.committed_this_event.iter().copied());
        let batches = if after_epoch_end {
            Vec::new()
        } else {
            let max = self.config.max_block_batches;
            self.payload.next_payload(&in_flight, max)
        };
        // Nothing to order and nothing waiting to commit: wait before an empty block. A block
        // with payload needs two certified descendants before everyone knows it committed, so
        // while one is among the uncommitted blocks or the last two, blocks come at once; so
        // does the end of an epoch.
        if batches.is_empty()
            && in_flight.is_empty()
            && !after_epoch_end
            && !self.recent_payload(&parent.hash)
            && !self.pacemaker.empty_block_due(self.now)
        {
            return;
        }
        // The block pace: a block follows its parent by at least the minimum interval of chain
        // time, unless it fills itself. The wait is counted from now, not from the parent's
        // timestamp alone: a parent stamped by a clock ahead of ours must not keep us waiting
        // past the others' round timeout.
        let interval = self.config.params.min_block_interval_ms;
        let due = parent.timestamp_ms.saturating_add(interval);
        if interval > 0
            && !after_epoch_end
            && self.now < due
            && !(batches.len() >= self.config.max_block_batches
                || (!batches.is_empty() && self.payload.fills_block(&batches)))
            && !self
                .pacemaker
                .pace_due(self.now, (due - self.now).min(interval))
        {
            return;
        }
        self.pacemaker.clear_wait();
        // Chain time: the proposer's clock, but always after the parent's.
        let timestamp_ms = self.now.max(parent.timestamp_ms.saturating_add(1));
        let Some(proposal) = self.build_proposal(parent, justify, round, tc, batches, timestamp_ms)
        else {
            return;
        };
        self.safety.record_proposal(&proposal);
        self.persist();
        self.proposed_round = round;
        self.proposed_this_event = true;
        self.stats.proposals += 1;
        let hash = proposal.block.hash();
        self.broadcast(MessageBody::Proposal(proposal.clone()));
        self.own_proposal(proposal, hash);
    }

    /// Whether `hash` or its parent names batches (whether committed or not).
    fn recent_payload(&self, hash: &Hash) -> bool {
        let block = |h: &Hash| -> Option<Arc<ProposedBlock>> {
            match self.tree.get(h) {
                Some(b) => Some(b.block.clone()),
                None => self
                    .tree
                    .root()
                    .block
                    .clone()
                    .filter(|_| self.tree.root().info.hash == *h),
            }
        };
        let Some(parent) = block(hash) else {
            return false;
        };
        !parent.block.batches.is_empty()
            || block(&parent.header().parent).is_some_and(|g| !g.block.batches.is_empty())
    }

    fn own_proposal(&mut self, proposal: Proposal, hash: Hash) {
        let me = self.my_address.unwrap_or_default();
        if let Err(r) = self.process_proposal(me, proposal, hash) {
            self.refuse(r);
        }
    }

    /// Builds and signs a block on `parent` (no safety rule involved: the caller applies it).
    pub(crate) fn build_proposal(
        &self,
        parent: Parent,
        justify: QuorumCert,
        round: u64,
        tc: Option<TimeoutCert>,
        batches: Vec<runnet_types::Hash>,
        timestamp_ms: u64,
    ) -> Option<Proposal> {
        let proposer = self.my_address?;
        let crypto = self.env.crypto();
        let (_, vrf) = crypto.vrf_prove(&parent.seed.0);
        let height = parent.height.checked_add(1)?;
        let failed_leaders = self.round_plan(round, &parent.hash)?.blamed;
        // Claim a root a few heights back, never beyond the parent (the driver may run ahead
        // of us): voters check the claim against their own root and wait until they have
        // executed that height, and the lag keeps them from waiting behind a proposer that
        // happens to execute a little faster (roots.rs).
        let (latest, latest_root) = self.roots.latest();
        let target = latest.saturating_sub(CLAIM_LAG).min(parent.height);
        let (executed_height, executed_state_root) = match self.roots.at(target) {
            Some(root) => (target, root),
            None if latest <= parent.height => (latest, latest_root),
            None => (0, Hash::ZERO),
        };
        let header = BlockHeader {
            chain_id: self.config.chain_id.clone(),
            height,
            round,
            epoch: self.epoch(),
            parent: parent.hash,
            justify_signers: justify.signers.clone(),
            failed_leaders: failed_leaders.clone(),
            leader_exclusions: self.exclusions(&parent.hash, &failed_leaders, height)?,
            proposer,
            batches_root: batches_root(&batches),
            // Never claim an execution beyond the parent (the driver may run ahead of us).
            executed_height,
            executed_state_root,
            vrf,
            timestamp_ms,
        };
        let block = Block { header, batches };
        let signature = crypto.sign(Domain::Proposal, &proposal_signing_bytes(&block.hash()));
        Some(Proposal {
            block: ProposedBlock {
                block,
                justify,
                signature,
            },
            tc,
        })
    }

    // ---------------------------------------------------------------------------------------
    // Timeouts

    fn local_timeout(&mut self) {
        if self.restoring {
            return;
        }
        let round = self.round();
        let since = self.rounds_since_commit(round);
        self.pacemaker.rearm(self.now, since);
        let (Some(author), Some(index)) = (self.my_address, self.my_index) else {
            return;
        };
        let chain_id = self.config.chain_id.clone();
        let epoch = self.epoch();
        let signed = self.safety.timeout(
            epoch,
            round,
            &self.highest_qc,
            self.highest_tc.as_ref(),
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

    fn on_timeout(&mut self, from: Address, t: Timeout) -> Result<(), Refusal> {
        let index = self
            .committee
            .index_of(&t.author)
            .ok_or(Refusal::NotInCommittee(t.author))?;
        let key = self
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
        if self.qc_is_news(&t.highest_qc) {
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
        let tally = self.timeouts.add(&self.committee, index, t);
        if let Some(tc) = tally.tc {
            self.stats.tcs_formed += 1;
            self.certs.insert(tc_key(&tc));
            self.process_tc(tc);
            return;
        }
        if tally.more_than_third
            && let Some(me) = self.my_index
            && !self.timeouts.has(me)
            && t.data.round == self.round()
        {
            self.local_timeout();
        }
    }
}

/// What the simulator's byzantine validators use to misbehave with valid signatures.
impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Another block for the same round and parent as `p` (an equivocation).
    pub(crate) fn forge_variant(&self, p: &Proposal) -> Option<Proposal> {
        let parent = self.tree.parent_info(&p.block.header().parent)?;
        self.build_proposal(
            parent,
            p.block.justify.clone(),
            p.block.round(),
            p.tc.clone(),
            Vec::new(),
            p.block.header().timestamp_ms.saturating_add(1),
        )
    }

    /// A block for `round` extending the newest remembered block below the last commit: it
    /// conflicts with a committed block, so only a broken vote rule would certify it.
    pub(crate) fn forge_fork(&self, round: u64, timestamp_ms: u64) -> Option<Proposal> {
        let root_height = self.committed_height();
        let entry = self
            .tree
            .history()
            .filter(|h| h.info.height < root_height && h.qc.is_some())
            .last()?;
        let qc = entry.qc.clone()?;
        self.build_proposal(entry.info, qc, round, None, Vec::new(), timestamp_ms)
    }
}
