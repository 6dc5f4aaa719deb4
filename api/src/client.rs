//! A blocking client of the API (feature `client`, over ureq): one method per endpoint, typed
//! answers, typed refusals. Everything read is bounded in size.
//!
//! ```no_run
//! use runnet_api::Reason;
//! use runnet_api::client::{Client, ClientError};
//!
//! # fn main() -> Result<(), ClientError> {
//! let node = Client::new("http://127.0.0.1:26601");
//! let rules = node.params()?.params; // the chain's, not `Params::default()`
//! println!("min gas price {}", rules.min_gas_price);
//! # let signed_tx: Vec<u8> = Vec::new();
//! match node.submit(&signed_tx) {
//!     Ok(admitted) => println!("pending: {}", admitted.hash),
//!     Err(e) if e.is_busy() => println!("the mempool is full: retry later"),
//!     Err(e) if e.reason() == Some(Reason::NonceTooLow) => println!("already used: {e}"),
//!     Err(e) => return Err(e),
//! }
//! # Ok(())
//! # }
//! ```

use crate::chain::{AccountAnswer, BlockAnswer, BlockIds, ParamsAnswer, Status, ValidatorsAnswer};
use crate::error::{ErrorBody, Reason};
use crate::objects::{MaybeProved, Runner, Service, StoredService};
use crate::tx::{RawAdmission, TxAdmitted, TxLookup, TxRequest, TxsAdmission, TxsRequest};
use crate::{EventAnswer, ExecutionAnswer, ProcessAnswer};
use runnet_types::{Address, Hash};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::time::Duration;

/// Largest answer read, in bytes (a block's ids at 20,000 transactions is about 1.4 MB).
pub const MAX_ANSWER_BYTES: u64 = 64 << 20;
/// How much of an answer that is not JSON an error keeps, in bytes.
const KEPT_BYTES: usize = 300;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No answer: the node is down, killed, or paused past the timeout.
    #[error("cannot reach the node at {url}: {problem}")]
    Unreachable {
        /// The request's URL.
        url: String,
        /// What the connection said.
        problem: String,
    },
    /// The node refused, with its error body.
    #[error("{url}: HTTP {status}: {} ({})", body.error, body.reason)]
    Refused {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The node's error body.
        body: ErrorBody,
    },
    /// An error status without an error body (a proxy's, say); the body's start.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        /// The request's URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// A success whose body is not the expected answer.
    #[error("{url}: unexpected answer: {problem}")]
    BadAnswer {
        /// The request's URL.
        url: String,
        /// Why the body does not read as the answer.
        problem: String,
    },
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } | ClientError::Status { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// The refusal's reason, when the node gave one.
    pub fn reason(&self) -> Option<Reason> {
        match self {
            ClientError::Refused { body, .. } => Some(body.reason),
            _ => None,
        }
    }

    /// A full mempool (503): retry later.
    pub fn is_busy(&self) -> bool {
        self.status() == Some(503)
    }

    /// A 404 for a missing object (`unknown_...`), not for a missing endpoint.
    pub fn is_unknown_object(&self) -> bool {
        matches!(self, ClientError::Refused { status: 404, body, .. } if body.reason.is_unknown_object())
    }
}

/// A client of one node's API.
#[derive(Clone, Debug)]
pub struct Client {
    agent: ureq::Agent,
    base: String,
}

impl Client {
    /// A client of the node at `base` (`http://127.0.0.1:26601`), 30 s per request.
    pub fn new(base: &str) -> Client {
        Client::with_timeout(base, Duration::from_secs(30))
    }

    /// A client whose requests each end after `timeout`.
    pub fn with_timeout(base: &str, timeout: Duration) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Client {
            agent,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    /// The node's address, without a trailing slash.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET path`, as `T`.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        read(&url, response)
    }

