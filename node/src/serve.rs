//! Answering peers' batch fetches, off the consensus driver, and the budget of peers' sync
//! requests.
//!
//! A fetch names up to a few hundred digests; answering it copies batches of up to 4 MiB each
//! out of the mempool or RocksDB. Done on the driver, a loop of small requests made every vote
//! and proposal wait behind that copying. Here the driver hands the request over and goes on;
//! the answer is built on the blocking pool, with three bounds, so what a peer can make this node
//! spend is bounded whatever it sends:
//! - each digest is looked up once (a request repeating one digest gets it once);
//! - the lookup stops as soon as the answer is at the response limit (nothing is copied only to
//!   be trimmed);
//! - at most [`MAX_ANSWERS_PER_PEER`] answers per peer and [`MAX_ANSWERS`] in all are being built
//!   at once; a request past either gets an empty answer at once, which costs its sender the
//!   round trip and this node nothing.

use crate::runtime::Shared;
use libp2p::PeerId;
use parking_lot::Mutex;
use runnet_types::Hash;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::oneshot;

/// Answers being built for one peer at once.
pub const MAX_ANSWERS_PER_PEER: usize = 2;
/// Answers being built at once for all peers.
pub const MAX_ANSWERS: usize = 8;

/// Who is being answered now. Validators of the current or previous set and other peers each
/// have [`MAX_ANSWERS`] of their own: a voter asking a proposal's batches is never turned away
/// because strangers fill the node's bound (the proposer's empty answer would look like
/// withholding, which costs the proposer its score: driver.rs).
#[derive(Default)]
pub struct FetchServer {
    busy: Mutex<BTreeMap<PeerId, usize>>,
    validators: Mutex<BTreeSet<PeerId>>,
}

impl FetchServer {
    /// Answers `digests` for `from` through `reply`, on the blocking pool, or empty at once
    /// when the peer or the node is at its bound. Returns whether an answer is being built.
    pub fn serve(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        from: PeerId,
        validator: bool,
        digests: Vec<Hash>,
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    ) -> bool {
        if !self.take(from, validator) {
            shared.metrics.fetches_refused.inc();
            let _ = reply.send(Vec::new());
            return false;
        }
        let (server, shared) = (self.clone(), shared.clone());
        let limit = shared.config.max_fetch_response_bytes();
        tokio::task::spawn_blocking(move || {
            let found = lookup(|digest| held(&shared, digest), &digests, limit);
            let _ = reply.send(found);
            server.give_back(from);
        });
        true
    }

    fn take(&self, from: PeerId, validator: bool) -> bool {
        let mut busy = self.busy.lock();
        let mut validators = self.validators.lock();
        // The answers in flight for this peer's kind of peer.
        let total: usize = busy
            .iter()
            .filter(|(p, _)| validators.contains(p) == validator)
            .map(|(_, n)| n)
            .sum();
        let mine = busy.entry(from).or_default();
        if *mine >= MAX_ANSWERS_PER_PEER || total >= MAX_ANSWERS {
            if *mine == 0 {
                busy.remove(&from);
            }
            return false;
        }
        *mine += 1;
        if validator {
            validators.insert(from);
        } else {
            validators.remove(&from);
        }
        true
    }

    fn give_back(&self, from: PeerId) {
        let mut busy = self.busy.lock();
        if let Some(mine) = busy.get_mut(&from) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                busy.remove(&from);
                self.validators.lock().remove(&from);
            }
        }
    }

    /// Answers being built now (for tests and metrics).
    pub fn in_flight(&self) -> usize {
        self.busy.lock().values().sum()
    }
}

/// A batch's bytes from the mempool, or from the block store once committed.
fn held(shared: &Shared, digest: &Hash) -> Option<Vec<u8>> {
    let pending = shared.mempool.lock().batch_bytes(digest);
    match pending {
        Some(bytes) => Some(bytes.as_ref().clone()),
        None => shared.blocks.batch(digest).ok().flatten(),
    }
}

/// The batches `get` holds for `digests`, each once, in request order, stopping before the
/// answer would pass `limit` bytes.
pub fn lookup(
    get: impl Fn(&Hash) -> Option<Vec<u8>>,
    digests: &[Hash],
    limit: usize,
) -> Vec<Vec<u8>> {
    let mut seen = BTreeSet::new();
    let mut found = Vec::new();
    let mut bytes = 0usize;
    for digest in digests {
        if !seen.insert(*digest) {
            continue;
        }
        let Some(batch) = get(digest) else { continue };
        if bytes.saturating_add(batch.len()) > limit {
            break;
        }
        bytes += batch.len();
        found.push(batch);
    }
    found
}

