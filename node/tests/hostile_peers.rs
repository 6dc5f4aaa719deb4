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
        .map(|i| Batch::unsigned(vec![tx.clone(); copies + i], vec![]).encode())
        .collect()
}

/// A network of this process takes the ports of its salt's parity (common/mod.rs): tests of one
/// parity take turns.
static PORTS: [std::sync::Mutex<()>; 2] = [std::sync::Mutex::new(()), std::sync::Mutex::new(())];

fn ports(salt: u16) -> std::sync::MutexGuard<'static, ()> {
    PORTS[usize::from(salt % 2)]
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn metric(net: &Net, i: usize, name: &str) -> f64 {
    net.metric(i, name).unwrap_or(-1.0)
}

#[test]
fn a_strangers_stuffed_batches_never_reach_the_store() {
    let _ports = ports(31);
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
    let _ports = ports(32);
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

/// What a flood of sync requests got back: answers, and whether each kept to the rules.
#[derive(Debug, Default)]
struct Answers {
    count: usize,
    largest: usize,
    /// Answers whose blocks were not strictly ascending in height (a block sent twice).
    unordered: usize,
}

/// `peers` strangers linked to `addr` (a `/p2p/` address), each asking for old heights `rate`
/// times a second until `stop`, reading what comes back.
fn flood_syncs(
    addr: String,
    chain_id: String,
    peers: u8,
    rate: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> Answers {
    use runnet_p2p::NetworkEvent;
    use runnet_types::consensus::{
        ConsensusMessage, MessageBody, QuorumCert, SyncInfo, SyncRequest,
    };
    use std::sync::atomic::Ordering;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async move {
        let mut tasks = Vec::new();
        for p in 0..peers {
            let key = SecretKey::from_seed([200 + p; 32]);
            let keypair = runnet_p2p::keypair_from_seed(key.seed()).unwrap();
            let mut config = runnet_p2p::NetworkConfig::new(
                keypair,
                runnet_p2p::parse_address("127.0.0.1:0").unwrap(),
                chain_id.clone(),
            );
            config.bootstrap = vec![runnet_p2p::parse_address(&addr).unwrap()];
            let (network, mut events) = runnet_p2p::start(config).await.unwrap();
            for _ in 0..100 {
                if !network.connected_peers().is_empty() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let node = network.connected_peers()[0];
            let stop = stop.clone();
            tasks.push(tokio::spawn(async move {
                let mut answers = Answers::default();
                let sync = SyncInfo {
                    highest_qc: QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
                    highest_tc: None,
                    highest_commit: QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
                };
                let mut tick = tokio::time::interval(Duration::from_millis(1000 / rate));
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    tokio::select! {
                        _ = tick.tick() => {
                            // Old heights, a different one each time.
                            let message = ConsensusMessage {
                                sync: sync.clone(),
                                body: MessageBody::SyncRequest(SyncRequest {
                                    epoch: 0,
                                    committed_height: n % 20,
                                }),
                            };
                            n += 1;
                            network.send_consensus(node, Arc::new(message.encode()));
                        }
                        Some(event) = events.recv() => {
                            let NetworkEvent::Consensus { bytes, .. } = event else { continue };
                            let Ok(message) = ConsensusMessage::decode(&bytes) else { continue };
                            if let MessageBody::SyncResponse(resp) = message.body {
                                answers.count += 1;
                                answers.largest = answers.largest.max(bytes.len());
                                if resp.blocks.windows(2).any(|w| w[0].height() >= w[1].height()) {
                                    answers.unordered += 1;
                                }
                            }
                        }
                    }
                }
                drop(network);
                answers
            }));
        }
        let mut all = Answers::default();
        for task in tasks {
            let a = task.await.unwrap();
            all.count += a.count;
            all.largest = all.largest.max(a.largest);
            all.unordered += a.unordered;
        }
        all
    })
}

/// Blocks committed and rounds timed out on node `i` over `window`.
fn commits_and_timeouts(net: &Net, i: usize, window: Duration) -> (f64, f64) {
    let read = |name| metric(net, i, name);
    let (c0, t0) = (
        read("runnet_blocks_committed_total"),
        read("runnet_timeouts_total"),
    );
    std::thread::sleep(window);
    let (c1, t1) = (
        read("runnet_blocks_committed_total"),
        read("runnet_timeouts_total"),
    );
    (c1 - c0, t1 - t0)
}

/// Issue 14, finding 4 (failing before: sync answers were built by the core on the driver,
/// `runnet_syncs_served_total` did not exist, and answers were not held to the message limit):
/// strangers flooding sync requests for old heights get bounded answers built off the driver,
/// and the chain commits at its rate meanwhile.
#[test]
fn a_sync_flood_for_old_heights_leaves_the_commit_rate_alone() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let _ports = ports(33);
    let mut net = Net::init(1, 0, 33);
    net.start(0);
    net.wait("history to serve", Duration::from_secs(120), |n| {
        n.height(0) >= 150
    });
    let window = Duration::from_secs(10);
    let (base_commits, base_timeouts) = commits_and_timeouts(&net, 0, window);
    let addr = format!(
        "{}/p2p/{}",
        net.summary.nodes[0].p2p, net.summary.nodes[0].peer_id
    );
    let stop = Arc::new(AtomicBool::new(false));
    let flood = {
        let (addr, chain, stop) = (addr.clone(), net.chain_id.clone(), stop.clone());
        // Eight strangers at 9 requests a second each: under the over-rate tolerance, so they
        // keep their links and only the budget and the server's bounds hold them.
        std::thread::spawn(move || flood_syncs(addr, chain, 8, 9, stop))
    };
    std::thread::sleep(Duration::from_secs(2));
    let (flood_commits, flood_timeouts) = commits_and_timeouts(&net, 0, window);
    stop.store(true, Ordering::Relaxed);
    let answers = flood.join().unwrap();
    let served = metric(&net, 0, "runnet_syncs_served_total");
    let refused = metric(&net, 0, "runnet_syncs_refused_total");
    let busy = metric(&net, 0, "runnet_syncs_busy_total");
    eprintln!(
        "no flood: {base_commits} commits, {base_timeouts} timeouts in {window:?}; \
         flood: {flood_commits} commits, {flood_timeouts} timeouts; answers {answers:?}; \
         served off the driver {served}, refused {refused}, busy {busy}"
    );
    assert!(answers.count > 0, "the flood got no answers: {answers:?}");
    assert_eq!(answers.unordered, 0, "{answers:?}");
    assert!(
        answers.largest <= runnet_types::consensus::MAX_CONSENSUS_MESSAGE_BYTES,
        "{answers:?}"
    );
    // Built by the sync server, not the core; budgeted.
    assert!(served >= 1.0, "served {served}");
    assert!(refused >= 1.0, "refused {refused}");
    // The chain went on at its rate.
    assert!(
        flood_commits >= base_commits * 0.8,
        "flood: {flood_commits} commits, none: {base_commits}"
    );
    assert!(
        flood_timeouts <= base_timeouts + 1.0,
        "flood: {flood_timeouts} timeouts, none: {base_timeouts}"
    );
}
