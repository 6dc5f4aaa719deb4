//! Verified, uncommitted batches by digest, in arrival order, and the digests recently committed.

use crate::{FastMap, FastSet};
use runnet_types::{Address, Batch, Hash};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

pub(crate) struct Stored {
    pub batch: Arc<Batch>,
    pub bytes: Arc<Vec<u8>>,
    pub seq: u64,
    /// The ids of its items (transaction hashes, raw payload hashes), to unindex on commit.
    pub ids: Vec<Hash>,
    /// For this node's own batches: (items, bytes) it adds to the pending bound.
    pub own: Option<(usize, usize)>,
    /// The validator that pushed it, charged for its bytes under its quota; `None` for this
    /// node's own batches and for batches fetched because a proposal named them.
    pub author: Option<Address>,
    /// When it was stored (the node's clock): a batch no block names for `max_batch_age_ms`
    /// leaves the store, so nothing a peer pushed stays for ever.
    pub stored_ms: u64,
    /// Items an earlier stored batch already held when this one arrived. A pushed batch that
    /// mostly repeats others is kept (two honest validators batch what a client sent to both)
    /// but never proposed here: the batch that came first orders them.
    pub repeats: usize,
}

#[derive(Default)]
pub(crate) struct BatchStore {
    // Looked up, never iterated: the order lives in `order`.
    batches: FastMap<Hash, Stored>,
    order: BTreeMap<u64, Hash>,
    bytes: usize,
    /// Stored bytes per pushing validator, and their sum: each author lives under its quota,
    /// and all of them together leave room for this node's own batches.
    by_author: BTreeMap<Address, usize>,
    pushed_bytes: usize,
}

impl BatchStore {
    pub fn len(&self) -> usize {
        self.batches.len()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn get(&self, digest: &Hash) -> Option<&Stored> {
        self.batches.get(digest)
    }

    pub fn contains(&self, digest: &Hash) -> bool {
        self.batches.contains_key(digest)
    }

    /// Bytes stored for batches `author` pushed.
    pub fn author_bytes(&self, author: &Address) -> usize {
        self.by_author.get(author).copied().unwrap_or(0)
    }

    /// Bytes stored for batches any peer pushed.
    pub fn pushed_bytes(&self) -> usize {
        self.pushed_bytes
    }

    pub fn insert(&mut self, digest: Hash, stored: Stored) {
        self.count(&stored, true);
        self.order.insert(stored.seq, digest);
        if let Some(old) = self.batches.insert(digest, stored) {
            // Callers check `contains` first; keep the counters right regardless.
            self.count(&old, false);
            self.order.remove(&old.seq);
        }
    }

    pub fn remove(&mut self, digest: &Hash) -> Option<Stored> {
        let stored = self.batches.remove(digest)?;
        self.order.remove(&stored.seq);
        self.count(&stored, false);
        Some(stored)
    }

    /// Adds (or takes away) a stored batch's bytes to the totals it counts in.
    fn count(&mut self, stored: &Stored, add: bool) {
        let len = stored.bytes.len();
        let change = |total: &mut usize| {
            *total = if add {
                total.saturating_add(len)
            } else {
                total.saturating_sub(len)
            }
        };
        change(&mut self.bytes);
        if let Some(author) = stored.author {
            change(&mut self.pushed_bytes);
            let bytes = self.by_author.entry(author).or_default();
            change(bytes);
            if *bytes == 0 {
                self.by_author.remove(&author);
            }
        }
    }

    /// The oldest stored batch's digest and when it was stored.
    pub fn oldest(&self) -> Option<(Hash, u64)> {
        let digest = self.order.values().next()?;
        self.batches
            .get(digest)
            .map(|stored| (*digest, stored.stored_ms))
    }

    /// Oldest first.
    pub fn in_order(&self) -> impl Iterator<Item = (&Hash, &Stored)> {
        self.order
            .values()
            .filter_map(|digest| self.batches.get(digest).map(|stored| (digest, stored)))
    }
}

/// A bounded set that forgets its oldest members first.
pub(crate) struct RecentSet {
    members: FastSet<Hash>,
    order: VecDeque<Hash>,
    capacity: usize,
}

impl RecentSet {
    pub fn new(capacity: usize) -> RecentSet {
        RecentSet {
            members: FastSet::default(),
            order: VecDeque::new(),
            capacity,
        }
    }

    pub fn contains(&self, digest: &Hash) -> bool {
        self.members.contains(digest)
    }

    pub fn insert(&mut self, digest: Hash) {
        if self.capacity == 0 || !self.members.insert(digest) {
            return;
        }
        self.order.push_back(digest);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.members.len()
    }
}
