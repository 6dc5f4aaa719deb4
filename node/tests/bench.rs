//! `runnet bench` end to end against the real binary, kept short: one raw run at a low rate and
//! its run at twice that rate, on one validator, with every run's network kept (`--keep`);
//! and one short execution run on four validators with runners.

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

/// The market's benchmark, kept short: 4 validators each running an honest arith runner, one
/// run at 2 executions a second and its run at twice that, every request followed to its final
/// status.
#[test]
fn a_short_execution_bench_settles_executions_and_writes_its_results() {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_runnet"));
    let dir = tempfile::tempdir().unwrap();
    // Above the raw test's ports (18,100–19,700), below the idle test's (19,990).
    let base_port = 19_700 + (std::process::id() % 14) as u16 * 20;
    let out = dir.path().join("out");
    let args = BenchArgs {
        payload: PayloadMode::Execution,
        validators: 4,
        out: out.clone(),
        run_secs: 8,
        warmup_secs: 2,
        start_rate: Some(2),
        max_points: 1,
        base_port,
        ..BenchArgs::default()
    };
    let results = runnet_testnet::bench(&binary, &args).unwrap();
    let rates: Vec<u64> = results.points.iter().map(|p| p.input_rate).collect();
    assert_eq!(rates, [2, 4], "one rising run, then twice its rate");
    let settled: u64 = results
        .points
        .iter()
        .filter_map(|p| p.execution.as_ref())
        .flat_map(|e| e.statuses.values())
        .sum();
    assert!(settled > 0, "executions settled: {:?}", results.points);
    assert!(
        results
            .points
            .iter()
            .any(|p| p.tps > 0.0 && p.latency_ms.p50 > 0.0)
    );

    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(json["payload"], "execution");
    assert_eq!(json["validators"], 4);
    let points = json["points"].as_array().unwrap();
    assert_eq!(points.len(), 2);
    for point in points {
        for key in ["input_rate", "sent_rate", "tps"] {
            assert!(point[key].is_number(), "{key}: {point}");
        }
        assert!(point["latency_ms"]["p50"].is_number() && point["latency_ms"]["p99"].is_number());
        let execution = &point["execution"];
        assert!(execution["settled_rate"].is_number(), "{point}");
        assert!(execution["statuses"].is_object(), "{point}");
        assert!(execution["unsettled_at_end"].is_number(), "{point}");
    }
    for file in ["results.md", "curve.png"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let md = std::fs::read_to_string(out.join("results.md")).unwrap();
    assert!(md.contains("completed /s"), "{md}");
}
