//! The one error type of the crate: configuration mistakes at start, and failed requests later.

use libp2p::Multiaddr;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum NetworkError {
    #[error("invalid address '{input}': {reason}")]
    InvalidAddress { input: String, reason: String },
    #[error("bootstrap address {0} has no /p2p/<peer id> at its end")]
    MissingPeerId(Multiaddr),
    #[error("invalid chain id '{0}': use 1 to 64 characters among A-Z a-z 0-9 . _ -")]
    InvalidChainId(String),
    #[error("invalid network key: {0}")]
    InvalidKey(String),
    #[error("invalid limits: {0}")]
    InvalidLimits(String),
    #[error("cannot set up the transport: {0}")]
    Transport(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: Multiaddr, reason: String },
    #[error("no connected peer to ask")]
    NoPeer,
    #[error("request of {digests} digests is over the limit of {max}")]
    RequestTooLarge { digests: usize, max: usize },
    #[error("the peer did not answer in time")]
    Timeout,
    #[error("request failed: {0}")]
    Request(String),
    #[error("the network has shut down")]
    ShutDown,
}
