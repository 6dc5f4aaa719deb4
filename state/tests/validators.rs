//! Validators across epochs: equivocation evidence (slash, jail, the record that refuses a
//! repeat, old and invalid evidence refused), the committees consensus reads per epoch, the peer
//! ids of the sets, and the VM limits genesis sets.

mod common;

use common::*;
use runnet_state::{ErrorCode, ValidatorStatus};
use runnet_types::block::{BlockHeader, batches_root};
use runnet_types::consensus::{
    Evidence, SignedHeader, SignedVote, VoteData, proposal_signing_bytes,
};
use runnet_types::crypto::Domain;
use runnet_types::genesis::{Params, VmParams};
use runnet_types::vrf::VrfProof;
use runnet_types::{Hash, Payload, SecretKey};

const GENESIS_STAKE: u64 = 1_000_000;

fn genesis_key() -> SecretKey {
    key(VALIDATOR_KEY)
}

fn vote(signer: &SecretKey, epoch: u64, round: u64, height: u64, block: u8) -> SignedVote {
    let data = VoteData {
        epoch,
        round,
        height,
        block: Hash([block; 32]),
        parent: Hash::ZERO,
        parent_round: round.saturating_sub(1),
    };
    let signature = signer.sign(Domain::Vote, &data.signing_bytes(CHAIN_ID));
    SignedVote { data, signature }
}

/// Two votes of `signer` for two blocks in one round.
fn double_vote(signer: &SecretKey, epoch: u64, round: u64, height: u64) -> Evidence {
    Evidence::Votes {
        signer: signer.public(),
        first: vote(signer, epoch, round, height, 1),
        second: vote(signer, epoch, round, height, 2),
    }
}

fn header(signer: &SecretKey, epoch: u64, round: u64, height: u64, stamp: u64) -> SignedHeader {
    let header = BlockHeader {
        chain_id: CHAIN_ID.into(),
        height,
        round,
        epoch,
        parent: Hash([1; 32]),
        justify_signers: Vec::new(),
        failed_leaders: Vec::new(),
        leader_exclusions: Vec::new(),
        proposer: signer.public().address(),
        batches_root: batches_root(&[]),
        executed_height: 0,
        executed_state_root: Hash::ZERO,
        vrf: VrfProof::default(),
        timestamp_ms: stamp,
    };
    let signature = signer.sign(Domain::Proposal, &proposal_signing_bytes(&header.hash()));
    SignedHeader { header, signature }
}

fn double_proposal(signer: &SecretKey, epoch: u64, round: u64, height: u64) -> Evidence {
    Evidence::Proposals {
        signer: signer.public(),
        first: header(signer, epoch, round, height, 1),
        second: header(signer, epoch, round, height, 2),
    }
}

fn submit(chain: &mut Chain, who: usize, evidence: Evidence) -> runnet_state::Receipt {
    chain.run(who, Payload::Evidence(Box::new(evidence)))
}

fn genesis_validator(chain: &Chain) -> runnet_state::Validator {
    chain
        .exec
        .validator(&genesis_key().public().address())
        .unwrap()
        .unwrap()
}

#[test]
fn equivocation_is_slashed_jailed_and_punished_once() {
    let mut chain = Chain::new(10);
    // Account 0 bonds a second validator; it joins at the next epoch.
    assert!(
        chain
            .run(0, bond_payload(0, 0, "peer-a", 500_000))
            .is_success()
    );
    let burned = chain.exec.burned().unwrap();
    let offender = genesis_key().public().address();
    // Anyone may submit evidence; the submitter gets nothing but its receipt.
    let r = submit(&mut chain, 3, double_vote(&genesis_key(), 0, 3, 2));
    assert!(r.is_success(), "{r:?}");
    let slash = GENESIS_STAKE * 500 / 10_000;
    let v = genesis_validator(&chain);
    let height = chain.exec.height();
    assert_eq!(v.stake, GENESIS_STAKE - slash);
    assert_eq!(
        v.status,
        ValidatorStatus::Jailed {
            until: height * BLOCK_MS + test_params().jail_ms
        }
    );
    assert_eq!(chain.exec.burned().unwrap(), burned + slash);
    let record = chain
        .exec
        .evidence_record(&offender, 0, 3)
        .unwrap()
        .unwrap();
    assert_eq!((record.slashed, record.applied_at), (slash, height));
    // The same offence again, as votes or as proposals of that round: refused.
    assert_failed(
        &submit(&mut chain, 3, double_vote(&genesis_key(), 0, 3, 2)),
        ErrorCode::EvidenceAlreadyApplied,
    );
    assert_failed(
        &submit(&mut chain, 4, double_proposal(&genesis_key(), 0, 3, 2)),
        ErrorCode::EvidenceAlreadyApplied,
    );
    // Another round is another offence.
    let r = submit(&mut chain, 4, double_proposal(&genesis_key(), 0, 4, 3));
    assert!(r.is_success(), "{r:?}");
    let second = (GENESIS_STAKE - slash) * 500 / 10_000;
    assert_eq!(
        genesis_validator(&chain).stake,
        GENESIS_STAKE - slash - second
    );
    // Jailed validators leave the set at the epoch change: epoch 1 is the new validator alone.
    while chain.exec.height() < 5 {
        chain.block(vec![]);
    }
    let committee = chain.exec.committee(1).unwrap().unwrap();
    assert_eq!(committee.len(), 1);
    assert_eq!(committee.validators()[0].address, addr(0));
    assert_eq!(committee.validators()[0].consensus_key, key(500).public());
}

