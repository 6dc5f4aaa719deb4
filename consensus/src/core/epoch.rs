//! Commits (the 2-chain rule) and the passage from one epoch to the next.

use super::{Action, CommittedBlock, Core, Environment, PayloadSource, Phase};
use crate::certificates::{TimeoutCollector, VoteCollector};
use crate::leader::LeaderSchedule;
use runnet_types::Address;
use runnet_types::consensus::{CommitProof, MessageBody, QuorumCert, SyncRequest};

impl<E: Environment, P: PayloadSource> Core<E, P> {
    // ---------------------------------------------------------------------------------------
    // Commits and epochs

    /// The 2-chain rule: a certificate on a block whose parent is of the previous round commits
    /// the parent and its ancestors, up to the last block of the epoch.
    pub(super) fn try_commit(&mut self, qc: &QuorumCert) {
        if !qc.data.commits_parent() {
            return;
        }
        let root_height = self.committed_height();
        if qc.data.height.saturating_sub(1) <= root_height || !self.tree.contains(&qc.block()) {
            return;
        }
        let Some(path) = self.tree.path_from_root(&qc.data.parent) else {
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
                ended = self.committee.ends_at(b.block.header().timestamp_ms);
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
        if let Some(certified) = self.tree.get(&qc.block()) {
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
            self.committed_this_event
                .extend(b.block.block.batches.iter().copied());
            self.seen.commit(&b.block, &self.committee);
        }
        self.out.push(Action::Commit {
            blocks: committed,
            proof: proof.clone(),
            ends_epoch,
        });
        self.tree.advance_root(&last_hash);
        self.commit_proof = proof;
        self.highest_commit = qc.clone();
        if self
            .parked
            .as_ref()
            .is_some_and(|(_, hash)| !self.tree.contains(hash))
        {
            self.parked = None;
        }
        if ends_epoch.is_some() {
            self.end_epoch();
        }
    }

    /// Whether the committed root is the epoch's last block: the epoch has ended.
    pub(super) fn epoch_over(&self) -> bool {
        self.committee.ends_at(self.tree.root().info.timestamp_ms)
    }

    pub(super) fn end_epoch(&mut self) {
        self.phase = Phase::EpochEnded;
        self.pacemaker.stop();
        self.parked = None;
        self.orphans.clear();
        self.try_enter_next_epoch();
    }

    pub(super) fn try_enter_next_epoch(&mut self) {
        let next_epoch = self.epoch().saturating_add(1);
        let Some(next) = self.env.committee(next_epoch) else {
            return;
        };
        let root = self.tree.root().info;
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
        self.my_index = next.index_of_key(&self.me);
        self.my_address = self.my_index.and_then(|i| next.get(i)).map(|v| v.address);
        self.leaders = LeaderSchedule::new(&next);
        self.committee = next;
        self.tree.reset_for_epoch();
        self.root_qc = QuorumCert::root(next_epoch, root.hash, root.height);
        self.highest_qc = self.root_qc.clone();
        self.highest_tc = None;
        self.highest_commit = self.root_qc.clone();
        // A validator that restarts here may have voted in this epoch already: take that back
        // before anything else (entering an epoch the safety data has not reached resets it,
        // and then there is nothing to take back).
        let saved = self.safety.data().clone();
        let entered = self.safety.enter_epoch(next_epoch);
        self.votes = VoteCollector::default();
        self.timeouts = TimeoutCollector::default();
        self.equivocation.clear();
        self.certs.clear();
        self.parked = None;
        self.orphans.clear();
        self.proposed_round = 0;
        self.sync_in_flight = None;
        self.pacemaker.reset_epoch();
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
        let buffered: Vec<_> = self.future.drain(..).collect();
        for (from, message) in buffered {
            if let Err(r) = self.on_message(from, message) {
                self.refuse(r);
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Catching up

    pub(crate) fn request_sync(&mut self, peer: Address) {
        if Some(peer) == self.my_address {
            return;
        }
        let retry = self.config.params.base_round_timeout_ms / 4;
        if let Some(at) = self.sync_in_flight
            && self.now < at.saturating_add(retry)
        {
            return;
        }
        self.sync_in_flight = Some(self.now);
        self.stats.sync_requests += 1;
        let req = SyncRequest {
            epoch: self.epoch(),
            committed_height: self.committed_height(),
        };
        self.send(peer, MessageBody::SyncRequest(req));
    }

    pub(crate) fn clear_sync_in_flight(&mut self) {
        self.sync_in_flight = None;
    }

    pub(crate) fn commit_proof(&self) -> &CommitProof {
        &self.commit_proof
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    pub(crate) fn retry_orphans(&mut self) {
        let orphans = std::mem::take(&mut self.orphans);
        for (from, p) in orphans {
            if !self.tree.contains(&p.block.header().parent) {
                if p.block.round() >= self.round() {
                    self.orphans.push((from, p));
                }
                continue;
            }
            let hash = p.block.hash();
            if let Err(r) = self.process_proposal(from, p, hash) {
                self.refuse(r);
            }
        }
        self.maybe_propose();
    }

    pub(crate) fn max_sync_blocks(&self) -> usize {
        self.config
            .sync_batch_blocks
            .saturating_mul(4)
            .saturating_add(64)
    }
}
