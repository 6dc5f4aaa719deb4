//! What the driver exchanges with the core: events in, actions out, and the two traits it
//! implements (the environment and the payload source).

use crate::certificates::CertError;
use crate::crypto::Crypto;
#[cfg(test)]
use crate::safety::Flaw;
use crate::safety::{SafetyData, SafetyError};
use runnet_types::consensus::{CommitProof, Committee, ConsensusMessage, Evidence, ProposedBlock};
use runnet_types::genesis::ConsensusParams;
use runnet_types::{Address, Hash};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Static settings of a core.
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub chain_id: String,
    /// The genesis hash: the parent of block 1 and, with the chain id, the first beacon seed.
    pub genesis_hash: Hash,
    pub params: ConsensusParams,
    /// Most batch digests one block may name.
    pub max_block_batches: usize,
    /// Committed blocks per sync response (a response may run a little past it to end on a
    /// block the receiver can commit).
    pub sync_batch_blocks: usize,
    #[cfg(test)]
    pub(crate) flaw: Flaw,
}

impl CoreConfig {
    pub fn new(chain_id: impl Into<String>, genesis_hash: Hash, params: ConsensusParams) -> Self {
        CoreConfig {
            chain_id: chain_id.into(),
            genesis_hash,
            params,
            max_block_batches: 4096,
            sync_batch_blocks: 128,
            #[cfg(test)]
            flaw: Flaw::None,
        }
    }
}

/// What the core asks of the node around it.
pub trait Environment {
    /// The committee of `epoch`, once known. The state machine computes the committee of epoch
    /// e+1 when it executes the last block of epoch e, so `None` is normal until then.
    fn committee(&self, epoch: u64) -> Option<Arc<Committee>>;
    /// The node's keys and the signature and VRF checks.
    fn crypto(&self) -> &dyn Crypto;
    /// A committed block by height (from the driver's store of `Commit` actions), to serve
    /// peers that catch up.
    fn committed_block(&self, height: u64) -> Option<Arc<ProposedBlock>>;
    /// The proof that ended `epoch` (the `proof` of the `Commit` action whose `ends_epoch` was
    /// `Some(epoch)`).
    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof>;
}

/// The mempool, seen from consensus: payloads are opaque lists of batch digests.
pub trait PayloadSource {
    /// Up to `max` batch digests for a new block, skipping `in_flight` (named by uncommitted
    /// ancestors). Empty when there is nothing to order.
    fn next_payload(&mut self, in_flight: &BTreeSet<Hash>, max: usize) -> Vec<Hash>;
    /// Whether every batch is held locally and the block stays within the chain's limits.
    /// When batches are missing, the mempool fetches them and the driver sends
    /// [`Event::PayloadReady`] once they arrive.
    fn check_payload(&mut self, batches: &[Hash]) -> PayloadCheck;
    /// Whether these batches (from [`Self::next_payload`]) come close to the block's limits:
    /// such a block is proposed at once, without waiting out the block pace.
    fn fills_block(&mut self, batches: &[Hash]) -> bool {
        let _ = batches;
        false
    }
}

/// What a voter found of a proposal's batches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PayloadCheck {
    /// Every batch is held, and together they fit the block's limits.
    Ready,
    /// Some are missing and being fetched: wait for [`Event::PayloadReady`].
    Missing,
    /// Held, but more items or bytes than a block may carry: no vote.
    OverLimit { items: usize, bytes: usize },
}

/// A committed block with its beacon values, in height order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommittedBlock {
    pub block: Arc<ProposedBlock>,
    pub hash: Hash,
    /// `seed_h = blake3(seed_{h-1}, vrf_output_h)`.
    pub seed: Hash,
    pub vrf_output: Hash,
}

/// The latest committed block as the driver stored it, to restart from.
#[derive(Clone, Debug)]
pub struct CommittedTip {
    pub block: Arc<ProposedBlock>,
    pub seed: Hash,
    /// The `proof` of the `Commit` action that delivered it.
    pub proof: CommitProof,
}

/// What survived a restart: the safety data (`validator_state.json`) and, unless the block store
/// was wiped, the latest committed block and what the state machine has executed.
#[derive(Clone, Debug, Default)]
pub struct Recovery {
    pub safety: Option<SafetyData>,
    pub tip: Option<CommittedTip>,
    pub executed_height: u64,
    pub executed_state_root: Hash,
}

// Events and actions are built once and moved straight to their consumer: boxing the large
// variants would only add allocations.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// First event after construction (also after a restart).
    Start { now_ms: u64 },
    /// A message from a peer, identified by its validator address.
    Message {
        from: Address,
        message: ConsensusMessage,
        now_ms: u64,
    },
    /// The timer set by the latest [`Action::SetTimer`] went off.
    Timer { now_ms: u64 },
    /// The mempool has something new: a batch to propose, or one a parked proposal was missing.
    PayloadReady { now_ms: u64 },
    /// The state machine executed the block at `height`.
    BlockExecuted {
        height: u64,
        state_root: Hash,
        now_ms: u64,
    },
}

impl Event {
    pub fn now_ms(&self) -> u64 {
        match self {
            Event::Start { now_ms }
            | Event::Message { now_ms, .. }
            | Event::Timer { now_ms }
            | Event::PayloadReady { now_ms }
            | Event::BlockExecuted { now_ms, .. } => *now_ms,
        }
    }
}

