//! Unit tests of the safety rules: what may be signed, and what survives a restart.

use super::*;
use crate::crypto::TestCrypto;
use runnet_types::block::batches_root;
use runnet_types::{Block, BlockHeader, VrfProof};

fn qc(round: u64, block: u8) -> QuorumCert {
    QuorumCert {
        data: VoteData {
            epoch: 1,
            round,
            height: round,
            block: Hash([block; 32]),
            parent: Hash::ZERO,
            parent_round: round.saturating_sub(1),
        },
        signers: vec![],
        signatures: vec![],
    }
}

fn block(round: u64, justify: QuorumCert, tag: u64) -> ProposedBlock {
    ProposedBlock {
        block: Block {
            header: BlockHeader {
                chain_id: "test".into(),
                height: justify.data.height + 1,
                round,
                epoch: 1,
                parent: justify.data.block,
                justify_signers: justify.signers.clone(),
                failed_leaders: Vec::new(),
                leader_exclusions: Vec::new(),
                proposer: Address([1; 20]),
                batches_root: batches_root(&[]),
                executed_height: 0,
                executed_state_root: Hash::ZERO,
                vrf: VrfProof::default(),
                timestamp_ms: tag,
            },
            batches: vec![],
        },
        justify,
        signature: Default::default(),
    }
}

fn tc(round: u64, hqc_rounds: Vec<u64>) -> TimeoutCert {
    TimeoutCert {
        epoch: 1,
        round,
        signers: (0..hqc_rounds.len() as u32).collect(),
        signatures: vec![Default::default(); hqc_rounds.len()],
        hqc_rounds,
    }
}

fn rules() -> SafetyRules {
    let mut r = SafetyRules::new(SafetyData::default());
    assert!(r.enter_epoch(1));
    r
}

fn vote(
    r: &mut SafetyRules,
    b: &ProposedBlock,
    tc: Option<&TimeoutCert>,
) -> Result<Signed<Vote>, SafetyError> {
    r.vote(
        b,
        b.hash(),
        tc,
        Address([2; 20]),
        "test",
        &TestCrypto::new(2),
    )
}

