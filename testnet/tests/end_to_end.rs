//! `up` against the real binary: 4 validators for about 30 s with a workload and the default
//! faults, then the summary's own safety checks. Ignored by default (it needs the `runnet`
//! binary built and takes a minute); run it by hand:
//!
//! ```text
//! cargo build -p runnet-node
//! cargo test -p runnet-testnet --test end_to_end -- --ignored --nocapture
//! ```
//!
//! `RUNNET_BIN` names the binary (default `target/debug/runnet` of the workspace). The workload
//! runs through `RUNNET_LOAD_BIN testnet load`, by default this crate's `testnet_tool` example,
//! so the test does not depend on the node having wired `testnet load` yet.

use runnet_testnet::UpArgs;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

fn binary() -> PathBuf {
    std::env::var_os("RUNNET_BIN").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/debug/runnet"),
        PathBuf::from,
    )
}

fn load_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("RUNNET_LOAD_BIN") {
        return Some(PathBuf::from(p));
    }
    // target/debug/deps/end_to_end-HASH -> target/debug/examples/testnet_tool
    let exe = std::env::current_exe().ok()?;
    let candidate = exe.parent()?.parent()?.join("examples/testnet_tool");
    candidate.exists().then_some(candidate)
}

#[test]
#[ignore = "needs the runnet binary; about a minute"]
fn up_with_default_faults_stays_safe_and_commits() {
    let binary = binary();
    assert!(
        binary.exists(),
        "build the node first: {} is missing",
        binary.display()
    );
    let args = UpArgs {
        validators: 4,
        duration: Some(30),
        load: 100,
        faults: Some("default".into()),
        base_port: 28600,
        load_binary: load_binary(),
        ..UpArgs::default()
    };
    let stop = AtomicBool::new(false);
    let summary = runnet_testnet::up::run_up(&binary, &args, &stop).unwrap();
    println!("{}", summary.to_json_line());
    assert!(summary.safety_ok, "{:?}", summary.problems);
    assert!(summary.roots_agree, "{:?}", summary.problems);
    assert!(summary.heights_compared > 10);
    assert!(summary.txs_committed > 0);
    assert_eq!(summary.faults.len(), 4);
    // Every node (the killed one restarted, the partitioned one healed) kept up to the end.
    let heights: Vec<u64> = summary.heights.iter().flatten().copied().collect();
    assert_eq!(heights.len(), 4);
}
