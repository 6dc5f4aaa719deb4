//! What a node tells the network at start, the limits it enforces on peers, and the parsing of
//! the addresses and keys that come from config files.

use crate::error::NetworkError;
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use std::net::SocketAddr;
use std::time::Duration;

pub struct NetworkConfig {
    /// The node's network identity (its `node.key`), distinct from its consensus key.
    pub keypair: Keypair,
    pub listen: Multiaddr,
    /// Peers to keep connected to, each `/ip4/../tcp/../p2p/<peer id>`; redialled when lost.
    pub bootstrap: Vec<Multiaddr>,
    /// Goes into every protocol name, so nodes of two chains never talk.
    pub chain_id: String,
    pub limits: Limits,
}

impl NetworkConfig {
    /// A config with default limits and no bootstrap peers.
    pub fn new(keypair: Keypair, listen: Multiaddr, chain_id: impl Into<String>) -> Self {
        Self {
            keypair,
            listen,
            bootstrap: Vec::new(),
            chain_id: chain_id.into(),
            limits: Limits::default(),
        }
    }
}

/// Per-peer limits, scoring and timing. Inbound limits are per peer and shared by all of its
/// streams, so opening more streams buys a peer nothing.
#[derive(Clone, Debug)]
pub struct Limits {
    /// The largest batch frame accepted or sent.
    pub max_batch_bytes: usize,
    /// The largest consensus frame accepted or sent.
    pub max_consensus_bytes: usize,
    /// Token bucket on inbound messages (batches, consensus messages, fetch requests) per peer.
    pub messages_per_sec: u32,
    pub message_burst: u32,
    /// Token bucket on inbound bytes per peer. The burst must hold the largest frame.
    pub bytes_per_sec: u64,
    pub byte_burst: u64,
    /// Connected peers beyond the bootstrap list.
    pub max_peers: usize,
    /// Inbound streams one peer may hold open per protocol (normally one; a reconnect
    /// briefly makes two).
    pub max_streams_per_peer: usize,
    /// Penalty points at which a peer is disconnected and banned; see `Offence::penalty`.
    pub ban_threshold: u32,
    /// Penalty points forgiven per second, so rare slips never add up to a ban.
    pub penalty_decay_per_sec: u32,
    pub ban_duration: Duration,
    /// Digests in one batch fetch request.
    pub max_fetch_digests: usize,
    /// Total batch bytes in one fetch response; the responder stops adding batches there.
    pub max_fetch_response_bytes: usize,
    /// Both for our requests and for the node to answer a peer's.
    pub fetch_timeout: Duration,
    /// A fetch that names no peer asks the next one too when the last asked has not answered
    /// within this long: a peer cut off behind a partition (its connection still up, its
    /// answers lost) would otherwise hold the request for the whole `fetch_timeout`.
    pub fetch_hedge_after: Duration,
    /// Outbound queue per peer; when full, new messages to that peer are dropped and counted.
    pub batch_queue: usize,
    pub consensus_queue: usize,
    /// The node's event channel, in events and in frame bytes not yet read; when either is
    /// full, events are dropped and counted.
    pub event_queue: usize,
    pub max_queued_event_bytes: usize,
    /// Redial backoff for lost bootstrap peers: starts at the first, doubles up to the second.
    pub redial_min: Duration,
    pub redial_max: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_bytes: runnet_types::batch::MAX_BATCH_BYTES,
            max_consensus_bytes: runnet_types::consensus::MAX_CONSENSUS_MESSAGE_BYTES,
            messages_per_sec: 5_000,
            message_burst: 10_000,
            bytes_per_sec: 100 << 20,
            byte_burst: 32 << 20,
            max_peers: 64,
            max_streams_per_peer: 4,
            ban_threshold: 100,
            penalty_decay_per_sec: 1,
            ban_duration: Duration::from_secs(600),
            max_fetch_digests: 256,
            max_fetch_response_bytes: 16 << 20,
            fetch_timeout: Duration::from_secs(10),
            fetch_hedge_after: Duration::from_secs(1),
            batch_queue: 256,
            consensus_queue: 4_096,
            event_queue: 16_384,
            max_queued_event_bytes: 256 << 20,
            redial_min: Duration::from_millis(250),
            redial_max: Duration::from_secs(10),
        }
    }
}

