//! The node's HTTP API for the testnet tools: `runnet_api`'s typed client (docs/operator.md,
//! "Ports and API") under the names the tools use, with their error type.
//!
//! Answers are `runnet_api`'s types, which ignore fields they do not know, so an API that grows
//! new fields does not break the tools; everything read is bounded in size.

use runnet_api::client::{Client, ClientError};
use runnet_types::Address;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

/// How much of an error answer an [`ApiError::Status`] keeps.
const KEPT_BYTES: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Could not reach the node (down, killed, paused past the timeout).
    #[error("{url}: {problem}")]
    Unreachable { url: String, problem: String },
    /// The node answered with an error.
    #[error("{url}: HTTP {status}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("{url}: unexpected answer: {problem}")]
    Answer { url: String, problem: String },
}

impl ApiError {
    pub fn is_busy(&self) -> bool {
        matches!(self, ApiError::Status { status: 503, .. })
    }
}

impl From<ClientError> for ApiError {
    fn from(e: ClientError) -> ApiError {
        match e {
            ClientError::Unreachable { url, problem } => ApiError::Unreachable { url, problem },
            ClientError::Refused { url, status, body } => {
                let mut body = serde_json::to_string(&body).unwrap_or_default();
                if body.len() > KEPT_BYTES {
                    let mut end = KEPT_BYTES;
                    while !body.is_char_boundary(end) {
                        end -= 1;
                    }
                    body.truncate(end);
                }
                ApiError::Status { url, status, body }
            }
            ClientError::Status { url, status, body } => ApiError::Status { url, status, body },
            ClientError::BadAnswer { url, problem } => ApiError::Answer { url, problem },
        }
    }
}

/// `GET /v1/status`.
pub type Status = runnet_api::Status;
/// `GET /v1/block/{height}`.
pub type BlockInfo = runnet_api::BlockAnswer;
/// `GET /v1/block/{height}/ids`.
pub type BlockIds = runnet_api::BlockIds;
/// `GET /v1/account/{address}`.
pub type Account = runnet_api::AccountAnswer;

/// What `POST /v1/txs` and `POST /v1/raw` answer, reduced to what a load generator needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    pub admitted: u64,
    /// For `/v1/txs`: each frame's answer in order (the refusal reason), empty for `/v1/raw`.
    pub each: Vec<Result<(), String>>,
    /// Refusal reasons with their counts.
    pub refused: BTreeMap<String, u64>,
}

impl Admission {
    fn of_txs(answer: runnet_api::TxsAdmission) -> Admission {
        let mut out = Admission {
            admitted: answer.admitted,
            ..Admission::default()
        };
        for r in &answer.results {
            match r.reason() {
                None => out.each.push(Ok(())),
                Some(reason) => {
                    *out.refused.entry(reason.to_string()).or_default() += 1;
                    out.each.push(Err(reason.to_string()));
                }
            }
        }
        out
    }

    fn of_raw(answer: runnet_api::RawAdmission) -> Admission {
        Admission {
            admitted: answer.admitted,
            each: Vec::new(),
            refused: answer
                .refused
                .into_iter()
                .map(|(reason, n)| (reason.to_string(), n))
                .collect(),
        }
    }
}

#[derive(Clone)]
pub struct Api {
    client: Client,
    pub base: String,
}

impl Api {
    pub fn new(base: &str, timeout: Duration) -> Api {
        let client = Client::with_timeout(base, timeout);
        Api {
            base: client.base().to_string(),
            client,
        }
    }

