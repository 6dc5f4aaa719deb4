//! Packing waiting items into this node's batches, oldest first, by count, size and age.
//!
//! These batches hold only transactions verified at admission, so they are stored without a
//! second check. They still count as pending (they leave with their commit) and count against
//! the batch store's bounds: while the store is full nothing is sealed, the queue fills up and
//! admission answers busy, which is the back pressure the API needs.

use crate::Mempool;
use crate::index::Place;
use crate::queue::Item;
use crate::store::Stored;
use runnet_types::batch::Sealed;
use runnet_types::{Batch, Hash, PublicKey, SignedTx};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Two length prefixes (the batch's transactions and its raw payloads), the author's key and
/// its signature.
const BATCH_OVERHEAD_BYTES: usize = 16 + 32 + 64;

/// A batch this node sealed: to broadcast.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBatch {
    pub digest: Hash,
    pub batch: Arc<Batch>,
    pub bytes: Arc<Vec<u8>>,
}

/// The next batch the queue's oldest items would make.
struct Prefix {
    seqs: Vec<u64>,
    /// Its encoded size.
    bytes: usize,
    /// Limited by count or size, rather than by the queue running out: due now.
    full: bool,
}

impl Mempool {
    /// Seals the batches that are full or whose oldest transaction waited max_batch_delay_ms;
    /// stores them and returns them for broadcast (digest, batch, encoded bytes).
    pub fn seal_due(&mut self, now_ms: u64) -> Vec<SealedBatch> {
        let mut sealed = Vec::new();
        while let Some(prefix) = self.due_prefix(now_ms) {
            if let Some(batch) = self.seal(prefix, now_ms) {
                sealed.push(batch);
            }
        }
        sealed
    }

    /// When seal_due should next be called, if something waits (a time already past means now).
    /// None while nothing waits or the batch store has no room for the next batch: call again
    /// after [`Mempool::on_commit`].
    pub fn next_seal_at(&self) -> Option<u64> {
        self.plan().map(|(due_at, _)| due_at)
    }

    fn due_prefix(&self, now_ms: u64) -> Option<Prefix> {
        self.plan()
            .and_then(|(due_at, prefix)| (due_at <= now_ms).then_some(prefix))
    }

    /// The next batch and when it is due.
    fn plan(&self) -> Option<(u64, Prefix)> {
        let oldest = self.queue.oldest()?.arrived_ms;
        let prefix = self.prefix();
        if !self.store_has_room(prefix.bytes) {
            return None;
        }
        let due_at = if prefix.full {
            oldest
        } else {
            oldest.saturating_add(self.config.max_batch_delay_ms)
        };
        Some((due_at, prefix))
    }

    fn store_has_room(&self, bytes: usize) -> bool {
        self.store.len() < self.config.max_stored_batches
            && self.store.bytes() + bytes <= self.config.max_stored_batch_bytes
    }

    fn prefix(&self) -> Prefix {
        let max_txs = self.config.max_batch_txs.max(1);
        let mut prefix = Prefix {
            seqs: Vec::new(),
            bytes: BATCH_OVERHEAD_BYTES,
            full: false,
        };
        for (seq, waiting) in self.queue.iter() {
            // One item too large for a batch still gets a batch of its own.
            if !prefix.seqs.is_empty() && prefix.bytes + waiting.size > self.config.max_batch_bytes
            {
                prefix.full = true;
                break;
            }
            prefix.seqs.push(seq);
            prefix.bytes += waiting.size;
            if prefix.seqs.len() >= max_txs || prefix.bytes >= self.config.max_batch_bytes {
                prefix.full = true;
                break;
            }
        }
        prefix
    }

    fn seal(&mut self, prefix: Prefix, now_ms: u64) -> Option<SealedBatch> {
        let mut txs = Vec::new();
        let mut raw = Vec::new();
        let mut ids = Vec::with_capacity(prefix.seqs.len());
        let mut item_bytes = 0;
        for seq in prefix.seqs {
            let Some(waiting) = self.queue.remove(seq) else {
                continue;
            };
            ids.push(waiting.id);
            item_bytes += waiting.size;
            match waiting.item {
                Item::Tx(tx) => txs.push(tx),
                Item::Raw(payload) => raw.push(payload),
            }
        }
        // One signature per sealed batch: the author answers for what it chose to carry.
        let Sealed {
            batch,
            bytes,
            digest,
        } = Batch::seal(
            nonces_in_order(txs),
            raw,
            &self.config.chain_id,
            &self.signer,
        );
        if self.store.contains(&digest) || self.recent.contains(&digest) {
            // Only raw payloads identical to an earlier batch's can get here: they were
            // delivered already.
            for id in &ids {
                self.index.remove(id);
            }
            self.stats.stale_dropped += ids.len() as u64;
            return None;
        }
        for id in &ids {
            self.index.set_place(id, Place::Stored(1));
        }
        let batch = Arc::new(batch);
        let bytes = Arc::new(bytes);
        self.own_txs += ids.len();
        self.own_bytes += item_bytes;
        let seq = self.next_seq();
        self.store.insert(
            digest,
            Stored {
                batch: batch.clone(),
                bytes: bytes.clone(),
                seq,
                own: Some((ids.len(), item_bytes)),
                ids,
                author: None,
                stored_ms: now_ms,
                repeats: 0,
            },
        );
        self.stats.batches_sealed += 1;
        Some(SealedBatch {
            digest,
            batch,
            bytes,
        })
    }
}

/// Puts each sender's transactions in nonce order within the positions they already hold, so a
/// batch never carries nonce n+1 before n (execution would skip n+1).
fn nonces_in_order(txs: Vec<SignedTx>) -> Vec<SignedTx> {
    let mut positions: BTreeMap<PublicKey, Vec<usize>> = BTreeMap::new();
    for (i, tx) in txs.iter().enumerate() {
        positions.entry(tx.body.sender).or_default().push(i);
    }
    let mut source: Vec<usize> = (0..txs.len()).collect();
    for held in positions.values().filter(|held| held.len() > 1) {
        let mut by_nonce = held.clone();
        by_nonce.sort_by_key(|&i| txs.get(i).map_or(0, |tx| tx.body.nonce));
        for (position, from) in held.iter().zip(by_nonce) {
            if let Some(slot) = source.get_mut(*position) {
                *slot = from;
            }
        }
    }
    let mut slots: Vec<Option<SignedTx>> = txs.into_iter().map(Some).collect();
    source
        .into_iter()
        .filter_map(|from| slots.get_mut(from).and_then(Option::take))
        .collect()
}
