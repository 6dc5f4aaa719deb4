//! The testnet commands without the node binary's CLI, for trying them before they are wired
//! into `runnet`: `testnet_tool --runnet PATH testnet up|load ...` and `... bench ...`.
//! Pass `--load-binary` pointing at this example so the workload runs through it too.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
struct Cli {
    /// The runnet binary whose nodes to run.
    #[arg(long, global = true, default_value = "target/debug/runnet")]
    runnet: PathBuf,
    #[command(subcommand)]
    command: Top,
}

#[derive(Subcommand)]
enum Top {
    #[command(subcommand)]
    Testnet(Testnet),
    Bench(runnet_testnet::BenchArgs),
}

#[derive(Subcommand)]
enum Testnet {
    Up(runnet_testnet::UpArgs),
    Load(runnet_testnet::LoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Top::Testnet(Testnet::Up(args)) => runnet_testnet::up(&cli.runnet, args).map(|_| ()),
        Top::Testnet(Testnet::Load(args)) => runnet_testnet::load(args)
            .map(|_| ())
            .map_err(|e| runnet_testnet::TestnetError::Load(e.to_string())),
        Top::Bench(args) => runnet_testnet::bench(&cli.runnet, args).map(|_| ()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
