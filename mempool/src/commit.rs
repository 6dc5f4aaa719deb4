//! The proposer's side and the committed side: which stored batches to propose next, and
//! forgetting what blocks committed.

use crate::index::Place;
use crate::{AccountView, Mempool};
use runnet_types::{Address, Hash};
use std::collections::BTreeSet;

impl Mempool {
    /// For the proposer: stored, uncommitted batch digests in arrival order, skipping in_flight
    /// (named by uncommitted ancestor blocks), at most max_batches of them and at most max_txs
    /// transactions (block limits come from genesis), oldest first. A batch that would pass
    /// max_txs is left for a later block and smaller later ones still fill this one, so
    /// `max_batch_txs` must not exceed the block's limit or such a batch waits forever.
    pub fn next_payload(
        &mut self,
        in_flight: &BTreeSet<Hash>,
        max_batches: usize,
        max_txs: usize,
    ) -> Vec<Hash> {
        let mut payload = Vec::new();
        let mut txs = 0usize;
        for (digest, stored) in self.store.in_order() {
            if payload.len() >= max_batches || txs >= max_txs {
                break;
            }
            if in_flight.contains(digest) {
                continue;
            }
            let len = stored.batch.len();
            if txs + len > max_txs {
                continue;
            }
            txs += len;
            payload.push(*digest);
        }
        payload
    }

    /// Blocks committed these batches: forget them (remember their digests in a bounded
    /// recently-committed set so a late copy is not stored or proposed again), drop their
    /// transactions from the pending indexes, and drop pending transactions made stale
    /// (nonce below the committed one) for the senders touched.
    pub fn on_commit(&mut self, digests: &[Hash], view: &dyn AccountView) {
        let mut touched: BTreeSet<Address> = BTreeSet::new();
        for digest in digests {
            self.recent.insert(*digest);
            let Some(stored) = self.store.remove(digest) else {
                continue;
            };
            self.stats.batches_committed += 1;
            if let Some((txs, bytes)) = stored.own {
                self.own_txs = self.own_txs.saturating_sub(txs);
                self.own_bytes = self.own_bytes.saturating_sub(bytes);
            }
            for id in &stored.ids {
                if let Some(sender) = self.index.drop_batch_ref(id) {
                    touched.insert(sender);
                }
            }
        }
        for sender in touched {
            let (_, committed) = view.account(&sender);
            for (id, known) in self.index.below(&sender, committed) {
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