    /// The typed client underneath.
    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        Ok(self.client.get(path)?)
    }

    /// `None` for a 404 (not committed here yet, or pruned).
    pub fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ApiError> {
        match self.client.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.status() == Some(404) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn status(&self) -> Result<Status, ApiError> {
        Ok(self.client.status()?)
    }

    /// The chain's parameters (`GET /v1/params`).
    pub fn params(&self) -> Result<runnet_api::ParamsAnswer, ApiError> {
        Ok(self.client.params()?)
    }

    pub fn block(&self, height: u64) -> Result<Option<BlockInfo>, ApiError> {
        Ok(self.client.block(height)?)
    }

    pub fn block_ids(&self, height: u64) -> Result<Option<BlockIds>, ApiError> {
        Ok(self.client.block_ids(height)?)
    }

    pub fn account(&self, address: &Address) -> Result<Account, ApiError> {
        Ok(self.client.account(address)?)
    }

    /// `POST` length-prefixed frames to `/v1/txs` or `/v1/raw`.
    pub fn post_frames(&self, path: &str, body: &[u8]) -> Result<Admission, ApiError> {
        if path == "/v1/raw" {
            Ok(Admission::of_raw(self.client.submit_raw(body)?))
        } else {
            Ok(Admission::of_txs(self.client.post_bytes(path, body)?))
        }
    }

    /// `GET /metrics`, as name (labels included) to value.
    pub fn metrics(&self) -> Result<BTreeMap<String, f64>, ApiError> {
        Ok(parse_metrics(&self.client.metrics()?))
    }
}

/// Frames in the format of `POST /v1/txs`: a 4-byte little-endian length, then the bytes.
pub fn frames<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    runnet_api::client::frames(items)
}

/// Prometheus text format: `name{labels} value` lines; comments and unparsable lines skipped.
/// Counter names lose their `_total` suffix so both exposition styles read the same.
pub fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        let name = name.trim();
        let (bare, labels) = match name.find('{') {
            Some(i) => name.split_at(i),
            None => (name, ""),
        };
        let bare = bare.strip_suffix("_total").unwrap_or(bare);
        out.insert(format!("{bare}{labels}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::Hash;

    #[test]
    fn metrics_parse_with_and_without_total() {
        let text = "# HELP x\n# TYPE runnet_height gauge\nrunnet_height 42\nrunnet_txs_committed_total 1000\nrunnet_txs_refused_total{reason=\"busy\"} 3\ngarbage\nrunnet_bad x\n# EOF\n";
        let m = parse_metrics(text);
        assert_eq!(m.get("runnet_height"), Some(&42.0));
        assert_eq!(m.get("runnet_txs_committed"), Some(&1000.0));
        assert_eq!(m.get("runnet_txs_refused{reason=\"busy\"}"), Some(&3.0));
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn admissions_of_both_endpoints_read() {
        let txs: runnet_api::TxsAdmission = serde_json::from_value(serde_json::json!(
            {"admitted": 1, "results": [{"hash": Hash::ZERO}, {"error": "full", "reason": "busy"}]}
        ))
        .unwrap();
        let a = Admission::of_txs(txs);
        assert_eq!(a.admitted, 1);
        assert_eq!(a.each, vec![Ok(()), Err("busy".to_string())]);
        assert_eq!(a.refused.get("busy"), Some(&1));
        let raw: runnet_api::RawAdmission =
            serde_json::from_value(serde_json::json!({"admitted": 5, "refused": {"busy": 2}}))
                .unwrap();
        let a = Admission::of_raw(raw);
        assert_eq!(
            (a.admitted, a.each.len(), a.refused.get("busy")),
            (5, 0, Some(&2))
        );
        assert!(
            serde_json::from_value::<runnet_api::TxsAdmission>(serde_json::json!({"error": "x"}))
                .is_err()
        );
    }

    #[test]
    fn a_refusal_keeps_its_status() {
        let e: ApiError = ClientError::Refused {
            url: "u".into(),
            status: 503,
            body: runnet_api::ErrorBody::new(runnet_api::Reason::Busy, "full"),
        }
        .into();
        assert!(e.is_busy());
        assert!(
            matches!(e, ApiError::Status { status: 503, ref body, .. } if body.contains("busy"))
        );
    }

    #[test]
    fn frames_are_length_prefixed() {
        let body = frames([&b"ab"[..], b""]);
        assert_eq!(body, vec![2, 0, 0, 0, b'a', b'b', 0, 0, 0, 0]);
    }

    #[test]
    fn an_unreachable_node_is_an_error_not_a_panic() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let api = Api::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        assert!(matches!(api.status(), Err(ApiError::Unreachable { .. })));
    }
}
