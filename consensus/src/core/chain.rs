//! The block tree and the certificates: what this node knows of the chain above its last commit.
//!
//! The room owns the [`BlockTree`] (uncommitted blocks on the committed root), the highest
//! quorum and timeout certificates seen, the certificate that committed the root and its proof,
//! and the cache of certificates already verified. Its rules:
//! - a block enters the tree only through [`Core::insert_block`], which checks it as a voter
//!   would (signature, leader and blames, parent and its certificate, VRF, chain time), whatever
//!   brought it: a proposal, a sync response or the safety file after a restart;
//! - a certificate counts only once verified against the current committee (cached by digest,
//!   so a certificate repeated in every message costs its signatures once);
//! - the highest certificates only ever rise within an epoch, and start again from the epoch's
//!   root certificate at each new epoch.

use super::{Core, Environment, PayloadSource, Phase, Refusal};
use crate::certificates::{CertCache, qc_key, tc_key, verify_qc, verify_tc};
use crate::crypto::Crypto;
use crate::reputation::MAX_BLAMED;
use crate::tree::{BlockTree, MAX_TREE_BLOCKS, TreeBlock};
use runnet_types::block::next_seed;
use runnet_types::consensus::{
    CommitProof, Committee, ProposedBlock, QuorumCert, SyncInfo, TimeoutCert,
    proposal_signing_bytes,
};
use runnet_types::{Address, Domain, Hash};
use std::sync::Arc;

/// Most distinct uncertified blocks accepted for one round (an equivocating leader can sign any
/// number; the first few are enough to prove it).
const MAX_BLOCKS_PER_ROUND: u32 = 3;

pub(super) struct Chain {
    pub(super) tree: BlockTree,
    /// The current epoch's root certificate (round 0, on the block the epoch starts from).
    pub(super) root_qc: QuorumCert,
    pub(super) highest_qc: QuorumCert,
    pub(super) highest_tc: Option<TimeoutCert>,
    /// The certificate that committed the root.
    pub(super) highest_commit: QuorumCert,
    /// The proof of the last commit, served to peers that catch up.
    pub(super) commit_proof: CommitProof,
    /// The proof that committed the stored tip, until the first event restores it.
    pub(super) pending_tip_proof: Option<CommitProof>,
    certs: CertCache,
}

impl Chain {
    pub(super) fn new(
        tree: BlockTree,
        root_qc: QuorumCert,
        highest_commit: QuorumCert,
        commit_proof: CommitProof,
        pending_tip_proof: Option<CommitProof>,
    ) -> Chain {
        Chain {
            tree,
            highest_qc: root_qc.clone(),
            root_qc,
            highest_tc: None,
            highest_commit,
            commit_proof,
            pending_tip_proof,
            certs: CertCache::default(),
        }
    }

    /// A new epoch starts on the committed root: everything certified is of the last epoch.
    pub(super) fn reset_for_epoch(&mut self, epoch: u64) {
        let root = self.tree.root().info;
        self.tree.reset_for_epoch();
        self.root_qc = QuorumCert::root(epoch, root.hash, root.height);
        self.highest_qc = self.root_qc.clone();
        self.highest_tc = None;
        self.highest_commit = self.root_qc.clone();
        self.certs.clear();
    }

    /// `qc` committed up to `root` (the 2-chain rule, epoch.rs), proved by `proof`.
    pub(super) fn advance_root(&mut self, root: &Hash, proof: CommitProof, qc: QuorumCert) {
        self.tree.advance_root(root);
        self.commit_proof = proof;
        self.highest_commit = qc;
    }

    pub(super) fn committed_height(&self) -> u64 {
        self.tree.root().info.height
    }

    /// The highest round certified by a quorum or timeout certificate.
    pub(super) fn certified_round(&self) -> u64 {
        let tc = self.highest_tc.as_ref().map_or(0, |tc| tc.round);
        self.highest_qc.round().max(tc)
    }

    pub(super) fn sync_info(&self) -> SyncInfo {
        SyncInfo {
            highest_qc: self.highest_qc.clone(),
            highest_tc: self.highest_tc.clone(),
            highest_commit: self.highest_commit.clone(),
        }
    }

