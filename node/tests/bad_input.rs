//! Bad input gets a clear error and changes nothing: malformed, oversized and wrong-typed API
//! bodies, a wrong chain id, a bad signature, a replayed nonce; and a hostile peer sending garbage
//! and a forged block.

mod common;

use common::{Net, random_address};
use runnet_types::consensus::{
    ConsensusMessage, MessageBody, Proposal, ProposedBlock, QuorumCert, SyncInfo,
};
use runnet_types::{Block, BlockHeader, SecretKey};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

fn refused(net: &Net, path: &str, body: serde_json::Value) -> (u16, String) {
    match net.client(0).post_json(path, &body) {
        Err(runnet_node::client::ClientError::Refused { status, reason, .. }) => (status, reason),
        other => panic!("{path} {body} was not refused: {other:?}"),
    }
}

fn refused_bytes(net: &Net, path: &str, body: &[u8]) -> (u16, String) {
    match net.client(0).post_bytes(path, body) {
        Err(runnet_node::client::ClientError::Refused { status, reason, .. }) => (status, reason),
        other => panic!("{path} was not refused: {other:?}"),
    }
}

#[test]
fn api_refuses_bad_transactions_and_changes_nothing() {
    let mut net = Net::init(1, 0, 1);
    net.start(0);
    net.wait(
        "the single validator to commit",
        Duration::from_secs(60),
        |n| n.height(0) >= 1,
    );
    let faucet = net.faucet();
    let faucet_path = format!("/v1/account/{}", faucet.public().address());
    let before = net.client(0).get(&faucet_path).unwrap();

    // Malformed, wrong-typed and oversized bodies.
    assert_eq!(
        refused(&net, "/v1/tx", json!({"tx": "zz"})),
        (400, "bad_hex".into())
    );
    assert_eq!(
        refused(&net, "/v1/tx", json!({"tx": 5})),
        (400, "bad_json".into())
    );
    assert_eq!(
        refused(&net, "/v1/tx", json!({"tx": "00", "extra": 1})),
        (400, "bad_json".into())
    );
    assert_eq!(
        refused(&net, "/v1/txs", json!({"txs": "nope"})),
        (400, "bad_json".into())
    );
    assert_eq!(
        refused_bytes(&net, "/v1/tx", &[0xff; 100]),
        (400, "decode".into())
    );
    assert_eq!(
        refused_bytes(&net, "/v1/txs", &[9, 0, 0, 0, 1]),
        (400, "bad_frames".into())
    );
    let huge = vec![0u8; 5 << 20];
    // The server answers 413 as soon as it sees the length; the client may still be writing
    // and see the connection close instead. Either way it is refused, and the node lives on.
    match net.client(0).post_bytes("/v1/tx", &huge) {
        Err(runnet_node::client::ClientError::Refused { status, reason, .. }) => {
            assert_eq!((status, reason.as_str()), (413, "too_large"))
        }
        Err(runnet_node::client::ClientError::Unreachable { .. }) => {}
        other => panic!("an oversized body was not refused: {other:?}"),
    }
    assert!(
        net.status(0).is_some(),
        "the node died on an oversized body"
    );

    // A wrong chain id, a bad signature.
    let mut other_chain = net.transfer(&faucet, 0, random_address(1), 10);
    other_chain.body.chain_id = "another-chain".into();
    let other_chain = other_chain.body.sign(&faucet);
    assert_eq!(
        refused_bytes(&net, "/v1/tx", &other_chain.encode()),
        (400, "wrong_chain_id".into())
    );
    let mut forged = net.transfer(&faucet, 0, random_address(1), 10);
    forged.body.payload = runnet_types::Payload::Transfer {
        to: random_address(2),
        amount: 1_000_000,
    };
    assert_eq!(
        refused_bytes(&net, "/v1/tx", &forged.encode()),
        (400, "bad_signature".into())
    );

    // Nothing changed.
    assert_eq!(net.client(0).get(&faucet_path).unwrap(), {
        let mut now = before.clone();
        now["height"] = net.client(0).get(&faucet_path).unwrap()["height"].clone();
        now
    });

    // A good one commits; sending it again is a replay.
    let good = net.transfer(&faucet, 0, random_address(3), 10);
    let hash = net.client(0).post_bytes("/v1/tx", &good.encode()).unwrap()["hash"]
        .as_str()
        .unwrap()
        .to_string();
    runnet_node::cli::wait_for(&net.client(0), &hash, Duration::from_secs(30)).unwrap();
    assert_eq!(
        refused_bytes(&net, "/v1/tx", &good.encode()),
        (400, "nonce_too_low".into())
    );
    let after = net.client(0).get(&faucet_path).unwrap();
    assert_eq!(after["nonce"], 1);

    // Queries with bad ids.
    for path in [
        "/v1/account/0x12",
        "/v1/tx/nothex",
        "/v1/block/minus-one",
        "/v1/runner/00",
    ] {
        let err = net.client(0).get(path).unwrap_err();
        assert!(
            matches!(
                err,
                runnet_node::client::ClientError::Refused { status: 400, .. }
            ),
            "{path}: {err}"
        );
    }
    let err = net.client(0).get("/v1/block/999999").unwrap_err();
    assert!(matches!(
        err,
        runnet_node::client::ClientError::Refused { status: 404, .. }
    ));
    let err = net.client(0).get("/v1/nothing").unwrap_err();
    assert!(matches!(
        err,
        runnet_node::client::ClientError::Refused { status: 404, .. }
    ));
}

