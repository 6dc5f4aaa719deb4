//! The chain's objects as the API shows them: accounts, validators, services, runners,
//! executions, processes, events, receipts, and Merkle proofs of them.
//!
//! These mirror the state's stored objects field for field (the node converts each one with
//! an exhaustive destructuring, so a field added to the state fails the node's build until it
//! is added here). Heights are block heights; `_ms` fields are chain time in milliseconds since
//! the Unix epoch; amounts are in the chain's smallest unit.

use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::process::ProcessDefinition;
use runnet_types::{Address, Amount, Hash, PublicKey, VrfPublicKey};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// Receipts.

/// What happened to a committed transaction.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Receipt {
    /// The transaction's hash.
    #[schema(value_type = String)]
    pub tx: Hash,
    /// Applied, skipped or failed.
    pub outcome: Outcome,
    /// Gas it used.
    pub gas_used: u64,
    /// Tokens it paid.
    #[schema(value_type = u64)]
    pub fee: Amount,
}

/// A receipt's outcome (docs/economy.md lists the codes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    /// Applied.
    Success,
    /// Failed a pre-check: no effect, paid nothing.
    Skipped {
        /// Which pre-check.
        reason: SkipReason,
    },
    /// Paid for its gas and changed nothing else.
    Failed {
        /// The stable failure code.
        code: ErrorCode,
        /// What went wrong, for people.
        detail: String,
    },
}

/// Why a transaction was skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    /// Signed for another chain.
    WrongChainId,
    /// The signature does not verify.
    BadSignature,
    /// Below the chain's `min_gas_price`.
    GasPriceTooLow,
    /// The nonce is not the account's next one (replayed, or a gap).
    BadNonce,
    /// The sender cannot pay `gas_limit * gas_price`.
    CannotPayGas,
    /// The block's gas limit is used up by the transactions before it.
    BlockGasFull,
    /// The block's byte limit is used up.
    BlockBytesFull,
}

/// Why a transaction that paid for its gas changed nothing else (docs/economy.md, "Receipts").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
// Each code is explained, with its number, in docs/economy.md.
#[allow(missing_docs)]
pub enum ErrorCode {
    OutOfGas,
    InsufficientBalance,
    ZeroAmount,
    Overflow,
    InvalidBinding,
    ConsensusKeyInUse,
    ValidatorKeysMismatch,
    NotAValidator,
    UnbondExceedsStake,
    NotJailed,
    JailNotOver,
    InvalidPeerId,
    InvalidDefinition,
    BundleTooLarge,
    ServiceExists,
    InvalidModule,
    ServiceNotFound,
    StakeBelowMinimum,
    RunnerExists,
    RunnerNotFound,
    NotRunnerOwner,
    RunnerNotActive,
    InvalidRunnerParams,
    TaskNotFound,
    InvalidInputs,
    ExecutionNotFound,
    NotTheRunner,
    WrongPhase,
    DeadlinePassed,
    CommitmentMismatch,
    InvalidResult,
    NotADrawnVerifier,
    AlreadyCommitted,
    WrongVerdictKind,
    RunnerIneligible,
    WrongVerification,
    InvalidProcess,
    ProcessTooLarge,
    ProcessNotFound,
    NotProcessOwner,
    ProcessClosed,
    EventNotFound,
    InvalidEventData,
    NotAnEmitter,
    AlreadyReported,
    EventWindowClosed,
    EventAlreadyFired,
    InvalidEvidence,
    EvidenceTooOld,
    EvidenceAlreadyApplied,
    EvidenceUnknownEpoch,
}

// Accounts and validators.

/// An account as stored (the value of `GET /v1/account/{address}?proof=true`'s proof).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredAccount {
    /// Its balance.
    #[schema(value_type = u64)]
    pub balance: Amount,
    /// The nonce its next transaction must carry.
    pub nonce: u64,
    /// Where its nonce stood at the start of the epochs it last moved in (the skip fee's
    /// floor); `null` until the nonce first moves.
    #[serde(default)]
    pub nonce_marks: Option<NonceMarks>,
}

