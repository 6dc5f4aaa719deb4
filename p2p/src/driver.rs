//! The swarm task: owns the libp2p swarm, turns its events into links, node events and bans,
//! answers and sends batch fetches, and redials lost bootstrap peers. It never waits on the node
//! or on a peer: node events go through `try_send`, and the node's answers to fetches are polled
//! alongside the swarm.

use crate::NetworkEvent;
use crate::core::{Core, bump};
use crate::error::NetworkError;
use crate::fetch::{FetchCodec, FetchRequest};
use crate::links;
use crate::scoring::Offence;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{
    Multiaddr, PeerId, Swarm, allow_block_list, connection_limits, identify, ping, request_response,
};
use runnet_types::Hash;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// How often bans expire and lost bootstrap peers are redialled, at the finest.
const TICK: Duration = Duration::from_millis(100);

#[derive(NetworkBehaviour)]
pub(crate) struct Behaviour {
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    pub limits: connection_limits::Behaviour,
    pub identify: identify::Behaviour,
    pub ping: ping::Behaviour,
    pub streams: libp2p_stream::Behaviour,
    pub fetch: request_response::Behaviour<FetchCodec>,
}

pub(crate) type FetchReply = oneshot::Sender<Result<Vec<Vec<u8>>, NetworkError>>;

pub(crate) enum Command {
    Fetch {
        peer: PeerId,
        digests: Vec<Hash>,
        reply: FetchReply,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

struct Redial {
    addr: Multiaddr,
    next: Instant,
    backoff: Duration,
}

type Answer = (
    request_response::ResponseChannel<Vec<Vec<u8>>>,
    usize,
    Vec<Vec<u8>>,
);

pub(crate) struct Driver {
    pub swarm: Swarm<Behaviour>,
    pub core: Arc<Core>,
    pub control: libp2p_stream::Control,
    pub commands: mpsc::Receiver<Command>,
    pub bans: mpsc::UnboundedReceiver<PeerId>,
    pub bootstrap: Vec<(PeerId, Multiaddr)>,
    pub first_addr: Option<oneshot::Sender<Result<Multiaddr, NetworkError>>>,
    pub codec: FetchCodec,
}

struct State {
    answers: FuturesUnordered<BoxFuture<'static, Answer>>,
    pending: HashMap<request_response::OutboundRequestId, (usize, FetchReply)>,
    redial: BTreeMap<PeerId, Redial>,
    connections: HashMap<PeerId, u32>,
}

impl Driver {
    pub async fn run(mut self) {
        let now = Instant::now();
        let mut state = State {
            answers: FuturesUnordered::new(),
            pending: HashMap::new(),
            redial: self
                .bootstrap
                .iter()
                .map(|(peer, addr)| {
                    let redial = Redial {
                        addr: addr.clone(),
                        next: now,
                        backoff: self.core.limits.redial_min,
                    };
                    (*peer, redial)
                })
                .collect(),
            connections: HashMap::new(),
        };
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let done = loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(&mut state, event),
                command = self.commands.recv() => match command {
                    Some(Command::Fetch { peer, digests, reply }) => {
                        self.send_fetch(&mut state, peer, digests, reply);
                    }
                    Some(Command::Shutdown { done }) => break Some(done),
                    None => break None,
                },
                Some(peer) = self.bans.recv() => self.ban(peer),
                Some((channel, requested, batches)) = state.answers.next(),
                    if !state.answers.is_empty() => {
                    let batches = self.codec.trim_response(requested, batches);
                    // Err only when the requester already gave up.
                    let _ = self.swarm.behaviour_mut().fetch.send_response(channel, batches);
                }
                _ = tick.tick() => self.on_tick(&mut state),
            }
        };
        // Dropping the queues ends the writers; dropping the swarm closes the listener and
        // every connection, so the port is free once `done` fires.
        self.core.links.write().clear();
        self.core.inbound.lock().clear();
        for (_, (_, reply)) in state.pending.drain() {
            let _ = reply.send(Err(NetworkError::ShutDown));
        }
        drop(self.swarm);
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    fn is_bootstrap(&self, state: &State, peer: &PeerId) -> bool {
        state.redial.contains_key(peer)
    }

    fn on_swarm_event(&mut self, state: &mut State, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                self.core.listen_addrs.write().push(address.clone());
                if let Some(first) = self.first_addr.take() {
                    let _ = first.send(Ok(address));
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.core.listen_addrs.write().retain(|a| a != &address);
            }
            SwarmEvent::ListenerClosed { reason, .. } => {
                tracing::warn!(?reason, "listener closed");
                if let Some(first) = self.first_addr.take() {
                    let reason = match reason {
                        Ok(()) => "closed".to_string(),
                        Err(e) => e.to_string(),
                    };
                    let _ = first.send(Err(NetworkError::Transport(reason)));
                }
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                ..
            } => {
                *state.connections.entry(peer_id).or_insert(0) += 1;
                if let Some(redial) = state.redial.get_mut(&peer_id) {
                    redial.backoff = self.core.limits.redial_min;
                }
                let others = state
                    .connections
                    .keys()
                    .filter(|p| !self.is_bootstrap(state, p))
                    .count();
                if num_established.get() == 1
                    && !self.is_bootstrap(state, &peer_id)
                    && others > self.core.limits.max_peers
                {
                    tracing::debug!(%peer_id, "too many peers, refusing");
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established > 0 {
                    return;
                }
                state.connections.remove(&peer_id);
                self.core.inbound.lock().remove(&peer_id);
                if self.core.links.write().remove(&peer_id).is_some() {
                    tracing::info!(%peer_id, "peer disconnected");
                    self.core.deliver(NetworkEvent::PeerDisconnected(peer_id));
                }
                if let Some(redial) = state.redial.get_mut(&peer_id) {
                    redial.next = Instant::now();
                }
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "dial failed");
            }
            SwarmEvent::Behaviour(event) => self.on_behaviour_event(state, event),
            _ => {}
        }
    }

