//! Starting the network and the handle the node holds.

use crate::config::{NetworkConfig, Protocols, split_peer};
use crate::core::{Core, Counters, Kind};
use crate::driver::{Behaviour, Command, Driver};
use crate::error::NetworkError;
use crate::events::NetworkEvents;
use crate::fetch::FetchCodec;
use crate::inbound::accept_loop;
use crate::scoring::{Offence, Scoreboard};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use libp2p::multiaddr::Protocol;
use libp2p::{
    Multiaddr, PeerId, SwarmBuilder, allow_block_list, connection_limits, identify, noise, ping,
    request_response, tcp, yamux,
};
use parking_lot::{Mutex, RwLock};
use runnet_types::Hash;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Connections with no stream open (a peer of another chain, a half-made link) close after this.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long `start` waits for the listener to report its address.
const LISTEN_TIMEOUT: Duration = Duration::from_secs(10);

/// A cheap handle on the running network. The swarm task stops when [`Network::shutdown`] is
/// called or the last handle is dropped.
#[derive(Clone)]
pub struct Network {
    inner: Arc<Handle>,
}

struct Handle {
    core: Arc<Core>,
    commands: mpsc::Sender<Command>,
    /// Where `fetch_batches(None, ..)` starts in the peer list, so asks spread over peers.
    next_peer: AtomicUsize,
}

/// Counters since start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NetworkStats {
    /// Frames received and handed on (or dropped for a full event channel).
    pub messages_in: u64,
    pub bytes_in: u64,
    /// Frames written to peers.
    pub messages_out: u64,
    pub bytes_out: u64,
    /// Events dropped because the node's channel was full.
    pub events_dropped: u64,
    /// Messages not sent: a peer's queue was full, its stream failed, or the frame was outside
    /// the limits.
    pub outbound_dropped: u64,
    /// Inbound messages and requests dropped for exceeding a peer's rate.
    pub rate_dropped: u64,
    pub offences: u64,
    pub bans: u64,
    /// Peers dropped because identify showed another chain.
    pub chain_mismatches: u64,
}

