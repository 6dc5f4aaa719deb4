//! Quorum and timeout certificates: checking a peer's, forming our own from votes and timeouts.
//!
//! A certificate is stake-weighted: its signers must hold more than two thirds of the epoch's
//! stake. Signer lists must be strictly ascending committee indices, which rules out duplicates
//! without any set; a certificate is checked once and then remembered by digest (principle 4).

use crate::crypto::{Crypto, SignedItem};
use runnet_types::consensus::{Committee, QuorumCert, Timeout, TimeoutCert, Vote, VoteData};
use runnet_types::{Domain, Hash, Signature};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum CertError {
    #[error("certificate of epoch {got}, expected {expected}")]
    WrongEpoch { expected: u64, got: u64 },
    #[error("a round-0 certificate must be the epoch's root")]
    NotRoot,
    #[error("signers must be strictly ascending committee indices")]
    BadSigners,
    #[error("{signers} signers but {signatures} signatures (or {rounds} rounds)")]
    LengthMismatch {
        signers: usize,
        signatures: usize,
        rounds: usize,
    },
    #[error("signers hold {stake} of {total} stake: not more than two thirds")]
    NotQuorum { stake: u128, total: u128 },
    #[error("signatures {0:?} do not verify")]
    BadSignatures(Vec<usize>),
    #[error("a signer's highest certified round {hqc} is not below the timeout round {round}")]
    BadHqcRound { hqc: u64, round: u64 },
    #[error("a certificate's round must be at least 1")]
    ZeroRound,
}

/// Stake of a strictly ascending list of committee indices.
fn signer_stake(signers: &[u32], committee: &Committee) -> Result<u128, CertError> {
    let mut previous: Option<u32> = None;
    for s in signers {
        if previous.is_some_and(|p| p >= *s) || committee.get(*s).is_none() {
            return Err(CertError::BadSigners);
        }
        previous = Some(*s);
    }
    Ok(committee.stake_of(signers))
}

/// Checks a quorum certificate of the current epoch. `root` is the epoch's synthetic round-0
/// certificate, the only round-0 certificate accepted.
pub fn verify_qc(
    qc: &QuorumCert,
    committee: &Committee,
    root: &QuorumCert,
    crypto: &dyn Crypto,
) -> Result<(), CertError> {
    if qc.data.epoch != committee.epoch() {
        return Err(CertError::WrongEpoch {
            expected: committee.epoch(),
            got: qc.data.epoch,
        });
    }
    if qc.data.round == 0 {
        return if qc == root {
            Ok(())
        } else {
            Err(CertError::NotRoot)
        };
    }
    if qc.signers.len() != qc.signatures.len() {
        return Err(CertError::LengthMismatch {
            signers: qc.signers.len(),
            signatures: qc.signatures.len(),
            rounds: 0,
        });
    }
    let stake = signer_stake(&qc.signers, committee)?;
    if !committee.is_quorum(stake) {
        return Err(CertError::NotQuorum {
            stake,
            total: committee.total_stake(),
        });
    }
    let message = qc.data.signing_bytes(committee.chain_id());
    let keys: Vec<_> = qc
        .signers
        .iter()
        .filter_map(|s| committee.get(*s).map(|v| v.consensus_key))
        .collect();
    let items: Vec<SignedItem<'_>> = keys
        .iter()
        .zip(&qc.signatures)
        .map(|(key, signature)| SignedItem {
            key,
            domain: Domain::Vote,
            message: &message,
            signature,
        })
        .collect();
    crypto.verify_many(&items).map_err(CertError::BadSignatures)
}

/// Checks a timeout certificate of the current epoch.
pub fn verify_tc(
    tc: &TimeoutCert,
    committee: &Committee,
    crypto: &dyn Crypto,
) -> Result<(), CertError> {
    if tc.epoch != committee.epoch() {
        return Err(CertError::WrongEpoch {
            expected: committee.epoch(),
            got: tc.epoch,
        });
    }
    if tc.round == 0 {
        return Err(CertError::ZeroRound);
    }
    if tc.signers.len() != tc.signatures.len() || tc.signers.len() != tc.hqc_rounds.len() {
        return Err(CertError::LengthMismatch {
            signers: tc.signers.len(),
            signatures: tc.signatures.len(),
            rounds: tc.hqc_rounds.len(),
        });
    }
    if let Some(hqc) = tc.hqc_rounds.iter().find(|h| **h >= tc.round) {
        return Err(CertError::BadHqcRound {
            hqc: *hqc,
            round: tc.round,
        });
    }
    let stake = signer_stake(&tc.signers, committee)?;
    if !committee.is_quorum(stake) {
        return Err(CertError::NotQuorum {
            stake,
            total: committee.total_stake(),
        });
    }
    let messages: Vec<Vec<u8>> = tc
        .hqc_rounds
        .iter()
        .map(|hqc_round| {
            runnet_types::consensus::TimeoutData {
                epoch: tc.epoch,
                round: tc.round,
                hqc_round: *hqc_round,
            }
            .signing_bytes(committee.chain_id())
        })
        .collect();
    let keys: Vec<_> = tc
        .signers
        .iter()
        .filter_map(|s| committee.get(*s).map(|v| v.consensus_key))
        .collect();
    let items: Vec<SignedItem<'_>> = keys
        .iter()
        .zip(&messages)
        .zip(&tc.signatures)
        .map(|((key, message), signature)| SignedItem {
            key,
            domain: Domain::Timeout,
            message,
            signature,
        })
        .collect();
    crypto.verify_many(&items).map_err(CertError::BadSignatures)
}