    fn on_behaviour_event(&mut self, state: &mut State, event: BehaviourEvent) {
        match event {
            BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }) => {
                if info.protocol_version != self.core.protocols.identify_version {
                    tracing::warn!(%peer_id, theirs = %info.protocol_version, "peer of another chain");
                    bump(&self.core.stats.chain_mismatches, 1);
                    let _ = self.swarm.disconnect_peer_id(peer_id);
                    return;
                }
                self.link(peer_id);
            }
            BehaviourEvent::Ping(ping::Event {
                peer,
                connection,
                result: Err(error @ (ping::Failure::Timeout | ping::Failure::Other { .. })),
            }) => {
                tracing::debug!(%peer, %error, "ping failed, closing connection");
                self.swarm.close_connection(connection);
            }
            BehaviourEvent::Fetch(event) => self.on_fetch_event(state, event),
            _ => {}
        }
    }

    /// A peer proved it is on our chain: give it queues and tell the node.
    fn link(&mut self, peer: PeerId) {
        if self.core.is_banned(&peer) || !self.swarm.is_connected(&peer) {
            return;
        }
        let mut links = self.core.links.write();
        if links.contains_key(&peer) {
            return;
        }
        links.insert(peer, links::spawn(&self.core, &self.control, peer));
        drop(links);
        tracing::info!(%peer, "peer connected");
        self.core.deliver(NetworkEvent::PeerConnected(peer));
    }

    fn ban(&mut self, peer: PeerId) {
        // Unlinked before its connections close, so nothing more is sent to it or taken from it.
        if self.core.links.write().remove(&peer).is_some() {
            self.core.deliver(NetworkEvent::PeerDisconnected(peer));
        }
        // Closes its connections now and refuses new ones until the ban is lifted.
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        let _ = self.swarm.disconnect_peer_id(peer);
    }

    fn on_tick(&mut self, state: &mut State) {
        let now = Instant::now();
        let lifted = self.core.scores.lock().lift_expired(now);
        for peer in lifted {
            tracing::info!(%peer, "ban lifted");
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
        }
        for (peer, redial) in state.redial.iter_mut() {
            if state.connections.contains_key(peer)
                || now < redial.next
                || self.core.is_banned(peer)
            {
                continue;
            }
            let opts = DialOpts::peer_id(*peer)
                .addresses(vec![redial.addr.clone()])
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(error) = self.swarm.dial(opts) {
                tracing::debug!(%peer, %error, "cannot dial bootstrap peer");
            }
            redial.next = now + redial.backoff;
            redial.backoff = (redial.backoff * 2).min(self.core.limits.redial_max);
        }
        // Allowances of peers that left before their streams were seen.
        let connections = &state.connections;
        self.core
            .inbound
            .lock()
            .retain(|peer, _| connections.contains_key(peer));
    }

    fn send_fetch(
        &mut self,
        state: &mut State,
        peer: PeerId,
        digests: Vec<Hash>,
        reply: FetchReply,
    ) {
        if !self.core.links.read().contains_key(&peer) {
            let _ = reply.send(Err(NetworkError::NoPeer));
            return;
        }
        let count = digests.len();
        let id = self
            .swarm
            .behaviour_mut()
            .fetch
            .send_request(&peer, FetchRequest::Digests(digests));
        state.pending.insert(id, (count, reply));
    }

    fn on_fetch_event(
        &mut self,
        state: &mut State,
        event: request_response::Event<FetchRequest, Vec<Vec<u8>>>,
    ) {
        use request_response::{Event, InboundFailure, Message, OutboundFailure};
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_fetch_request(state, peer, request, channel),
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => {
                let Some((requested, reply)) = state.pending.remove(&request_id) else {
                    return;
                };
                if response.len() > requested {
                    self.core.penalise(peer, Offence::Malformed);
                    let _ = reply.send(Err(NetworkError::Request(format!(
                        "peer answered {} batches to a request for {requested}",
                        response.len()
                    ))));
                } else {
                    let _ = reply.send(Ok(response));
                }
            }
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                let Some((_, reply)) = state.pending.remove(&request_id) else {
                    return;
                };
                let error = match error {
                    OutboundFailure::Timeout => NetworkError::Timeout,
                    OutboundFailure::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
                        self.core.penalise(peer, Offence::Malformed);
                        NetworkError::Request(format!("bad response: {e}"))
                    }
                    other => NetworkError::Request(other.to_string()),
                };
                let _ = reply.send(Err(error));
            }
            Event::InboundFailure {
                peer,
                error: InboundFailure::Io(e),
                ..
            } if e.kind() == io::ErrorKind::InvalidData => {
                tracing::debug!(%peer, error = %e, "bad fetch request");
                self.core.penalise(peer, Offence::Malformed);
            }
            _ => {}
        }
    }

    fn on_fetch_request(
        &mut self,
        state: &mut State,
        peer: PeerId,
        request: FetchRequest,
        channel: request_response::ResponseChannel<Vec<Vec<u8>>>,
    ) {
        let digests = match request {
            FetchRequest::Digests(digests) => digests,
            FetchRequest::OverLimit(count) => {
                tracing::debug!(%peer, count, "fetch request over the limit");
                self.core.penalise(peer, Offence::Malformed);
                // Dropping the channel closes the stream: the requester sees a refusal.
                drop(channel);
                return;
            }
        };
        let fetch = &mut self.swarm.behaviour_mut().fetch;
        let cost = 4 + 32 * digests.len() as u64;
        let admitted = self
            .core
            .inbound_for(peer)
            .rate
            .lock()
            .admit(cost, Instant::now());
        if !admitted {
            bump(&self.core.stats.rate_dropped, 1);
            self.core.penalise(peer, Offence::OverRate);
            let _ = fetch.send_response(channel, Vec::new());
            return;
        }
        let requested = digests.len();
        let (reply, answer) = oneshot::channel();
        let event = NetworkEvent::BatchRequest {
            from: peer,
            digests,
            reply,
        };
        if requested == 0 || !self.core.deliver(event) {
            let _ = fetch.send_response(channel, Vec::new());
            return;
        }
        let timeout = self.core.limits.fetch_timeout;
        state.answers.push(Box::pin(async move {
            // A node that never answers gets an empty answer sent for it.
            let batches = match tokio::time::timeout(timeout, answer).await {
                Ok(Ok(batches)) => batches,
                _ => Vec::new(),
            };
            (channel, requested, batches)
        }));
    }
}
