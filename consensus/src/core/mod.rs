//! The sans-IO consensus core: events in, actions out.
//!
//! The core never touches a socket, a clock or a disk. The driver (the node's tokio task, or the
//! simulator) feeds it [`Event`]s carrying the current time and performs the [`Action`]s it
//! returns, in order. Order matters: a `PersistSafety` action comes before the vote, timeout or
//! proposal it protects, and the driver must finish writing it (synced) before performing the next
//! action, or stop if it cannot.
//!
//! # Rooms
//!
//! [`Core`] is one state machine, but its state is split by job, and each job lives in a file of
//! its own with the state it owns:
//!
//! | room | file | owns |
//! |---|---|---|
//! | the committee and our seat in it | [`epoch`] | [`Seat`](epoch::Seat): committee, our index and address |
//! | commits and epochs | [`epoch`] | (the 2-chain rule over the chain room's tree) |
//! | block tree and certificates | [`chain`] | [`Chain`](chain::Chain): tree, highest QC/TC/commit, cert cache |
//! | catching up | [`sync`] | [`SyncRoom`](sync::SyncRoom): orphans, next-epoch messages, request pacing |
//! | round and pacemaker | [`round`] | [`RoundRoom`](round::RoundRoom): pacemaker, timeout collector, timer |
//! | voting and safety | [`voting`] | [`Voting`](voting::Voting): safety rules, vote collector, equivocation, parked proposal |
//! | proposing | [`proposing`] | [`Proposing`](proposing::Proposing): the last round proposed in |
//! | who leads | [`leading`] | [`Leading`](leading::Leading): the schedule and who was seen at work |
//! | state roots | [`roots`] | [`StateRoots`](roots::StateRoots) |
//! | what arrives | [`inbox`] | nothing: the order in which a message is checked and dispatched |
//! | what leaves | [`effects`] | [`Effects`](effects::Effects): the actions and per-event notes of one `handle` call |
//!
//! What stays here is the lifecycle (start, restore after a restart, halt) and the one entry,
//! [`Core::handle`]. A room's own methods (on its struct) read and write only its state; the
//! `impl Core` methods in a room's file are where rooms meet, and they reach each room through
//! its field (`self.chain`, `self.voting`, ...), so what a method touches shows in its paths.
//!
//! Invariants every room keeps:
//! - nothing is signed while `restoring` or after `halted`, and every signature's safety data is
//!   in an [`Action::PersistSafety`] pushed before the signed message;
//! - every refusal goes through [`Core::refuse`]: counted in [`Stats::refused`] and returned as
//!   [`Action::Refused`] in its place among the event's actions;
//! - no hash-map iteration and no wall clock: the same events give the same actions (the
//!   simulator replays seeds on this);
//! - the only output is [`Effects`](effects::Effects): a room never returns actions of its own.

mod api;
mod chain;
mod effects;
mod epoch;
mod inbox;
mod leading;
mod proposing;
mod roots;
mod round;
mod sync;
mod voting;

pub use api::{
    Action, CommittedBlock, CommittedTip, CoreConfig, Environment, Event, PayloadCheck,
    PayloadSource, Recovery, Refusal, StartError, Stats,
};
use chain::Chain;
use effects::Effects;
use epoch::Seat;
use leading::Leading;
use proposing::Proposing;
use roots::StateRoots;
use round::RoundRoom;
use sync::SyncRoom;
use voting::Voting;