impl Limits {
    pub(crate) fn validate(&self) -> Result<(), NetworkError> {
        let fail = |reason: &str| Err(NetworkError::InvalidLimits(reason.to_string()));
        let largest = self.max_batch_bytes.max(self.max_consensus_bytes);
        if self.max_batch_bytes == 0 || self.max_consensus_bytes == 0 {
            return fail("frame limits must be positive");
        }
        if largest > u32::MAX as usize {
            return fail("frame limits must fit in 32 bits");
        }
        if self.max_queued_event_bytes < largest {
            return fail("max_queued_event_bytes must hold the largest frame");
        }
        if self.byte_burst < largest as u64 {
            return fail("byte_burst must hold the largest frame");
        }
        if self.messages_per_sec == 0 || self.message_burst == 0 || self.bytes_per_sec == 0 {
            return fail("rates must be positive");
        }
        if self.max_fetch_digests == 0 || self.max_fetch_digests > u32::MAX as usize {
            return fail("max_fetch_digests must be between 1 and 2^32 - 1");
        }
        if self.max_fetch_response_bytes < self.max_batch_bytes {
            return fail("max_fetch_response_bytes must hold at least one batch");
        }
        if self.batch_queue == 0 || self.consensus_queue == 0 || self.event_queue == 0 {
            return fail("queues must hold at least one message");
        }
        if self.max_streams_per_peer == 0 || self.ban_threshold == 0 {
            return fail("max_streams_per_peer and ban_threshold must be positive");
        }
        if self.fetch_timeout.is_zero()
            || self.fetch_hedge_after.is_zero()
            || self.redial_min.is_zero()
        {
            return fail("fetch_timeout, fetch_hedge_after and redial_min must be positive");
        }
        if self.redial_max < self.redial_min {
            return fail("redial_max must not be below redial_min");
        }
        Ok(())
    }
}

/// The network identity a 32-byte `node.key` seed gives.
pub fn keypair_from_seed(seed: [u8; 32]) -> Result<Keypair, NetworkError> {
    Keypair::ed25519_from_bytes(seed).map_err(|e| NetworkError::InvalidKey(e.to_string()))
}

/// The peer id string a node key gives (testnet init writes it into genesis).
pub fn peer_id_of(seed: [u8; 32]) -> Result<String, NetworkError> {
    Ok(keypair_from_seed(seed)?.public().to_peer_id().to_string())
}

/// Parses `/ip4/127.0.0.1/tcp/PORT[/p2p/ID]` (or `/ip6/..`) or `127.0.0.1:PORT`.
pub fn parse_address(s: &str) -> Result<Multiaddr, NetworkError> {
    let input = s.trim();
    let invalid = |reason: String| NetworkError::InvalidAddress {
        input: input.to_string(),
        reason,
    };
    let addr: Multiaddr = if input.starts_with('/') {
        input.parse().map_err(|e| invalid(format!("{e}")))?
    } else {
        let socket: SocketAddr = input.parse().map_err(|_| {
            invalid("expected a multiaddr such as /ip4/127.0.0.1/tcp/9000 or IP:PORT".into())
        })?;
        Multiaddr::empty()
            .with(socket.ip().into())
            .with(Protocol::Tcp(socket.port()))
    };
    let mut parts = addr.iter();
    match parts.next() {
        Some(Protocol::Ip4(_) | Protocol::Ip6(_)) => {}
        _ => {
            return Err(invalid(
                "must start with /ip4 or /ip6 (no DNS names)".into(),
            ));
        }
    }
    match parts.next() {
        Some(Protocol::Tcp(_)) => {}
        _ => return Err(invalid("the second part must be /tcp/PORT".into())),
    }
    match (parts.next(), parts.next()) {
        (None, _) | (Some(Protocol::P2p(_)), None) => Ok(addr),
        _ => Err(invalid("only /p2p/<peer id> may follow the port".into())),
    }
}

