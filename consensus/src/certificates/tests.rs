//! Unit tests of certificate checks and the vote and timeout collectors.

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