/// A sender's nonce at the start of the epoch it last moved in, and of the epoch before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NonceMarks {
    /// The epoch it last moved in.
    pub epoch: u64,
    /// Its nonce at that epoch's start.
    pub start: u64,
    /// Its nonce at the previous epoch's start.
    pub previous: u64,
}

/// A validator's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ValidatorStatus {
    /// In the running for the next epoch's set.
    Active,
    /// Has unbonded all its stake; the tokens come back at their release heights.
    Unbonding,
    /// Out of the set until chain time `until` (ms).
    Jailed {
        /// Chain time (ms) from which an Unjail transaction may bring it back.
        until: u64,
    },
}

/// A validator's record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Validator {
    /// Its account (it owns the stake).
    #[schema(value_type = String)]
    pub address: Address,
    /// The key it signs votes and proposals with.
    #[schema(value_type = String)]
    pub consensus_key: PublicKey,
    /// The key of its leader-election VRF.
    #[schema(value_type = String)]
    pub vrf_key: VrfPublicKey,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Bonded stake: what counts for the next epoch's set.
    #[schema(value_type = u64)]
    pub stake: Amount,
    /// Unbonded but not yet released: still slashable.
    #[schema(value_type = u64)]
    pub unbonding: Amount,
    /// Active, unbonding or jailed.
    pub status: ValidatorStatus,
}

/// One member of an epoch's validator set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ValidatorSetMember {
    /// Its account.
    #[schema(value_type = String)]
    pub address: Address,
    /// The key it signs votes and proposals with.
    #[schema(value_type = String)]
    pub consensus_key: PublicKey,
    /// The key of its leader-election VRF.
    #[schema(value_type = String)]
    pub vrf_key: VrfPublicKey,
    /// Its libp2p peer id.
    pub peer_id: String,
    /// Its stake in this epoch: its vote's weight.
    #[schema(value_type = u64)]
    pub stake: Amount,
}

// Services and runners.

/// A service as stored: its definition as canonical JSON bytes (the value of
/// `GET /v1/service/{id}?proof=true`'s proof).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredService {
    /// Its id: blake3(owner, canonical definition, bundle digest).
    #[schema(value_type = String)]
    pub id: Hash,
    /// Who published it.
    #[schema(value_type = String)]
    pub owner: Address,
    /// Canonical JSON of the definition, as published, as bytes.
    pub definition: Vec<u8>,
    /// The digest of its bundle.
    #[schema(value_type = String)]
    pub bundle_digest: Hash,
    /// Whether the bundle is WebAssembly stored on chain (or an external program).
    pub wasm: bool,
    /// The height it was published at.
    pub published_at: u64,
}

/// `GET /v1/service/{id}`: a service, its definition shown as JSON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Service {
    /// Its id: blake3(owner, canonical definition, bundle digest).
    #[schema(value_type = String)]
    pub id: Hash,
    /// Who published it.
    #[schema(value_type = String)]
    pub owner: Address,
    /// The definition (tasks, events; docs/economy.md), `null` if the stored bytes are not JSON.
    #[schema(value_type = Option<Object>)]
    pub definition: serde_json::Value,
    /// The digest of its bundle.
    #[schema(value_type = String)]
    pub bundle_digest: Hash,
    /// Whether the bundle is WebAssembly stored on chain (or an external program).
    pub wasm: bool,
    /// The height it was published at.
    pub published_at: u64,
}

/// A runner's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunnerStatus {
    /// Takes work.
    Active,
    /// Takes no new work; its stake returns `runner_unbonding_ms` after its last duty.
    Leaving,
    /// Its stake has been returned (or slashed away).
    Left,
    /// Missed too many duties: takes no new work until its owner unjails it.
    Jailed {
        /// Chain time (ms) from which UnjailRunner may bring it back.
        until: u64,
    },
}

