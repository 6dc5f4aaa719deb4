//! A small blocking HTTP client of the node's API, for the command line and the tests.

use serde_json::Value;
use std::time::Duration;

#[derive(Clone)]
pub struct Client {
    base: String,
    agent: ureq::Agent,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the node at {url}: {problem} (is it running? set --node or RUNNET_NODE)")]
    Unreachable { url: String, problem: String },
    #[error("{status}: {message}")]
    Refused {
        status: u16,
        reason: String,
        message: String,
    },
    #[error("the node answered something that is not JSON: {0}")]
    BadAnswer(String),
}

impl ClientError {
    pub fn reason(&self) -> Option<&str> {
        match self {
            ClientError::Refused { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            agent,
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.get(&url).call();
        Self::answer(&url, response)
    }

    /// An object by path: `None` when the node answers 404 for that object (`unknown_...`).
    /// A 404 for the endpoint itself (an older node) stays an error.
    pub fn find(&self, path: &str) -> Result<Option<Value>, ClientError> {
        match self.get(path) {
            Ok(v) => Ok(Some(v)),
            Err(ClientError::Refused {
                status: 404,
                reason,
                ..
            }) if reason.starts_with("unknown_") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self.agent.post(&url).send_json(body);
        Self::answer(&url, response)
    }

    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let response = self
            .agent
            .post(&url)
            .header("Content-Type", "application/octet-stream")
            .send(body);
        Self::answer(&url, response)
    }

    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        let url = format!("{}{path}", self.base);
        let mut response = self
            .agent
            .get(&url)
            .call()
            .map_err(|e| ClientError::Unreachable {
                url: url.clone(),
                problem: e.to_string(),
            })?;
        response
            .body_mut()
            .read_to_string()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))
    }

    fn answer(
        url: &str,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let mut response = response.map_err(|e| ClientError::Unreachable {
            url: url.to_string(),
            problem: e.to_string(),
        })?;
        let status = response.status().as_u16();
        let body: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| ClientError::BadAnswer(e.to_string()))?;
        if status >= 400 {
            return Err(ClientError::Refused {
                status,
                reason: body["reason"].as_str().unwrap_or("").to_string(),
                message: body["error"].as_str().unwrap_or("refused").to_string(),
            });
        }
        Ok(body)
    }
}
