//! The network: rust-libp2p over TCP with noise and yamux, carrying batches and consensus
//! messages between nodes and answering batch fetches.
//!
//! Each pair of linked peers keeps one long-lived stream per direction for batches and one for
//! consensus messages (length-prefixed frames, so votes never wait behind a batch), plus a
//! request-response protocol to fetch batches by digest. Protocol names carry the chain id, and
//! identify must agree on it before a peer is linked, so two chains never mix. The crate deals
//! only in `PeerId`s and bytes: the node decodes what it gets and reports bad content back
//! through [`Network::report`]; this crate enforces frame limits, per-peer rates and bans, and
//! never lets a slow peer or a slow node block the swarm. docs/network.md has the protocol
//! names, the limits, the scoring and the measured throughput.

#![cfg_attr(
    not(test),
    warn(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::indexing_slicing,
        clippy::panic
    )
)]

mod config;
mod core;
mod driver;
mod error;
mod events;
mod fetch;
mod framing;
#[doc(hidden)]
pub mod fuzzing;
mod inbound;
mod links;
mod network;
mod rate;
mod scoring;

pub use config::{Limits, NetworkConfig, keypair_from_seed, parse_address, peer_id_of};
pub use error::NetworkError;
pub use events::NetworkEvents;
pub use libp2p::identity::Keypair;
pub use libp2p::{Multiaddr, PeerId};
pub use network::{Network, NetworkStats, start};
pub use scoring::Offence;

use runnet_types::Hash;

/// What the network hands the node.
#[derive(Debug)]
pub enum NetworkEvent {
    Batch {
        from: PeerId,
        bytes: Vec<u8>,
    },
    Consensus {
        from: PeerId,
        bytes: Vec<u8>,
    },
    /// A peer asks for batches: answer through `reply` (the node looks them up in its stores)
    /// within the fetch timeout; a dropped or late reply sends the peer an empty answer.
    BatchRequest {
        from: PeerId,
        digests: Vec<Hash>,
        reply: tokio::sync::oneshot::Sender<Vec<Vec<u8>>>,
    },
    /// A peer on our chain is linked (connected and identified).
    PeerConnected(PeerId),
    PeerDisconnected(PeerId),
}
