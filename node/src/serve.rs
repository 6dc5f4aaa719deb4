//! Answering peers' batch fetches, off the consensus driver.
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
use tokio::sync::oneshot;

/// Answers being built for one peer at once.
pub const MAX_ANSWERS_PER_PEER: usize = 2;
/// Answers being built at once for all peers.
pub const MAX_ANSWERS: usize = 8;

/// Who is being answered now.
#[derive(Default)]
pub struct FetchServer {
    busy: Mutex<BTreeMap<PeerId, usize>>,
}

impl FetchServer {
    /// Answers `digests` for `from` through `reply`, on the blocking pool, or empty at once
    /// when the peer or the node is at its bound. Returns whether an answer is being built.
    pub fn serve(
        self: &Arc<Self>,
        shared: &Arc<Shared>,
        from: PeerId,
        digests: Vec<Hash>,
        reply: oneshot::Sender<Vec<Vec<u8>>>,
    ) -> bool {
        if !self.take(from) {
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

    fn take(&self, from: PeerId) -> bool {
        let mut busy = self.busy.lock();
        let total: usize = busy.values().sum();
        let mine = busy.entry(from).or_default();
        if *mine >= MAX_ANSWERS_PER_PEER || total >= MAX_ANSWERS {
            return false;
        }
        *mine += 1;
        true
    }

    fn give_back(&self, from: PeerId) {
        let mut busy = self.busy.lock();
        if let Some(mine) = busy.get_mut(&from) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                busy.remove(&from);
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
    fn answers_are_bounded_per_peer_and_in_all() {
        let server = FetchServer::default();
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        assert!(server.take(peers[0]));
        assert!(server.take(peers[0]));
        assert!(!server.take(peers[0]), "a third answer for one peer");
        for peer in &peers[1..4] {
            assert!(server.take(*peer) && server.take(*peer));
        }
        assert_eq!(server.in_flight(), MAX_ANSWERS);
        assert!(!server.take(peers[4]), "past the node's bound");
        server.give_back(peers[0]);
        assert!(server.take(peers[4]));
        assert!(!server.take(peers[5]));
    }
}
