//! Commits (the 2-chain rule), the committee this node serves in, and the passage from one
//! epoch to the next.
//!
//! The room owns the [`Seat`]: the current committee and this node's index and address in it,
//! which change only here, when the next committee is entered. Its rules:
//! - a certificate on a block whose parent is of the previous round commits the parent and its
//!   ancestors, in height order, each exactly once, continuing the last commit;
//! - the epoch ends with its first block stamped at or after the committee's end time: the
//!   blocks after it only prove that it committed, and nothing more is proposed or voted on
//!   until the state machine has computed the next committee;
//! - entering an epoch starts every other room afresh on the committed root, and takes back
//!   from the safety data what this node signed in that epoch before a restart.

use super::{Action, CommittedBlock, Core, Environment, PayloadSource, Phase, Proposing};
use runnet_types::Address;
use runnet_types::PublicKey;
use runnet_types::consensus::{CommitProof, Committee, MessageBody, QuorumCert};
use std::sync::Arc;

/// The committee of the current epoch and this node's place in it.
pub(super) struct Seat {
    /// This node's consensus key.
    pub(super) key: PublicKey,
    pub(super) committee: Arc<Committee>,
    /// Our committee index, if we vote in this epoch.
    pub(super) index: Option<u32>,
    pub(super) address: Option<Address>,
}

impl Seat {
    pub(super) fn new(key: PublicKey, committee: Arc<Committee>) -> Seat {
        let mut seat = Seat {
            key,
            committee: committee.clone(),
            index: None,
            address: None,
        };
        seat.enter(committee);
        seat
    }

    /// Takes our seat in `committee` (or none, if we do not vote in it).
    pub(super) fn enter(&mut self, committee: Arc<Committee>) {
        self.index = committee.index_of_key(&self.key);
        self.address = self.index.and_then(|i| committee.get(i)).map(|v| v.address);
        self.committee = committee;
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// The 2-chain rule: a certificate on a block whose parent is of the previous round commits
    /// the parent and its ancestors, up to the last block of the epoch.
    pub(super) fn try_commit(&mut self, qc: &QuorumCert) {
        if !qc.data.commits_parent() {
            return;
        }
        let root_height = self.committed_height();
        if qc.data.height.saturating_sub(1) <= root_height || !self.chain.tree.contains(&qc.block())
        {
            return;
        }
        let Some(path) = self.chain.tree.path_from_root(&qc.data.parent) else {
            return;
        };
        // The epoch ends with its first block stamped at or after the committee's end time: it
        // and its ancestors commit, the blocks after it only prove that it did.
        let mut ended = self.epoch_over();
        let mut committed = Vec::new();
        let mut proof_blocks = Vec::new();
        let mut last_hash = None;
        for b in path {
            if !ended {
                ended = self.seat.committee.ends_at(b.block.header().timestamp_ms);
                last_hash = Some(b.hash);
                committed.push(CommittedBlock {
                    block: b.block.clone(),
                    hash: b.hash,
                    seed: b.seed,
                    vrf_output: b.vrf_output,
                });
            } else {
                proof_blocks.push((*b.block).clone());
            }
        }
        let Some(last_hash) = last_hash else {
            return;
        };
        let ends_epoch = ended.then_some(self.epoch());
        if let Some(certified) = self.chain.tree.get(&qc.block()) {
            proof_blocks.push((*certified.block).clone());
        }
        let proof = CommitProof {
            blocks: proof_blocks,
            qc: qc.clone(),
        };
        self.stats.blocks_committed += committed.len() as u64;
        for b in &committed {
            let header = &b.block.block.header;
            if let Err(divergence) = self
                .roots
                .committed(header.executed_height, header.executed_state_root)
            {
                self.halt(divergence.to_string());
            }
        }
        for b in &committed {
            self.fx
                .committed_batches
                .extend(b.block.block.batches.iter().copied());
            self.leading.seen.commit(&b.block, &self.seat.committee);
        }
        self.fx.push(Action::Commit {
            blocks: committed,
            proof: proof.clone(),
            ends_epoch,
        });
        self.chain.advance_root(&last_hash, proof, qc.clone());
        let tree = &self.chain.tree;
        self.voting.forget_parked_if(|hash| !tree.contains(hash));
        if ends_epoch.is_some() {
            self.end_epoch();
        }
    }

    /// Whether the committed root is the epoch's last block: the epoch has ended.
    pub(super) fn epoch_over(&self) -> bool {
        self.seat
            .committee
            .ends_at(self.chain.tree.root().info.timestamp_ms)
    }

    pub(super) fn end_epoch(&mut self) {
        self.phase = Phase::EpochEnded;
        self.rounds.pacemaker.stop();
        self.voting.parked = None;
        self.sync.forget_orphans();
        self.try_enter_next_epoch();
    }

    pub(super) fn try_enter_next_epoch(&mut self) {
        let next_epoch = self.epoch().saturating_add(1);
        let Some(next) = self.env.committee(next_epoch) else {
            return;
        };
        let root = self.chain.tree.root().info;
        if next.epoch() != next_epoch
            || next.chain_id() != self.config.chain_id
            || next.ends_at(root.timestamp_ms)
        {
            tracing::error!(
                epoch = next_epoch,
                "the environment's next committee is inconsistent; waiting"
            );
            return;
        }
        self.leading.enter_epoch(&next);
        self.seat.enter(next);
        self.chain.reset_for_epoch(next_epoch);
        // A validator that restarts here may have voted in this epoch already: take that back
        // before anything else (entering an epoch the safety data has not reached resets it,
        // and then there is nothing to take back).
        let saved = self.voting.safety.data().clone();
        let entered = self.voting.safety.enter_epoch(next_epoch);
        self.voting.reset_for_epoch();
        self.rounds.reset_for_epoch();
        self.sync.reset_for_epoch();
        self.proposing = Proposing::default();
        self.phase = Phase::Running;
        self.restore(None, &saved);
        if entered {
            self.persist();
        }
        tracing::info!(epoch = next_epoch, height = root.height, "epoch started");
        // Tell the laggards: the new epoch's sync info sends them after the old epoch's end.
        self.broadcast(MessageBody::Status);
        self.enter_round(1);
        // (A restored round was entered while nothing could be signed.)
        self.maybe_propose();
        let buffered = self.sync.take_future();
        for (from, message) in buffered {
            if let Err(r) = self.on_message(from, message) {
                self.refuse(r);
            }
        }
    }
}
