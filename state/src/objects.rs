//! The objects of the state (docs/economy.md, "Objects") as they are stored: canonical encodings of
//! these structs under the keys of [`crate::keys`].

use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::process::ProcessDefinition;
use runnet_types::service::Bundle;
use runnet_types::{Address, Amount, Hash, PublicKey, VrfPublicKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub balance: Amount,
    /// The nonce the account's next transaction must carry.
    pub nonce: u64,
    /// Where its nonce stood at the start of the epochs it last moved in (the skip fee's recent
    /// floor, docs/economy.md): kept in the account, which every transaction reads and writes
    /// anyway, so the floor costs no read of its own. `None` until the nonce first moves.
    #[serde(default)]
    pub nonce_marks: Option<NonceMarks>,
}

/// A sender's nonce at the start of the epoch in which it last moved, and at the start of the
/// epoch before that. Written when the nonce first moves in an epoch; its recent floor (the
/// nonce at the start of the previous epoch) follows from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NonceMarks {
    pub epoch: u64,
    pub start: u64,
    pub previous: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorStatus {
    Active,
    /// Has unbonded all its stake; the tokens come back at their release heights.
    Unbonding,
    /// Out of the validator set until chain time `until` (ms); returns with an Unjail
    /// transaction in a block stamped at or after it.
    Jailed {
        until: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Validator {
    pub address: Address,
    pub consensus_key: PublicKey,
    pub vrf_key: VrfPublicKey,
    pub peer_id: String,
    /// Bonded stake: what counts for the next epoch's set.
    pub stake: Amount,
    /// Unbonded but not yet released: still slashable.
    pub unbonding: Amount,
    pub status: ValidatorStatus,
}

/// One member of an epoch's validator set, as consensus needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSetMember {
    pub address: Address,
    pub consensus_key: PublicKey,
    pub vrf_key: VrfPublicKey,
    pub peer_id: String,
    pub stake: Amount,
}

/// The validators of an epoch, sorted by stake descending then address ascending.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorSet {
    pub epoch: u64,
    /// The first height this set orders.
    pub start_height: u64,
    /// The epoch's last block is its first block stamped at or after this chain time (the
    /// previous epoch's last block's timestamp plus `epoch_ms`; for epoch 0 the genesis time
    /// plus `epoch_ms`).
    pub ends_at_ms: u64,
    /// Once the epoch has ended: the height and chain time of its last block.
    pub ended: Option<EpochEnd>,
    pub members: Vec<ValidatorSetMember>,
}

/// Where an epoch ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochEnd {
    pub height: u64,
    pub timestamp_ms: u64,
}

