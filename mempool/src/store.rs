//! Verified, uncommitted batches by digest, in arrival order, and the digests recently committed.

use crate::{FastMap, FastSet};
use runnet_types::{Batch, Hash};
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
}

#[derive(Default)]
pub(crate) struct BatchStore {
    // Looked up, never iterated: the order lives in `order`.
    batches: FastMap<Hash, Stored>,
    order: BTreeMap<u64, Hash>,
    bytes: usize,
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

    pub fn insert(&mut self, digest: Hash, stored: Stored) {
        self.bytes += stored.bytes.len();
        self.order.insert(stored.seq, digest);
        if let Some(old) = self.batches.insert(digest, stored) {
            // Callers check `contains` first; keep the counters right regardless.
            self.bytes -= old.bytes.len();
            self.order.remove(&old.seq);
        }
    }

    pub fn remove(&mut self, digest: &Hash) -> Option<Stored> {
        let stored = self.batches.remove(digest)?;
        self.order.remove(&stored.seq);
        self.bytes -= stored.bytes.len();
        Some(stored)
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
