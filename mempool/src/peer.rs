//! Batches from peers: checked cheapest first, verified once, screened against committed
//! state, stored by digest under their author's quota.
//!
//! The work is split in three so a node can verify without holding the mempool:
//! [`Mempool::screen_batch`] (size, digest, already held or committed, room), then
//! [`crate::verify_batch_bytes`] (decode and one batch verification, no mempool needed), then
//! [`Mempool::store_verified`], which checks again what may have changed meanwhile and, for a
//! pushed batch, whether its transactions could execute at all. [`Mempool::receive_batch`] runs
//! the three in a row.
//!
//! What a pushed batch must pass, and why: it may not hold more items than a block (it could
//! never be proposed) nor the same item twice (no honest sealer repeats one), and at most half
//! of its transactions may be dead against committed state (nonce already used or beyond the
//! window, gas price or limit out of bounds, more gas than the sender's balance covers, or
//! already in another stored batch). Honest batches lose a few transactions to races between
//! validators; a batch stuffed with copies of one paid transaction is refused whole, and the
//! node scores its author down.

use crate::AccountView;
use crate::error::BatchRejected;
use crate::index::{Known, Place};
use crate::store::Stored;
use crate::verify::{VerifiedBatch, check_size, verify_screened_batch};
use crate::{FastSet, Mempool, Received};
use runnet_types::batch::raw_payload_id;
use runnet_types::{Address, Batch, Hash};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Where a batch from outside came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Pushed by the validator at this address (the node maps the sending peer to it; a peer
    /// that is no validator of the current set never pushes a batch into the store).
    Pushed(Address),
    /// Fetched because a proposal named this digest: a vote waits for it, so it is stored even
    /// past the store's bound, up to `max_fetched_overflow_bytes`.
    Fetched(Hash),
}

impl Source {
    fn expected(&self) -> Option<Hash> {
        match self {
            Source::Fetched(digest) => Some(*digest),
            Source::Pushed(_) => None,
        }
    }
}

/// What the cheap checks say of a peer's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screened {
    /// New here and there is room (or a proposal needs it): verify it, then store it.
    Verify(Hash),
    /// Nothing to verify: already held, or already committed.
    Done(Received),
}

impl Mempool {
    /// A batch a validator pushed, or one fetched because a proposal named it (a digest
    /// mismatch is an error). Bounded decode, digest, one batch verification, the screen
    /// against committed state (`view`), stored at `now_ms`.
    pub fn receive_batch(
        &mut self,
        bytes: &[u8],
        source: Source,
        view: &dyn AccountView,
        now_ms: u64,
    ) -> Result<Received, BatchRejected> {
        match self.screen_batch(bytes, source)? {
            Screened::Done(received) => Ok(received),
            Screened::Verify(digest) => {
                let (chain_id, allow_raw) = (&self.config.chain_id, self.allow_raw());
                let verified = verify_screened_batch(bytes, digest, chain_id, allow_raw);
                match verified {
                    Ok(verified) => {
                        self.store_verified(bytes.to_vec(), verified, source, view, now_ms)
                    }
                    Err(error) => Err(self.rejected(error)),
                }
            }
        }
    }

    /// The checks that need the mempool but no signature: size, the expected digest, whether
    /// the batch is held or committed already, and room.
    pub fn screen_batch(
        &mut self,
        bytes: &[u8],
        source: Source,
    ) -> Result<Screened, BatchRejected> {
        let screened = self.screen(bytes, source);
        screened.map_err(|error| self.rejected(error))
    }

    fn screen(&self, bytes: &[u8], source: Source) -> Result<Screened, BatchRejected> {
        check_size(bytes)?;
        // Before decoding: the digest is the hash of the bytes but the signature.
        let digest = Batch::digest_of_encoded(bytes);
        if let Some(expected) = source.expected()
            && expected != digest
        {
            return Err(BatchRejected::DigestMismatch {
                expected,
                got: digest,
            });
        }
        if let Some(done) = self.already_here(&digest) {
            return Ok(Screened::Done(done));
        }
        self.check_room(bytes.len(), source)?;
        Ok(Screened::Verify(digest))
    }