impl ValidatorSet {
    pub fn total_stake(&self) -> u128 {
        self.members.iter().map(|m| u128::from(m.stake)).sum()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: Hash,
    pub owner: Address,
    /// Canonical JSON of the definition, as published.
    pub definition: Vec<u8>,
    pub bundle_digest: Hash,
    /// Whether the bundle is a WebAssembly module stored on chain (under its digest) or an
    /// external program.
    pub wasm: bool,
    pub published_at: u64,
}

/// Where a bundle's bytes live: WebAssembly on chain, external programs by digest only.
pub fn stored_bundle(bundle: &Bundle) -> Option<&[u8]> {
    match bundle {
        Bundle::Wasm(bytes) => Some(bytes),
        Bundle::External { .. } => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunnerStatus {
    Active,
    /// Takes no new work; its stake returns `runner_unbonding_ms` after its last duty.
    Leaving,
    /// Its stake has been returned (or slashed away). It may register again.
    Left,
    /// Missed more than `max_missed_duties` of its last `duty_window` duties: takes no new work
    /// (no assignment, no verifier draw, no event quorum) until its owner sends UnjailRunner in
    /// a block stamped at or after chain time `until` (ms). It still finishes the duties it holds. Appended: the canonical
    /// encoding numbers variants by position.
    Jailed {
        until: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Runner {
    pub id: Hash,
    pub service: Hash,
    pub owner: Address,
    pub stake: Amount,
    pub price_per_call: Amount,
    pub price_per_kib: Amount,
    pub max_open: u32,
    pub status: RunnerStatus,
    /// Executions assigned to it that have not settled: what `max_open` caps.
    pub open_executions: u32,
    /// Executions it runs or verifies that have not settled: a leaving runner waits for zero.
    pub open_duties: u32,
    /// When (chain time, ms) a leaving runner's stake comes back, once scheduled.
    pub release_at: Option<u64>,
    /// Its last duties as runner or drawn verifier, newest in bit 0, a 1 for each one missed;
    /// only the last `duty_window` bits count. Cleared when it is jailed and when it unjails.
    pub missed_log: u64,
    /// Duties recorded since registering, missed or done.
    pub duties: u64,
    /// Duties missed since registering.
    pub missed: u64,
}

impl Runner {
    /// Missed duties among its last `window` (at most 64).
    pub fn missed_in_window(&self, window: u32) -> u32 {
        let mask = if window >= 64 {
            u64::MAX
        } else {
            (1u64 << window) - 1
        };
        (self.missed_log & mask).count_ones()
    }
}

/// The id of the runner of `owner` for `service`: blake3(service id, owner address).
pub fn runner_id(service: &Hash, owner: &Address) -> Hash {
    runnet_types::encoding::hash_of(&(service, owner))
}

/// The id of a service: blake3(owner, canonical definition, bundle digest).
pub fn service_id(owner: &Address, definition: &[u8], bundle_digest: &Hash) -> Hash {
    runnet_types::encoding::hash_of(&(owner, definition, bundle_digest))
}

/// Who pays for an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    Account(Address),
    Process(Hash),
}

/// How an execution's result is checked (copied from its task at request time).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerificationKind {
    /// Deterministic task in WebAssembly: the chain re-runs it to settle a dispute.
    WasmRerun,
    /// Deterministic task of an external program: verifiers' re-runs vote by stake.
    ExternalRerun,
    /// The service's check task: verifiers' verdicts vote by stake.
    PublicEffect,
    Trusted,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Escrowed; the runner is assigned at the end of the next block.
    Requested,
    /// Waiting for the runner's commitment (or trusted result) by `deadline`.
    Assigned,
    /// Verifiers are drawn at the end of the next block: a deterministic task's runner has
    /// committed, or a public_effect task's runner has revealed.
    Committed,
    /// Drawn verifiers commit until `commit_deadline`.
    Verifying,
    /// The verifiers' reveal window: the runner's result is revealed; verifiers who committed
    /// reveal until `reveal_deadline`.
    Revealing,
    Completed,
    CompletedUnverified,
    Rejected,
    Expired,
    Cancelled,
    /// A WebAssembly dispute whose reveal window closed while the block's re-run budget
    /// (`max_rerun_fuel_per_block`) was spent: it waits, in order, for the chain's re-run in a
    /// later block, and nothing else about it changes meanwhile. Last in the list because the
    /// canonical encoding numbers variants by position: appending keeps every stored status.
    AwaitingRerun,
    /// The runner's reveal window, until `reveal_deadline`: after the verifiers' commit window
    /// (deterministic tasks), or right after the runner's commitment (public_effect, whose
    /// verifiers are drawn once the result is revealed). Appended for the same reason.
    RunnerRevealing,
}

impl ExecutionStatus {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Completed
                | ExecutionStatus::CompletedUnverified
                | ExecutionStatus::Rejected
                | ExecutionStatus::Expired
                | ExecutionStatus::Cancelled
        )
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifierSlot {
    pub runner: Hash,
    pub owner: Address,
    /// Stake at the draw: what the verifier's vote weighs.
    pub stake: Amount,
    pub commitment: Option<Hash>,
    pub verdict: Option<Verdict>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Execution {
    pub id: Hash,
    pub service: Hash,
    pub task: String,
    pub inputs: Vec<u8>,
    pub payer: Payer,
    pub max_fee: Amount,
    /// Tokens the execution still holds; paid out or refunded when it ends.
    pub escrow: Amount,
    pub verification: VerificationKind,
    pub requested_at: u64,
    pub named_runner: Option<Hash>,
    pub runner: Option<Hash>,
    pub runner_owner: Option<Address>,
    pub assigned_at: Option<u64>,
    /// The runner's deadline for its commitment (or trusted result), chain time (ms), inclusive.
    pub deadline: Option<u64>,
    pub commitment: Option<Hash>,
    pub result: Option<TaskResult>,
    pub verifiers: Vec<VerifierSlot>,
    pub drawn_at: Option<u64>,
    /// Ends of the verifiers' commit window and of the open reveal window: chain time (ms),
    /// inclusive. (`assigned_at`, `drawn_at` and `settled_at` are heights.)
    pub commit_deadline: Option<u64>,
    pub reveal_deadline: Option<u64>,
    pub status: ExecutionStatus,
    pub settled_at: Option<u64>,
    /// Fuel of the chain's own re-run, when a dispute needed one.
    pub rerun_fuel: Option<u64>,
}

/// What stays of an execution after pruning: its final status stays queryable by id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecutionSummary {
    pub id: Hash,
    pub service: Hash,
    pub status: ExecutionStatus,
    pub settled_at: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    Open,
    /// Its owner closed it: it walks no more; refunds of its executions go to the owner.
    Closed,
    /// Its balance or its spend cap is below the price of one walk step: out of its trigger's
    /// index (no event looks at it) until funding or a refund lets it pay one again. Appended:
    /// the canonical encoding numbers variants by position.
    Paused,
}

/// Why a walk skipped a task node (and the subtree below it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipCause {
    /// The balance does not cover the task's `max_fee`.
    Balance,
    /// The task's `max_fee` would take the block's spending past the process's `spend_cap`.
    SpendCap,
    /// The current record does not encode as the task's inputs (a record past the VM's input
    /// limit, say).
    InvalidInputs,
    /// An execution with that id exists already.
    IdInUse,
}

/// A task node a walk skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkSkip {
    pub height: u64,
    pub node: u32,
    pub reason: SkipCause,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    pub id: Hash,
    pub owner: Address,
    pub definition: ProcessDefinition,
    /// What the process pays reporters, escrows and incentives from.
    pub balance: Amount,
    /// `process_deposit` paid at creation; it returns to the owner at close.
    pub deposit: Amount,
    /// The most it may spend in one block.
    pub spend_cap: Amount,
    /// What it spent in block `spent_at`.
    pub spent: Amount,
    pub spent_at: u64,
    pub status: ProcessStatus,
    pub created_at: u64,
    pub closed_at: Option<u64>,
    /// Walks run (each firing of its trigger, each resumption after a task).
    pub walks: u64,
    /// Executions its walks created.
    pub executions: u64,
    /// Task nodes its walks skipped.
    pub skipped: u64,
    pub last_skip: Option<WalkSkip>,
}

impl Process {
    /// What it may still spend in this block: its balance, within what is left of its cap.
    pub fn available(&self, height: u64) -> Amount {
        let spent = if self.spent_at == height {
            self.spent
        } else {
            0
        };
        self.balance.min(self.spend_cap.saturating_sub(spent))
    }
}

/// What stays of a closed process after `retention_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessSummary {
    pub id: Hash,
    pub owner: Address,
    pub status: ProcessStatus,
    pub created_at: u64,
    pub closed_at: u64,
    pub walks: u64,
    pub executions: u64,
    pub skipped: u64,
}