/// Sync requests served per second for one peer, and its burst.
pub const SYNC_PER_PEER: (f64, f64) = (2.0, 4.0);
/// Sync requests served per second for all peers together, and the burst.
pub const SYNC_ALL: (f64, f64) = (8.0, 8.0);
/// Requests per second (and burst) a peer may send, served or not, before each one costs it
/// score. An honest node asks again only after an answer that made progress, or after half a
/// second, so it stays well below.
pub const SYNC_TOLERANCE: (f64, f64) = (10.0, 20.0);
/// Stale consensus messages per second (and burst) a peer may send for free, and in one round
/// of this node's: only a peer past both pays, an over-rate offence per message. An honest peer
/// that lags sends a few a round (a vote, a timeout, a status) however fast rounds come, and
/// retransmits every half second however slow they are; the network lets a peer send 5,000
/// messages a second.
pub const USELESS_TOLERANCE: (f64, f64) = (20.0, 40.0);
pub const USELESS_PER_ROUND: u64 = 16;
/// Peers remembered by a budget; past it, peers whose allowance is back to full are forgotten,
/// and a new peer is refused while none is.
pub const MAX_TRACKED_PEERS: usize = 4096;

/// A token bucket: `rate` tokens a second up to `burst`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Bucket {
    fn full((_, burst): (f64, f64), now: Instant) -> Bucket {
        Bucket {
            tokens: burst,
            updated: now,
        }
    }

    fn refill(&mut self, (rate, burst): (f64, f64), now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate).min(burst);
        self.updated = now;
    }

    fn take(&mut self, shape: (f64, f64), now: Instant) -> bool {
        self.refill(shape, now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn is_full(&self, (rate, burst): (f64, f64), now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.tokens + elapsed * rate >= burst
    }
}

/// One bucket per peer, bounded in the peers it remembers.
#[derive(Debug)]
pub struct PeerBuckets {
    shape: (f64, f64),
    peers: BTreeMap<PeerId, Bucket>,
}

impl PeerBuckets {
    pub fn new(rate: f64, burst: f64) -> PeerBuckets {
        PeerBuckets {
            shape: (rate, burst),
            peers: BTreeMap::new(),
        }
    }

    /// Takes one of `peer`'s tokens; false when it has none left (or it is new and no room is
    /// left for it).
    pub fn take(&mut self, peer: PeerId, now: Instant) -> bool {
        let shape = self.shape;
        if !self.peers.contains_key(&peer) && self.peers.len() >= MAX_TRACKED_PEERS {
            self.peers.retain(|_, b| !b.is_full(shape, now));
            if self.peers.len() >= MAX_TRACKED_PEERS {
                return false;
            }
        }
        self.peers
            .entry(peer)
            .or_insert_with(|| Bucket::full(shape, now))
            .take(shape, now)
    }

    fn give_back(&mut self, peer: &PeerId) {
        let (_, burst) = self.shape;
        if let Some(b) = self.peers.get_mut(peer) {
            b.tokens = (b.tokens + 1.0).min(burst);
        }
    }

    pub fn tracked(&self) -> usize {
        self.peers.len()
    }
}

/// What to do with a peer's sync request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncVerdict {
    /// Within the peer's and the node's budget: hand it to the core.
    Serve,
    /// Over a budget: dropped unanswered (an honest requester asks again later).
    Refuse,
    /// Past what any honest node sends: dropped, and it costs the sender score.
    Penalise,
}

/// The sync requests this node serves: a request makes the core read up to a few hundred
/// committed blocks from RocksDB and send them in one message, so each peer gets
/// [`SYNC_PER_PEER`] answers a second and all peers [`SYNC_ALL`]; requests past
/// [`SYNC_TOLERANCE`] cost their sender score as well.
#[derive(Debug)]
pub struct SyncBudget {
    served: PeerBuckets,
    sent: PeerBuckets,
    all: Bucket,
}

impl SyncBudget {
    pub fn new(now: Instant) -> SyncBudget {
        SyncBudget {
            served: PeerBuckets::new(SYNC_PER_PEER.0, SYNC_PER_PEER.1),
            sent: PeerBuckets::new(SYNC_TOLERANCE.0, SYNC_TOLERANCE.1),
            all: Bucket::full(SYNC_ALL, now),
        }
    }

