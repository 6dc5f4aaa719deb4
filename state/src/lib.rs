//! runnet's deterministic state transition and its authenticated storage.
//!
//! [`Executor`] applies committed blocks to the state of docs/economy.md: pre-checks that skip a
//! transaction, gas paid to the proposer, and the rules of each payload (accounts, staking and
//! evidence, services, runners, executions, processes and their events), then the end-of-block
//! steps (draws, deadlines, process walks, releases and epochs, pruning), and commits the block's
//! writes as one atomic batch to a [`store::Store`] whose Merkle root commits to the whole state.
//! It also answers consensus: the committee of each epoch. It is a pure function of (state,
//! block): no clock, no randomness beyond the beacon's seed, no floating point, no hash-map order
//! in anything committed, and checked arithmetic throughout. The same blocks give the same root on RocksDB and in memory.

mod apply;
pub mod bundle;
mod definitions;
pub mod draw;
pub mod epochs;
mod events;
mod evidence;
mod execution;
pub mod executor;
pub mod keys;
mod liveness;
pub mod objects;
mod overlay;
mod process;
pub mod receipt;
mod skip_fee;
pub mod store;
mod walk;

/// Random audits of settled WebAssembly executions (docs/economy.md, "Audits").
pub use execution::audit::{audit_drawn, audit_pool_address};
pub use executor::{
    BlockBatch, BlockContext, BlockOutcome, ExecError, Executor, Proved, Signatures, SupplyAudit,
};
pub use objects::{
    Account, EventRecord, Execution, ExecutionStatus, Process, ProcessStatus, Runner, RunnerStatus,
    Service, SkipCause, Validator, ValidatorLiveness, ValidatorSet, ValidatorStatus, WalkReport,
    WalkSkip,
};
pub use receipt::{ErrorCode, Outcome, Receipt, SkipReason};
