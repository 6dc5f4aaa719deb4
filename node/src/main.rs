//! The `runnet` binary.

use clap::Parser;
use runnet_node::cli::{Cli, Command, TestnetCommand};
use runnet_node::home::Home;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let json = cli.json;
    match &cli.command {
        Command::Start { home } => return start(Home::new(home)),
        Command::Testnet(TestnetCommand::Up(args)) => {
            return finish(runnet_testnet::up(&own_binary(), args).map(|_| ()));
        }
        Command::Testnet(TestnetCommand::Load(args)) => {
            return finish(
                runnet_testnet::load(args)
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
            );
        }
        Command::Bench(args) => {
            return finish(runnet_testnet::bench(&own_binary(), args).map(|_| ()));
        }
        _ => {}
    }
    match runnet_node::cli::run(cli) {
        Ok(out) => {
            if json {
                print(&out.json.to_string());
            } else {
                print(&out.text);
            }
            match out.failure {
                None => ExitCode::SUCCESS,
                Some(reason) => {
                    eprintln!("error: {reason}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Prints a command's answer. A reader that closes the pipe early (`| head -1`) has what it
/// wanted: that is not a failure, and must not be a panic.
fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

/// The testnet and bench commands start nodes and load generators as this same binary.
fn own_binary() -> std::path::PathBuf {
    std::env::current_exe().unwrap_or_else(|_| "runnet".into())
}

/// These commands print their own output; only an error is left to report.
fn finish<E: std::fmt::Display>(result: Result<(), E>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn start(home: Home) -> ExitCode {
    let loaded = match runnet_node::runtime::load(&home) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    runnet_node::init_logging(&loaded.config.log.level, loaded.config.log.format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("runnet")
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(runnet_node::runtime::run(loaded)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
