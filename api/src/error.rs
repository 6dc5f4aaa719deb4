//! Why the API refused a request: a stable reason name and the body every error answer carries.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// Declares [`Reason`]: each variant with its stable name, written once; `as_str` and `ALL` follow.
macro_rules! reasons {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// Why a request, or one transaction of it, was refused. The names are stable: clients
        /// match on them (the messages next to them are for people and may change).
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
            ToSchema,
        )]
        // The names are snake_case; the test below checks that each `$name` is its variant's.
        #[serde(rename_all = "snake_case")]
        pub enum Reason {
            $($(#[$doc])* $variant,)*
            /// A reason this version of the types does not know (a newer node's); never sent by
            /// a node built with them.
            #[serde(other)]
            Unknown,
        }

        impl Reason {
            /// Every reason, in declaration order, `Unknown` last.
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)* Reason::Unknown];

            /// The stable name, as in the JSON.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Reason::$variant => $name,)*
                    Reason::Unknown => "unknown",
                }
            }
        }
    };
}

reasons! {
    // Admission (`POST /v1/tx`, `/v1/txs`, `/v1/raw`): the mempool's refusals.
    /// The transaction is larger than the mempool's limit.
    Oversized = "oversized",
    /// The bytes are not a canonical transaction.
    Decode = "decode",
    /// Signed for another chain.
    WrongChainId = "wrong_chain_id",
    /// The signature does not verify.
    BadSignature = "bad_signature",
    /// The nonce is below the account's next one (already used).
    NonceTooLow = "nonce_too_low",
    /// The nonce is too far ahead of the account's next one.
    NonceTooHigh = "nonce_too_high",
    /// The same transaction is already pending.
    Duplicate = "duplicate",
    /// Another pending transaction of the sender holds that nonce.
    NonceTaken = "nonce_taken",
    /// The sender cannot pay for what it has pending.
    InsufficientBalance = "insufficient_balance",
    /// Below the chain's `min_gas_price`.
    GasPriceTooLow = "gas_price_too_low",
    /// Above what one block can hold.
    GasLimitTooHigh = "gas_limit_too_high",
    /// The mempool is full: the node's state, not the request's fault (503; retry later).
    Busy = "busy",
    /// Raw benchmark payloads are not allowed by this node's config.
    RawDisabled = "raw_disabled",
    /// A raw payload shorter than its id.
    RawTooSmall = "raw_too_small",

    // The request itself.
    /// The body is over the endpoint's size limit (413).
    TooLarge = "too_large",
    /// The body could not be read.
    BadBody = "bad_body",
    /// The request took longer than the node's `request_timeout_ms` (408).
    Timeout = "timeout",
    /// No such endpoint.
    NotFound = "not_found",
    /// The JSON body does not parse, or has unknown fields.
    BadJson = "bad_json",
    /// A transaction is not valid hex.
    BadHex = "bad_hex",
    /// More transactions than one request may carry (20,000).
    TooMany = "too_many",
    /// The binary frames of the body are malformed.
    BadFrames = "bad_frames",
    /// The path's height is not a number.
    BadHeight = "bad_height",
    /// The path's id or hash is not 64 hex digits.
    BadId = "bad_id",
    /// The path's address is not an address.
    BadAddress = "bad_address",
    /// The query string does not parse (`?proof=` takes `true` or `false`).
    BadQuery = "bad_query",
    /// The path does not decode (its percent-escapes are not UTF-8).
    BadPath = "bad_path",

    // Lookups.
    /// No committed block at that height here (pruned, or not yet committed).
    UnknownBlock = "unknown_block",
    /// The block is committed but its batches are not here yet.
    BatchesPending = "batches_pending",
    /// The transaction is neither pending here nor in a retained block.
    UnknownTx = "unknown_tx",
    /// No such service.
    UnknownService = "unknown_service",
    /// No such runner.
    UnknownRunner = "unknown_runner",
    /// No such execution.
    UnknownExecution = "unknown_execution",
    /// No such process.
    UnknownProcess = "unknown_process",
    /// No such event.
    UnknownEvent = "unknown_event",

    /// The node failed (500): its log says more.
    Internal = "internal",
}

impl Reason {
    /// An unknown object's reason (`unknown_...`): the object is missing, not the endpoint.
    pub fn is_unknown_object(self) -> bool {
        use Reason::*;
        matches!(
            self,
            UnknownBlock
                | UnknownTx
                | UnknownService
                | UnknownRunner
                | UnknownExecution
                | UnknownProcess
                | UnknownEvent
        )
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Reason {
    type Err = String;
    /// The reason of a stable name; `Unknown` is only the name "unknown".
    fn from_str(name: &str) -> Result<Reason, String> {
        Reason::ALL
            .iter()
            .copied()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| format!("no refusal reason '{name}'"))
    }
}

/// The body of every error answer (4xx, 5xx).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, for people.
    pub error: String,
    /// Why, for programs.
    pub reason: Reason,
    /// Only in `POST /v1/txs`'s 503, when every transaction was refused for a full mempool:
    /// `{"busy": <count>}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused: Option<BTreeMap<Reason, u64>>,
}

impl ErrorBody {
    /// An error body without counts.
    pub fn new(reason: Reason, error: impl ToString) -> ErrorBody {
        ErrorBody {
            error: error.to_string(),
            reason,
            refused: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_serde_names_and_parse_back() {
        for &reason in Reason::ALL {
            let json = serde_json::to_string(&reason).unwrap();
            assert_eq!(json, format!("\"{}\"", reason.as_str()));
            assert_eq!(reason.as_str().parse::<Reason>(), Ok(reason));
        }
        let mut names: Vec<_> = Reason::ALL.iter().map(|r| r.as_str()).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), Reason::ALL.len());
    }

    #[test]
    fn a_newer_nodes_reason_reads_as_unknown() {
        let body: ErrorBody =
            serde_json::from_str(r#"{"error": "x", "reason": "from_the_future"}"#).unwrap();
        assert_eq!(body.reason, Reason::Unknown);
        assert!("from_the_future".parse::<Reason>().is_err());
    }
}
