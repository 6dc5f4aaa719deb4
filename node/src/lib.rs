//! The runnet node: the `runnet` binary a validator runs, and the command line users drive.
//!
//! It wires the crates together (ARCHITECTURE.md): the mempool admits transactions from the API
//! and disseminates batches over `p2p`; the sans-IO `consensus` core orders blocks of batch
//! digests, driven by a tokio task; committed blocks go to RocksDB and the `state` machine
//! executes them in order on their own thread. The agent (agent/) does the work of the node's
//! `[[runner]]` sections after each executed block, and counts the market's settlements. The home
//! folder (home.rs) holds the config, genesis, keys, the safety data and `data/`.
//! docs/operator.md is the operator's guide, docs/runners.md the runner's.

pub mod agent;
pub mod api;
pub mod blockstore;
pub mod byzantine;
pub mod cli;
pub mod client;
pub mod config;
pub mod driver;
pub mod evidence;
pub mod execution;
pub mod home;
pub mod init;
pub mod metrics;
pub mod peers;
pub mod runtime;
pub mod serve;
pub mod sync_serve;
pub mod verifier;

use config::LogFormat;

/// Logs to stderr through tracing; `RUST_LOG` overrides the config's level.
pub fn init_logging(level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    // Colour codes only for a terminal: logs redirected to a file stay plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