#[test]
fn votes_once_per_round_and_repeats_the_same_vote() {
    let mut r = rules();
    let b = block(3, qc(2, 2), 0);
    let first = match vote(&mut r, &b, None).unwrap() {
        Signed::New(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(r.data().last_voted_round, 3);
    assert_eq!(r.data().one_chain_round, 2);
    // Same block again: the same vote, nothing new to persist.
    assert_eq!(vote(&mut r, &b, None), Ok(Signed::Repeat(first)));
    // Another block of the same round: refused.
    let other = block(3, qc(2, 2), 1);
    assert_eq!(
        vote(&mut r, &other, None),
        Err(SafetyError::AlreadyVoted { round: 3 })
    );
    // An older round: refused.
    assert!(matches!(
        vote(&mut r, &block(2, qc(1, 1), 0), None),
        Err(SafetyError::RoundNotNewer { round: 2, last: 3 })
    ));
}

#[test]
fn vote_needs_the_previous_round_or_a_timeout_certificate_above_every_lock() {
    let mut r = rules();
    // Round 5 extending round 3 without a TC: refused.
    assert!(matches!(
        vote(&mut r, &block(5, qc(3, 3), 0), None),
        Err(SafetyError::NotSafeToVote { .. })
    ));
    // With a TC of round 4 whose highest lock is 3: fine.
    let t = tc(4, vec![1, 3, 2]);
    assert!(matches!(
        vote(&mut r, &block(5, qc(3, 3), 0), Some(&t)),
        Ok(Signed::New(_))
    ));
    // Round 7 after TC of round 6 with a lock at 5, extending round 4: below the lock.
    let t = tc(6, vec![5, 2, 2]);
    assert!(matches!(
        vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
        Err(SafetyError::NotSafeToVote {
            tc_hqc: Some(5),
            ..
        })
    ));
    // A TC of the wrong round does not help.
    let t = tc(5, vec![1, 1, 1]);
    assert!(matches!(
        vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
        Err(SafetyError::NotSafeToVote { .. })
    ));
    // A TC of another epoch does not help either.
    let mut t = tc(6, vec![1, 1, 1]);
    t.epoch = 0;
    assert!(matches!(
        vote(&mut r, &block(7, qc(4, 4), 0), Some(&t)),
        Err(SafetyError::NotSafeToVote { .. })
    ));
}

#[test]
fn the_flawed_rule_votes_below_the_lock() {
    let mut r = rules();
    r.flaw = Flaw::IgnoreLock;
    assert!(matches!(
        vote(&mut r, &block(9, qc(1, 1), 0), None),
        Ok(Signed::New(_))
    ));
}

#[test]
fn timeout_rule() {
    let mut r = rules();
    let crypto = TestCrypto::new(2);
    let me = Address([2; 20]);
    // Round 4 with a QC of round 3.
    let t = match r.timeout(1, 4, &qc(3, 3), None, me, "test", &crypto) {
        Ok(Signed::New(t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(t.data.hqc_round, 3);
    assert_eq!(r.data().last_voted_round, 4);
    assert_eq!(r.data().highest_timeout_round, 4);
    // Asked again for round 4, even with a higher certificate: the same timeout.
    assert_eq!(
        r.timeout(1, 4, &qc(3, 9), None, me, "test", &crypto),
        Ok(Signed::Repeat(t))
    );
    // No vote in round 4 after timing out in it.
    assert!(matches!(
        vote(&mut r, &block(4, qc(3, 3), 0), None),
        Err(SafetyError::RoundNotNewer { .. })
    ));
    // Round 5 after a TC of round 4, carrying the round-3 certificate.
    let t4 = tc(4, vec![3, 3, 3]);
    assert!(matches!(
        r.timeout(1, 5, &qc(3, 3), Some(&t4), me, "test", &crypto),
        Ok(Signed::New(_))
    ));
    // Having seen a certificate of round 6, a timeout carrying round 3 would hide the lock.
    r.observe_qc(&qc(6, 6));
    let t6 = tc(6, vec![3, 3, 3]);
    assert!(matches!(
        r.timeout(1, 7, &qc(3, 3), Some(&t6), me, "test", &crypto),
        Err(SafetyError::NotSafeToTimeout { lock: 6, .. })
    ));
    // A round that follows neither certificate: refused.
    assert!(matches!(
        r.timeout(1, 9, &qc(6, 6), Some(&t6), me, "test", &crypto),
        Err(SafetyError::NotSafeToTimeout { .. })
    ));
    // Wrong epoch.
    assert!(matches!(
        r.timeout(2, 7, &qc(6, 6), None, me, "test", &crypto),
        Err(SafetyError::WrongEpoch { .. })
    ));
}

#[test]
fn voting_then_timing_out_the_same_round_is_allowed() {
    let mut r = rules();
    let crypto = TestCrypto::new(2);
    assert!(matches!(
        vote(&mut r, &block(4, qc(3, 3), 0), None),
        Ok(Signed::New(_))
    ));
    assert!(matches!(
        r.timeout(1, 4, &qc(3, 3), None, Address([2; 20]), "test", &crypto),
        Ok(Signed::New(_))
    ));
}

#[test]
fn epochs_only_move_forward_and_reset_rounds() {
    let mut r = rules();
    vote(&mut r, &block(3, qc(2, 2), 0), None).unwrap();
    assert!(!r.enter_epoch(1));
    assert!(!r.enter_epoch(0));
    assert!(r.enter_epoch(2));
    assert_eq!(r.data().last_voted_round, 0);
    assert!(r.data().last_vote.is_none());
    // Votes of the old epoch are refused.
    assert!(matches!(
        vote(&mut r, &block(5, qc(4, 4), 0), None),
        Err(SafetyError::WrongEpoch { .. })
    ));
}

#[test]
fn one_proposal_per_round() {
    let mut r = rules();
    assert_eq!(r.proposal_for(1, 3), Ok(None));
    let p = Proposal {
        block: block(3, qc(2, 2), 0),
        tc: None,
    };
    r.record_proposal(&p);
    assert_eq!(r.proposal_for(1, 3), Ok(Some(p)));
    assert!(r.proposal_for(1, 2).is_err());
    assert_eq!(r.proposal_for(1, 4), Ok(None));
}

#[test]
fn safety_file_round_trips_atomically() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator_state.json");
    assert!(SafetyData::load(&path).unwrap().is_none());
    let mut r = rules();
    vote(&mut r, &block(3, qc(2, 2), 0), None).unwrap();
    r.timeout(
        1,
        4,
        &qc(3, 3),
        None,
        Address([2; 20]),
        "test",
        &TestCrypto::new(2),
    )
    .unwrap();
    r.record_proposal(&Proposal {
        block: block(4, qc(3, 3), 0),
        tc: Some(tc(3, vec![1, 2, 2])),
    });
    r.data().store(&path).unwrap();
    assert_eq!(SafetyData::load(&path).unwrap().as_ref(), Some(r.data()));
    // Overwrite: the new content replaces the old, and no temporary file is left behind.
    let later = SafetyData {
        epoch: 9,
        ..SafetyData::default()
    };
    later.store(&path).unwrap();
    assert_eq!(SafetyData::load(&path).unwrap(), Some(later));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        vec![std::ffi::OsString::from("validator_state.json")]
    );
    // The file is readable JSON an operator can inspect.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"last_voted_round\""));
}

#[test]
fn a_corrupt_safety_file_is_an_error_not_a_fresh_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("validator_state.json");
    std::fs::write(&path, b"{\"epoch\": 1, \"last_voted_round\": ").unwrap();
    let err = SafetyData::load(&path).unwrap_err();
    assert!(err.to_string().contains("refusing to start"), "{err}");
    std::fs::write(&path, b"{\"epoch\": 1, \"surprise\": 2}").unwrap();
    assert!(SafetyData::load(&path).is_err());
    // A directory that does not exist is a write error, not a panic.
    let missing = dir.path().join("no/such/dir/state.json");
    assert!(SafetyData::default().store(&missing).is_err());
}
