//! Batches from hostile peers (issue 14, finding 1): a stranger's batches never reach the
//! store (their transactions are admitted one by one, like the API's), a validator's stuffed
//! batches are refused whole and cost it its score, and the chain goes on committing.

mod common;

use common::{Net, random_address};
use runnet_node::home::Home;
use runnet_types::{Batch, SecretKey, SignedTx};
use std::sync::Arc;
use std::time::Duration;

/// Starts a libp2p peer with `node_key`'s identity, connected to node `to` of `net`, and pushes
/// every batch of `batches` to it, then waits a little for the node to deal with them.
fn push_batches(net: &Net, to: usize, node_key: &SecretKey, batches: &[Vec<u8>]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let network = net.link_peer(to, node_key).await;
        for bytes in batches {
            network.broadcast_batch(Arc::new(bytes.clone()));
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    });
}

/// `copies` copies of one paid transaction per batch, `count` batches of distinct digests.
fn stuffed(tx: &SignedTx, count: usize, copies: usize) -> Vec<Vec<u8>> {
    (0..count)
        .map(|i| {
            Batch {
                txs: vec![tx.clone(); copies + i],
                raw: vec![],
            }
            .encode()
        })
        .collect()
}

fn metric(net: &Net, i: usize, name: &str) -> f64 {
    net.metric(i, name).unwrap_or(-1.0)
}

#[test]
fn a_strangers_stuffed_batches_never_reach_the_store() {
    let mut net = Net::init(1, 0, 31);
    net.start(0);
    net.wait("the validator to commit", Duration::from_secs(60), |n| {
        n.height(0) >= 1
    });
    let faucet = net.faucet();
    let paid = net.transfer(&faucet, 0, random_address(1), 5);
    let stranger = SecretKey::from_seed([78; 32]);
    push_batches(&net, 0, &stranger, &stuffed(&paid, 20, 2_000));
    // The one real transaction was admitted from the flood, once, and commits.
    net.succeeded(0, &paid.hash(), Duration::from_secs(30));
    assert_eq!(metric(&net, 0, "runnet_txs_relayed_total"), 1.0);
    assert_eq!(metric(&net, 0, "runnet_batches_received_total"), 0.0);
    assert!(metric(&net, 0, "runnet_peer_offences_total") >= 1.0);
    net.wait(
        "the store to hold only own batches",
        Duration::from_secs(10),
        |n| n.metric(0, "runnet_stored_batch_bytes").unwrap_or(f64::MAX) < 1_000_000.0,
    );
    // And the chain goes on.
    let next = net.submit(
        0,
        &faucet,
        runnet_types::Payload::Transfer {
            to: random_address(2),
            amount: 5,
        },
    );
    net.succeeded(0, &next, Duration::from_secs(30));
}

#[test]
fn a_validators_stuffed_batches_are_refused_and_scored() {
    // Four validators, three running: the fourth's identity pushes junk.
    let mut net = Net::init(4, 0, 32);
    for i in 0..3 {
        net.start(i);
    }
    net.wait("three of four to commit", Duration::from_secs(90), |n| {
        (0..3).all(|i| n.height(i) >= 2)
    });
    let hostile = Home::new(net.home(3).to_path_buf())
        .load_node_key()
        .unwrap();
    let faucet = net.faucet();
    let paid = net.transfer(&faucet, 0, random_address(3), 5);
    push_batches(&net, 0, &hostile, &stuffed(&paid, 10, 2_000));
    let duplicate = r#"runnet_batch_refusals_total{reason="duplicate"}"#;
    assert!(
        metric(&net, 0, duplicate) >= 1.0,
        "no stuffed batch refused"
    );
    assert_eq!(metric(&net, 0, "runnet_batches_received_total"), 0.0);
    assert!(metric(&net, 0, "runnet_peer_offences_total") >= 1.0);
    assert!(metric(&net, 0, "runnet_stored_batch_bytes") < 1_000_000.0);
    let before = net.height(0);
    net.wait("the chain to go on", Duration::from_secs(30), |n| {
        n.height(0) >= before + 3
    });
}
