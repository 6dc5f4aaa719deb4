//! Attacks you can run (issue 14): `runnet testnet up --byzantine I:MODE` against the real
//! binary, one run per attack, 4 validators (and one full node for the stranger's junk). The
//! attack starts halfway through; at the end the honest nodes' blocks and state roots agree,
//! they kept committing, their stores stayed within bounds, and the defence the attack aims at
//! shows in their counters (refused, scored, slashed).

mod common;

use common::{Net, random_address};
use runnet_testnet::UpArgs;
use runnet_testnet::byzantine::{AttackReport, ByzantineSpec};
use runnet_types::SecretKey;
use runnet_types::consensus::{ConsensusMessage, MessageBody, SyncRequest};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

/// Seconds of each run (the attack runs the second half).
const RUN_S: u64 = 30;

/// Runs `testnet up` with `specs`, checks what every attack must keep, returns its report.
fn attack(slot: u16, full_nodes: usize, specs: &[&str]) -> AttackReport {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runnet"));
    // Ports of their own: below testnet_up.rs's (10,000..18,000) and above nothing else.
    let base_port = 18_000 + (std::process::id() % 50) as u16 * 120 + slot * 20;
    let args = UpArgs {
        validators: 4,
        full_nodes,
        duration: Some(RUN_S),
        load: 100,
        mix: "transfer=100".into(),
        base_port,
        byzantine: specs
            .iter()
            .map(|s| s.parse::<ByzantineSpec>().unwrap())
            .collect(),
        ..UpArgs::default()
    };
    let stop = AtomicBool::new(false);
    let summary = runnet_testnet::up::run_up(&binary, &args, &stop).unwrap();
    let line = summary.to_json_line();
    println!("{}", summary.to_text());
    assert!(summary.safety_ok, "{line}");
    assert!(summary.roots_agree, "{line}");
    assert!(summary.heights_compared > 5, "{line}");
    let bounds = summary.bounds.clone().expect("bounds");
    assert!(bounds.within, "{line}");
    let report = summary.attacks.first().cloned().expect("an attack report");
    assert!(
        report.sent.values().sum::<u64>() > 0,
        "the attacker did nothing: {line}"
    );
    assert!(
        report.before.blocks > 0 && report.during.blocks > 0,
        "{line}"
    );
    // With the workload under capacity, the honest nodes commit what is offered: the rate
    // kept is the share of the first half's transactions per second.
    assert!(report.kept_txs >= 0.8, "kept {}: {line}", report.kept_txs);
    report
}

#[test]
fn junk_batches_from_a_validator_are_refused_and_scored() {
    let r = attack(0, 0, &["3:junk-batches"]);
    let refused: u64 = r.refused_batches.values().sum();
    assert!(refused > 0, "{r:?}");
    assert!(r.offences > 0, "{r:?}");
}

#[test]
fn junk_batches_from_a_full_node_are_relayed_once() {
    let r = attack(1, 1, &["4:junk-batches"]);
    assert!(!r.validator);
    // Its batches never reach the store: their one transaction is relayed, not stored.
    assert!(r.refused_batches.is_empty(), "{r:?}");
    assert!(r.txs_relayed >= 1, "{r:?}");
}

#[test]
#[ignore = "flaky (failed 2 runs in 4 on 2026-12-07): the poisoner gets one proposal before leader reputation excludes it, and that one is sometimes refused for its round or epoch before its batches are sized; the consensus test a_block_over_the_limits_gets_no_vote holds the rule meanwhile (issue 14 note)"]
fn poisoned_blocks_are_refused_over_the_limit() {
    let r = attack(2, 0, &["3:poison-block"]);
    // Sized over the limits when its batches arrived (no signature checked), and refused by
    // the core if the round is still on by then (a debug build may take past the 1 s round
    // timeout to move 8 MB).
    let refused = |k: &str| r.refused_consensus.get(k).copied().unwrap_or(0);
    assert!(refused("over_limit_unverified") > 0, "{r:?}");
    assert!(
        r.sent.get("poison-block").copied().unwrap_or(0) > 0,
        "{r:?}"
    );
}

#[test]
fn an_equivocator_is_slashed_and_jailed() {
    let r = attack(3, 0, &["3:equivocate"]);
    assert!(r.double_sign_slashes >= 1, "{r:?}");
    assert!(
        r.status.as_deref().is_some_and(|s| s.contains("jailed")),
        "{r:?}"
    );
    assert!(r.stake_after < r.stake_before, "{r:?}");
}

#[test]
fn a_fetch_and_sync_flood_is_refused_and_scored() {
    let r = attack(4, 0, &["3:fetch-flood"]);
    assert!(r.syncs_refused > 0, "{r:?}");
    assert!(r.offences > 0, "{r:?}");
}

#[test]
fn withheld_batches_only_cost_the_withholders_rounds() {
    let r = attack(5, 0, &["3:withhold"]);
    assert!(r.sent.get("withhold").copied().unwrap_or(0) > 0, "{r:?}");
}

/// The sync budget (failing before it: a peer's sync requests were all served, and a loop of
/// them cost it nothing).
#[test]
fn a_loop_of_sync_requests_is_budgeted_and_costs_the_sender() {
    let mut net = Net::init(1, 0, 41);
    net.start(0);
    net.wait("the validator to commit", Duration::from_secs(60), |n| {
        n.height(0) >= 3
    });
    let stranger = SecretKey::from_seed([91; 32]);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let penalty = runtime.block_on(async {
        let network = net.link_peer(0, &stranger).await;
        let peer = network.connected_peers()[0];
        // Any sync info: the request is budgeted before the core reads it.
        let sync = runnet_types::consensus::SyncInfo {
            highest_qc: runnet_types::consensus::QuorumCert::root(0, runnet_types::Hash::ZERO, 0),
            highest_tc: None,
            highest_commit: runnet_types::consensus::QuorumCert::root(
                0,
                runnet_types::Hash::ZERO,
                0,
            ),
        };
        for _ in 0..200 {
            let message = ConsensusMessage {
                sync: sync.clone(),
                body: MessageBody::SyncRequest(SyncRequest {
                    epoch: 0,
                    committed_height: 0,
                }),
            };
            network.send_consensus(peer, Arc::new(message.encode()));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        network.connected_peers().len()
    });
    // A burst is served, the rest dropped, and once past the tolerance each one costs the
    // sender: 50 over-rate offences ban it, and what it sends after that is never read.
    let refused = net.metric(0, "runnet_syncs_refused_total").unwrap_or(0.0);
    assert!((50.0..200.0).contains(&refused), "refused {refused}");
    assert!(net.metric(0, "runnet_peer_offences_total").unwrap_or(0.0) >= 1.0);
    assert_eq!(penalty, 0, "the flooding peer was not dropped");
    // The chain goes on.
    let faucet = net.faucet();
    let next = net.submit(
        0,
        &faucet,
        runnet_types::Payload::Transfer {
            to: random_address(3),
            amount: 5,
        },
    );
    net.succeeded(0, &next, Duration::from_secs(30));
}
