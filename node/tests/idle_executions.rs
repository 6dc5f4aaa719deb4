//! On an idle network every execution of an honest market must end `completed`: verified by
//! the drawn verifiers, not `completed_unverified`, not `expired`. A 4-validator network from
//! `runnet testnet init` with the chain's default genesis (its own commit and reveal windows),
//! an honest runner of the example arith service on every validator (as `testnet up` and
//! `runnet bench --payload execution` set them up), and 20 executions requested one after
//! another through `runnet tx execution request --wait`, with no other load.

use runnet_testnet::bench::market;
use runnet_testnet::network::{NetOptions, Network};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const EXECUTIONS: i64 = 20;

/// Agent log lines that say why a duty was not done in time.
fn agent_trouble(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("agent")
                && (l.contains("WARN")
                    || l.contains("ERROR")
                    || l.contains("refused")
                    || l.contains("WrongPhase")
                    || l.contains("wrong_phase")
                    || l.contains("late"))
        })
        .collect()
}

fn request(binary: &Path, node: &str, key: &Path, service: &str, a: i64) -> (String, Value) {
    let inputs = format!("{{\"a\": {a}, \"b\": 22}}");
    let output = Command::new(binary)
        .args(["tx", "execution", "request", "--service", service, "--task"])
        .arg(market::TASK)
        .args(["--inputs", &inputs, "--max-fee", "100000", "--key"])
        .arg(key)
        .args(["--node", node, "--wait", "--wait-seconds", "120", "--json"])
        .output()
        .expect("run runnet tx execution request");
    let stdout = String::from_utf8_lossy(&output.stdout);
    // Exit 1 for an execution that did not complete: its JSON is printed all the same.
    let answer = stdout
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("execution").is_some())
        .unwrap_or_else(|| {
            panic!(
                "execution {a}: no JSON answer; stdout {stdout}; stderr {}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    let id = answer["execution"].as_str().unwrap_or_default().to_string();
    (id, answer)
}

#[test]
fn twenty_executions_on_an_idle_network_all_end_completed() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runnet"));
    // Above `runnet bench`'s tests (18,100–19,980), below the other node tests (from 20,000).
    let base_port = 19_990;
    let mut network = Network::launch(
        &binary,
        &NetOptions {
            validators: 4,
            base_port,
            keep: None,
            relay: false,
            allow_raw: false,
            chain_id: "runnet-idle".into(),
            mempool: Vec::new(),
            // The chain's default genesis: its own windows, as a real network has them.
            genesis_params: Vec::new(),
            full_nodes: 0,
            byzantine: Default::default(),
        },
    )
    .unwrap();
    network.wait_ready(Duration::from_secs(120)).unwrap();
    let service = market::start_runners(&binary, &mut network).unwrap();
    let node = network.init.nodes[0].api.clone();
    let faucet = network.init.faucet_key.clone();

    let mut outcomes = Vec::new();
    for a in 0..EXECUTIONS {
        let (id, answer) = request(&binary, &node, &faucet, &service, a);
        let status = answer["status"].as_str().unwrap_or("?").to_string();
        eprintln!("execution {a} ({id}): {status}");
        outcomes.push((id, status, answer));
    }
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for (_, status, _) in &outcomes {
        *counts.entry(status.clone()).or_default() += 1;
    }
    let failed: Vec<&(String, String, Value)> = outcomes
        .iter()
        .filter(|(_, status, _)| status != "completed")
        .collect();
    if !failed.is_empty() {
        for (id, status, answer) in &failed {
            eprintln!("execution {id} ended {status}: {}", answer["final"]);
        }
        for (i, n) in network.nodes.iter().enumerate() {
            let log = std::fs::read_to_string(n.log_path()).unwrap_or_default();
            let trouble = agent_trouble(&log);
            eprintln!("node{i}: {} agent warnings; the last ones:", trouble.len());
            for line in trouble.iter().rev().take(15).rev() {
                eprintln!("  {line}");
            }
        }
    }
    network.stop(Duration::from_secs(5));
    assert_eq!(
        counts.get("completed").copied().unwrap_or(0),
        EXECUTIONS as usize,
        "every execution on an idle network ends completed (verified); got {counts:?}"
    );
}
