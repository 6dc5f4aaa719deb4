//! `runnet bench` end to end against the real binary, kept short: one raw run at a low rate and
//! its run at twice that rate, on one validator, with every run's network kept (`--keep`).

use runnet_testnet::{BenchArgs, PayloadMode};
use std::path::PathBuf;

#[test]
fn a_short_raw_bench_writes_its_results_and_keeps_its_networks() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runnet"));
    let dir = tempfile::tempdir().unwrap();
    // Between `testnet up`'s test (10,000–18,000) and the other node tests (from 20,000).
    let base_port = 18_100 + (std::process::id() % 100) as u16 * 16;
    let keep = dir.path().join("keep");
    let args = BenchArgs {
        payload: PayloadMode::Raw,
        validators: 1,
        out: dir.path().join("out"),
        run_secs: 4,
        warmup_secs: 1,
        start_rate: Some(2_000),
        max_points: 1,
        base_port,
        keep: Some(keep.clone()),
        ..BenchArgs::default()
    };
    let results = runnet_testnet::bench(&binary, &args).unwrap();
    let rates: Vec<u64> = results.points.iter().map(|p| p.input_rate).collect();
    assert_eq!(rates, [2_000, 4_000], "one rising run, then twice its rate");
    for point in &results.points {
        assert!(point.tps > 0.0, "{point:?}");
        assert!(point.latency_ms.p50 > 0.0, "{point:?}");
    }
    for file in ["results.json", "results.md", "curve.png"] {
        assert!(dir.path().join("out").join(file).is_file(), "{file}");
    }
    for run in ["run-1", "run-2"] {
        let log = keep.join(run).join("node0").join("node.log");
        assert!(log.is_file(), "{} is kept", log.display());
    }
    assert!(!keep.join("run-3").exists());
}