/// `GET /v1/runner/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Runner {
    /// Its id: blake3(service id, owner address).
    #[schema(value_type = String)]
    pub id: Hash,
    /// The service it runs.
    #[schema(value_type = String)]
    pub service: Hash,
    /// Who registered it (and is paid and slashed).
    #[schema(value_type = String)]
    pub owner: Address,
    /// Its stake.
    #[schema(value_type = u64)]
    pub stake: Amount,
    /// Its price per execution.
    #[schema(value_type = u64)]
    pub price_per_call: Amount,
    /// Its price per KiB of inputs.
    #[schema(value_type = u64)]
    pub price_per_kib: Amount,
    /// Most executions it runs at once.
    pub max_open: u32,
    /// Active, leaving, left or jailed.
    pub status: RunnerStatus,
    /// Executions assigned to it that have not settled: what `max_open` caps.
    pub open_executions: u32,
    /// Executions it runs or verifies that have not settled.
    pub open_duties: u32,
    /// When (chain time, ms) a leaving runner's stake comes back, once scheduled.
    pub release_at: Option<u64>,
    /// Its last duties, newest in bit 0, a 1 for each one missed.
    pub missed_log: u64,
    /// Duties recorded since registering.
    pub duties: u64,
    /// Duties missed since registering.
    pub missed: u64,
}

// Executions.

/// Who pays for an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Payer {
    /// An account.
    #[schema(value_type = String)]
    Account(Address),
    /// A process.
    #[schema(value_type = String)]
    Process(Hash),
}

/// How an execution's result is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerificationKind {
    /// Deterministic WebAssembly: the chain re-runs it to settle a dispute.
    WasmRerun,
    /// Deterministic external program: verifiers' re-runs vote by stake.
    ExternalRerun,
    /// The service's check task: verifiers' verdicts vote by stake.
    PublicEffect,
    /// Not checked.
    Trusted,
}

/// Where an execution is in its lifecycle (docs/economy.md, "The execution lifecycle").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// Escrowed; the runner is assigned at the end of the next block.
    Requested,
    /// Waiting for the runner's commitment (or trusted result).
    Assigned,
    /// Verifiers are drawn at the end of the next block.
    Committed,
    /// Drawn verifiers commit until `commit_deadline`.
    Verifying,
    /// The verifiers' reveal window.
    Revealing,
    /// Settled, verified.
    Completed,
    /// Settled with no verdict.
    CompletedUnverified,
    /// The result was judged wrong.
    Rejected,
    /// The runner missed its deadline.
    Expired,
    /// Cancelled by its payer.
    Cancelled,
    /// A WebAssembly dispute waiting for the chain's re-run budget.
    AwaitingRerun,
    /// The runner's reveal window.
    RunnerRevealing,
}

/// A drawn verifier of an execution.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct VerifierSlot {
    /// The verifier (a runner of the same service).
    #[schema(value_type = String)]
    pub runner: Hash,
    /// Its owner.
    #[schema(value_type = String)]
    pub owner: Address,
    /// Stake at the draw: what its vote weighs.
    #[schema(value_type = u64)]
    pub stake: Amount,
    /// Its commitment, once sent.
    #[schema(value_type = Option<String>)]
    pub commitment: Option<Hash>,
    /// Its revealed verdict, once sent (`{"Rerun": result}` or `{"Check": {"valid": bool}}`).
    #[schema(value_type = Option<Object>)]
    pub verdict: Option<Verdict>,
}

