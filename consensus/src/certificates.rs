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
mod tests {
    use super::*;
    use crate::crypto::TestCrypto;
    use runnet_types::consensus::{TimeoutData, ValidatorInfo};
    use runnet_types::{Address, Hash};

    struct Setup {
        committee: Committee,
        cryptos: Vec<TestCrypto>,
    }

    /// Committee sorted by address; `cryptos[i]` signs for index i.
    fn setup(stakes: &[u64]) -> Setup {
        let mut pairs: Vec<(ValidatorInfo, TestCrypto)> = stakes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let c = TestCrypto::new(i as u64);
                (
                    ValidatorInfo {
                        address: c.public_key().address(),
                        consensus_key: c.public_key(),
                        vrf_key: c.vrf_public_key(),
                        stake: *s,
                    },
                    c,
                )
            })
            .collect();
        pairs.sort_by_key(|a| a.0.address);
        let committee = Committee::new(
            5,
            "test",
            pairs.iter().map(|p| p.0.clone()).collect(),
            u64::MAX,
        )
        .unwrap();
        Setup {
            committee,
            cryptos: pairs.into_iter().map(|p| p.1).collect(),
        }
    }

    fn data(round: u64, block: u8) -> VoteData {
        VoteData {
            epoch: 5,
            round,
            height: round,
            block: Hash([block; 32]),
            parent: Hash([0; 32]),
            parent_round: round - 1,
        }
    }

    fn vote(s: &Setup, i: usize, d: &VoteData) -> Vote {
        Vote {
            data: d.clone(),
            author: s.committee.validators()[i].address,
            signature: s.cryptos[i].sign(Domain::Vote, &d.signing_bytes("test")),
        }
    }

    fn timeout(s: &Setup, i: usize, round: u64, hqc_round: u64) -> Timeout {
        let d = TimeoutData {
            epoch: 5,
            round,
            hqc_round,
        };
        Timeout {
            signature: s.cryptos[i].sign(Domain::Timeout, &d.signing_bytes("test")),
            data: d,
            author: s.committee.validators()[i].address,
            highest_qc: QuorumCert::root(5, Hash::ZERO, 0),
        }
    }

    fn root() -> QuorumCert {
        QuorumCert::root(5, Hash([9; 32]), 10)
    }

    #[test]
    fn qc_forms_on_stake_not_heads() {
        // Stakes 1, 1, 1, 5 (sorted by address, so find the heavy one by stake).
        let s = setup(&[1, 1, 1, 5]);
        let heavy = s
            .committee
            .validators()
            .iter()
            .position(|v| v.stake == 5)
            .unwrap();
        let lights: Vec<usize> = (0..4).filter(|i| *i != heavy).collect();
        let d = data(3, 1);
        let mut c = VoteCollector::default();
        c.reset(3);
        // Three of four validators, but only 3 of 8 stake: no quorum.
        for i in &lights {
            assert!(c.add(&s.committee, *i as u32, &vote(&s, *i, &d)).is_none());
        }
        // The heavy one brings 8 of 8.
        let qc = c
            .add(&s.committee, heavy as u32, &vote(&s, heavy, &d))
            .unwrap();
        assert_eq!(qc.signers.len(), 4);
        let crypto = TestCrypto::new(99);
        assert_eq!(verify_qc(&qc, &s.committee, &root(), &crypto), Ok(()));

        // The heavy one alone (5 of 8) is not enough; with one light (6 of 8 > 2/3) it is.
        let mut c = VoteCollector::default();
        c.reset(3);
        assert!(
            c.add(&s.committee, heavy as u32, &vote(&s, heavy, &d))
                .is_none()
        );
        assert!(
            c.add(&s.committee, lights[0] as u32, &vote(&s, lights[0], &d))
                .is_some()
        );
    }

    #[test]
    fn duplicate_votes_count_once_and_split_votes_do_not_add_up() {
        let s = setup(&[1, 1, 1, 1]);
        let mut c = VoteCollector::default();
        c.reset(4);
        let d = data(4, 1);
        let other = data(4, 2);
        assert!(c.add(&s.committee, 0, &vote(&s, 0, &d)).is_none());
        assert!(c.add(&s.committee, 0, &vote(&s, 0, &d)).is_none());
        assert!(c.add(&s.committee, 1, &vote(&s, 1, &d)).is_none());
        // A second vote of validator 1 for another block is not counted anywhere.
        assert!(c.add(&s.committee, 1, &vote(&s, 1, &other)).is_none());
        assert!(c.add(&s.committee, 2, &vote(&s, 2, &other)).is_none());
        // 2 for d, 1 for other: nothing; validator 3 makes 3 of 4 for d.
        let qc = c.add(&s.committee, 3, &vote(&s, 3, &d)).unwrap();
        assert_eq!(qc.signers, vec![0, 1, 3]);
        // Votes of another round are ignored.
        assert!(c.add(&s.committee, 2, &vote(&s, 2, &data(5, 1))).is_none());
    }

    #[test]
    fn bad_qcs_are_refused_with_a_reason() {
        let s = setup(&[1, 1, 1, 1]);
        let crypto = TestCrypto::new(99);
        let d = data(3, 1);
        let good = QuorumCert {
            data: d.clone(),
            signers: vec![0, 1, 2],
            signatures: (0..3).map(|i| vote(&s, i, &d).signature).collect(),
        };
        assert_eq!(verify_qc(&good, &s.committee, &root(), &crypto), Ok(()));

        let mut q = good.clone();
        q.data.epoch = 4;
        assert!(matches!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::WrongEpoch { .. })
        ));

        let mut q = good.clone();
        q.signers = vec![0, 0, 1];
        assert_eq!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::BadSigners)
        );
        q.signers = vec![1, 0, 2];
        assert_eq!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::BadSigners)
        );
        q.signers = vec![0, 1, 9];
        assert_eq!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::BadSigners)
        );

        let mut q = good.clone();
        q.signers.pop();
        q.signatures.pop();
        assert!(matches!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::NotQuorum { stake: 2, total: 4 })
        ));

        let mut q = good.clone();
        q.signatures.pop();
        assert!(matches!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::LengthMismatch { .. })
        ));

        let mut q = good.clone();
        q.signatures[1] = q.signatures[2];
        assert_eq!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::BadSignatures(vec![1]))
        );

        // A signed certificate for other data does not carry over.
        let mut q = good.clone();
        q.data.block = Hash([7; 32]);
        assert!(matches!(
            verify_qc(&q, &s.committee, &root(), &crypto),
            Err(CertError::BadSignatures(_))
        ));

        // Round 0 is only the root.
        assert_eq!(verify_qc(&root(), &s.committee, &root(), &crypto), Ok(()));
        let fake_root = QuorumCert::root(5, Hash([8; 32]), 10);
        assert_eq!(
            verify_qc(&fake_root, &s.committee, &root(), &crypto),
            Err(CertError::NotRoot)
        );
    }

    #[test]
    fn tc_forms_on_stake_and_keeps_each_lock() {
        let s = setup(&[1, 1, 1, 1]);
        let crypto = TestCrypto::new(99);
        let mut c = TimeoutCollector::default();
        c.reset(5, 7);
        let t = c.add(&s.committee, 0, &timeout(&s, 0, 7, 3));
        assert!(t.tc.is_none() && !t.more_than_third);
        let t = c.add(&s.committee, 0, &timeout(&s, 0, 7, 3));
        assert!(t.tc.is_none() && !t.more_than_third, "duplicates ignored");
        let t = c.add(&s.committee, 2, &timeout(&s, 2, 7, 6));
        assert!(t.tc.is_none() && t.more_than_third);
        let t = c.add(&s.committee, 3, &timeout(&s, 3, 7, 5));
        let tc = t.tc.unwrap();
        assert_eq!(tc.signers, vec![0, 2, 3]);
        assert_eq!(tc.max_hqc_round(), 6);
        assert_eq!(verify_tc(&tc, &s.committee, &crypto), Ok(()));
        // Formed once.
        assert!(c.add(&s.committee, 1, &timeout(&s, 1, 7, 6)).tc.is_none());

        // Lowering someone's lock breaks their signature.
        let mut bad = tc.clone();
        bad.hqc_rounds[1] = 2;
        assert_eq!(
            verify_tc(&bad, &s.committee, &crypto),
            Err(CertError::BadSignatures(vec![1]))
        );
        let mut bad = tc.clone();
        bad.epoch = 6;
        assert!(matches!(
            verify_tc(&bad, &s.committee, &crypto),
            Err(CertError::WrongEpoch { .. })
        ));
        let mut bad = tc.clone();
        bad.hqc_rounds[0] = 7;
        assert!(matches!(
            verify_tc(&bad, &s.committee, &crypto),
            Err(CertError::BadHqcRound { .. })
        ));
        let mut bad = tc.clone();
        bad.signers.truncate(2);
        bad.signatures.truncate(2);
        bad.hqc_rounds.truncate(2);
        assert!(matches!(
            verify_tc(&bad, &s.committee, &crypto),
            Err(CertError::NotQuorum { .. })
        ));
        let mut bad = tc;
        bad.signers[2] = 2;
        assert_eq!(
            verify_tc(&bad, &s.committee, &crypto),
            Err(CertError::BadSigners)
        );
    }

    #[test]
    fn addresses_are_sorted_for_indices() {
        let s = setup(&[1, 1, 1]);
        let addrs: Vec<Address> = s.committee.validators().iter().map(|v| v.address).collect();
        let mut sorted = addrs.clone();
        sorted.sort();
        assert_eq!(addrs, sorted);
    }
}
