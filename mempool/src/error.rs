//! Why a transaction or a batch was refused, in words a user or an operator can act on.

use runnet_types::Hash;
use runnet_types::batch::BatchError;
use runnet_types::encoding::DecodeError;

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum AdmitError {
    #[error("transaction of {len} bytes is over the limit of {limit} bytes")]
    Oversized { len: usize, limit: usize },
    #[error("cannot decode transaction: {0}")]
    Decode(DecodeError),
    #[error("transaction is for chain {got:?}, this node serves chain {expected:?}")]
    WrongChainId { expected: String, got: String },
    #[error("bad signature: sign the canonical body with the sender's key and the transaction tag")]
    BadSignature,
    #[error("nonce {got} is already used: the account's next nonce is {committed}")]
    NonceTooLow { committed: u64, got: u64 },
    #[error(
        "nonce {got} is too far ahead: the account's next nonce is {committed}, \
         at most {window} ahead are accepted"
    )]
    NonceTooHigh {
        committed: u64,
        window: u64,
        got: u64,
    },
    #[error("transaction {0} is already pending")]
    Duplicate(Hash),
    #[error(
        "a transaction with nonce {nonce} from this sender is already pending ({pending}): \
         wait for it to commit"
    )]
    NonceTaken { nonce: u64, pending: Hash },
    #[error(
        "balance {balance} cannot pay the maximum gas: {needed} needed \
         (gas_limit x gas_price of this and the sender's other pending transactions)"
    )]
    InsufficientBalance { needed: u128, balance: u64 },
    #[error("gas price {got} is below the minimum of {min}")]
    GasPriceTooLow { min: u64, got: u64 },
    #[error("gas limit {got} is over the block gas limit of {max}")]
    GasLimitTooHigh { max: u64, got: u64 },
    #[error(
        "mempool is full ({pending_txs} transactions, {pending_bytes} bytes pending): \
         retry later or pay a higher gas price"
    )]
    Busy {
        pending_txs: usize,
        pending_bytes: usize,
    },
    #[error("raw payloads are disabled on this network")]
    RawDisabled,
    #[error("a raw payload of {len} bytes is shorter than its {min}-byte id")]
    RawTooSmall { len: usize, min: usize },
}

impl AdmitError {
    /// A short stable name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            AdmitError::Oversized { .. } => "oversized",
            AdmitError::Decode(_) => "decode",
            AdmitError::WrongChainId { .. } => "wrong_chain_id",
            AdmitError::BadSignature => "bad_signature",
            AdmitError::NonceTooLow { .. } => "nonce_too_low",
            AdmitError::NonceTooHigh { .. } => "nonce_too_high",
            AdmitError::Duplicate(_) => "duplicate",
            AdmitError::NonceTaken { .. } => "nonce_taken",
            AdmitError::InsufficientBalance { .. } => "insufficient_balance",
            AdmitError::GasPriceTooLow { .. } => "gas_price_too_low",
            AdmitError::GasLimitTooHigh { .. } => "gas_limit_too_high",
            AdmitError::Busy { .. } => "busy",
            AdmitError::RawDisabled => "raw_disabled",
            AdmitError::RawTooSmall { .. } => "raw_too_small",
        }
    }

    /// Busy is the node's state, not the sender's fault: the API answers 503 and the client
    /// retries; every other error is the request's (4xx).
    pub fn is_busy(&self) -> bool {
        matches!(self, AdmitError::Busy { .. })
    }

    pub(crate) fn from_decode(error: DecodeError) -> AdmitError {
        match error {
            DecodeError::TooLarge { len, limit } => AdmitError::Oversized { len, limit },
            other => AdmitError::Decode(other),
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum BatchRejected {
    #[error("batch of {len} bytes is over the limit of {limit} bytes")]
    Oversized { len: usize, limit: usize },
    #[error("cannot decode batch: {0}")]
    Decode(BatchError),
    #[error("asked for batch {expected}, received {got}")]
    DigestMismatch { expected: Hash, got: Hash },
    #[error("empty batch")]
    Empty,
    #[error("transaction {position} is for chain {got:?}, not this chain")]
    WrongChainId { position: usize, got: String },
    #[error("batch carries raw payloads, which are disabled on this network")]
    RawDisabled,
    #[error("bad signatures on transactions at positions {0:?}")]
    BadSignatures(Vec<usize>),
    #[error("the batch author's signature does not verify")]
    BadAuthorSignature,
    #[error("the batch's author {author} is no validator of the current or previous epoch")]
    UnknownAuthor { author: runnet_types::PublicKey },
    #[error("the batch names author {author}, not the validator that pushed it")]
    WrongAuthor { author: runnet_types::PublicKey },
    #[error("batch store is full ({batches} batches, {bytes} bytes)")]
    StoreFull { batches: usize, bytes: usize },
    #[error("the author's stored batches take {bytes} bytes, its quota is {quota} bytes")]
    AuthorQuota { bytes: usize, quota: usize },
    #[error("batch of {items} items is over the block's limit of {limit}")]
    TooManyItems { items: usize, limit: usize },
    #[error("item {position} repeats an earlier item of the batch")]
    Duplicate { position: usize },
    #[error(
        "{dead} of the batch's {items} transactions could not execute against committed state \
         (stale or too far ahead nonce, gas price or limit out of bounds, unaffordable gas, or \
         already batched)"
    )]
    Junk { dead: usize, items: usize },
}

impl BatchRejected {
    /// A short stable name for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            BatchRejected::Oversized { .. } => "oversized",
            BatchRejected::Decode(_) => "decode",
            BatchRejected::DigestMismatch { .. } => "digest_mismatch",
            BatchRejected::Empty => "empty",
            BatchRejected::WrongChainId { .. } => "wrong_chain_id",
            BatchRejected::RawDisabled => "raw_disabled",
            BatchRejected::BadSignatures(_) => "bad_signatures",
            BatchRejected::BadAuthorSignature => "bad_author_signature",
            BatchRejected::UnknownAuthor { .. } => "unknown_author",
            BatchRejected::WrongAuthor { .. } => "wrong_author",
            BatchRejected::StoreFull { .. } => "store_full",
            BatchRejected::AuthorQuota { .. } => "author_quota",
            BatchRejected::TooManyItems { .. } => "too_many_items",
            BatchRejected::Duplicate { .. } => "duplicate",
            BatchRejected::Junk { .. } => "junk",
        }
    }

    /// Full is this node's state, and an author over its quota may just be ahead of the
    /// chain; either way the batch may come again later (a proposal naming it is fetched).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            BatchRejected::StoreFull { .. } | BatchRejected::AuthorQuota { .. }
        )
    }

    /// Whether the peer that sent the batch broke the protocol (the caller scores it down).
    pub fn is_peer_fault(&self) -> bool {
        !self.is_busy()
    }
}

/// A chain id quoted back in an error: at most 64 characters, whatever a sender put there.
pub(crate) fn quoted(chain_id: &str) -> String {
    chain_id.chars().take(64).collect()
}
