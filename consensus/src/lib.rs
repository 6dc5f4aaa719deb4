//! runnet's consensus: chained HotStuff with the 2-chain commit rule (the DiemBFT v4 / Jolteon
//! family), as a sans-IO state machine plus the deterministic simulator that tests it.
//!
//! The [`Core`] orders blocks of batch digests. It takes [`Event`]s (a peer's message, a timer, a
//! payload becoming ready, a block executed) and returns [`Action`]s (send, broadcast, persist the
//! safety data, commit blocks, set a timer, report evidence); it owns no socket, clock or disk,
//! so the node's tokio driver and the [`sim`] run exactly the same code. Safety rests on the rules
//! in [`safety`] and on their data reaching the disk before any vote leaves; liveness on the
//! [`pacemaker`]. Votes weigh by stake, leaders rotate by stake ([`leader`]), and each epoch's
//! committee comes from the state machine through the [`Environment`]. docs/consensus.md tells
//! the protocol and its safety argument in plain words.
//!
//! Inside, the core is split by job into rooms that each own their state (`core/mod.rs` lists
//! them and the invariants they share); what the simulator's byzantine validators use to forge
//! blocks lives apart from the honest type, in `byzantine.rs`.

mod byzantine;
pub mod certificates;
mod core;
pub mod crypto;
mod equivocation;
pub mod leader;
pub mod pacemaker;
pub mod reputation;
pub mod safety;
pub mod sim;
mod tree;

#[cfg(test)]
mod tests;

pub use crate::core::{
    Action, CommittedBlock, CommittedTip, Core, CoreConfig, Environment, Event, PayloadCheck,
    PayloadSource, Recovery, Refusal, StartError, Stats,
};
pub use crate::crypto::{Crypto, Ed25519Crypto, TestCrypto};
pub use crate::equivocation::{EQUIVOCATION_WINDOW, in_window};
pub use crate::safety::{SafetyData, SafetyError, SafetyFileError, SafetyRules, write_atomic};
pub use crate::sim::{Report, SimConfig, simulate};
