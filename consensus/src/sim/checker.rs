//! The checks of every seed: safety (no two honest nodes commit different blocks at one
//! height), contiguous and linked commits, no batch committed twice, and accountability (every
//! equivocation an honest node saw becomes evidence, and all evidence accuses a faulty
//! validator). Liveness is checked by the world's run loop against its deadline.

use super::ScriptedFault;
use super::network::Ev;
use super::world::{CHAIN_ID, Role, World};
use crate::core::CommittedBlock;
use crate::crypto::{Crypto, TestCrypto};
use crate::equivocation::in_window;
use runnet_types::PublicKey;
use runnet_types::consensus::{CommitProof, ConsensusMessage, Evidence, MessageBody};
use std::collections::{BTreeMap, BTreeSet};
pub(super) type SeenKey = (usize, u32, u64, u64, PublicKey, u8);
pub(super) type Seen = BTreeMap<SeenKey, BTreeSet<runnet_types::Signature>>;

impl World {
    pub(super) fn violation(&mut self, text: String) {
        if self.violations.len() < 20 {
            self.violations.push(format!("t={}ms: {text}", self.now));
        }
    }

    pub(super) fn done(&self) -> bool {
        if !self.healed
            || !self.commit_after_heal
            || self.max_committed < self.config.min_commits
            || self.now < self.config.min_sim_ms
        {
            return false;
        }
        // A node crashed for good by the script is not waited for.
        let gone = self
            .config
            .scripted
            .filter(|s| s.fault == ScriptedFault::Crash && s.until_ms == u64::MAX)
            .map(|s| s.node);
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.role == Role::Honest && Some(*i) != gone)
            .all(|(_, n)| n.alive && n.store.borrow().disk.height() >= self.height_at_heal)
    }

    pub(super) fn heights(&self) -> Vec<(usize, u64, u64, u64)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.core
                    .as_ref()
                    .map(|c| (i, c.committed_height(), c.epoch(), c.round()))
            })
            .collect()
    }

    /// Remembers signed proposals and votes an honest node is about to see, under the same
    /// conditions in which the core remembers them.
    pub(super) fn record_seen(&mut self, node: usize, msg: &ConsensusMessage) {
        let n = &self.nodes[node];
        let Some(core) = &n.core else { return };
        let (epoch, round) = (core.epoch(), core.round());
        if msg.sync.highest_qc.epoch() > epoch || msg.sync.highest_commit.epoch() > epoch {
            return;
        }
        let Some(committee) = self.schedule.get(epoch) else {
            return;
        };
        // Signatures are deterministic (ed25519 and the test signer alike), so distinct signed
        // contents have distinct signatures: they identify the content without hashing it.
        let (author, msg_epoch, msg_round, digest, kind) = match &msg.body {
            MessageBody::Proposal(p) => (
                p.block.header().proposer,
                p.block.epoch(),
                p.block.round(),
                p.block.signature,
                0u8,
            ),
            MessageBody::Vote(v) => (v.author, v.data.epoch, v.data.round, v.signature, 1u8),
            _ => return,
        };
        if msg_epoch != epoch || !in_window(msg_round, round) {
            return;
        }
        let Some(key) = committee
            .index_of(&author)
            .and_then(|i| committee.get(i))
            .map(|v| v.consensus_key)
        else {
            return;
        };
        let incarnation = n.incarnation;
        self.seen
            .entry((node, incarnation, epoch, msg_round, key, kind))
            .or_default()
            .insert(digest);
    }

    pub(super) fn on_evidence(&mut self, node: usize, e: Evidence) {
        if self.nodes[node].role != Role::Honest {
            return;
        }
        self.evidence += 1;
        let Some(committee) = self.schedule.get(e.epoch()) else {
            self.violation(format!("node {node} reported evidence of unknown epoch"));
            return;
        };
        let keys = committee.keys();
        let checked = if self.real_crypto {
            e.verify(CHAIN_ID, &keys)
        } else {
            let checker = TestCrypto::new(0);
            e.verify_with(CHAIN_ID, &keys, |k, d, m, s| checker.verify(k, d, m, s))
        };
        if let Err(err) = checked {
            self.violation(format!("node {node} reported invalid evidence: {err}"));
        }
        if self.honest_keys.contains(e.signer()) {
            self.violation(format!(
                "node {node} reported evidence against honest validator {}",
                e.signer()
            ));
        }
        let kind = match e {
            Evidence::Proposals { .. } => 0,
            Evidence::Votes { .. } => 1,
        };
        self.nodes[node]
            .evidence
            .insert((*e.signer(), e.epoch(), e.round(), kind));
    }

    pub(super) fn check_evidence(&mut self) {
        let mut missing = Vec::new();
        for ((node, _, epoch, round, key, kind), digests) in &self.seen {
            if digests.len() >= 2
                && !self.nodes[*node]
                    .evidence
                    .contains(&(*key, *epoch, *round, *kind))
            {
                missing.push(format!(
                    "node {node} saw {} conflicting {} of {} in epoch {epoch} round {round} but reported no evidence",
                    digests.len(),
                    if *kind == 0 { "proposals" } else { "votes" },
                    key
                ));
            }
        }
        for m in missing {
            self.violation(m);
        }
    }

    pub(super) fn on_commit(
        &mut self,
        node: usize,
        blocks: Vec<CommittedBlock>,
        proof: CommitProof,
        ends_epoch: Option<u64>,
    ) {
        let honest = self.nodes[node].role == Role::Honest;
        // A byzantine leader may name an already committed batch on purpose (execution then skips
        // its transactions); honest leaders never may.
        let all_honest = self.nodes.iter().all(|n| n.role == Role::Honest);
        let mut problems = Vec::new();
        {
            let n = &self.nodes[node];
            let mut store = n.store.borrow_mut();
            let mut pool = n.pool.borrow_mut();
            let mut expected = store.disk.height();
            for b in &blocks {
                let height = b.block.height();
                expected += 1;
                let parent_ok = b.block.header().parent == store.last_hash.unwrap_or(self.genesis);
                if height != expected || !parent_ok {
                    problems.push(format!(
                        "node {node} committed height {height} (parent ok: {parent_ok}) after height {}",
                        expected - 1
                    ));
                }
                store.last_hash = Some(b.hash);
                for batch in &b.block.block.batches {
                    pool.available.remove(batch);
                    // A batch named by two committed blocks would execute its transactions
                    // twice (the second time as skips).
                    if !pool.committed.insert(*batch) && all_honest {
                        problems.push(format!(
                            "node {node} committed batch {batch} a second time at height {height}"
                        ));
                    }
                }
            }
            store.disk.commit(&blocks, proof, ends_epoch);
        }
        for p in problems {
            self.violation(p);
        }
        if honest {
            for b in &blocks {
                let height = b.block.height();
                let hash = b.hash;
                match self.committed.get(&height) {
                    Some((other, by)) if *other != hash => {
                        let text = format!(
                            "SAFETY: node {node} committed {hash} at height {height}, node {by} committed {other}"
                        );
                        self.violation(text);
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(height, (hash, node));
                        self.commit_times.push(self.now);
                        self.batches_committed_set
                            .extend(b.block.block.batches.iter().copied());
                    }
                }
                if height > self.max_committed {
                    self.max_committed = height;
                    if self.healed && height > self.height_at_heal {
                        self.commit_after_heal = true;
                    }
                }
            }
        }
        if let Some(last) = blocks.last() {
            let height = last.block.height();
            let incarnation = self.nodes[node].incarnation;
            let at = self.now + self.net_rng.range(0, 10);
            self.push(
                at,
                Ev::Executed {
                    node,
                    incarnation,
                    height,
                },
            );
        }
    }
}
