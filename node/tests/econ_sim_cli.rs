//! `runnet econ-sim` from the binary: a short run prints every strategy's row, and a bad flag is
//! a clear error.

use std::process::Command;

fn econ_sim(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_runnet"))
        .arg("econ-sim")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_short_run_prints_every_strategy_and_bad_flags_are_refused() {
    let (code, out, err) = econ_sim(&["--seed", "3", "--blocks", "150"]);
    assert_eq!(code, 0, "{out}{err}");
    for strategy in ["honest", "wrong result", "withholds its reveal", "down 5%"] {
        assert!(out.contains(strategy), "no row for {strategy}:\n{out}");
    }
    let (code, out, err) = econ_sim(&["--blocks", "many"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("--blocks"), "{err}");
}