#[test]
fn hostile_peer_is_dropped_and_the_chain_goes_on() {
    let mut net = Net::init(1, 0, 0);
    net.start(0);
    net.wait("the validator to commit", Duration::from_secs(60), |n| {
        n.height(0) >= 1
    });
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let network = net.link_peer(0, &SecretKey::from_seed([77; 32])).await;
        let target = network.connected_peers()[0];
        // Garbage, then a forged proposal signed by a key of no validator.
        network.send_consensus(target, Arc::new(vec![0xde; 64]));
        let forger = SecretKey::from_seed([66; 32]);
        let header = BlockHeader {
            chain_id: net.chain_id.clone(),
            height: 1,
            round: 1,
            epoch: 0,
            parent: runnet_types::Hash::ZERO,
            justify_signers: Vec::new(),
            failed_leaders: Vec::new(),
            leader_exclusions: Vec::new(),
            proposer: forger.public().address(),
            batches_root: runnet_types::block::batches_root(&[]),
            executed_height: 0,
            executed_state_root: runnet_types::Hash::ZERO,
            vrf: Default::default(),
            timestamp_ms: 0,
        };
        let block = Block {
            header,
            batches: vec![],
        };
        let signature = forger.sign(
            runnet_types::Domain::Proposal,
            &runnet_types::consensus::proposal_signing_bytes(&block.hash()),
        );
        let message = ConsensusMessage {
            sync: SyncInfo {
                highest_qc: QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
                highest_tc: None,
                highest_commit: QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
            },
            body: MessageBody::Proposal(Proposal {
                block: ProposedBlock {
                    block,
                    justify: QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
                    signature,
                },
                tc: None,
            }),
        };
        // A certificate for round 1,000 with a made-up signature: if it were believed, the
        // node would jump to round 1,001.
        let forged_qc = QuorumCert {
            data: runnet_types::consensus::VoteData {
                epoch: 0,
                round: 1_000,
                height: 999,
                block: runnet_types::Hash([9; 32]),
                parent: runnet_types::Hash([8; 32]),
                parent_round: 999,
            },
            signers: vec![0],
            signatures: vec![runnet_types::Signature::default()],
        };
        let forged_sync = ConsensusMessage {
            sync: SyncInfo {
                highest_qc: forged_qc.clone(),
                highest_tc: None,
                highest_commit: forged_qc,
            },
            body: MessageBody::Status,
        };
        for _ in 0..20 {
            network.send_consensus(target, Arc::new(message.encode()));
            network.send_consensus(target, Arc::new(forged_sync.encode()));
            network.send_consensus(target, Arc::new(vec![1, 2, 3]));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
    let metrics = net.client(0).get_text("/metrics").unwrap();
    let offences: f64 = metrics
        .lines()
        .find(|l| l.starts_with("runnet_peer_offences_total"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(offences >= 1.0, "no offence counted:\n{metrics}");
    assert!(
        metrics.contains("reason=\"bad_certificate\"")
            || metrics.contains("reason=\"bad_signature\""),
        "the forged messages were not refused as forged:\n{metrics}"
    );
    let round = net.status(0).unwrap()["round"].as_u64().unwrap();
    assert!(
        round < 1_000,
        "a forged certificate moved the round to {round}"
    );
    let h = net.height(0);
    net.wait("the chain to go on", Duration::from_secs(30), |n| {
        n.height(0) >= h + 3
    });
}
