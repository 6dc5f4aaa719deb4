//! The little of the node's HTTP API the testnet needs (docs/operator.md), over blocking ureq.
//!
//! Answers are parsed into the fields used and nothing more, so an API that grows new fields
//! does not break the tools; everything read is bounded in size.

use runnet_types::{Address, Hash};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::time::Duration;

/// Largest answer read (a block's ids at 20,000 transactions is about 1.4 MB).
const MAX_ANSWER: u64 = 64 << 20;

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

#[derive(Clone, Debug, Deserialize)]
pub struct Status {
    pub chain_id: String,
    pub height: u64,
    pub committed_height: u64,
    #[serde(default)]
    pub round: u64,
    #[serde(default)]
    pub peers: u64,
    #[serde(default)]
    pub syncing: bool,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BlockInfo {
    pub height: u64,
    pub hash: Hash,
    /// After executing the block on that node; `None` until then.
    pub state_root: Option<Hash>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct BlockIds {
    #[serde(default)]
    pub txs: Vec<Hash>,
    #[serde(default)]
    pub raw: Vec<Hash>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Account {
    pub balance: u64,
    pub nonce: u64,
    #[serde(default)]
    pub next_nonce: u64,
}

/// What `POST /v1/txs` and `POST /v1/raw` answer, reduced to what a load generator needs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Admission {
    pub admitted: u64,
    /// For `/v1/txs`: each frame's answer in order (the refusal reason), empty for `/v1/raw`.
    pub each: Vec<Result<(), String>>,
    /// Refusal reasons with their counts.
    pub refused: BTreeMap<String, u64>,
}

#[derive(Clone)]
pub struct Api {
    agent: ureq::Agent,
    pub base: String,
}

impl Api {
    pub fn new(base: &str, timeout: Duration) -> Api {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Api {
            agent,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn read<T: DeserializeOwned>(
        &self,
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T, ApiError> {
        let mut response = response.map_err(|e| ApiError::Unreachable {
            url: url.to_string(),
            problem: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| ApiError::Unreachable {
                url: url.to_string(),
                problem: e.to_string(),
            })?;
        if status != 200 {
            let mut body = text;
            body.truncate(300);
            return Err(ApiError::Status {
                url: url.to_string(),
                status,
                body,
            });
        }
        serde_json::from_str(&text).map_err(|e| ApiError::Answer {
            url: url.to_string(),
            problem: e.to_string(),
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ApiError> {
        let url = self.url(path);
        let response = self.agent.get(&url).call();
        self.read(&url, response)
    }

    /// `None` for a 404 (not committed here yet, or pruned).
    pub fn get_optional<T: DeserializeOwned>(&self, path: &str) -> Result<Option<T>, ApiError> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(ApiError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn status(&self) -> Result<Status, ApiError> {
        self.get("/v1/status")
    }

    pub fn block(&self, height: u64) -> Result<Option<BlockInfo>, ApiError> {
        self.get_optional(&format!("/v1/block/{height}"))
    }

    pub fn block_ids(&self, height: u64) -> Result<Option<BlockIds>, ApiError> {
        self.get_optional(&format!("/v1/block/{height}/ids"))
    }

    pub fn account(&self, address: &Address) -> Result<Account, ApiError> {
        self.get(&format!("/v1/account/{address}"))
    }

    /// `POST` length-prefixed frames to `/v1/txs` or `/v1/raw`.
    pub fn post_frames(&self, path: &str, body: &[u8]) -> Result<Admission, ApiError> {
        let url = self.url(path);
        let response = self
            .agent
            .post(&url)
            .header("content-type", "application/octet-stream")
            .send(body);
        let answer: serde_json::Value = self.read(&url, response)?;
        parse_admission(&answer).ok_or_else(|| ApiError::Answer {
            url,
            problem: "no 'admitted' count".into(),
        })
    }

    /// `GET /metrics`, as name (labels included) to value.
    pub fn metrics(&self) -> Result<BTreeMap<String, f64>, ApiError> {
        let url = self.url("/metrics");
        let response = self.agent.get(&url).call();
        let mut response = response.map_err(|e| ApiError::Unreachable {
            url: url.clone(),
            problem: e.to_string(),
        })?;
        let text = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER)
            .read_to_string()
            .map_err(|e| ApiError::Unreachable {
                url: url.clone(),
                problem: e.to_string(),
            })?;
        Ok(parse_metrics(&text))
    }
}

/// Frames in the format of `POST /v1/txs`: a 4-byte little-endian length, then the bytes.
pub fn frames<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut body = Vec::new();
    for item in items {
        body.extend_from_slice(&(item.len() as u32).to_le_bytes());
        body.extend_from_slice(item);
    }
    body
}

fn parse_admission(answer: &serde_json::Value) -> Option<Admission> {
    let admitted = answer.get("admitted")?.as_u64()?;
    let mut out = Admission {
        admitted,
        ..Admission::default()
    };
    if let Some(results) = answer.get("results").and_then(|r| r.as_array()) {
        for r in results {
            if r.get("hash").is_some() {
                out.each.push(Ok(()));
            } else {
                let reason = r
                    .get("reason")
                    .and_then(|v| v.as_str())
                    .unwrap_or("unknown")
                    .to_string();
                *out.refused.entry(reason.clone()).or_default() += 1;
                out.each.push(Err(reason));
            }
        }
    }
    if let Some(refused) = answer.get("refused").and_then(|r| r.as_object()) {
        for (reason, n) in refused {
            *out.refused.entry(reason.clone()).or_default() += n.as_u64().unwrap_or(0);
        }
    }
    Some(out)
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
    fn admissions_of_both_endpoints_parse() {
        let txs = serde_json::json!({"admitted": 1, "results": [{"hash": "00"}, {"error": "full", "reason": "busy"}]});
        let a = parse_admission(&txs).unwrap();
        assert_eq!(a.admitted, 1);
        assert_eq!(a.each, vec![Ok(()), Err("busy".to_string())]);
        assert_eq!(a.refused.get("busy"), Some(&1));
        let raw = serde_json::json!({"admitted": 5, "refused": {"busy": 2}});
        let a = parse_admission(&raw).unwrap();
        assert_eq!(
            (a.admitted, a.each.len(), a.refused.get("busy")),
            (5, 0, Some(&2))
        );
        assert!(parse_admission(&serde_json::json!({"error": "x"})).is_none());
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