/// Starts the swarm on the current tokio runtime and returns once it listens.
pub async fn start(config: NetworkConfig) -> Result<(Network, NetworkEvents), NetworkError> {
    let NetworkConfig {
        keypair,
        listen,
        bootstrap,
        chain_id,
        limits,
    } = config;
    limits.validate()?;
    let protocols = Protocols::for_chain(&chain_id)?;
    let local_peer_id = keypair.public().to_peer_id();
    let listen: Multiaddr = listen
        .iter()
        .filter(|p| !matches!(p, Protocol::P2p(_)))
        .collect();
    let mut peers = BTreeMap::new();
    for addr in &bootstrap {
        let (peer, bare) = split_peer(addr)?;
        if peer != local_peer_id {
            peers.insert(peer, bare);
        }
    }
    let codec = FetchCodec {
        max_digests: limits.max_fetch_digests,
        max_batch_bytes: limits.max_batch_bytes,
        max_response_bytes: limits.max_fetch_response_bytes,
    };

    let identify_version = protocols.identify_version.clone();
    let fetch_protocol = protocols.fetch.clone();
    let fetch_codec = codec.clone();
    let fetch_timeout = limits.fetch_timeout;
    // Two connections per peer: simultaneous dials both succeed before either side notices.
    let connection_limits = connection_limits::ConnectionLimits::default()
        .with_max_established_per_peer(Some(2))
        .with_max_pending_incoming(Some(limits.max_peers as u32))
        .with_max_established_incoming(Some(2 * limits.max_peers as u32 + 2 * peers.len() as u32));
    let mut swarm = SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_behaviour(|key| Behaviour {
            blocked: allow_block_list::Behaviour::default(),
            limits: connection_limits::Behaviour::new(connection_limits),
            identify: identify::Behaviour::new(
                identify::Config::new(identify_version, key.public())
                    .with_agent_version(format!("runnet/{}", env!("CARGO_PKG_VERSION")))
                    .with_push_listen_addr_updates(false),
            ),
            ping: ping::Behaviour::new(
                ping::Config::new()
                    .with_interval(Duration::from_secs(15))
                    .with_timeout(Duration::from_secs(20)),
            ),
            streams: libp2p_stream::Behaviour::new(),
            fetch: request_response::Behaviour::with_codec(
                fetch_codec,
                [(fetch_protocol, request_response::ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(fetch_timeout)
                    .with_max_concurrent_streams(16),
            ),
        })
        .map_err(|e| NetworkError::Transport(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build();
    for peer in peers.keys() {
        // Configured peers count against no limit: they are who this node exists to reach.
        swarm.behaviour_mut().limits.bypass_peer_id(peer);
    }
    swarm
        .listen_on(listen.clone())
        .map_err(|e| NetworkError::Listen {
            addr: listen.clone(),
            reason: e.to_string(),
        })?;

    let mut control = swarm.behaviour().streams.new_control();
    let (events_tx, events_rx) = mpsc::channel(limits.event_queue);
    let queued_bytes = Arc::new(AtomicUsize::new(0));
    let (bans_tx, bans_rx) = mpsc::unbounded_channel();
    let core = Arc::new(Core {
        local_peer_id,
        scores: Mutex::new(Scoreboard::new(
            limits.ban_threshold,
            limits.penalty_decay_per_sec,
            limits.ban_duration,
        )),
        limits,
        protocols,
        events: events_tx,
        queued_bytes: queued_bytes.clone(),
        links: RwLock::new(BTreeMap::new()),
        inbound: Mutex::new(HashMap::new()),
        bans: bans_tx,
        stats: Counters::default(),
        listen_addrs: RwLock::new(Vec::new()),
    });
    for kind in [Kind::Batch, Kind::Consensus] {
        let incoming = control
            .accept(kind.protocol(&core.protocols))
            .map_err(|e| NetworkError::Transport(e.to_string()))?;
        tokio::spawn(accept_loop(core.clone(), incoming, kind));
    }

    let (commands_tx, commands_rx) = mpsc::channel(1024);
    let (addr_tx, addr_rx) = oneshot::channel();
    let driver = Driver {
        swarm,
        core: core.clone(),
        control,
        commands: commands_rx,
        bans: bans_rx,
        bootstrap: peers.into_iter().collect(),
        first_addr: Some(addr_tx),
        codec,
    };
    tokio::spawn(driver.run());
    let network = Network {
        inner: Arc::new(Handle {
            core,
            commands: commands_tx,
            next_peer: AtomicUsize::new(0),
        }),
    };
    let listen_failed = |reason: String| NetworkError::Listen {
        addr: listen.clone(),
        reason,
    };
    match tokio::time::timeout(LISTEN_TIMEOUT, addr_rx).await {
        Ok(Ok(Ok(_))) => Ok((
            network,
            NetworkEvents {
                rx: events_rx,
                queued_bytes,
            },
        )),
        Ok(Ok(Err(e))) => Err(listen_failed(e.to_string())),
        Ok(Err(_)) => Err(listen_failed("the swarm stopped".into())),
        Err(_) => Err(listen_failed("no address reported in time".into())),
    }
}

impl Network {
    pub fn local_peer_id(&self) -> PeerId {
        self.inner.core.local_peer_id
    }

    /// The addresses the node listens on (with the real port when asked for port 0).
    pub fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.inner.core.listen_addrs.read().clone()
    }

    /// To every linked peer (validators and full nodes), once each.
    pub fn broadcast_batch(&self, bytes: Arc<Vec<u8>>) {
        self.broadcast(Kind::Batch, &bytes);
    }

    pub fn broadcast_consensus(&self, bytes: Arc<Vec<u8>>) {
        self.broadcast(Kind::Consensus, &bytes);
    }

    /// To one peer; dropped (and counted) when it is not linked or its queue is full.
    pub fn send_consensus(&self, peer: PeerId, bytes: Arc<Vec<u8>>) {
        let core = &self.inner.core;
        match core.links.read().get(&peer) {
            Some(link) => core.enqueue(link, Kind::Consensus, &bytes),
            None => crate::core::bump(&core.stats.outbound_dropped, 1),
        }
    }

    fn broadcast(&self, kind: Kind, bytes: &Arc<Vec<u8>>) {
        let core = &self.inner.core;
        for link in core.links.read().values() {
            core.enqueue(link, kind, bytes);
        }
    }

    /// Asks one peer (or, with `None`, the linked peers in turn until one has any of them) for
    /// batches by digest. Resolves with what the peer had, in the order asked, possibly fewer;
    /// the node checks the digests.
    pub async fn fetch_batches(
        &self,
        peer: Option<PeerId>,
        digests: Vec<Hash>,
    ) -> Result<Vec<Vec<u8>>, NetworkError> {
        let max = self.inner.core.limits.max_fetch_digests;
        if digests.len() > max {
            return Err(NetworkError::RequestTooLarge {
                digests: digests.len(),
                max,
            });
        }
        if digests.is_empty() {
            return Ok(Vec::new());
        }
        if let Some(peer) = peer {
            return self.fetch_from(peer, digests).await;
        }
        let mut peers = self.connected_peers();
        if !peers.is_empty() {
            let start = self.inner.next_peer.fetch_add(1, Ordering::Relaxed) % peers.len();
            peers.rotate_left(start);
        }
        self.fetch_hedged(peers, digests).await
    }

    /// Asks `peers` in turn for `digests`: the next one as soon as the last answered with
    /// nothing or failed, or when it has been silent for `fetch_hedge_after`; the first answer
    /// with batches wins and the others are dropped.
    async fn fetch_hedged(
        &self,
        peers: Vec<PeerId>,
        digests: Vec<Hash>,
    ) -> Result<Vec<Vec<u8>>, NetworkError> {
        let hedge_after = self.inner.core.limits.fetch_hedge_after;
        let mut waiting = peers.into_iter();
        let mut asked = FuturesUnordered::new();
        let mut outcome = Err(NetworkError::NoPeer);
        loop {
            if asked.is_empty() {
                let Some(peer) = waiting.next() else {
                    return outcome;
                };
                asked.push(self.fetch_from(peer, digests.clone()));
            }
            tokio::select! {
                Some(answer) = asked.next() => match answer {
                    Ok(batches) if !batches.is_empty() => return Ok(batches),
                    Ok(empty) => outcome = Ok(empty),
                    Err(e) if outcome.is_err() => outcome = Err(e),
                    Err(_) => {}
                },
                _ = tokio::time::sleep(hedge_after), if !waiting.as_slice().is_empty() => {
                    if let Some(peer) = waiting.next() {
                        asked.push(self.fetch_from(peer, digests.clone()));
                    }
                }
            }
        }
    }

    async fn fetch_from(
        &self,
        peer: PeerId,
        digests: Vec<Hash>,
    ) -> Result<Vec<Vec<u8>>, NetworkError> {
        let (reply, answer) = oneshot::channel();
        self.inner
            .commands
            .send(Command::Fetch {
                peer,
                digests,
                reply,
            })
            .await
            .map_err(|_| NetworkError::ShutDown)?;
        // The swarm times the request out itself; this only guards against it stopping.
        let guard = self.inner.core.limits.fetch_timeout + Duration::from_secs(5);
        match tokio::time::timeout(guard, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(NetworkError::ShutDown),
            Err(_) => Err(NetworkError::Timeout),
        }
    }

    /// The node found this peer's content bad (undecodable, bad signature, forged certificate).
    pub fn report(&self, peer: PeerId, offence: Offence) {
        self.inner.core.penalise(peer, offence);
    }

    /// Peers on our chain with a live connection, in a stable order.
    pub fn connected_peers(&self) -> Vec<PeerId> {
        self.inner.core.links.read().keys().copied().collect()
    }

    pub fn banned_peers(&self) -> Vec<PeerId> {
        self.inner.core.scores.lock().banned()
    }

    /// A peer's penalty points now (they decay; the ban threshold is in the limits).
    pub fn penalty(&self, peer: &PeerId) -> u32 {
        self.inner.core.scores.lock().penalty(peer, Instant::now())
    }

    pub fn stats(&self) -> NetworkStats {
        self.inner.core.stats.snapshot()
    }

    /// Stops the swarm: closes every connection and the listener, and returns once the port is
    /// free. Other handles keep working as if no peer were connected.
    pub async fn shutdown(&self) {
        let (done, finished) = oneshot::channel();
        if self
            .inner
            .commands
            .send(Command::Shutdown { done })
            .await
            .is_ok()
        {
            let _ = finished.await;
        }
    }
}
