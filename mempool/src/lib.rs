//! The mempool: admits transactions, packs them into batches, verifies every batch once, stores
//! batches by digest, hands the proposer digests and drops what commits made stale.
//!
//! A transaction from the API is decoded within bounds, checked against the node's view of
//! committed accounts (chain id, gas price and limit, nonce window, balance for its maximum gas)
//! and its signature verified once; it then waits in a queue until [`Mempool::seal_due`] packs it
//! into a [`Batch`] by count, size or age. Those batches are never verified again. A peer's batch
//! is verified once on arrival with one batch verification and refused whole if any signature is
//! bad. Verified batches are stored by digest until a committed block names them. Everything is
//! bounded: the waiting and own-batched transactions by count and bytes (the cheapest waiting one
//! is evicted for a better-paying newcomer, otherwise the answer is "busy"), the stored batches by
//! count and bytes. The struct is synchronous and reads no clock: time comes in as `now_ms`.

mod admit;
mod commit;
mod config;
mod error;
mod index;
mod peer;
mod queue;
mod seal;
mod stats;
mod store;
mod verify;

#[cfg(test)]
mod tests;

pub use admit::{Prechecked, Verified};
pub use commit::PayloadSize;
pub use config::{AccountView, MempoolConfig};
pub use error::{AdmitError, BatchRejected};
pub use peer::{Screened, Source};
pub use seal::SealedBatch;
pub use stats::MempoolStats;

/// Maps keyed by ids, digests and addresses, which a loaded node looks up several times for every
/// item (the commit bookkeeping alone was 5 % of its CPU with std's SipHash). foldhash is several
/// times faster and still seeded per process, so peers cannot aim collisions at it; raw payload
/// ids are not hashes, so a hasher that trusts its keys to be random would not do. None of these
/// maps is iterated where order matters.
type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
pub use verify::{
    VerifiedBatch, tx_ids, verify_batch_bytes, verify_decoded_batch, verify_screened_batch,
};

use index::TxIndex;
use queue::Queue;
use runnet_types::{Address, Batch, Hash, PublicKey, SecretKey};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use store::{BatchStore, RecentSet};

/// What became of a peer's batch that was not refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Received {
    /// Verified and stored.
    New(Hash),
    /// Already stored: nothing was done.
    Known(Hash),
    /// A block already committed it: not stored, never proposed again.
    AlreadyCommitted(Hash),
}

pub struct Mempool {
    config: MempoolConfig,
    index: TxIndex,
    /// Admitted items waiting for a batch.
    queue: Queue,
    store: BatchStore,
    recent: RecentSet,
    /// Committed items not yet executed, by the height of the block that committed them,
    /// oldest first, and how many they are ([`Mempool::on_commit`]).
    unexecuted: VecDeque<(u64, Vec<Hash>)>,
    unexecuted_txs: usize,
    /// Items and bytes in this node's own stored batches: they still count as pending.
    own_txs: usize,
    own_bytes: usize,
    /// Orders the queue and the store by arrival.
    next_seq: u64,
    /// Counters; the sizes are filled in by [`Mempool::stats`].
    stats: MempoolStats,
    /// Signs every batch this node seals: the validator's consensus key (a full node's is one
    /// no committee holds, and validators take its batches apart).
    signer: SecretKey,
    /// Who may author a stored batch: the consensus keys of the validators of the current and
    /// the previous epoch, with their addresses ([`Mempool::set_authors`]).
    authors: BTreeMap<PublicKey, Address>,
}

impl Mempool {
    /// A mempool whose batches `signer` seals and signs (the validator's consensus key).
    /// Nobody may author a peer's batch until [`Mempool::set_authors`] names the validators.
    pub fn new(config: MempoolConfig, signer: SecretKey) -> Mempool {
        let recent = RecentSet::new(config.max_recent_committed);
        Mempool {
            config,
            index: TxIndex::default(),
            queue: Queue::default(),
            store: BatchStore::default(),
            recent,
            unexecuted: VecDeque::new(),
            unexecuted_txs: 0,
            own_txs: 0,
            own_bytes: 0,
            next_seq: 0,
            stats: MempoolStats::default(),
            signer,
            authors: BTreeMap::new(),
        }
    }

    /// The validators that may author a batch this node stores, by consensus key: those of the
    /// current and the previous epoch (the node sets them at start and at each epoch change).
    pub fn set_authors(&mut self, authors: BTreeMap<PublicKey, Address>) {
        self.authors = authors;
    }

    /// The validator a batch author's key belongs to, if it may author batches now.
    pub fn author_address(&self, author: &PublicKey) -> Option<Address> {
        self.authors.get(author).copied()
    }

    /// The key this node's batches name as their author.
    pub fn author_key(&self) -> PublicKey {
        self.signer.public()
    }

    /// Names this node as the author of `batch` and signs it, as [`Mempool::seal_due`] does
    /// (for batches built outside the mempool: the byzantine test modes').
    pub fn sign_batch(&self, batch: &mut Batch) {
        batch.sign(&self.config.chain_id, &self.signer);
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    pub fn batch(&self, digest: &Hash) -> Option<Arc<Batch>> {
        self.store.get(digest).map(|stored| stored.batch.clone())
    }

    /// The batch's encoding, to serve peers.
    pub fn batch_bytes(&self, digest: &Hash) -> Option<Arc<Vec<u8>>> {
        self.store.get(digest).map(|stored| stored.bytes.clone())
    }

    /// Whether a digest was committed recently (within the last `max_recent_committed`).
    pub fn is_committed(&self, digest: &Hash) -> bool {
        self.recent.contains(digest)
    }

    /// Whether a transaction (or raw payload) is held uncommitted: waiting for a batch here, or in
    /// a stored batch of this node or a peer.
    pub fn is_pending(&self, tx: &Hash) -> bool {
        self.index
            .get(tx)
            .is_some_and(|known| known.place != index::Place::Committed)
    }

    /// The next nonce for `address` counting its pending transactions: the first one from
    /// `committed_nonce` on that no pending transaction holds.
    pub fn next_nonce(&self, address: &Address, committed_nonce: u64) -> u64 {
        self.index.next_nonce(address, committed_nonce)
    }

    pub fn stats(&self) -> MempoolStats {
        MempoolStats {
            pending_txs: self.pending_txs(),
            pending_bytes: self.pending_bytes(),
            waiting_txs: self.queue.len(),
            stored_batches: self.store.len(),
            stored_batch_bytes: self.store.bytes(),
            ..self.stats.clone()
        }
    }

    fn pending_txs(&self) -> usize {
        self.queue.len() + self.own_txs
    }

    fn pending_bytes(&self) -> usize {
        self.queue.bytes() + self.own_bytes
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }
}
