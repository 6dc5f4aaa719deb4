//! Seeds for blocks and consensus messages: proposals by validator 0, certificates signed by the
//! whole fuzz committee, and equivocation evidence for the evidence payloads.

use crate::Seeds;
use runnet_fuzz::{CHAIN_ID, VALIDATORS, committee, validator_key, validator_vrf};
use runnet_types::block::{batches_root, genesis_seed};
use runnet_types::consensus::{
    ConsensusMessage, Evidence, MessageBody, Proposal, ProposedBlock, QuorumCert, SignedHeader,
    SignedVote, SyncInfo, SyncRequest, SyncResponse, Timeout, TimeoutCert, TimeoutData, Vote,
    VoteData, proposal_signing_bytes,
};
use runnet_types::encoding::encode;
use runnet_types::{Block, BlockHeader, Domain, Hash, SecretKey};

fn header(round: u64, timestamp_ms: u64) -> BlockHeader {
    // The VRF proof is over the seed the block target checks it against.
    let (_, vrf) = validator_vrf(0).prove(&genesis_seed(CHAIN_ID, &Hash::ZERO).0);
    BlockHeader {
        chain_id: CHAIN_ID.into(),
        height: 1,
        round,
        epoch: 0,
        parent: Hash::ZERO,
        justify_signers: vec![],
        failed_leaders: Vec::new(),
        leader_exclusions: Vec::new(),
        proposer: validator_key(0).public().address(),
        batches_root: batches_root(&[Hash([1; 32])]),
        executed_height: 0,
        executed_state_root: Hash::ZERO,
        vrf,
        timestamp_ms,
    }
}

/// A block of `round` on the genesis, proposed by validator 0.
pub fn proposed(round: u64) -> ProposedBlock {
    let block = Block {
        header: header(round, 1_000),
        batches: vec![Hash([1; 32])],
    };
    let signature = validator_key(0).sign(Domain::Proposal, &proposal_signing_bytes(&block.hash()));
    ProposedBlock {
        block,
        justify: QuorumCert::root(0, Hash::ZERO, 0),
        signature,
    }
}

pub fn blocks() -> Seeds {
    let block = proposed(1);
    vec![
        ("header", encode(&block.block.header)),
        ("block", encode(&block.block)),
        ("proposed", encode(&block)),
    ]
}

/// Committee indices and keys of every validator, in committee order.
fn signers() -> Vec<(u32, SecretKey)> {
    let committee = committee(0);
    let mut out: Vec<(u32, SecretKey)> = (0..VALIDATORS)
        .map(|i| {
            let key = validator_key(i);
            let index = committee
                .index_of_key(&key.public())
                .expect("a committee member");
            (index, key)
        })
        .collect();
    out.sort_by_key(|(index, _)| *index);
    out
}

/// A quorum certificate on round 1's block, signed by the whole committee.
pub fn qc() -> QuorumCert {
    let data = VoteData {
        epoch: 0,
        round: 1,
        height: 1,
        block: proposed(1).hash(),
        parent: Hash::ZERO,
        parent_round: 0,
    };
    let message = data.signing_bytes(CHAIN_ID);
    let (signers, signatures) = signers()
        .into_iter()
        .map(|(index, key)| (index, key.sign(Domain::Vote, &message)))
        .unzip();
    QuorumCert {
        data,
        signers,
        signatures,
    }
}

/// A timeout certificate on round 2, every signer locked on round 1.
fn tc() -> TimeoutCert {
    let data = TimeoutData {
        epoch: 0,
        round: 2,
        hqc_round: 1,
    };
    let message = data.signing_bytes(CHAIN_ID);
    let mut tc = TimeoutCert {
        epoch: 0,
        round: 2,
        signers: vec![],
        hqc_rounds: vec![],
        signatures: vec![],
    };
    for (index, key) in signers() {
        tc.signers.push(index);
        tc.hqc_rounds.push(1);
        tc.signatures.push(key.sign(Domain::Timeout, &message));
    }
    tc
}

pub fn messages() -> Seeds {
    let sync = SyncInfo {
        highest_qc: qc(),
        highest_tc: Some(tc()),
        highest_commit: QuorumCert::root(0, Hash::ZERO, 0),
    };
    let key = validator_key(1);
    let vote_data = qc().data;
    let timeout_data = TimeoutData {
        epoch: 0,
        round: 3,
        hqc_round: 1,
    };
    let bodies = [
        ("status", MessageBody::Status),
        (
            "vote",
            MessageBody::Vote(Vote {
                signature: key.sign(Domain::Vote, &vote_data.signing_bytes(CHAIN_ID)),
                data: vote_data,
                author: key.public().address(),
            }),
        ),
        (
            "timeout",
            MessageBody::Timeout(Timeout {
                signature: key.sign(Domain::Timeout, &timeout_data.signing_bytes(CHAIN_ID)),
                data: timeout_data,
                author: key.public().address(),
                highest_qc: qc(),
            }),
        ),
        (
            "proposal",
            MessageBody::Proposal(Proposal {
                block: proposed(3),
                tc: Some(tc()),
            }),
        ),
        (
            "sync_request",
            MessageBody::SyncRequest(SyncRequest {
                epoch: 0,
                committed_height: 0,
            }),
        ),
        (
            "sync_response",
            MessageBody::SyncResponse(SyncResponse {
                blocks: vec![proposed(1)],
                certs: vec![qc()],
            }),
        ),
    ];
    bodies
        .into_iter()
        .map(|(name, body)| {
            (
                name,
                ConsensusMessage {
                    sync: sync.clone(),
                    body,
                }
                .encode(),
            )
        })
        .collect()
}

pub fn vote_evidence() -> Evidence {
    let key = validator_key(0);
    let vote = |block: u8| {
        let data = VoteData {
            epoch: 0,
            round: 4,
            height: 2,
            block: Hash([block; 32]),
            parent: Hash::ZERO,
            parent_round: 3,
        };
        SignedVote {
            signature: key.sign(Domain::Vote, &data.signing_bytes(CHAIN_ID)),
            data,
        }
    };
    Evidence::Votes {
        signer: key.public(),
        first: vote(1),
        second: vote(2),
    }
}

pub fn proposal_evidence() -> Evidence {
    let key = validator_key(0);
    let signed_header = |timestamp_ms: u64| {
        let header = header(5, timestamp_ms);
        let signature = key.sign(Domain::Proposal, &proposal_signing_bytes(&header.hash()));
        SignedHeader { header, signature }
    };
    Evidence::Proposals {
        signer: key.public(),
        first: signed_header(1),
        second: signed_header(2),
    }
}
