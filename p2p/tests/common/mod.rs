//! Helpers shared by the integration tests: nodes on 127.0.0.1 port 0 and waiting for
//! conditions. Waits poll with a generous cap that only stops a hung test; nothing asserts on
//! how long anything took.

#![allow(dead_code)]

use runnet_p2p::{Limits, Multiaddr, Network, NetworkConfig, NetworkEvents, keypair_from_seed};
use std::future::Future;
use std::time::Duration;

pub const CHAIN: &str = "runnet-test";
/// Only there so a broken test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(60);

pub fn test_limits() -> Limits {
    Limits {
        redial_min: Duration::from_millis(50),
        redial_max: Duration::from_millis(500),
        ..Limits::default()
    }
}

/// Logs to the test output when RUST_LOG is set.
pub fn logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn node_with(
    seed: u8,
    chain: &str,
    listen: Multiaddr,
    bootstrap: Vec<Multiaddr>,
    limits: Limits,
) -> (Network, NetworkEvents) {
    logs();
    let keypair = keypair_from_seed([seed; 32]).unwrap();
    let mut config = NetworkConfig::new(keypair, listen, chain);
    config.bootstrap = bootstrap;
    config.limits = limits;
    runnet_p2p::start(config).await.unwrap()
}

pub async fn node(seed: u8, bootstrap: Vec<Multiaddr>) -> (Network, NetworkEvents) {
    node_with(seed, CHAIN, loopback(), bootstrap, test_limits()).await
}

pub fn loopback() -> Multiaddr {
    "/ip4/127.0.0.1/tcp/0".parse().unwrap()
}

/// The node's dialable address with its peer id, as a bootstrap entry.
pub fn addr_of(net: &Network) -> Multiaddr {
    let addr = net.listen_addrs().into_iter().next().unwrap();
    format!("{addr}/p2p/{}", net.local_peer_id())
        .parse()
        .unwrap()
}

pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(PATIENCE, async {
        while !condition() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "gave up waiting for: {what}");
}

pub async fn patiently<T>(what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(PATIENCE, future).await {
        Ok(value) => value,
        Err(_) => panic!("gave up waiting for: {what}"),
    }
}

/// Starts `n` nodes with keys from seeds `first..first + n`, each bootstrapping from all the
/// earlier ones, and waits for the full mesh. Tests run in parallel and ports get reused, so
/// each test takes its own seeds: a redial must never find another test's node under a known id.
pub async fn mesh(first: u8, n: u8) -> Vec<(Network, NetworkEvents)> {
    let mut nodes: Vec<(Network, NetworkEvents)> = Vec::new();
    for seed in first..first + n {
        let bootstrap = nodes.iter().map(|(net, _)| addr_of(net)).collect();
        nodes.push(node(seed, bootstrap).await);
    }
    let nets: Vec<Network> = nodes.iter().map(|(net, _)| net.clone()).collect();
    wait_until("full mesh", || {
        nets.iter()
            .all(|net| net.connected_peers().len() == usize::from(n) - 1)
    })
    .await;
    nodes
}