    pub fn check(&mut self, peer: PeerId, now: Instant) -> SyncVerdict {
        if !self.sent.take(peer, now) {
            return SyncVerdict::Penalise;
        }
        if !self.served.take(peer, now) {
            return SyncVerdict::Refuse;
        }
        if !self.all.take(SYNC_ALL, now) {
            // The peer's own allowance was not what ran out.
            self.served.give_back(&peer);
            return SyncVerdict::Refuse;
        }
        SyncVerdict::Serve
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[test]
    fn each_digest_is_copied_once_and_copying_stops_at_the_limit() {
        let copies = Cell::new(0);
        let get = |digest: &Hash| {
            copies.set(copies.get() + 1);
            (digest.0[0] != 0).then(|| vec![digest.0[0]; 100])
        };
        let (a, b, c, none) = (Hash([1; 32]), Hash([2; 32]), Hash([3; 32]), Hash([0; 32]));
        // A flood of one digest is one copy.
        let found = lookup(get, &vec![a; 1_000], 1 << 20);
        assert_eq!((found.len(), copies.get()), (1, 1));
        copies.set(0);
        let found = lookup(get, &[a, none, b, a, c], 250);
        assert_eq!(found, vec![vec![1; 100], vec![2; 100]]);
        assert_eq!(
            copies.get(),
            4,
            "a, none, b, then c: over the limit, not kept"
        );
    }

    #[test]
    fn sync_requests_are_budgeted_per_peer_and_in_all_and_floods_cost_the_sender() {
        let t0 = Instant::now();
        let mut budget = SyncBudget::new(t0);
        let (a, b) = (PeerId::random(), PeerId::random());
        let burst = SYNC_PER_PEER.1 as usize;
        for i in 0..burst {
            assert_eq!(budget.check(a, t0), SyncVerdict::Serve, "request {i}");
        }
        assert_eq!(budget.check(a, t0), SyncVerdict::Refuse);
        // Another peer still gets its own answers, up to the node's bound.
        let all = SYNC_ALL.1 as usize;
        for _ in 0..all - burst {
            assert_eq!(budget.check(b, t0), SyncVerdict::Serve);
        }
        assert_eq!(budget.check(PeerId::random(), t0), SyncVerdict::Refuse);
        // Half a second later peer a has one answer again.
        let later = t0 + std::time::Duration::from_millis(500);
        assert_eq!(budget.check(a, later), SyncVerdict::Serve);
        // A loop of requests: past the tolerance each one costs the sender.
        let flood: Vec<SyncVerdict> = (0..100).map(|_| budget.check(a, later)).collect();
        let penalised = flood
            .iter()
            .filter(|v| **v == SyncVerdict::Penalise)
            .count();
        assert!(!flood.contains(&SyncVerdict::Serve));
        assert!(penalised >= 100 - SYNC_TOLERANCE.1 as usize, "{penalised}");
        // An honest requester: one request every half second, never penalised.
        let mut budget = SyncBudget::new(t0);
        for i in 0..100u64 {
            let at = t0 + std::time::Duration::from_millis(500 * i);
            assert_eq!(budget.check(a, at), SyncVerdict::Serve, "request {i}");
        }
    }

    #[test]
    fn peer_buckets_stay_bounded() {
        let t0 = Instant::now();
        let mut buckets = PeerBuckets::new(1.0, 1.0);
        for _ in 0..MAX_TRACKED_PEERS {
            assert!(buckets.take(PeerId::random(), t0));
        }
        // Every peer spent its token: a new one finds no room.
        assert!(!buckets.take(PeerId::random(), t0));
        assert_eq!(buckets.tracked(), MAX_TRACKED_PEERS);
        // A second later they are all full again and forgotten to make room.
        let later = t0 + std::time::Duration::from_secs(1);
        assert!(buckets.take(PeerId::random(), later));
        assert_eq!(buckets.tracked(), 1);
    }

    #[test]
    fn answers_are_bounded_per_peer_and_in_all() {
        let server = FetchServer::default();
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        assert!(server.take(peers[0], false));
        assert!(server.take(peers[0], false));
        assert!(!server.take(peers[0], false), "a third answer for one peer");
        for peer in &peers[1..4] {
            assert!(server.take(*peer, false) && server.take(*peer, false));
        }
        assert_eq!(server.in_flight(), MAX_ANSWERS);
        assert!(!server.take(peers[4], false), "past the node's bound");
        server.give_back(peers[0]);
        assert!(server.take(peers[4], false));
        assert!(!server.take(peers[5], false));
        // Validators have room of their own: strangers at the node's bound never starve them.
        let voter = PeerId::random();
        assert!(server.take(voter, true) && server.take(voter, true));
        assert!(!server.take(voter, true), "still two per peer");
        server.give_back(voter);
        assert!(
            !server.take(peers[5], false),
            "the strangers' bound is unchanged"
        );
    }
}