    /// Same digest, same bytes: a batch held or committed needs no decoding.
    fn already_here(&self, digest: &Hash) -> Option<Received> {
        if self.store.contains(digest) {
            Some(Received::Known(*digest))
        } else if self.recent.contains(digest) {
            Some(Received::AlreadyCommitted(*digest))
        } else {
            None
        }
    }

    /// A pushed batch fits its author's quota and the store less the room kept for this
    /// node's own batches; a fetched one fits the store plus the overflow a vote may need.
    fn check_room(&self, len: usize, source: Source) -> Result<(), BatchRejected> {
        let full = || BatchRejected::StoreFull {
            batches: self.store.len(),
            bytes: self.store.bytes(),
        };
        let config = &self.config;
        match source {
            Source::Pushed(author) => {
                let bytes = self.store.author_bytes(&author);
                if bytes.saturating_add(len) > config.max_author_batch_bytes {
                    return Err(BatchRejected::AuthorQuota {
                        bytes,
                        quota: config.max_author_batch_bytes,
                    });
                }
                let room = config
                    .max_stored_batch_bytes
                    .saturating_sub(config.reserved_own_batch_bytes);
                if self.store.len() >= config.max_stored_batches
                    || self.store.pushed_bytes().saturating_add(len) > room
                    || self.store.bytes().saturating_add(len) > config.max_stored_batch_bytes
                {
                    return Err(full());
                }
            }
            Source::Fetched(_) => {
                let bound = config
                    .max_stored_batch_bytes
                    .saturating_add(config.max_fetched_overflow_bytes);
                if self.store.bytes().saturating_add(len) > bound {
                    return Err(full());
                }
            }
        }
        Ok(())
    }

    /// The author is a validator of the current or previous epoch, and a pushed batch's author
    /// is the validator that pushed it: nobody else answers for it (docs/economy.md).
    fn check_author(&self, batch: &Batch, source: Source) -> Result<(), BatchRejected> {
        let author = batch.author;
        match (self.author_address(&author), source) {
            (None, _) => Err(BatchRejected::UnknownAuthor { author }),
            (Some(address), Source::Pushed(pusher)) if address != pusher => {
                Err(BatchRejected::WrongAuthor { author })
            }
            _ => Ok(()),
        }
    }

    /// The screen of a pushed batch against committed state (the module comment says why).
    /// `txs`: each transaction's id and sender, computed once by the caller.
    fn check_contents(
        &self,
        batch: &Batch,
        txs: &[(Hash, Address)],
        view: &dyn AccountView,
    ) -> Result<(), BatchRejected> {
        let items = batch.len();
        if items > self.config.max_block_items {
            return Err(BatchRejected::TooManyItems {
                items,
                limit: self.config.max_block_items,
            });
        }
        let mut seen: FastSet<Hash> = FastSet::default();
        seen.reserve(items);
        let ids = txs
            .iter()
            .map(|(id, _)| Some(*id))
            .chain(batch.raw.iter().map(|raw| raw_payload_id(raw)));
        for (position, id) in ids.enumerate() {
            if let Some(id) = id
                && !seen.insert(id)
            {
                return Err(BatchRejected::Duplicate { position });
            }
        }
        let dead = self.dead_txs(batch, txs, view);
        if dead.saturating_mul(2) > batch.txs.len() {
            return Err(BatchRejected::Junk { dead, items });
        }
        Ok(())
    }

    /// How many of the batch's transactions could not execute against committed state.
    fn dead_txs(&self, batch: &Batch, txs: &[(Hash, Address)], view: &dyn AccountView) -> usize {
        let config = &self.config;
        // Per sender: (balance, committed nonce) read once, and the gas cost so far.
        let mut senders: BTreeMap<Address, (u64, u64, u128)> = BTreeMap::new();
        let mut dead = 0;
        for (tx, (id, sender)) in batch.txs.iter().zip(txs) {
            let body = &tx.body;
            let sender = *sender;
            let (balance, committed, spent) = senders.entry(sender).or_insert_with(|| {
                let (balance, nonce) = view.account(&sender);
                (balance, nonce, 0)
            });
            let cost = u128::from(body.gas_limit) * u128::from(body.gas_price);
            *spent = spent.saturating_add(cost);
            // Committed in a block not yet executed counts as stale already.
            let stale = body.nonce < *committed
                || self
                    .index
                    .get(id)
                    .is_some_and(|known| known.place == Place::Committed);
            let ahead = body.nonce >= committed.saturating_add(config.nonce_window);
            let priced = body.gas_price >= config.min_gas_price.max(1)
                && body.gas_limit <= config.max_gas_limit;
            let affordable = *spent <= u128::from(*balance);
            // Held by another stored batch is not dead: two honest validators batch what a
            // client sent to both, and calling that junk made them ban each other. Such a
            // batch is kept and not proposed here (`next_payload`).
            if stale || ahead || !priced || !affordable {
                dead += 1;
            }
        }
        dead
    }

