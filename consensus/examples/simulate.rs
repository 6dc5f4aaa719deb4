//! Runs the consensus simulator over many seeds and prints a summary line ending in
//! `seeds=N violations=V`; exits 1 when V > 0, 2 on bad arguments.
//!
//! cargo run --release -p runnet-consensus --example simulate -- --validators 4 --seeds 1000 --byzantine 1

use runnet_consensus::sim::{USAGE, parse_args, simulate};
use std::process::ExitCode;

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let report = simulate(&config);
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wall={seconds:.1}s ({:.1} seeds/s) {}",
        report.seeds as f64 / seconds.max(1e-9),
        report.summary_line()
    );
    if report.violations > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