#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Send {
        to: Address,
        message: ConsensusMessage,
    },
    /// To every other validator (and node following the chain).
    Broadcast { message: ConsensusMessage },
    /// Write and sync `validator_state.json` before performing the next action.
    PersistSafety(SafetyData),
    /// Blocks committed, in height order, continuing the previous commit. `proof` proves the
    /// last one committed; `ends_epoch` names the epoch this commit ended.
    Commit {
        blocks: Vec<CommittedBlock>,
        proof: CommitProof,
        ends_epoch: Option<u64>,
    },
    /// Replace the pending timer: send [`Event::Timer`] at `at_ms`.
    SetTimer { at_ms: u64 },
    /// A validator equivocated: submit this as an evidence transaction.
    ReportEvidence(Evidence),
    /// This node's state is not the chain's (a committed header claims another state root
    /// than the one computed here): stop the node with this reason. Nothing is signed after.
    Halt { reason: String },
    /// The core refused something of this event: the message (or part of it: a certificate, a
    /// block of a sync response), or a signature its own rules would not give. Nothing to
    /// perform; it tells the driver why, so it can count it and score the peer that sent the
    /// message, without diffing [`Stats::refused`] (which counts the same refusals).
    Refused(Refusal),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the environment knows no committee for epoch {0}")]
    NoCommittee(u64),
    #[error("the committee for epoch {epoch} is for chain {chain}, not this one")]
    WrongCommittee { epoch: u64, chain: String },
}

/// Why an event or part of one was refused: returned as [`Action::Refused`] and counted in
/// [`Stats::refused`]; never a panic.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Refusal {
    #[error("block for another chain")]
    WrongChain,
    #[error("message of past epoch {got} (current {current})")]
    StaleEpoch { got: u64, current: u64 },
    #[error("message of future epoch {got} (current {current})")]
    FutureEpoch { got: u64, current: u64 },
    #[error("the epoch ended; waiting for the next committee")]
    EpochEnded,
    #[error("{0} is not in the committee")]
    NotInCommittee(Address),
    #[error("bad {0} signature")]
    BadSignature(&'static str),
    #[error("bad certificate: {0}")]
    Cert(#[from] CertError),
    #[error("proposer is not the leader of round {round}")]
    NotLeader { round: u64 },
    #[error("round {round} is behind the current round {current}")]
    StaleRound { round: u64, current: u64 },
    #[error("round {round} is ahead of the current round {current} without a certificate")]
    FutureRound { round: u64, current: u64 },
    #[error("parent {0} unknown; fetching it")]
    MissingParent(Hash),
    #[error("malformed block: {0}")]
    BadBlock(&'static str),
    #[error("VRF proof does not verify")]
    BadVrf,
    #[error("{0} batches is more than a block may name")]
    TooManyBatches(usize),
    #[error("too many uncommitted blocks")]
    TreeFull,
    #[error("too many blocks for round {0}")]
    TooManyInRound(u64),
    #[error("vote for round {round} sent to a validator that does not lead round {round}+1")]
    NotNextLeader { round: u64 },
    #[error("timeout's certificate does not match its round")]
    TimeoutCertMismatch,
    #[error("sync response too large")]
    TooLarge,
    #[error("safety rule: {0}")]
    Safety(#[from] SafetyError),
    #[error("block carries {items} items in {bytes} bytes of batches, over the block's limits")]
    OverLimit { items: usize, bytes: usize },
    #[error("header claims a state root at height {height} that differs from ours")]
    WrongStateRoot { height: u64 },
    #[error("the block's timestamp is {ahead_ms} ms ahead of our clock, past the allowed drift")]
    TimestampAhead { ahead_ms: u64 },
}

impl Refusal {
    /// A stable name for counting.
    pub fn kind(&self) -> &'static str {
        match self {
            Refusal::WrongChain => "wrong_chain",
            Refusal::StaleEpoch { .. } => "stale_epoch",
            Refusal::FutureEpoch { .. } => "future_epoch",
            Refusal::EpochEnded => "epoch_ended",
            Refusal::NotInCommittee(_) => "not_in_committee",
            Refusal::BadSignature(_) => "bad_signature",
            Refusal::Cert(_) => "bad_certificate",
            Refusal::NotLeader { .. } => "not_leader",
            Refusal::StaleRound { .. } => "stale_round",
            Refusal::FutureRound { .. } => "future_round",
            Refusal::MissingParent(_) => "missing_parent",
            Refusal::BadBlock(_) => "bad_block",
            Refusal::BadVrf => "bad_vrf",
            Refusal::TooManyBatches(_) => "too_many_batches",
            Refusal::TreeFull => "tree_full",
            Refusal::TooManyInRound(_) => "too_many_in_round",
            Refusal::NotNextLeader { .. } => "not_next_leader",
            Refusal::TimeoutCertMismatch => "timeout_cert_mismatch",
            Refusal::TooLarge => "too_large",
            Refusal::Safety(_) => "safety_rule",
            Refusal::OverLimit { .. } => "over_limit",
            Refusal::WrongStateRoot { .. } => "wrong_state_root",
            Refusal::TimestampAhead { .. } => "timestamp_ahead",
        }
    }
}

/// Counters for metrics and tests.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub proposals: u64,
    pub votes: u64,
    pub timeouts: u64,
    pub qcs_formed: u64,
    /// Votes that arrived after this node formed their certificate and were counted into it
    /// before the proposal on it.
    pub late_votes: u64,
    pub tcs_formed: u64,
    pub blocks_committed: u64,
    pub evidence: u64,
    pub sync_requests: u64,
    pub sync_served: u64,
    pub refused: BTreeMap<&'static str, u64>,
    /// The latest refusal, for tests and logs.
    pub last_refusal: Option<Refusal>,
}
