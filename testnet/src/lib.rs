//! Local runnet networks for researchers and benchmarkers: `runnet testnet up`, `runnet bench`
//! and the load generator behind both (`runnet testnet load`).
//!
//! Everything here drives the `runnet` binary as separate processes and talks to the nodes over
//! their HTTP API (docs/operator.md), so what is measured is the real node; only
//! `runnet-types` is linked, to sign transactions. Between the nodes sits the fault relay, a
//! loopback TCP proxy per directed link that can cut, delay and slow links on a schedule.
//! Child processes never outlive the launcher.

pub mod api;
pub mod bench;
pub mod byzantine;
pub mod economy;
pub mod error;
pub mod hist;
pub mod load;
pub mod network;
mod plot;
pub mod process;
pub mod relay;
pub mod schedule;
pub mod summary;
pub mod up;
pub mod workload;

pub use bench::{BenchArgs, BenchResults, bench};
pub use error::TestnetError;
pub use load::{LoadArgs, LoadReport, PayloadMode, load};
pub use summary::UpSummary;
pub use up::{UpArgs, up};
