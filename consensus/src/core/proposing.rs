//! Proposing: when this node, leading a round, makes a block, and what goes in it.
//!
//! The room owns only the last round this node proposed in; what it reads to decide (the
//! highest certificates, the tree, the pacemaker's waits, the payload) belongs to other rooms.
//! Its rules:
//! - one proposal per round (the safety rules refuse a second; a proposal signed before a
//!   restart is sent again as it was), and at most one per event;
//! - a block extends the highest certificate; when that certificate is not of the previous
//!   round, the block carries the previous round's timeout certificate, and without one there is
//!   no block;
//! - an empty block waits for the empty-block interval, and any block for the block pace,
//!   unless a payload block is waiting to commit, the block fills itself, or the epoch ends;
//! - chain time is the proposer's clock, always after the parent's.

use super::{Core, Environment, PayloadSource, Phase};
use crate::tree::Parent;
use runnet_types::block::batches_root;
use runnet_types::consensus::{
    MessageBody, Proposal, ProposedBlock, QuorumCert, TimeoutCert, proposal_signing_bytes,
};
use runnet_types::{Block, BlockHeader, Domain, Hash};
use std::sync::Arc;

/// How many heights behind its latest execution a proposer's header claims a state root.
const CLAIM_LAG: u64 = 2;

#[derive(Default)]
pub(super) struct Proposing {
    /// The last round this node proposed in (or found its proposal for after a restart).
    pub(super) proposed_round: u64,
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    /// Propose if we lead the current round and have what it takes; otherwise wait (for the
    /// empty-block interval, for the parent, for a certificate).
    pub(super) fn maybe_propose(&mut self) {
        if self.phase != Phase::Running || self.restoring {
            return;
        }
        let round = self.round();
        let Some(index) = self.seat.index else { return };
        let leader = self.leader_extending(round, &self.chain.highest_qc.block());
        if leader != Some(index) || self.proposing.proposed_round >= round {
            return;
        }
        if self.fx.proposed {
            // One proposal per event, so a validator holding a quorum alone does not run away
            // inside a single event.
            self.fx.wake_now = true;
            return;
        }
        let epoch = self.epoch();
        match self.voting.safety.proposal_for(epoch, round) {
            Ok(Some(previous)) => {
                // Signed before a restart: send the very same block again.
                self.proposing.proposed_round = round;
                self.rounds.pacemaker.clear_wait();
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
        let justify = self.chain.highest_qc.clone();
        let tc = if justify.round().saturating_add(1) == round {
            None
        } else {
            match &self.chain.highest_tc {
                Some(tc) if tc.round.saturating_add(1) == round => Some(tc.clone()),
                _ => {
                    self.rounds.pacemaker.clear_wait();
                    return;
                }
            }
        };
        let Some(parent) = self.chain.tree.parent_info(&justify.block()) else {
            // We hold the certificate but not the block: fetch it first.
            self.rounds.pacemaker.clear_wait();
            return;
        };
        let after_epoch_end = self.seat.committee.ends_at(parent.timestamp_ms);
        let mut in_flight = self.chain.tree.batches_in_flight(&parent.hash);
        in_flight.extend(self.fx.committed_batches.iter().copied());
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
            && !self.rounds.pacemaker.empty_block_due(self.now)
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
                .rounds
                .pacemaker
                .pace_due(self.now, (due - self.now).min(interval))
        {
            return;
        }
        self.rounds.pacemaker.clear_wait();
        // Chain time: the proposer's clock, but always after the parent's.
        let timestamp_ms = self.now.max(parent.timestamp_ms.saturating_add(1));
        let Some(proposal) = self.build_proposal(parent, justify, round, tc, batches, timestamp_ms)
        else {
            return;
        };
        self.voting.safety.record_proposal(&proposal);
        self.persist();
        self.proposing.proposed_round = round;
        self.fx.proposed = true;
        self.stats.proposals += 1;
        let hash = proposal.block.hash();
        self.broadcast(MessageBody::Proposal(proposal.clone()));
        self.own_proposal(proposal, hash);
    }

    /// Whether `hash` or its parent names batches (whether committed or not).
    fn recent_payload(&self, hash: &Hash) -> bool {
        let block = |h: &Hash| -> Option<Arc<ProposedBlock>> {
            match self.chain.tree.get(h) {
                Some(b) => Some(b.block.clone()),
                None => self
                    .chain
                    .tree
                    .root()
                    .block
                    .clone()
                    .filter(|_| self.chain.tree.root().info.hash == *h),
            }
        };
        let Some(parent) = block(hash) else {
            return false;
        };
        !parent.block.batches.is_empty()
            || block(&parent.header().parent).is_some_and(|g| !g.block.batches.is_empty())
    }

    fn own_proposal(&mut self, proposal: Proposal, hash: Hash) {
        let me = self.seat.address.unwrap_or_default();
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
        let proposer = self.seat.address?;
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
}
