//! Receipts: what happened to each transaction, with a documented code for every failure.
//! docs/economy.md lists them; the numbers are stable.

use runnet_types::{Amount, Hash};
use serde::{Deserialize, Serialize};

/// Why a transaction was skipped: it failed a pre-check, so it had no effect and paid nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipReason {
    WrongChainId,
    BadSignature,
    GasPriceTooLow,
    /// The nonce is not the account's next one (replayed, or a gap).
    BadNonce,
    /// The sender cannot pay `gas_limit * gas_price`.
    CannotPayGas,
    /// The block's gas limit is used up by the transactions before it.
    BlockGasFull,
    /// The block's byte limit is used up by the transactions before it (skipped ones included:
    /// the block carries them all) and this one.
    BlockBytesFull,
}

/// Why a transaction that paid for its gas changed nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    OutOfGas = 1,
    InsufficientBalance = 2,
    ZeroAmount = 3,
    Overflow = 4,
    InvalidBinding = 10,
    ConsensusKeyInUse = 11,
    ValidatorKeysMismatch = 12,
    NotAValidator = 13,
    UnbondExceedsStake = 14,
    NotJailed = 15,
    JailNotOver = 16,
    InvalidPeerId = 17,
    InvalidDefinition = 20,
    BundleTooLarge = 21,
    ServiceExists = 22,
    InvalidModule = 23,
    ServiceNotFound = 30,
    StakeBelowMinimum = 31,
    RunnerExists = 32,
    RunnerNotFound = 33,
    NotRunnerOwner = 34,
    RunnerNotActive = 35,
    InvalidRunnerParams = 36,
    TaskNotFound = 40,
    InvalidInputs = 41,
    ExecutionNotFound = 42,
    NotTheRunner = 43,
    WrongPhase = 44,
    DeadlinePassed = 45,
    CommitmentMismatch = 46,
    InvalidResult = 47,
    NotADrawnVerifier = 48,
    AlreadyCommitted = 49,
    WrongVerdictKind = 50,
    RunnerIneligible = 51,
    WrongVerification = 52,
    InvalidProcess = 60,
    ProcessTooLarge = 61,
    ProcessNotFound = 62,
    NotProcessOwner = 63,
    ProcessClosed = 64,
    EventNotFound = 65,
    InvalidEventData = 66,
    NotAnEmitter = 67,
    AlreadyReported = 68,
    EventWindowClosed = 69,
    EventAlreadyFired = 70,
    InvalidEvidence = 80,
    EvidenceTooOld = 81,
    EvidenceAlreadyApplied = 82,
    EvidenceUnknownEpoch = 83,
}

impl ErrorCode {
    pub fn number(self) -> u16 {
        self as u16
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status")]
pub enum Outcome {
    Success,
    Skipped { reason: SkipReason },
    Failed { code: ErrorCode, detail: String },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    pub tx: Hash,
    pub outcome: Outcome,
    pub gas_used: u64,
    pub fee: Amount,
}

impl Receipt {
    pub fn is_success(&self) -> bool {
        self.outcome == Outcome::Success
    }
}

/// A failure while applying a transaction's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxFailure {
    pub code: ErrorCode,
    pub detail: String,
}

impl TxFailure {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> TxFailure {
        TxFailure {
            code,
            detail: detail.into(),
        }
    }
}

pub(crate) fn fail<T>(code: ErrorCode, detail: impl Into<String>) -> Result<T, TxFailure> {
    Err(TxFailure::new(code, detail))
}
