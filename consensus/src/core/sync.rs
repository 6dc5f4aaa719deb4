//! Catching up: serving and absorbing blocks a peer lacks.
//!
//! A node that sees a certificate for a block it does not hold, or a message from a later epoch,
//! asks the sender for everything past its committed height. The answer is plain blocks in height
//! order and a few certificates; the receiver checks each block exactly as it would a proposal
//! (signature, leader, parent certificate, VRF) and lets the ordinary 2-chain rule commit them.
//! No block is trusted for coming from a sync: a response can only ever deliver what a quorum
//! certified.
//!
//! The responder sends committed blocks from its store, running past the requested count until
//! the last three blocks let the receiver commit (a certificate of consecutive rounds), then, at
//! its tip, the proof of its last commit and its uncommitted chain up to its highest certificate.
//! For an epoch that has ended it sends the blocks up to the epoch's last one and the proof that
//! ended it, so a node far behind walks epoch by epoch, learning each committee from its own
//! state machine as it executes.

//!
//! The room owns what waits on a sync: proposals whose parent is being fetched, messages of the
//! next epoch kept while this one finishes, and the pacing of requests and status answers (a
//! peer can make this node send no more than it sends).

use super::{Core, Environment, PayloadSource, Phase, Refusal};
use runnet_types::consensus::{
    ConsensusMessage, MessageBody, Proposal, ProposedBlock, SyncRequest, SyncResponse,
};
use runnet_types::{Address, Hash};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;

/// Most certificates a response may carry.
const MAX_SYNC_CERTS: usize = 16;

#[derive(Default)]
pub(super) struct SyncRoom {
    /// Proposals kept while their parent is fetched, with who sent them.
    orphans: Vec<(Address, Proposal)>,
    /// Messages of the next epoch kept while this one finishes.
    future: VecDeque<(Address, ConsensusMessage)>,
    /// When the pending sync request left, if one did.
    in_flight: Option<u64>,
    /// When each peer was last sent our status.
    status_sent: BTreeMap<Address, u64>,
}

/// Proposals kept while their parent is fetched.
const MAX_ORPHANS: usize = 4;
/// Messages of the next epoch kept while this one finishes.
const MAX_FUTURE_MESSAGES: usize = 64;
/// Peers whose last status time is remembered, at most (then all are forgotten at once).
const MAX_STATUS_PEERS: usize = 1024;

impl SyncRoom {
    /// Keeps a proposal whose parent is being fetched, if there is room.
    pub(super) fn keep_orphan(&mut self, from: Address, p: Proposal) {
        if self.orphans.len() < MAX_ORPHANS {
            self.orphans.push((from, p));
        }
    }

    /// Keeps a message of the next epoch, if there is room.
    pub(super) fn keep_future(&mut self, from: Address, msg: ConsensusMessage) {
        if self.future.len() < MAX_FUTURE_MESSAGES {
            self.future.push_back((from, msg));
        }
    }

    /// The next epoch started: its messages, in the order they came.
    pub(super) fn take_future(&mut self) -> Vec<(Address, ConsensusMessage)> {
        self.future.drain(..).collect()
    }

    /// A new round: orphans of earlier rounds can no longer be voted for.
    pub(super) fn enter_round(&mut self, round: u64) {
        self.orphans.retain(|(_, p)| p.block.round() >= round);
    }

    pub(super) fn forget_orphans(&mut self) {
        self.orphans.clear();
    }

    /// Whether our status may go to `peer` now, at most once per `spacing` per peer (a peer
    /// cannot make us send more than it sends); notes it when it may.
    fn status_due(&mut self, peer: Address, now: u64, spacing: u64) -> bool {
        if self
            .status_sent
            .get(&peer)
            .is_some_and(|at| now < at.saturating_add(spacing))
        {
            return false;
        }
        if self.status_sent.len() >= MAX_STATUS_PEERS {
            self.status_sent.clear();
        }
        self.status_sent.insert(peer, now);
        true
    }

    /// Whether a sync request may leave now: one per `retry` until one is answered with
    /// progress; notes it when it may.
    fn request_due(&mut self, now: u64, retry: u64) -> bool {
        if let Some(at) = self.in_flight
            && now < at.saturating_add(retry)
        {
            return false;
        }
        self.in_flight = Some(now);
        true
    }

    /// An answer brought progress: the next request may leave at once.
    fn request_answered(&mut self) {
        self.in_flight = None;
    }