/// A cache key for a certificate: blake3 over its raw fields (cheaper than the canonical
/// encoding, and only ever compared with other keys made here).
pub(crate) fn qc_key(qc: &QuorumCert) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"qc");
    let d = &qc.data;
    for n in [d.epoch, d.round, d.height, d.parent_round] {
        h.update(&n.to_le_bytes());
    }
    h.update(&d.block.0);
    h.update(&d.parent.0);
    h.update(&(qc.signers.len() as u64).to_le_bytes());
    for s in &qc.signers {
        h.update(&s.to_le_bytes());
    }
    for s in &qc.signatures {
        h.update(&s.0);
    }
    Hash(*h.finalize().as_bytes())
}

/// As [`qc_key`], for timeout certificates.
pub(crate) fn tc_key(tc: &TimeoutCert) -> Hash {
    let mut h = blake3::Hasher::new();
    h.update(b"tc");
    h.update(&tc.epoch.to_le_bytes());
    h.update(&tc.round.to_le_bytes());
    h.update(&(tc.signers.len() as u64).to_le_bytes());
    for s in &tc.signers {
        h.update(&s.to_le_bytes());
    }
    for r in &tc.hqc_rounds {
        h.update(&r.to_le_bytes());
    }
    for s in &tc.signatures {
        h.update(&s.0);
    }
    Hash(*h.finalize().as_bytes())
}

/// Digests of certificates already checked, so a certificate that arrives in every message's sync
/// info costs its signatures once. Cleared at each epoch and when it grows large.
#[derive(Default)]
pub(crate) struct CertCache {
    verified: BTreeSet<Hash>,
}

impl CertCache {
    const MAX: usize = 4096;

    pub(crate) fn contains(&self, digest: &Hash) -> bool {
        self.verified.contains(digest)
    }

    pub(crate) fn insert(&mut self, digest: Hash) {
        if self.verified.len() >= Self::MAX {
            self.verified.clear();
        }
        self.verified.insert(digest);
    }

    pub(crate) fn clear(&mut self) {
        self.verified.clear();
    }
}

/// Votes of one round, grouped by what they vote for. A validator counts once per round whatever
/// it sends; equivocation is the detector's business, not the counter's.
#[derive(Default)]
pub(crate) struct VoteCollector {
    round: u64,
    voted: BTreeSet<u32>,
    by_data: BTreeMap<VoteData, BTreeMap<u32, Signature>>,
    formed: bool,
}

impl VoteCollector {
    pub(crate) fn reset(&mut self, round: u64) {
        if self.round != round {
            *self = VoteCollector {
                round,
                ..VoteCollector::default()
            };
        }
    }

    /// Adds a vote whose signature was checked; returns the certificate the first time the
    /// stake behind one block reaches a quorum.
    pub(crate) fn add(
        &mut self,
        committee: &Committee,
        index: u32,
        vote: &Vote,
    ) -> Option<QuorumCert> {
        if vote.data.round != self.round || self.formed || !self.voted.insert(index) {
            return None;
        }
        let signers = self.by_data.entry(vote.data.clone()).or_default();
        signers.insert(index, vote.signature);
        let indices: Vec<u32> = signers.keys().copied().collect();
        if !committee.is_quorum(committee.stake_of(&indices)) {
            return None;
        }
        self.formed = true;
        Some(QuorumCert {
            data: vote.data.clone(),
            signers: indices,
            signatures: signers.values().copied().collect(),
        })
    }
}

/// What adding a timeout produced.
#[derive(Default)]
pub(crate) struct TimeoutTally {
    pub(crate) tc: Option<TimeoutCert>,
    /// More than a third of the stake gave up on the round: at least one honest validator did,
    /// so joining it early cannot be provoked by the faulty alone.
    pub(crate) more_than_third: bool,
}

#[derive(Default)]
pub(crate) struct TimeoutCollector {
    epoch: u64,
    round: u64,
    entries: BTreeMap<u32, (u64, Signature)>,
    formed: bool,
}

impl TimeoutCollector {
    pub(crate) fn reset(&mut self, epoch: u64, round: u64) {
        if self.round != round || self.epoch != epoch {
            *self = TimeoutCollector {
                epoch,
                round,
                ..TimeoutCollector::default()
            };
        }
    }

    pub(crate) fn has(&self, index: u32) -> bool {
        self.entries.contains_key(&index)
    }

    /// Adds a timeout of the collector's round whose signature was checked.
    pub(crate) fn add(
        &mut self,
        committee: &Committee,
        index: u32,
        timeout: &Timeout,
    ) -> TimeoutTally {
        if timeout.data.round != self.round || timeout.data.epoch != self.epoch {
            return TimeoutTally::default();
        }
        self.entries
            .entry(index)
            .or_insert((timeout.data.hqc_round, timeout.signature));
        let signers: Vec<u32> = self.entries.keys().copied().collect();
        let stake = committee.stake_of(&signers);
        let mut tally = TimeoutTally {
            tc: None,
            more_than_third: committee.is_more_than_third(stake),
        };
        if !self.formed && committee.is_quorum(stake) {
            self.formed = true;
            tally.tc = Some(TimeoutCert {
                epoch: self.epoch,
                round: self.round,
                signers,
                hqc_rounds: self.entries.values().map(|(h, _)| *h).collect(),
                signatures: self.entries.values().map(|(_, s)| *s).collect(),
            });
        }
        tally
    }
}

#[cfg(test)]
mod tests;