    /// Whether a certificate could teach us anything (checking it costs signatures).
    pub(super) fn qc_is_news(&self, qc: &QuorumCert) -> bool {
        let root_height = self.committed_height();
        qc.round() > self.highest_qc.round()
            || (qc.data.commits_parent() && qc.data.height.saturating_sub(1) > root_height)
            || (qc.data.height > root_height && !self.tree.contains(&qc.block()))
    }

    /// Raises the highest timeout certificate to `tc` if it is higher.
    pub(super) fn raise_tc(&mut self, tc: TimeoutCert) {
        if self.highest_tc.as_ref().is_none_or(|h| h.round < tc.round) {
            self.highest_tc = Some(tc);
        }
    }

    /// Notes a certificate formed here (by our own collectors), so it is never checked again.
    pub(super) fn formed(&mut self, digest: Hash) {
        self.certs.insert(digest);
    }

    pub(super) fn verify_qc(
        &mut self,
        qc: &QuorumCert,
        committee: &Committee,
        crypto: &dyn Crypto,
    ) -> Result<(), Refusal> {
        let digest = qc_key(qc);
        if self.certs.contains(&digest) {
            return Ok(());
        }
        verify_qc(qc, committee, &self.root_qc, crypto)?;
        self.certs.insert(digest);
        Ok(())
    }

    pub(super) fn verify_tc(
        &mut self,
        tc: &TimeoutCert,
        committee: &Committee,
        crypto: &dyn Crypto,
    ) -> Result<(), Refusal> {
        let digest = tc_key(tc);
        if self.certs.contains(&digest) {
            return Ok(());
        }
        verify_tc(tc, committee, crypto)?;
        self.certs.insert(digest);
        Ok(())
    }
}

impl<E: Environment, P: PayloadSource> Core<E, P> {
    pub(crate) fn sync_info(&self) -> SyncInfo {
        self.chain.sync_info()
    }

    pub(crate) fn verify_qc_cached(&mut self, qc: &QuorumCert) -> Result<(), Refusal> {
        self.chain
            .verify_qc(qc, &self.seat.committee, self.env.crypto())
    }

    pub(super) fn verify_tc_cached(&mut self, tc: &TimeoutCert) -> Result<(), Refusal> {
        self.chain
            .verify_tc(tc, &self.seat.committee, self.env.crypto())
    }

    pub(super) fn process_sync_info(
        &mut self,
        from: Address,
        sync: &SyncInfo,
    ) -> Result<(), Refusal> {
        let epoch = self.epoch();
        for qc in [&sync.highest_commit, &sync.highest_qc] {
            if qc.epoch() != epoch || !self.chain.qc_is_news(qc) {
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
        if qc.round() > self.chain.highest_qc.round() {
            self.chain.highest_qc = qc.clone();
        }
        self.voting.safety.observe_qc(qc);
        if self.chain.tree.contains(&qc.block()) {
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
        if self.chain.tree.contains(&hash) {
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
            .seat
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
            .seat
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
            .chain
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
        if self.seat.committee.ends_at(parent.timestamp_ms) && !b.block.batches.is_empty() {
            return Err(Refusal::BadBlock("payload after the epoch's last block"));
        }
        if !certified {
            if self.chain.tree.in_round(h.round) >= MAX_BLOCKS_PER_ROUND {
                return Err(Refusal::TooManyInRound(h.round));
            }
            if self.chain.tree.len() >= MAX_TREE_BLOCKS {
                return Err(Refusal::TreeFull);
            }
        }
        self.verify_qc_cached(&b.justify)?;
        let output = self
            .crypto()
            .vrf_verify(&validator.vrf_key, &parent.seed.0, &h.vrf)
            .ok_or(Refusal::BadVrf)?;
        self.chain.tree.insert(TreeBlock {
            block: Arc::new(b.clone()),
            hash,
            seed: next_seed(&parent.seed, &output),
            vrf_output: output,
        });
        Ok(())
    }
}
