//! The command line's and the tests' client of the node's API: `runnet_api`'s typed client
//! ([`Client::typed`]), and JSON values for the commands that print what the node answered.

use runnet_api::client::ClientError as ApiClientError;
use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Client {
    typed: runnet_api::client::Client,
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

impl From<ApiClientError> for ClientError {
    fn from(e: ApiClientError) -> ClientError {
        match e {
            ApiClientError::Unreachable { url, problem } => {
                ClientError::Unreachable { url, problem }
            }
            ApiClientError::Refused { status, body, .. } => ClientError::Refused {
                status,
                reason: body.reason.to_string(),
                message: body.error,
            },
            ApiClientError::Status { status, body, .. } => {
                ClientError::BadAnswer(format!("HTTP {status}: {body}"))
            }
            ApiClientError::BadAnswer { problem, .. } => ClientError::BadAnswer(problem),
        }
    }
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            typed: runnet_api::client::Client::new(base),
        }
    }

    /// The typed client: one method per endpoint, `runnet_api`'s answers.
    pub fn typed(&self) -> &runnet_api::client::Client {
        &self.typed
    }

    pub fn base(&self) -> &str {
        self.typed.base()
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        Ok(self.typed.get(path)?)
    }

    /// An object by path: `None` when the node answers 404 for that object (`unknown_...`).
    /// A 404 for the endpoint itself (an older node) stays an error.
    pub fn find(&self, path: &str) -> Result<Option<Value>, ClientError> {
        Ok(self.typed.find(path)?)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        Ok(self.typed.post_json(path, body)?)
    }

    pub fn post_bytes(&self, path: &str, body: &[u8]) -> Result<Value, ClientError> {
        Ok(self.typed.post_bytes(path, body)?)
    }

    pub fn get_text(&self, path: &str) -> Result<String, ClientError> {
        Ok(self.typed.get_text(path)?)
    }
}
