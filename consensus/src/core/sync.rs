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

use super::{Core, Environment, PayloadSource, Refusal};
use runnet_types::consensus::{MessageBody, ProposedBlock, SyncRequest, SyncResponse};
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;
use std::sync::Arc;

/// Most certificates a response may carry.
const MAX_SYNC_CERTS: usize = 16;

impl<E: Environment, P: PayloadSource> Core<E, P> {
    fn committed_at(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        let root = self.tree.root();
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
                let proof = self.commit_proof().clone();
                if proof.qc.epoch() == epoch {
                    blocks.extend(proof.blocks.into_iter().map(Arc::new));
                    certs.push(proof.qc);
                }
                let mut seen: BTreeSet<Hash> = blocks.iter().map(|b| b.hash()).collect();
                for b in self.tree.chain_to(&self.highest_qc.block()) {
                    if seen.insert(b.hash()) {
                        blocks.push(b);
                    }
                }
                if self.tree.contains(&self.highest_qc.block()) {
                    certs.push(self.highest_qc.clone());
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
        let before = (self.tree.len(), self.committed_height(), epoch);
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
            if self.tree.contains(&hash) {
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
        if (self.tree.len(), self.committed_height(), self.epoch()) != before {
            self.clear_sync_in_flight();
            if self.is_running() && !self.tree.contains(&self.highest_qc.block()) {
                self.request_sync(from);
            }
        }
        if self.epoch() == epoch && self.is_running() {
            self.retry_orphans();
        }
        Ok(())
    }
}