/// `GET /v1/execution/{id}` while the execution lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Execution {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// The service.
    #[schema(value_type = String)]
    pub service: Hash,
    /// The task's name.
    pub task: String,
    /// The inputs' record bytes.
    pub inputs: Vec<u8>,
    /// Who pays.
    pub payer: Payer,
    /// The most it may cost.
    #[schema(value_type = u64)]
    pub max_fee: Amount,
    /// Tokens it still holds; paid out or refunded when it ends.
    #[schema(value_type = u64)]
    pub escrow: Amount,
    /// How its result is checked.
    pub verification: VerificationKind,
    /// Height of its request.
    pub requested_at: u64,
    /// The runner the request named, if any.
    #[schema(value_type = Option<String>)]
    pub named_runner: Option<Hash>,
    /// The assigned runner.
    #[schema(value_type = Option<String>)]
    pub runner: Option<Hash>,
    /// The assigned runner's owner.
    #[schema(value_type = Option<String>)]
    pub runner_owner: Option<Address>,
    /// Height of the assignment.
    pub assigned_at: Option<u64>,
    /// The runner's deadline, chain time (ms), inclusive.
    pub deadline: Option<u64>,
    /// The runner's commitment.
    #[schema(value_type = Option<String>)]
    pub commitment: Option<Hash>,
    /// The revealed result (`{"Output": bytes}` or `{"Error": bytes}`).
    #[schema(value_type = Option<Object>)]
    pub result: Option<TaskResult>,
    /// The drawn verifiers.
    pub verifiers: Vec<VerifierSlot>,
    /// Height of the verifier draw.
    pub drawn_at: Option<u64>,
    /// End of the verifiers' commit window, chain time (ms), inclusive.
    pub commit_deadline: Option<u64>,
    /// End of the open reveal window, chain time (ms), inclusive.
    pub reveal_deadline: Option<u64>,
    /// Where it is in its lifecycle.
    pub status: ExecutionStatus,
    /// Height it settled at.
    pub settled_at: Option<u64>,
    /// Fuel of the chain's own re-run, when a dispute needed one.
    pub rerun_fuel: Option<u64>,
}

/// What stays of an execution after pruning.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExecutionSummary {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// The service.
    #[schema(value_type = String)]
    pub service: Hash,
    /// Its final status.
    pub status: ExecutionStatus,
    /// Height it settled at.
    pub settled_at: u64,
}

// Processes and events.

/// A process's standing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessStatus {
    /// Walks when its trigger fires.
    Open,
    /// Closed by its owner.
    Closed,
    /// Cannot pay one walk step: waits for funding.
    Paused,
}

/// Why a walk skipped a task node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SkipCause {
    /// The balance does not cover the task's `max_fee`.
    Balance,
    /// The task's `max_fee` would pass the process's `spend_cap`.
    SpendCap,
    /// The record does not encode as the task's inputs.
    InvalidInputs,
    /// An execution with that id exists already.
    IdInUse,
}

/// A task node a walk skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WalkSkip {
    /// The height of the walk.
    pub height: u64,
    /// The task node's index.
    pub node: u32,
    /// Why.
    pub reason: SkipCause,
}

/// `GET /v1/process/{id}` while the process lives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Process {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// Who created it.
    #[schema(value_type = String)]
    pub owner: Address,
    /// Its graph: trigger, filters, maps, tasks (docs/economy.md, "Processes").
    #[schema(value_type = Object)]
    pub definition: ProcessDefinition,
    /// What it pays reporters, escrows and incentives from.
    #[schema(value_type = u64)]
    pub balance: Amount,
    /// `process_deposit` paid at creation; returns to the owner at close.
    #[schema(value_type = u64)]
    pub deposit: Amount,
    /// The most it may spend in one block.
    #[schema(value_type = u64)]
    pub spend_cap: Amount,
    /// What it spent in block `spent_at`.
    #[schema(value_type = u64)]
    pub spent: Amount,
    /// The block of `spent`.
    pub spent_at: u64,
    /// Open, closed or paused.
    pub status: ProcessStatus,
    /// Height of its creation.
    pub created_at: u64,
    /// Height of its close.
    pub closed_at: Option<u64>,
    /// Walks run.
    pub walks: u64,
    /// Executions its walks created.
    pub executions: u64,
    /// Task nodes its walks skipped.
    pub skipped: u64,
    /// The last skip.
    pub last_skip: Option<WalkSkip>,
}