/// Splits a bootstrap address into the peer it names and the address without the peer id.
pub(crate) fn split_peer(addr: &Multiaddr) -> Result<(PeerId, Multiaddr), NetworkError> {
    let mut bare = addr.clone();
    match bare.pop() {
        Some(Protocol::P2p(peer)) => Ok((peer, bare)),
        _ => Err(NetworkError::MissingPeerId(addr.clone())),
    }
}

/// The protocol names of one chain.
#[derive(Clone, Debug)]
pub(crate) struct Protocols {
    pub batch: StreamProtocol,
    pub consensus: StreamProtocol,
    pub fetch: StreamProtocol,
    /// Sent through identify; a peer announcing another one is dropped at once.
    pub identify_version: String,
}

impl Protocols {
    pub fn for_chain(chain_id: &str) -> Result<Self, NetworkError> {
        let valid = !chain_id.is_empty()
            && chain_id.len() <= 64
            && chain_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(NetworkError::InvalidChainId(chain_id.to_string()));
        }
        let name = |kind: &str| {
            StreamProtocol::try_from_owned(format!("/runnet/{chain_id}/{kind}/1"))
                .map_err(|_| NetworkError::InvalidChainId(chain_id.to_string()))
        };
        Ok(Self {
            batch: name("batch")?,
            consensus: name("consensus")?,
            fetch: name("batch-fetch")?,
            identify_version: format!("/runnet/{chain_id}/1"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_socket_and_multiaddr_forms() {
        let plain = parse_address("127.0.0.1:9000").unwrap();
        assert_eq!(plain.to_string(), "/ip4/127.0.0.1/tcp/9000");
        let v6 = parse_address("[::1]:9000").unwrap();
        assert_eq!(v6.to_string(), "/ip6/::1/tcp/9000");
        let id = peer_id_of([7; 32]).unwrap();
        let full = parse_address(&format!("/ip4/10.0.0.1/tcp/1/p2p/{id}")).unwrap();
        let (peer, bare) = split_peer(&full).unwrap();
        assert_eq!(peer.to_string(), id);
        assert_eq!(bare.to_string(), "/ip4/10.0.0.1/tcp/1");
    }

    #[test]
    fn refuses_bad_addresses_with_reasons() {
        for bad in [
            "",
            "localhost:9000",
            "127.0.0.1",
            "/ip4/127.0.0.1",
            "/ip4/127.0.0.1/udp/9000",
            "/dns4/example.org/tcp/1",
            "/ip4/127.0.0.1/tcp/1/ws",
            "/ip4/999.0.0.1/tcp/1",
            "/ip4/127.0.0.1/tcp/1/p2p/notapeer",
        ] {
            let err = parse_address(bad).unwrap_err();
            assert!(
                matches!(err, NetworkError::InvalidAddress { .. }),
                "{bad}: {err}"
            );
        }
        let no_peer = parse_address("127.0.0.1:1").unwrap();
        assert_eq!(
            split_peer(&no_peer),
            Err(NetworkError::MissingPeerId(no_peer.clone()))
        );
    }

    #[test]
    fn peer_id_is_stable_and_key_dependent() {
        assert_eq!(peer_id_of([1; 32]), peer_id_of([1; 32]));
        assert_ne!(peer_id_of([1; 32]), peer_id_of([2; 32]));
        let key = keypair_from_seed([1; 32]).unwrap();
        assert_eq!(
            key.public().to_peer_id().to_string(),
            peer_id_of([1; 32]).unwrap()
        );
    }

    #[test]
    fn protocol_names_carry_the_chain() {
        let p = Protocols::for_chain("runnet-test.1").unwrap();
        assert_eq!(p.batch.as_ref(), "/runnet/runnet-test.1/batch/1");
        assert_eq!(p.fetch.as_ref(), "/runnet/runnet-test.1/batch-fetch/1");
        for bad in ["", "a/b", "a b", "x\n", &"c".repeat(65)] {
            assert!(Protocols::for_chain(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn default_limits_are_valid_and_checked() {
        assert!(Limits::default().validate().is_ok());
        let small_burst = Limits {
            byte_burst: 1 << 20,
            ..Limits::default()
        };
        assert!(small_burst.validate().is_err());
        let tiny_response = Limits {
            max_fetch_response_bytes: 1,
            ..Limits::default()
        };
        assert!(tiny_response.validate().is_err());
    }
}
