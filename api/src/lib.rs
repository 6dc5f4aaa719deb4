//! The node's HTTP API as types: every request and answer body, the refusal reasons with their
//! stable names, and the OpenAPI document generated from them ([`openapi`]). With the `client`
//! feature, a blocking client of the API ([`client::Client`]).
//!
//! The server (`runnet-node`'s `api.rs`) serializes these types and nothing else, so what is
//! here is what a node answers. The crate depends on `runnet-types` and serde only (and ureq
//! for the client): it builds fast and an outside program can use it without the node.
//!
//! Compatibility: fields are only ever added. Readers should ignore fields they do not know
//! (these types do); an unknown refusal reason reads as [`Reason::Unknown`].

#![deny(missing_docs)]

pub mod chain;
pub mod error;
pub mod objects;
pub mod openapi;
pub mod tx;

#[cfg(feature = "client")]
pub mod client;

pub use chain::{
    AccountAnswer, BlockAnswer, BlockIds, ParamsAnswer, ProofQuery, Status, ValidatorsAnswer,
};
pub use error::{ErrorBody, Reason};
pub use objects::{
    EventRecord, EventSummary, Execution, ExecutionSummary, LiveOrPruned, MaybeProved, Process,
    ProcessSummary, Proved, Pruned, Receipt, Runner, Service, StoredService, WithProof,
};
/// The hash and address types the answers carry (hex strings in the JSON).
pub use runnet_types::{Address, Hash};
pub use tx::{
    RawAdmission, TxAdmitted, TxLookup, TxRefused, TxRequest, TxResult, TxsAdmission, TxsRequest,
};

/// `GET /v1/execution/{id}`.
pub type ExecutionAnswer = LiveOrPruned<Execution, ExecutionSummary>;
/// `GET /v1/process/{id}`.
pub type ProcessAnswer = LiveOrPruned<Process, ProcessSummary>;
/// `GET /v1/event/{id}`.
pub type EventAnswer = LiveOrPruned<EventRecord, EventSummary>;