    /// `GET path`: `None` when the node answers 404 for a missing object (`unknown_...`). A 404
    /// for the endpoint itself (an older node) stays an error.
    pub fn find<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ClientError> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.is_unknown_object() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `GET path` as text (`/metrics`).
    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        let (status, text) = read_text(&url, response)?;
        if status >= 400 {
            return Err(refusal(&url, status, text));
        }
        Ok(text)
    }

    /// `POST path` with a JSON body, as `T`.
    pub fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let response = self.agent.post(&url).send_json(body);
        read(&url, response)
    }

    /// `POST path` with a binary body, as `T`.
    pub fn post_bytes<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &[u8],
    ) -> Result<T, ClientError> {
        let url = self.url(path);
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/octet-stream")
            .send(body);
        read(&url, response)
    }

    /// `GET /v1/status`.
    pub fn status(&self) -> Result<Status, ClientError> {
        self.get("/v1/status")
    }

    /// `GET /v1/params`.
    pub fn params(&self) -> Result<ParamsAnswer, ClientError> {
        self.get("/v1/params")
    }

    /// `GET /v1/block/{height}`: `None` when not committed here (yet), or pruned.
    pub fn block(&self, height: u64) -> Result<Option<BlockAnswer>, ClientError> {
        self.find(&format!("/v1/block/{height}"))
    }

    /// `GET /v1/block/{height}/ids`: `None` when not committed here, or its batches not here
    /// yet.
    pub fn block_ids(&self, height: u64) -> Result<Option<BlockIds>, ClientError> {
        match self.get(&format!("/v1/block/{height}/ids")) {
            Ok(ids) => Ok(Some(ids)),
            Err(e) if e.is_unknown_object() || e.reason() == Some(Reason::BatchesPending) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// `GET /v1/account/{address}`.
    pub fn account(&self, address: &Address) -> Result<AccountAnswer, ClientError> {
        self.get(&format!("/v1/account/{address}"))
    }

    /// `GET /v1/validators`.
    pub fn validators(&self) -> Result<ValidatorsAnswer, ClientError> {
        self.get("/v1/validators")
    }

    /// `GET /v1/tx/{hash}`: `None` when neither pending here nor in a retained block.
    pub fn tx(&self, hash: &Hash) -> Result<Option<TxLookup>, ClientError> {
        self.find(&format!("/v1/tx/{hash}"))
    }

    /// `POST /v1/tx` of a transaction's canonical bytes.
    pub fn submit(&self, tx: &[u8]) -> Result<TxAdmitted, ClientError> {
        self.post_bytes("/v1/tx", tx)
    }

    /// `POST /v1/tx` as JSON (hex).
    pub fn submit_hex(&self, tx: &str) -> Result<TxAdmitted, ClientError> {
        self.post_json("/v1/tx", &TxRequest { tx: tx.to_string() })
    }

    /// `POST /v1/txs` of transactions as binary frames ([`frames`]).
    pub fn submit_frames(&self, frames: &[u8]) -> Result<TxsAdmission, ClientError> {
        self.post_bytes("/v1/txs", frames)
    }

    /// `POST /v1/txs` as JSON (hex).
    pub fn submit_many_hex(&self, txs: Vec<String>) -> Result<TxsAdmission, ClientError> {
        self.post_json("/v1/txs", &TxsRequest { txs })
    }

    /// `POST /v1/raw` of raw payloads as binary frames ([`frames`]).
    pub fn submit_raw(&self, frames: &[u8]) -> Result<RawAdmission, ClientError> {
        self.post_bytes("/v1/raw", frames)
    }

    /// `GET /v1/service/{id}`.
    pub fn service(&self, id: &Hash) -> Result<Option<Service>, ClientError> {
        self.find(&format!("/v1/service/{id}"))
    }

    /// `GET /v1/service/{id}?proof=true`.
    pub fn service_proved(
        &self,
        id: &Hash,
    ) -> Result<Option<MaybeProved<Service, StoredService>>, ClientError> {
        self.find(&format!("/v1/service/{id}?proof=true"))
    }

    /// `GET /v1/runner/{id}`.
    pub fn runner(&self, id: &Hash) -> Result<Option<Runner>, ClientError> {
        self.find(&format!("/v1/runner/{id}"))
    }

    /// `GET /v1/execution/{id}`: the execution, or its summary once pruned.
    pub fn execution(&self, id: &Hash) -> Result<Option<ExecutionAnswer>, ClientError> {
        self.find(&format!("/v1/execution/{id}"))
    }

    /// `GET /v1/process/{id}`: the process, or its summary once pruned.
    pub fn process(&self, id: &Hash) -> Result<Option<ProcessAnswer>, ClientError> {
        self.find(&format!("/v1/process/{id}"))
    }

    /// `GET /v1/event/{id}`: the event's reports, or its summary once pruned.
    pub fn event(&self, id: &Hash) -> Result<Option<EventAnswer>, ClientError> {
        self.find(&format!("/v1/event/{id}"))
    }

    /// `GET /metrics`, the text.
    pub fn metrics(&self) -> Result<String, ClientError> {
        self.get_text("/metrics")
    }

    /// `GET /v1/openapi.json`.
    pub fn openapi(&self) -> Result<serde_json::Value, ClientError> {
        self.get("/v1/openapi.json")
    }
}

/// Frames in the format of `POST /v1/txs` and `/v1/raw`: a 4-byte little-endian length, then
/// the bytes.
pub fn frames<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        let len = u32::try_from(item.len()).unwrap_or(u32::MAX);
        body.extend_from_slice(&len.to_le_bytes());
        body.extend_from_slice(item);
    }
    body
}

