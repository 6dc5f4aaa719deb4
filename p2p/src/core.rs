//! The state shared by the handle, the swarm task and the per-stream tasks: who is linked,
//! inbound allowances, scores and counters. Locks here are held for a few instructions, never
//! across an await.

use crate::config::{Limits, Protocols};
use crate::rate::PeerRate;
use crate::scoring::{Offence, Scoreboard, Verdict};
use crate::{NetworkEvent, NetworkStats};
use libp2p::{Multiaddr, PeerId, StreamProtocol};
use parking_lot::{Mutex, RwLock};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// The two one-way protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Batch,
    Consensus,
}

impl Kind {
    pub fn protocol(self, protocols: &Protocols) -> StreamProtocol {
        match self {
            Kind::Batch => protocols.batch.clone(),
            Kind::Consensus => protocols.consensus.clone(),
        }
    }

    pub fn max_bytes(self, limits: &Limits) -> usize {
        match self {
            Kind::Batch => limits.max_batch_bytes,
            Kind::Consensus => limits.max_consensus_bytes,
        }
    }

    pub fn event(self, from: PeerId, bytes: Vec<u8>) -> NetworkEvent {
        match self {
            Kind::Batch => NetworkEvent::Batch { from, bytes },
            Kind::Consensus => NetworkEvent::Consensus { from, bytes },
        }
    }
}

/// The outbound queues of one linked peer; their writer tasks end when these are dropped.
pub(crate) struct Link {
    pub batch: mpsc::Sender<Arc<Vec<u8>>>,
    pub consensus: mpsc::Sender<Arc<Vec<u8>>>,
}

impl Link {
    pub fn queue(&self, kind: Kind) -> &mpsc::Sender<Arc<Vec<u8>>> {
        match kind {
            Kind::Batch => &self.batch,
            Kind::Consensus => &self.consensus,
        }
    }
}

/// One peer's inbound side, shared by all its streams.
pub(crate) struct PeerInbound {
    pub rate: Mutex<PeerRate>,
    pub batch_streams: AtomicUsize,
    pub consensus_streams: AtomicUsize,
}

impl PeerInbound {
    pub fn streams(&self, kind: Kind) -> &AtomicUsize {
        match kind {
            Kind::Batch => &self.batch_streams,
            Kind::Consensus => &self.consensus_streams,
        }
    }
}

#[derive(Default)]
pub(crate) struct Counters {
    pub messages_in: AtomicU64,
    pub bytes_in: AtomicU64,
    pub messages_out: AtomicU64,
    pub bytes_out: AtomicU64,
    pub events_dropped: AtomicU64,
    pub outbound_dropped: AtomicU64,
    pub rate_dropped: AtomicU64,
    pub offences: AtomicU64,
    pub bans: AtomicU64,
    pub chain_mismatches: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

impl Counters {
    pub fn snapshot(&self) -> NetworkStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        NetworkStats {
            messages_in: get(&self.messages_in),
            bytes_in: get(&self.bytes_in),
            messages_out: get(&self.messages_out),
            bytes_out: get(&self.bytes_out),
            events_dropped: get(&self.events_dropped),
            outbound_dropped: get(&self.outbound_dropped),
            rate_dropped: get(&self.rate_dropped),
            offences: get(&self.offences),
            bans: get(&self.bans),
            chain_mismatches: get(&self.chain_mismatches),
        }
    }
}

pub(crate) struct Core {
    pub local_peer_id: PeerId,
    pub limits: Limits,
    pub protocols: Protocols,
    pub events: mpsc::Sender<NetworkEvent>,
    /// Frame bytes queued for the node and not yet read (see `events`).
    pub queued_bytes: Arc<AtomicUsize>,
    /// Peers on the same chain (identify agreed) with their outbound queues. BTreeMap so
    /// broadcasts and `connected_peers` go in one stable order.
    pub links: RwLock<BTreeMap<PeerId, Link>>,
    pub inbound: Mutex<HashMap<PeerId, Arc<PeerInbound>>>,
    pub scores: Mutex<Scoreboard>,
    /// Peers that just crossed the ban threshold, for the swarm task to disconnect and refuse.
    pub bans: mpsc::UnboundedSender<PeerId>,
    pub stats: Counters,
    pub listen_addrs: RwLock<Vec<Multiaddr>>,
}

impl Core {
    pub fn penalise(&self, peer: PeerId, offence: Offence) {
        if peer == self.local_peer_id {
            return;
        }
        bump(&self.stats.offences, 1);
        let verdict = self.scores.lock().penalise(peer, offence, Instant::now());
        tracing::debug!(%peer, ?offence, ?verdict, "peer penalised");
        if verdict == Verdict::Ban {
            tracing::warn!(%peer, ?offence, "banning peer");
            bump(&self.stats.bans, 1);
            // The receiver lives as long as the swarm task; after that nothing needs banning.
            let _ = self.bans.send(peer);
        }
    }

    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.scores.lock().is_banned(peer)
    }

    /// Hands an event to the node without ever waiting; returns whether it was taken. A full
    /// queue, by count or by bytes, drops it (counted).
    pub fn deliver(&self, event: NetworkEvent) -> bool {
        let len = crate::events::frame_len(&event);
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if len > 0 && before + len > self.limits.max_queued_event_bytes {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            bump(&self.stats.events_dropped, 1);
            return false;
        }
        match self.events.try_send(event) {
            Ok(()) => true,
            Err(e) => {
                self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
                if matches!(e, TrySendError::Full(_)) {
                    bump(&self.stats.events_dropped, 1);
                }
                false
            }
        }
    }

    pub fn inbound_for(&self, peer: PeerId) -> Arc<PeerInbound> {
        self.inbound
            .lock()
            .entry(peer)
            .or_insert_with(|| {
                Arc::new(PeerInbound {
                    rate: Mutex::new(PeerRate::new(&self.limits, Instant::now())),
                    batch_streams: AtomicUsize::new(0),
                    consensus_streams: AtomicUsize::new(0),
                })
            })
            .clone()
    }

    /// Queues a message for one linked peer; a full queue drops it (counted) rather than wait.
    pub fn enqueue(&self, link: &Link, kind: Kind, bytes: &Arc<Vec<u8>>) {
        if link.queue(kind).try_send(bytes.clone()).is_err() {
            bump(&self.stats.outbound_dropped, 1);
        }
    }
}
