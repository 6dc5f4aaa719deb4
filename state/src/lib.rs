//! runnet's deterministic state transition and its authenticated storage.
//!
//! [`Executor`] applies committed blocks to the state of ECONOMY.md: pre-checks that skip a
//! transaction, gas paid to the proposer, and the rules of each payload, then the end-of-block
//! steps, and commits the block's writes as one atomic batch to a [`store::Store`] whose Merkle root
//! commits to the whole state. It is a pure function of (state, block): no clock, no randomness
//! beyond the beacon's seed, no floating point, no hash-map order in anything committed, and
//! checked arithmetic throughout. The same blocks give the same root on RocksDB and in memory.

mod apply;
pub mod bundle;
pub mod draw;
mod execution;
pub mod executor;
pub mod keys;
pub mod objects;
mod overlay;
pub mod receipt;
pub mod store;

pub use executor::{
    BlockContext, BlockOutcome, ExecError, Executor, Proved, Signatures, SupplyAudit,
};
pub use objects::{
    Account, Execution, ExecutionStatus, Runner, RunnerStatus, Service, Validator, ValidatorSet,
    ValidatorStatus,
};
pub use receipt::{ErrorCode, Outcome, Receipt, SkipReason};
