//! Disk stays bounded: with `[storage] retain_blocks`, blocks far behind the tip are deleted, the
//! node goes on, and it restarts from what it kept.

mod common;

use common::Net;
use std::time::Duration;

#[test]
fn old_blocks_are_pruned_and_the_node_restarts_from_what_it_kept() {
    let mut net = Net::init_with(1, 0, 0, |opts| {
        opts.consensus.empty_block_interval_ms = 50;
    });
    let config = net.home(0).join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(text.contains("retain_blocks = 100000"), "{text}");
    std::fs::write(
        &config,
        text.replace("retain_blocks = 100000", "retain_blocks = 20"),
    )
    .unwrap();
    net.start(0);
    net.wait("60 blocks", Duration::from_secs(60), |n| n.height(0) >= 60);

    let height = net.height(0);
    let old = net.client(0).get("/v1/block/3").unwrap_err();
    assert!(
        matches!(
            old,
            runnet_node::client::ClientError::Refused { status: 404, .. }
        ),
        "block 3 should be pruned: {old}"
    );
    let recent = net
        .client(0)
        .get(&format!("/v1/block/{}", height - 5))
        .unwrap();
    assert_eq!(recent["height"], height - 5);
    assert!(recent["state_root"].is_string());

    // SIGKILL and restart: the tip and the state survive pruning.
    net.kill(0);
    net.start(0);
    net.wait("progress after restart", Duration::from_secs(60), |n| {
        n.height(0) >= height + 10
    });
    let old = net.client(0).get("/v1/block/10").unwrap_err();
    assert!(matches!(
        old,
        runnet_node::client::ClientError::Refused { status: 404, .. }
    ));
}