use crate::crypto::Crypto;
use crate::leader::LeaderSchedule;
#[cfg(test)]
use crate::safety::Flaw;
use crate::safety::{SafetyData, SafetyRules};
use crate::tree::{BlockTree, Parent, Root};
use runnet_types::Hash;
use runnet_types::block::genesis_seed;
use runnet_types::consensus::{CommitProof, Committee, MessageBody, ProposedBlock, QuorumCert};
use std::sync::Arc;

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
    /// The committee of the current epoch and this node's place in it (epoch.rs).
    seat: Seat,
    phase: Phase,
    started: bool,
    /// Rebuilding state after a restart: nothing is signed until it is done.
    restoring: bool,
    /// Set once this node's state is found not to be the chain's: nothing more is signed.
    halted: bool,
    pub(crate) now: u64,
    stats: Stats,
    /// The block tree and the highest certificates (chain.rs).
    chain: Chain,
    /// Orphans, next-epoch messages and the pacing of sync requests (sync.rs).
    sync: SyncRoom,
    /// The pacemaker, the timeouts of the round and the driver's timer (round.rs).
    rounds: RoundRoom,
    /// The safety rules, the votes of the round and the proposal waiting for its payload
    /// (voting.rs).
    voting: Voting,
    /// The last round this node proposed in (proposing.rs).
    proposing: Proposing,
    /// The leader schedule and who the last committed blocks show at work (leading.rs).
    leading: Leading,
    /// The roots this node computed and the ones committed headers claim (roots.rs).
    roots: StateRoots,
    /// What the current `handle` call has to say (effects.rs).
    fx: Effects,
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
        let mut safety = SafetyRules::new(recovery.safety.unwrap_or_default());
        #[cfg(test)]
        {
            safety.flaw = config.flaw;
        }
        #[cfg(not(test))]
        let _ = &mut safety;
        let leading = Leading::new(&committee, Self::rebuild_seen(&env, root.info.height));
        Ok(Core {
            payload,
            phase: Phase::Running,
            started: false,
            restoring: false,
            halted: false,
            now: 0,
            stats: Stats::default(),
            chain: Chain::new(
                BlockTree::new(root),
                root_qc,
                highest_commit,
                proof,
                recovery.tip.map(|t| t.proof),
            ),
            sync: SyncRoom::default(),
            rounds: RoundRoom::new(&config.params),
            voting: Voting::new(safety),
            proposing: Proposing::default(),
            leading,
            roots: StateRoots::new(recovery.executed_height, recovery.executed_state_root),
            fx: Effects::default(),
            seat: Seat::new(me, committee),
            env,
            config,
        })
    }

    pub fn epoch(&self) -> u64 {
        self.seat.committee.epoch()
    }

    pub fn round(&self) -> u64 {
        self.rounds.pacemaker.round()
    }

    pub fn committed_height(&self) -> u64 {
        self.chain.tree.root().info.height
    }

    pub fn committed_hash(&self) -> Hash {
        self.chain.tree.root().info.hash
    }

    pub fn highest_qc(&self) -> &QuorumCert {
        &self.chain.highest_qc
    }

    pub fn committee(&self) -> &Arc<Committee> {
        &self.seat.committee
    }

    pub fn leaders(&self) -> &LeaderSchedule {
        &self.leading.schedule
    }

    /// Whether the core found this node's state diverged from the chain's ([`Action::Halt`]).
    pub fn is_halted(&self) -> bool {
        self.halted
    }

    /// Whether this node votes in the current epoch.
    pub fn is_validator(&self) -> bool {
        self.seat.index.is_some()
    }

    pub fn safety_data(&self) -> &SafetyData {
        self.voting.safety.data()
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

    /// The block tree (the byzantine helpers and tests look into it).
    pub(crate) fn tree(&self) -> &BlockTree {
        &self.chain.tree
    }

    /// Handles one event and returns the actions to perform, in order.
    pub fn handle(&mut self, event: Event) -> Vec<Action> {
        // A node whose state is not the chain's does nothing more: the driver stops it.
        if self.halted {
            return Vec::new();
        }
        self.now = self.now.max(event.now_ms());
        self.fx.begin();
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
                self.rounds.timer_spent();
                self.on_timer();
            }
            Event::PayloadReady { .. } => self.on_payload_ready(),
            Event::BlockExecuted {
                height, state_root, ..
            } => self.on_executed(height, state_root),
        }
        self.schedule_timer();
        self.fx.take()
    }

    // ---------------------------------------------------------------------------------------
    // Lifecycle: start, restore, halt

    fn start(&mut self) {
        self.started = true;
        // What we signed and held before a restart, taken before anything can overwrite it.
        let saved = self.voting.safety.data().clone();
        let entered = self.voting.safety.enter_epoch(self.epoch());
        let proof = self
            .chain
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
            self.enter_round(self.chain.certified_round().saturating_add(1));
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
            if block.height() <= self.committed_height() || self.chain.tree.contains(&hash) {
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
                && qc.round() > self.chain.highest_qc.round()
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

    /// This node's state is not the chain's: tell the driver to stop, and sign nothing more.
    pub(crate) fn halt(&mut self, reason: String) {
        if !self.halted {
            self.halted = true;
            self.fx.push(Action::Halt { reason });
        }
    }

    /// Records a refusal: counted in the stats and returned as [`Action::Refused`], in order
    /// with the event's other actions.
    pub(crate) fn refuse(&mut self, refusal: Refusal) {
        tracing::debug!(%refusal, "refused");
        *self.stats.refused.entry(refusal.kind()).or_default() += 1;
        self.stats.last_refusal = Some(refusal.clone());
        self.fx.push(Action::Refused(refusal));
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
}