    /// A new epoch: what waited on the last one is of no use.
    pub(super) fn reset_for_epoch(&mut self) {
        self.orphans.clear();
        self.in_flight = None;
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    fn committed_at(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        let root = self.chain.tree.root();
        if height == root.info.height {
            return root.block.clone();
        }
        self.env.committed_block(height)
    }

    /// Committed blocks of `epoch` from `from_height + 1`; returns whether it reached `to_height`.
    fn collect_committed(
        &self,
        epoch: u64,
        from_height: u64,
        to_height: u64,
        out: &mut Vec<Arc<ProposedBlock>>,
    ) -> bool {
        let soft = self.config.sync_batch_blocks.max(3);
        let hard = soft.saturating_mul(4);
        let mut height = from_height.saturating_add(1);
        while height <= to_height {
            let Some(block) = self.committed_at(height) else {
                return false;
            };
            if block.epoch() != epoch || block.height() != height {
                return false;
            }
            out.push(block);
            height += 1;
            let n = out.len();
            if n >= soft && height <= to_height {
                // The receiver commits out[n-3] when out[n-2] is of the next round (out[n-1]
                // carries the certificate of out[n-2]).
                let consecutive = out[n - 2].round() == out[n - 3].round().saturating_add(1);
                if consecutive || n >= hard {
                    return false;
                }
            }
        }
        true
    }

    pub(crate) fn serve_sync(&mut self, from: Address, req: &SyncRequest) {
        let epoch = self.epoch();
        if req.epoch > epoch {
            return;
        }
        let mut blocks: Vec<Arc<ProposedBlock>> = Vec::new();
        let mut certs = Vec::new();
        if req.epoch < epoch {
            // The proof of the epoch's end starts with the block after its last one.
            let Some(proof) = self.env.epoch_end_proof(req.epoch) else {
                return;
            };
            let Some(end) = proof.blocks.first().map(|b| b.height().saturating_sub(1)) else {
                return;
            };
            if self.collect_committed(req.epoch, req.committed_height, end, &mut blocks) {
                blocks.extend(proof.blocks.into_iter().map(Arc::new));
                certs.push(proof.qc);
            }
        } else {
            let root_height = self.committed_height();
            if self.collect_committed(epoch, req.committed_height, root_height, &mut blocks) {
                let proof = self.chain.commit_proof.clone();
                if proof.qc.epoch() == epoch {
                    blocks.extend(proof.blocks.into_iter().map(Arc::new));
                    certs.push(proof.qc);
                }
                let mut seen: BTreeSet<Hash> = blocks.iter().map(|b| b.hash()).collect();
                for b in self.chain.tree.chain_to(&self.chain.highest_qc.block()) {
                    if seen.insert(b.hash()) {
                        blocks.push(b);
                    }
                }
                if self.chain.tree.contains(&self.chain.highest_qc.block()) {
                    certs.push(self.chain.highest_qc.clone());
                }
            }
        }
        if blocks.is_empty() && certs.is_empty() {
            return;
        }
        self.stats_mut().sync_served += 1;
        let response = SyncResponse {
            blocks: blocks.iter().map(|b| (**b).clone()).collect(),
            certs,
        };
        self.send(from, MessageBody::SyncResponse(response));
    }

    pub(crate) fn on_sync_response(
        &mut self,
        from: Address,
        resp: SyncResponse,
    ) -> Result<(), Refusal> {
        if resp.blocks.len() > self.max_sync_blocks() || resp.certs.len() > MAX_SYNC_CERTS {
            return Err(Refusal::TooLarge);
        }
        let epoch = self.epoch();
        let before = (self.chain.tree.len(), self.committed_height(), epoch);
        // Blocks some later block or certificate in the response certifies: the anti-spam
        // limits do not apply to them (they are checked once their certificate is).
        let certified: BTreeSet<Hash> = resp
            .blocks
            .iter()
            .map(|b| b.justify.data.block)
            .chain(resp.certs.iter().map(|c| c.data.block))
            .collect();
        for block in &resp.blocks {
            if self.epoch() != epoch || !self.is_running() {
                break;
            }
            if block.epoch() != epoch || block.height() <= self.committed_height() {
                continue;
            }
            let hash = block.hash();
            if self.chain.tree.contains(&hash) {
                continue;
            }
            match self.insert_block(block, hash, false, certified.contains(&hash)) {
                Ok(()) => self.observe_certificate(Some(from), &block.justify),
                Err(Refusal::MissingParent(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        for qc in &resp.certs {
            if self.epoch() != epoch || !self.is_running() {
                break;
            }
            if qc.epoch() != epoch {
                continue;
            }
            self.verify_qc_cached(qc)?;
            self.observe_certificate(Some(from), qc);
        }
        // Only progress lifts the rate limit on requests: a useless answer (a duplicate, or a
        // peer advertising a certificate whose block it lacks too) must not trigger another
        // request at once, or two such peers would ping-pong without end.
        if (self.chain.tree.len(), self.committed_height(), self.epoch()) != before {
            self.clear_sync_in_flight();
            if self.is_running() && !self.chain.tree.contains(&self.chain.highest_qc.block()) {
                self.request_sync(from);
            }
        }
        if self.epoch() == epoch && self.is_running() {
            self.retry_orphans();
        }
        Ok(())
    }

    /// Our sync info for a peer that is behind, at most once per retransmission interval per
    /// peer (a peer cannot make us send more than it sends).
    pub(super) fn status_to(&mut self, peer: Address) {
        let spacing = self.config.params.base_round_timeout_ms / 4;
        if self.sync.status_due(peer, self.now, spacing) {
            self.send(peer, MessageBody::Status);
        }
    }

    pub(crate) fn request_sync(&mut self, peer: Address) {
        if Some(peer) == self.seat.address {
            return;
        }
        let retry = self.config.params.base_round_timeout_ms / 4;
        if !self.sync.request_due(self.now, retry) {
            return;
        }
        self.stats.sync_requests += 1;
        let req = SyncRequest {
            epoch: self.epoch(),
            committed_height: self.committed_height(),
        };
        self.send(peer, MessageBody::SyncRequest(req));
    }

    pub(crate) fn clear_sync_in_flight(&mut self) {
        self.sync.request_answered();
    }

    pub(crate) fn is_running(&self) -> bool {
        self.phase == Phase::Running
    }

    pub(crate) fn retry_orphans(&mut self) {
        let orphans = std::mem::take(&mut self.sync.orphans);
        for (from, p) in orphans {
            if !self.chain.tree.contains(&p.block.header().parent) {
                if p.block.round() >= self.round() {
                    self.sync.orphans.push((from, p));
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