    /// Stores a batch that passed [`crate::verify_batch_bytes`] with this mempool's chain id
    /// and raw-payload setting. Another copy may have been stored or committed, or the store may
    /// have filled, since it was screened: that is checked again. A pushed batch is screened
    /// against committed state (`view`) first; a fetched one is not, since a proposal already
    /// named it and the vote checks the block as a whole.
    pub fn store_verified(
        &mut self,
        bytes: Vec<u8>,
        verified: VerifiedBatch,
        source: Source,
        view: &dyn AccountView,
        now_ms: u64,
    ) -> Result<Received, BatchRejected> {
        let VerifiedBatch {
            digest,
            batch,
            tx_ids,
        } = verified;
        if let Some(done) = self.already_here(&digest) {
            return Ok(done);
        }
        if let Err(error) = self.check_author(&batch, source) {
            return Err(self.rejected(error));
        }
        // Each transaction was hashed once, by the verification, for the screen and the index
        // alike.
        let txs: Vec<(Hash, Address)> = tx_ids
            .into_iter()
            .zip(batch.txs.iter().map(|tx| tx.sender_address()))
            .collect();
        let checked = self
            .check_room(bytes.len(), source)
            .and_then(|()| match source {
                Source::Pushed(_) => self.check_contents(&batch, &txs, view),
                Source::Fetched(_) => Ok(()),
            });
        if let Err(error) = checked {
            return Err(self.rejected(error));
        }
        let author = match source {
            Source::Pushed(author) => Some(author),
            Source::Fetched(_) => None,
        };
        let mut ids = Vec::with_capacity(batch.len());
        let held = |id: &Hash| {
            matches!(
                self.index.get(id).map(|known| known.place),
                Some(Place::Stored(_) | Place::Committed)
            )
        };
        let repeats = txs.iter().filter(|(id, _)| held(id)).count();
        for (tx, (id, sender)) in batch.txs.iter().zip(txs) {
            let fresh = Known {
                sender: Some(sender),
                nonce: tx.body.nonce,
                cost: u128::from(tx.body.gas_limit) * u128::from(tx.body.gas_price),
                place: Place::Stored(1),
            };
            self.take_from_queue(id, fresh);
            ids.push(id);
        }
        // Decoding refused payloads too short to have an id.
        for id in batch.raw.iter().filter_map(|raw| raw_payload_id(raw)) {
            let fresh = Known {
                sender: None,
                nonce: 0,
                cost: 0,
                place: Place::Stored(1),
            };
            self.take_from_queue(id, fresh);
            ids.push(id);
        }
        let seq = self.next_seq();
        self.store.insert(
            digest,
            Stored {
                batch: Arc::new(batch),
                bytes: Arc::new(bytes),
                seq,
                ids,
                own: None,
                author,
                stored_ms: now_ms,
                repeats,
            },
        );
        self.stats.batches_received += 1;
        Ok(Received::New(digest))
    }

    /// Whether raw payloads are accepted, for verifying outside the mempool.
    pub fn allow_raw(&self) -> bool {
        self.config.allow_raw
    }

    /// Counts a refusal; the caller also uses it for refusals found outside (verification).
    pub fn rejected(&mut self, error: BatchRejected) -> BatchRejected {
        *self.stats.batches_rejected.entry(error.kind()).or_default() += 1;
        error
    }

    /// The peer's batch now carries `id`: if it was waiting here, it stops waiting, so it is not
    /// batched twice.
    fn take_from_queue(&mut self, id: Hash, fresh: Known) {
        if let Some(seq) = self.index.add_batch_ref(id, fresh) {
            self.queue.remove(seq);
        }
    }
}