#[test]
fn invalid_and_unknown_evidence_is_refused() {
    let mut chain = Chain::new(10);
    let k = genesis_key();
    let stranger = key(7);
    let mut rounds = double_vote(&k, 0, 3, 2);
    if let Evidence::Votes { second, .. } = &mut rounds {
        *second = vote(&k, 0, 4, 2, 2);
    }
    let same = Evidence::Votes {
        signer: k.public(),
        first: vote(&k, 0, 3, 2, 1),
        second: vote(&k, 0, 3, 2, 1),
    };
    let framed = Evidence::Votes {
        signer: k.public(),
        first: vote(&k, 0, 3, 2, 1),
        second: vote(&stranger, 0, 3, 2, 2),
    };
    let mut other_chain = double_proposal(&k, 0, 3, 2);
    if let Evidence::Proposals { first, second, .. } = &mut other_chain {
        for signed in [first, second] {
            signed.header.chain_id = "elsewhere".into();
            signed.signature = k.sign(
                Domain::Proposal,
                &proposal_signing_bytes(&signed.header.hash()),
            );
        }
    }
    for (evidence, words) in [
        (rounds, "different epochs or rounds"),
        (same, "identical"),
        (framed, "signature"),
        (double_vote(&stranger, 0, 3, 2), "not in the committee"),
        (other_chain, "another chain"),
    ] {
        let r = submit(&mut chain, 1, evidence);
        assert_failed(&r, ErrorCode::InvalidEvidence);
        match &r.outcome {
            runnet_state::Outcome::Failed { detail, .. } => {
                assert!(detail.contains(words), "{detail}")
            }
            _ => unreachable!(),
        }
    }
    // An epoch the chain has not decided yet.
    assert_failed(
        &submit(&mut chain, 1, double_vote(&k, 9, 1, 46)),
        ErrorCode::EvidenceUnknownEpoch,
    );
    assert_eq!(genesis_validator(&chain).stake, GENESIS_STAKE);
}

#[test]
fn old_evidence_is_refused() {
    let mut chain = Chain::new(10);
    let k = genesis_key();
    // test_params: epochs of 500 ms (5 blocks of 100 ms), max_evidence_age_ms 500. Epoch 0's
    // last block is height 5, stamped 500 ms.
    chain.empty_blocks(6);
    // At height 7 (700 ms) epoch 0 ended 200 ms ago: its evidence is fresh, whatever height its
    // messages claim (the signer chooses those).
    let r = submit(&mut chain, 1, double_vote(&k, 0, 1, 1));
    assert!(r.is_success(), "{r:?}");
    // Evidence about the running epoch is always fresh.
    let r = submit(&mut chain, 1, double_vote(&k, 1, 1, 6));
    assert!(r.is_success(), "{r:?}");
    // At height 11 (1,100 ms) epoch 0 ended 600 ms ago: too old.
    chain.empty_blocks(2);
    assert_failed(
        &submit(&mut chain, 1, double_vote(&k, 0, 2, 1_000)),
        ErrorCode::EvidenceTooOld,
    );
    // Once no evidence can refer to epoch 0, its set is dropped; evidence about it is too old.
    while chain.exec.height() < 15 {
        chain.block(vec![]);
    }
    assert!(chain.exec.committee(0).unwrap().is_none());
    assert_failed(
        &submit(&mut chain, 1, double_vote(&k, 0, 4, 3)),
        ErrorCode::EvidenceTooOld,
    );
}

