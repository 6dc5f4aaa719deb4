//! The one error type of the crate's entry points: each says what went wrong and what to do.

use crate::schedule::ScheduleError;

#[derive(Debug, thiserror::Error)]
pub enum TestnetError {
    /// Flags that cannot work together or values out of range.
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Schedule(#[from] ScheduleError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// The runnet binary failed or answered something unexpected.
    #[error("{0}")]
    Binary(String),
    /// A node failed to start or stopped answering.
    #[error("{0}")]
    Node(String),
    #[error("load generator: {0}")]
    Load(String),
}

pub fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestnetError {
    let what = what.into();
    move |source| TestnetError::Io { what, source }
}
