//! Loopback throughput between two nodes, for docs/network.md: runnet's direct streams and, for
//! comparison, gossipsub tuned as DEPENDENCIES.md describes (anonymous, content-hash ids, flood
//! publish). The sender keeps a bounded window of messages in flight, so nothing is dropped and
//! the figure is what the transport sustains. Run by hand, in release:
//!
//! ```text
//! cargo run --release -p runnet-p2p --example throughput
//! ```

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAuthenticity, PublishError, ValidationMode};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm, noise, tcp, yamux};
use runnet_p2p::{Limits, Network, NetworkConfig, NetworkEvent, NetworkEvents, keypair_from_seed};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const SMALL: usize = 512;
const LARGE: usize = 500 << 10;

struct Run {
    transport: &'static str,
    size: usize,
    count: u64,
    elapsed: Duration,
    dropped: u64,
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn payload(seq: u64, size: usize) -> Vec<u8> {
    let mut bytes = seq.to_be_bytes().to_vec();
    bytes.resize(size, 0x5a);
    bytes
}

fn open_limits() -> Limits {
    Limits {
        messages_per_sec: u32::MAX,
        message_burst: u32::MAX,
        bytes_per_sec: u64::MAX / 4,
        byte_burst: u64::MAX / 4,
        batch_queue: 1_024,
        consensus_queue: 65_536,
        event_queue: 65_536,
        ..Limits::default()
    }
}

async fn start_node(seed: u8, bootstrap: Vec<Multiaddr>) -> (Network, NetworkEvents) {
    let keypair = keypair_from_seed([seed; 32]).expect("seed");
    let mut config = NetworkConfig::new(
        keypair,
        "/ip4/127.0.0.1/tcp/0".parse().expect("addr"),
        "bench",
    );
    config.bootstrap = bootstrap;
    config.limits = open_limits();
    runnet_p2p::start(config).await.expect("start")
}

async fn direct(size: usize, count: u64, window: u64) -> Run {
    let (a, _a_events) = start_node(1, vec![]).await;
    let addr = a.listen_addrs()[0].clone();
    let bootstrap = format!("{addr}/p2p/{}", a.local_peer_id())
        .parse()
        .expect("addr");
    let (b, mut b_events) = start_node(2, vec![bootstrap]).await;
    while a.connected_peers().is_empty() || b.connected_peers().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let received = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let (r, n) = (received.clone(), notify.clone());
    let counter = tokio::spawn(async move {
        while let Some(event) = b_events.recv().await {
            if let NetworkEvent::Batch { .. } | NetworkEvent::Consensus { .. } = event {
                if r.fetch_add(1, Ordering::Relaxed) + 1 == count {
                    n.notify_one();
                    return;
                }
                n.notify_one();
            }
        }
    });
    let messages: Vec<Arc<Vec<u8>>> = (0..64).map(|i| Arc::new(payload(i, size))).collect();
    let start = Instant::now();
    for seq in 0..count {
        while seq - received.load(Ordering::Relaxed) >= window {
            notify.notified().await;
        }
        let message = messages[(seq % 64) as usize].clone();
        if size > 64 << 10 {
            a.broadcast_batch(message);
        } else {
            a.broadcast_consensus(message);
        }
    }
    counter.await.expect("counter");
    let elapsed = start.elapsed();
    let dropped = a.stats().outbound_dropped + b.stats().events_dropped;
    a.shutdown().await;
    b.shutdown().await;
    Run {
        transport: "direct streams",
        size,
        count,
        elapsed,
        dropped,
    }
}

fn gossip_swarm(seed: u8, max: usize) -> Swarm<gossipsub::Behaviour> {
    let key = keypair_from_seed([seed; 32]).expect("seed");
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .expect("tcp")
        .with_behaviour(|_| {
            let config = gossipsub::ConfigBuilder::default()
                .validation_mode(ValidationMode::Anonymous)
                .message_id_fn(|m: &gossipsub::Message| {
                    let mut h = DefaultHasher::new();
                    m.data.hash(&mut h);
                    gossipsub::MessageId::from(h.finish().to_be_bytes().to_vec())
                })
                .max_transmit_size(max)
                .duplicate_cache_time(Duration::from_secs(5))
                .heartbeat_interval(Duration::from_millis(500))
                .flood_publish(true)
                .build()
                .expect("gossipsub config");
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config).expect("gossipsub")
        })
        .expect("behaviour")
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

async fn gossip(size: usize, count: u64, window: u64) -> Run {
    let topic = IdentTopic::new("bench");
    let max = size + (64 << 10);
    let mut a = gossip_swarm(3, max);
    let mut b = gossip_swarm(4, max);
    a.behaviour_mut().subscribe(&topic).expect("subscribe");
    b.behaviour_mut().subscribe(&topic).expect("subscribe");
    a.listen_on("/ip4/127.0.0.1/tcp/0".parse().expect("addr"))
        .expect("listen");
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = a.select_next_some().await {
            break address;
        }
    };
    b.dial(addr).expect("dial");
    let received = Arc::new(AtomicU64::new(0));
    let notify = Arc::new(Notify::new());
    let (r, n) = (received.clone(), notify.clone());
    let counter = tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(gossipsub::Event::Message { .. }) =
                b.select_next_some().await
            {
                let got = r.fetch_add(1, Ordering::Relaxed) + 1;
                n.notify_one();
                if got == count {
                    return b;
                }
            }
        }
    });
    // Every attempt gets a fresh payload: a refused publish may already sit in the duplicate
    // cache, and the same bytes would then be refused for good.
    let mut attempt = 0u64;
    let mut sent = 0u64;
    let mut refused = 0u64;
    let mut start = None;
    while received.load(Ordering::Relaxed) < count {
        while sent < count && sent - received.load(Ordering::Relaxed) < window {
            attempt += 1;
            match a
                .behaviour_mut()
                .publish(topic.clone(), payload(attempt, size))
            {
                Ok(_) => {
                    start.get_or_insert_with(Instant::now);
                    sent += 1;
                }
                Err(PublishError::AllQueuesFull(_) | PublishError::NoPeersSubscribedToTopic) => {
                    if start.is_some() {
                        refused += 1;
                    }
                    break;
                }
                Err(e) => panic!("publish: {e}"),
            }
        }
        tokio::select! {
            _ = a.select_next_some() => {}
            _ = notify.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
    let elapsed = start.map_or(Duration::ZERO, |s| s.elapsed());
    let _b = counter.await.expect("counter");
    Run {
        transport: "gossipsub",
        size,
        count,
        elapsed,
        dropped: refused,
    }
}

fn print(run: &Run) {
    let secs = run.elapsed.as_secs_f64();
    println!(
        "| {} | {} B | {} | {:.2} s | {:.0} msgs/s | {:.1} MB/s | {} | {} |",
        run.transport,
        run.size,
        run.count,
        secs,
        run.count as f64 / secs,
        (run.count as f64 * run.size as f64) / secs / 1e6,
        run.dropped,
        load_average(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // An optional divisor of the message counts, for a quick check in debug builds.
    let scale: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .max(1);
    println!("load average before: {}", load_average());
    println!(
        "| transport | message | count | time | rate | throughput | dropped / retries | load avg after |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    print(&direct(SMALL, 200_000 / scale, 8_192).await);
    print(&direct(LARGE, 2_000 / scale, 32).await);
    print(&gossip(SMALL, 200_000 / scale, 8_192).await);
    print(&gossip(LARGE, 2_000 / scale, 32).await);
}