#[test]
fn unbonding_stake_is_slashed_too() {
    let mut chain = Chain::new(10);
    let who = VALIDATOR_KEY;
    let fund = chain.run(
        0,
        Payload::Transfer {
            to: addr(who),
            amount: 1_000_000,
        },
    );
    assert!(fund.is_success());
    let r = chain.run(who, Payload::UnbondValidator { amount: 400_000 });
    assert!(r.is_success(), "{r:?}");
    let r = submit(&mut chain, 1, double_vote(&genesis_key(), 0, 1, 3));
    assert!(r.is_success(), "{r:?}");
    let v = genesis_validator(&chain);
    assert_eq!((v.stake, v.unbonding), (600_000 - 30_000, 400_000 - 20_000));
    assert_eq!(
        chain
            .exec
            .evidence_record(&addr(who), 0, 1)
            .unwrap()
            .unwrap()
            .slashed,
        50_000
    );
    // What is released is what is left of the unbonding stake.
    let before = chain.balance(&addr(who));
    chain.empty_blocks(test_params().unbonding_ms / BLOCK_MS);
    assert_eq!(chain.balance(&addr(who)), before + 380_000);
}

#[test]
fn committees_follow_the_epochs_and_stay_while_evidence_may_land() {
    let mut chain = Chain::new(10);
    let genesis = chain.exec.committee(0).unwrap().unwrap();
    assert_eq!(
        (genesis.epoch(), genesis.chain_id(), genesis.end_ms()),
        (0, CHAIN_ID, 500)
    );
    assert_eq!(genesis.keys(), vec![genesis_key().public()]);
    assert_eq!(genesis.total_stake(), u128::from(GENESIS_STAKE));
    assert!(chain.exec.committee(1).unwrap().is_none());
    assert!(
        chain
            .run(0, bond_payload(0, 3, "peer-a", 500_000))
            .is_success()
    );
    while chain.exec.height() < 4 {
        chain.block(vec![]);
    }
    // Not before the last block of epoch 0 has executed...
    assert!(chain.exec.committee(1).unwrap().is_none());
    let outcome = chain.block(vec![]);
    // ...and at once after it.
    let next = chain.exec.committee(1).unwrap().unwrap();
    assert_eq!(outcome.new_validator_set.unwrap().epoch, 1);
    // Epoch 1 ends 500 ms after epoch 0's last block (height 5, 500 ms).
    assert_eq!((next.epoch(), next.end_ms(), next.len()), (1, 1_000, 2));
    let bonded = next.index_of(&addr(0)).unwrap();
    let info = next.get(bonded).unwrap();
    assert_eq!(
        (info.consensus_key, info.vrf_key, info.stake),
        (key(500).public(), vrf_key(3).public(), 500_000)
    );
    let peers = chain.exec.validator_peer_ids().unwrap();
    assert_eq!(peers.get(&addr(0)).map(String::as_str), Some("peer-a"));
    assert_eq!(
        peers
            .get(&genesis_key().public().address())
            .map(String::as_str),
        Some("peer-0")
    );
    // Sets are kept as long as evidence may refer to them: epoch e until max_evidence_age_ms
    // after its last block ((e + 1) * 500 ms), dropped at the next epoch change after that.
    while chain.exec.height() < 30 {
        chain.block(vec![]);
    }
    assert_eq!(chain.exec.committee_epochs().unwrap(), vec![4, 5, 6]);
    assert!(chain.exec.committee(3).unwrap().is_none());
    assert_eq!(chain.exec.committee(6).unwrap().unwrap().end_ms(), 3_500);
}

#[test]
fn vm_limits_come_from_genesis() {
    let params = Params {
        vm: VmParams {
            max_module_bytes: 16,
            ..VmParams::default()
        },
        ..test_params()
    };
    let mut chain = Chain::with_params(2, params);
    assert_eq!(chain.exec.vm().limits().max_module_bytes, 16);
    let wat = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services/arith.wat"),
    )
    .unwrap();
    let json = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services/arith.json"),
    )
    .unwrap();
    let definition: runnet_types::service::ServiceDefinition = serde_json::from_str(&json).unwrap();
    let r = chain.run(
        0,
        Payload::PublishService {
            definition: definition.to_canonical_bytes(),
            bundle: runnet_types::service::Bundle::Wasm(runnet_vm_exec::wat_to_wasm(&wat).unwrap()),
        },
    );
    assert_failed(&r, ErrorCode::InvalidModule);
    // The defaults are the VM's own.
    assert_eq!(
        runnet_state::executor::vm_limits(&VmParams::default()).unwrap(),
        runnet_vm_exec::VmLimits::default()
    );
}
