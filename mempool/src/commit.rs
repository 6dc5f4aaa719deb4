//! The proposer's side and the committed side: which stored batches to propose next,
//! forgetting what blocks committed, and dropping what no block named for too long.

use crate::index::Place;

/// What [`Mempool::payload_size`] found of a proposal's batches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PayloadSize {
    /// Items and encoded bytes of the batches held here.
    pub items: usize,
    pub bytes: usize,
    /// The batches not held here, in the order named.
    pub missing: Vec<Hash>,
    /// Held batches whose author is no longer a validator of the current or previous epoch
    /// (it was when the batch was stored): a voter refuses a proposal naming one.
    pub unknown_authors: Vec<Hash>,
}
use crate::{AccountView, Mempool};
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;

impl Mempool {
    /// For the proposer: stored, uncommitted batch digests in arrival order, skipping in_flight
    /// (named by uncommitted ancestor blocks), at most max_batches of them and at most max_txs
    /// transactions and `max_bytes` encoded batch bytes (block limits come from genesis),
    /// oldest first. A batch that would pass a limit is left for a later block and smaller later
    /// ones still fill this one; a pushed batch over the block's item limit is refused on
    /// arrival, and one that never fits ages out.
    pub fn next_payload(
        &mut self,
        in_flight: &BTreeSet<Hash>,
        max_batches: usize,
        max_txs: usize,
        max_bytes: usize,
    ) -> Vec<Hash> {
        let mut payload = Vec::new();
        let (mut txs, mut bytes) = (0usize, 0usize);
        for (digest, stored) in self.store.in_order() {
            if payload.len() >= max_batches || txs >= max_txs {
                break;
            }
            if in_flight.contains(digest) {
                continue;
            }
            // A peer's batch mostly repeating batches stored before it: those order them.
            if stored.author.is_some() && stored.repeats.saturating_mul(2) > stored.ids.len() {
                continue;
            }
            let len = stored.batch.len();
            let size = stored.bytes.len();
            if txs + len > max_txs || bytes.saturating_add(size) > max_bytes {
                continue;
            }
            txs += len;
            bytes += size;
            payload.push(*digest);
        }
        payload
    }

    /// The items and encoded bytes of those of these batches held here, and the digests not
    /// held (committed ones included: their contents are gone): what a voter checks against
    /// the block's limits, and what it must fetch first.
    pub fn payload_size(&self, digests: &[Hash]) -> PayloadSize {
        let mut size = PayloadSize::default();
        for digest in digests {
            match self.store.get(digest) {
                Some(stored) => {
                    size.items = size.items.saturating_add(stored.batch.len());
                    size.bytes = size.bytes.saturating_add(stored.bytes.len());
                    if self.author_address(&stored.batch.author).is_none() {
                        size.unknown_authors.push(*digest);
                    }
                }
                None => size.missing.push(*digest),
            }
        }
        size
    }

    /// Drops the stored batches that were stored at least `max_batch_age_ms` before `now_ms`
    /// and that no committed block named; returns how many. Their items leave the pending
    /// indexes with them (a transaction another batch still holds stays). The node calls it
    /// now and then; a batch a later proposal names is fetched again.
    pub fn expire(&mut self, now_ms: u64) -> usize {
        let mut expired = 0;
        while let Some((digest, stored_ms)) = self.store.oldest() {
            if stored_ms.saturating_add(self.config.max_batch_age_ms) > now_ms {
                break;
            }
            // An expired batch's waiting-queue senders are not touched: nothing committed.
            self.forget_batch(&digest, None);
            expired += 1;
        }
        self.stats.batches_expired += expired as u64;
        expired
    }

    /// Takes a batch out of the store with its accounting. Its items leave the index with it,
    /// or, given `newly_committed`, become committed items listed there, released when their
    /// block is executed. False when the batch was not stored.
    fn forget_batch(&mut self, digest: &Hash, mut newly_committed: Option<&mut Vec<Hash>>) -> bool {
        let Some(stored) = self.store.remove(digest) else {
            return false;
        };
        if let Some((txs, bytes)) = stored.own {
            self.own_txs = self.own_txs.saturating_sub(txs);
            self.own_bytes = self.own_bytes.saturating_sub(bytes);
        }
        for id in &stored.ids {
            match newly_committed.as_deref_mut() {
                Some(list) => {
                    if self.index.commit_batch_ref(id) {
                        list.push(*id);
                    }
                }
                None => {
                    self.index.drop_batch_ref(id);
                }
            }
        }
        true
    }

    /// Blocks up to `height` committed these batches: forget them (remember their digests in
    /// a bounded recently-committed set so a late copy is not stored or proposed again). Their
    /// items stay indexed as committed until [`Mempool::on_executed`] reaches `height`: the
    /// executed state still shows their senders' old nonces, and a copy of one of them in a
    /// stranger's flood must not be admitted and relayed a second time in between.
    pub fn on_commit(&mut self, digests: &[Hash], height: u64) {
        let mut committed = Vec::new();
        for digest in digests {
            self.recent.insert(*digest);
            if self.forget_batch(digest, Some(&mut committed)) {
                self.stats.batches_committed += 1;
            }
        }
        if committed.is_empty() {
            return;
        }
        self.unexecuted_txs = self.unexecuted_txs.saturating_add(committed.len());
        self.unexecuted.push_back((height, committed));
        // Bounded: if execution falls that far behind, the oldest are let go early (a late copy
        // of one of them could then be admitted again, and execution would skip it).
        while self.unexecuted_txs > self.config.max_unexecuted_txs {
            let Some((_, ids)) = self.unexecuted.pop_front() else {
                break;
            };
            self.unexecuted_txs = self.unexecuted_txs.saturating_sub(ids.len());
            for id in &ids {
                self.index.release_committed(id);
            }
        }
    }

    /// The block at `height` was executed and `view` shows its state: release the items of
    /// blocks up to it, and drop pending transactions made stale (nonce below the executed
    /// one) for their senders.
    pub fn on_executed(&mut self, height: u64, view: &dyn AccountView) {
        let mut touched: BTreeSet<Address> = BTreeSet::new();
        while self
            .unexecuted
            .front()
            .is_some_and(|(committed_at, _)| *committed_at <= height)
        {
            let Some((_, ids)) = self.unexecuted.pop_front() else {
                break;
            };
            self.unexecuted_txs = self.unexecuted_txs.saturating_sub(ids.len());
            for id in &ids {
                if let Some(sender) = self.index.release_committed(id) {
                    touched.insert(sender);
                }
            }
        }
        for sender in touched {
            let (_, executed) = view.account(&sender);
            for (id, known) in self.index.below(&sender, executed) {
                // Those in stored batches cannot be taken out: they leave with their batch and
                // execution skips them.
                if let Place::Waiting(seq) = known.place {
                    self.queue.remove(seq);
                    self.index.remove(&id);
                    self.stats.stale_dropped += 1;
                }
            }
        }
    }
}