type Answer = Result<ureq::http::Response<ureq::Body>, ureq::Error>;

fn read_text(url: &str, response: Answer) -> Result<(u16, String), ClientError> {
    let unreachable = |e: ureq::Error| ClientError::Unreachable {
        url: url.to_string(),
        problem: e.to_string(),
    };
    let mut response = response.map_err(unreachable)?;
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(MAX_ANSWER_BYTES)
        .read_to_string()
        .map_err(unreachable)?;
    Ok((status, text))
}

fn refusal(url: &str, status: u16, text: String) -> ClientError {
    match serde_json::from_str::<ErrorBody>(&text) {
        Ok(body) => ClientError::Refused {
            url: url.to_string(),
            status,
            body,
        },
        Err(_) => {
            let mut body = text;
            if body.len() > KEPT_BYTES {
                let mut end = KEPT_BYTES;
                while !body.is_char_boundary(end) {
                    end -= 1;
                }
                body.truncate(end);
            }
            ClientError::Status {
                url: url.to_string(),
                status,
                body,
            }
        }
    }
}

fn read<T: DeserializeOwned>(url: &str, response: Answer) -> Result<T, ClientError> {
    let (status, text) = read_text(url, response)?;
    if status >= 400 {
        return Err(refusal(url, status, text));
    }
    serde_json::from_str(&text).map_err(|e| ClientError::BadAnswer {
        url: url.to_string(),
        problem: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_length_prefixed() {
        assert_eq!(
            frames([&b"ab"[..], b""]),
            vec![2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]
        );
    }

    #[test]
    fn refusals_keep_their_reason_or_the_start_of_the_body() {
        let e = refusal(
            "u",
            404,
            r#"{"error": "no runner", "reason": "unknown_runner"}"#.into(),
        );
        assert!(e.is_unknown_object());
        assert_eq!(e.reason(), Some(Reason::UnknownRunner));
        let e = refusal("u", 404, r#"{"error": "x", "reason": "not_found"}"#.into());
        assert!(
            !e.is_unknown_object(),
            "a missing endpoint is not a missing object"
        );
        let e = refusal("u", 502, "é".repeat(400));
        match e {
            ClientError::Status {
                status: 502, body, ..
            } => assert!(body.len() <= KEPT_BYTES),
            other => panic!("{other:?}"),
        }
        assert!(refusal("u", 503, r#"{"error":"full","reason":"busy"}"#.into()).is_busy());
    }

    #[test]
    fn an_unreachable_node_is_an_error_not_a_panic() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let client =
            Client::with_timeout(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        assert!(matches!(
            client.status(),
            Err(ClientError::Unreachable { .. })
        ));
    }
}