/// One runner's report of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventReport {
    pub runner: Hash,
    pub owner: Address,
    /// Gas its EmitEvent used: what the processes that fire reimburse, with the report bond.
    pub gas: u64,
    /// Chain time (ms) of the report: it counts toward the quorum for `event_window_ms` after.
    pub at_ms: u64,
}

/// The reports of one event id while they may still count, and whether it fired.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    pub id: Hash,
    pub service: Hash,
    pub key: String,
    pub data: Vec<u8>,
    pub first_height: u64,
    /// Chain time (ms) of the first report: the event window counts from it.
    pub first_ms: u64,
    pub reports: Vec<EventReport>,
    pub fired_at: Option<u64>,
}

/// What stays of an event once pruned; its id can never fire again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventSummary {
    pub id: Hash,
    pub service: Hash,
    pub key: String,
    pub first_height: u64,
    pub reports: u32,
    pub fired_at: Option<u64>,
}

/// A reporter a firing pays: its address, and its gas at `min_gas_price` plus the report bond.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reporter {
    pub owner: Address,
    pub gas_cost: Amount,
}

/// An event that reached its quorum: the processes it fires, walked in process id order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventWalks {
    pub event: Hash,
    pub service: Hash,
    pub key: String,
    pub data: Vec<u8>,
    pub fired_at: u64,
    pub reporters: Vec<Reporter>,
    /// How many processes fire, counted when the job first runs: reimbursements split by it.
    pub firing: Option<u64>,
    /// The last process walked, when the budget ran out in the middle of the job.
    pub after: Option<Hash>,
}

/// One entry of the walk queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WalkJob {
    Event(EventWalks),
    /// An execution a process created completed: its task node's children run with its outputs.
    Resume {
        process: Hash,
        node: u32,
        execution: Hash,
        /// Record bytes of the data nodes above and at `node`, by node index.
        scope: BTreeMap<u32, Vec<u8>>,
    },
}

/// Kept while an execution a process created runs: where its walk resumes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessLink {
    pub process: Hash,
    pub node: u32,
    pub scope: BTreeMap<u32, Vec<u8>>,
}

/// What one walk did, reported in the block's outcome (and counted in the process).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalkReport {
    pub process: Hash,
    /// The event or the completed execution that caused it.
    pub cause: Hash,
    pub executions: Vec<Hash>,
    pub skipped: Vec<WalkSkip>,
    /// Paid to reporters: reimbursements, then incentives.
    pub reimbursed: Amount,
    pub incentives: Amount,
    /// Paid (burned) for its walk steps, `gas.walk_step` at `min_gas_price` each.
    pub step_fees: Amount,
}

/// Which of the last `signed_blocks_window` heights a validator of their committee was missing
/// from: bit `h % signed_blocks_window` of `bits` is set when block h's certificate of its parent
/// did not name it and it did not propose block h. No record: it missed none.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ValidatorLiveness {
    /// Set bits in `bits`.
    pub missed: u64,
    /// `ceil(signed_blocks_window / 8)` bytes once it first missed a block.
    pub bits: Vec<u8>,
}

/// An equivocation punished once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvidenceRecord {
    pub validator: Address,
    pub epoch: u64,
    pub round: u64,
    pub applied_at: u64,
    /// Bonded and unbonding stake taken, burned.
    pub slashed: Amount,
    /// Chain time (ms).
    pub jailed_until: u64,
}