/// What stays of a closed process after `retention_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcessSummary {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// Who created it.
    #[schema(value_type = String)]
    pub owner: Address,
    /// Its final status.
    pub status: ProcessStatus,
    /// Height of its creation.
    pub created_at: u64,
    /// Height of its close.
    pub closed_at: u64,
    /// Walks run.
    pub walks: u64,
    /// Executions its walks created.
    pub executions: u64,
    /// Task nodes its walks skipped.
    pub skipped: u64,
}

/// One runner's report of an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventReport {
    /// The reporting runner.
    #[schema(value_type = String)]
    pub runner: Hash,
    /// Its owner.
    #[schema(value_type = String)]
    pub owner: Address,
    /// Gas its EmitEvent used.
    pub gas: u64,
    /// Chain time (ms) of the report.
    pub at_ms: u64,
}

/// `GET /v1/event/{id}` while its reports are kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventRecord {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// The service that declares it.
    #[schema(value_type = String)]
    pub service: Hash,
    /// The event's name in the service.
    pub key: String,
    /// Its data's record bytes.
    pub data: Vec<u8>,
    /// Height of the first report.
    pub first_height: u64,
    /// Chain time (ms) of the first report.
    pub first_ms: u64,
    /// The reports.
    pub reports: Vec<EventReport>,
    /// Height it fired at.
    pub fired_at: Option<u64>,
}

/// What stays of an event once pruned; its id can never fire again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EventSummary {
    /// Its id.
    #[schema(value_type = String)]
    pub id: Hash,
    /// The service that declares it.
    #[schema(value_type = String)]
    pub service: Hash,
    /// The event's name in the service.
    pub key: String,
    /// Height of the first report.
    pub first_height: u64,
    /// How many reports it had.
    pub reports: u32,
    /// Height it fired at.
    pub fired_at: Option<u64>,
}

// Proofs and pruned objects.

/// A pruned object: its summary.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Pruned<S> {
    /// Always `true`.
    pub pruned: bool,
    /// What stays of it.
    pub summary: S,
}

/// An object while it lives, or its summary once pruned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum LiveOrPruned<T, S> {
    /// Pruned: `{"pruned": true, "summary": ...}`.
    Pruned(Pruned<S>),
    /// The object.
    Live(T),
}

/// `?proof=true`: the answer with its proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WithProof<T, P> {
    /// The answer without `?proof=true`.
    pub value: T,
    /// The stored object's proof against the state root.
    pub proof: Proved<P>,
}

/// An object's answer: as is, or with `?proof=true` with its proof.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum MaybeProved<T, P> {
    /// With `?proof=true`.
    Proved(WithProof<T, P>),
    /// Without.
    Plain(T),
}

/// A value from the committed state with its proof against the state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Proved<T> {
    /// The height of the state proved.
    pub height: u64,
    /// The state root after that height.
    #[schema(value_type = String)]
    pub state_root: Hash,
    /// The state key, as bytes.
    pub key: Vec<u8>,
    /// The stored value, `null` for a proof of absence.
    // utoipa drops the `null` of an `Option` of a type parameter: `openapi::document` puts it
    // back.
    pub value: Option<T>,
    /// The Merkle proof.
    pub proof: Proof,
}

/// A proof of a key's value (inclusion) or absence (exclusion) against a state root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Proof {
    /// Sibling hashes from the root's children down to the end of the path.
    #[schema(value_type = Vec<String>)]
    pub siblings: Vec<Hash>,
    /// For an exclusion proof ending at another key's leaf: that leaf's key hash and value
    /// hash, as a pair.
    #[schema(value_type = Option<Vec<String>>)]
    pub other_leaf: Option<(Hash, Hash)>,
}
