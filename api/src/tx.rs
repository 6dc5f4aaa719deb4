//! Transactions in: the bodies of `POST /v1/tx`, `/v1/txs`, `/v1/raw`, and `GET /v1/tx/{hash}`.

use crate::error::Reason;
use crate::objects::Receipt;
use runnet_types::Hash;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Most transactions in one `POST /v1/txs` (and frames in one `POST /v1/raw`).
pub const MAX_TXS_PER_REQUEST: usize = 20_000;
/// Largest body of `POST /v1/tx`, in bytes.
pub const MAX_TX_BODY_BYTES: usize = 4 << 20;
/// Largest body of `POST /v1/txs` and `POST /v1/raw`, in bytes.
pub const MAX_TXS_BODY_BYTES: usize = 64 << 20;

/// `POST /v1/tx` as JSON (`Content-Type: application/json`); any other content type is the
/// transaction's bytes themselves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxRequest {
    /// The signed transaction's canonical encoding, in hex (an `0x` prefix is allowed).
    pub tx: String,
}

/// `POST /v1/txs` as JSON; any other content type is binary frames (a 4-byte little-endian
/// length, then the bytes), up to [`MAX_TXS_PER_REQUEST`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TxsRequest {
    /// Signed transactions' canonical encodings, in hex, at most [`MAX_TXS_PER_REQUEST`].
    pub txs: Vec<String>,
}

/// `POST /v1/tx`'s answer: the transaction is pending in the mempool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxAdmitted {
    /// The transaction's hash: its id in `GET /v1/tx/{hash}`.
    #[schema(value_type = String)]
    pub hash: Hash,
}

/// One transaction's answer in `POST /v1/txs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum TxResult {
    /// Admitted: pending in the mempool.
    Admitted(TxAdmitted),
    /// Refused.
    Refused(TxRefused),
}

impl TxResult {
    /// The refusal reason, `None` when admitted.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            TxResult::Admitted(_) => None,
            TxResult::Refused(r) => Some(r.reason),
        }
    }
}

/// A transaction of `POST /v1/txs` the mempool refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxRefused {
    /// What went wrong, for people.
    pub error: String,
    /// Why, for programs.
    pub reason: Reason,
}

/// `POST /v1/txs`'s answer (200 even when some were refused; 503 with an
/// [`ErrorBody`](crate::ErrorBody) when all were refused for a full mempool).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TxsAdmission {
    /// How many of the request's transactions were admitted.
    pub admitted: u64,
    /// Each transaction's answer, in the request's order.
    pub results: Vec<TxResult>,
}

/// `POST /v1/raw`'s answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RawAdmission {
    /// How many payloads were admitted.
    pub admitted: u64,
    /// Refused payloads, counted by reason.
    #[schema(value_type = BTreeMap<String, u64>)]
    pub refused: BTreeMap<Reason, u64>,
}

/// `GET /v1/tx/{hash}`: where a transaction is (404 for `unknown`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TxLookup {
    /// In a retained block, with its receipt.
    Committed {
        /// The transaction's hash.
        #[schema(value_type = String)]
        hash: Hash,
        /// The height of the block that carries it.
        height: u64,
        /// Its place in that block.
        index: u32,
        /// What it did.
        receipt: Receipt,
    },
    /// In this node's mempool.
    Pending {
        /// The transaction's hash.
        #[schema(value_type = String)]
        hash: Hash,
    },
    /// Neither (the answer is a 404).
    Unknown {
        /// The transaction's hash.
        #[schema(value_type = String)]
        hash: Hash,
        /// What went wrong, for people.
        error: String,
        /// Always `unknown_tx`.
        reason: Reason,
    },
}
