//! Batches from peers: checked cheapest first, verified once, stored by digest.
//!
//! The work is split in three so a node can verify without holding the mempool:
//! [`Mempool::screen_batch`] (size, digest, already held or committed, room), then
//! [`crate::verify_batch_bytes`] (decode and one batch verification, no mempool needed), then
//! [`Mempool::store_verified`], which checks again what may have changed meanwhile.
//! [`Mempool::receive_batch`] runs the three in a row.

use crate::error::BatchRejected;
use crate::index::{Known, Place};
use crate::store::Stored;
use crate::verify::{VerifiedBatch, check_size, digest_of, verify_screened_batch};
use crate::{Mempool, Received};
use runnet_types::Hash;
use runnet_types::batch::raw_payload_id;
use std::sync::Arc;

/// What the cheap checks say of a peer's batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screened {
    /// New here and there is room (or a proposal needs it): verify it, then store it.
    Verify(Hash),
    /// Nothing to verify: already held, or already committed.
    Done(Received),
}

impl Mempool {
    /// A batch from a peer, or one fetched because a proposal named it (`expected` = the digest
    /// asked for: a mismatch is an error). Bounded decode, digest, one batch verification,
    /// stored. A fetched batch is stored even when the store is full: the vote waits for it.
    pub fn receive_batch(
        &mut self,
        bytes: &[u8],
        expected: Option<Hash>,
    ) -> Result<Received, BatchRejected> {
        match self.screen_batch(bytes, expected)? {
            Screened::Done(received) => Ok(received),
            Screened::Verify(digest) => {
                let (chain_id, allow_raw) = (&self.config.chain_id, self.allow_raw());
                let verified = verify_screened_batch(bytes, digest, chain_id, allow_raw);
                match verified {
                    Ok(verified) => {
                        self.store_verified(bytes.to_vec(), verified, expected.is_some())
                    }
                    Err(error) => Err(self.rejected(error)),
                }
            }
        }
    }

    /// The checks that need the mempool but no signature: size, the expected digest, whether
    /// the batch is held or committed already, and room (skipped when `expected` is set).
    pub fn screen_batch(
        &mut self,
        bytes: &[u8],
        expected: Option<Hash>,
    ) -> Result<Screened, BatchRejected> {
        let screened = self.screen(bytes, expected);
        screened.map_err(|error| self.rejected(error))
    }

    fn screen(&self, bytes: &[u8], expected: Option<Hash>) -> Result<Screened, BatchRejected> {
        check_size(bytes)?;
        let digest = digest_of(bytes);
        if let Some(expected) = expected
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
        if expected.is_none() {
            self.check_room(bytes.len())?;
        }
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

    fn check_room(&self, len: usize) -> Result<(), BatchRejected> {
        if self.store.len() >= self.config.max_stored_batches
            || self.store.bytes() + len > self.config.max_stored_batch_bytes
        {
            return Err(BatchRejected::StoreFull {
                batches: self.store.len(),
                bytes: self.store.bytes(),
            });
        }
        Ok(())
    }

    /// Stores a batch that passed [`crate::verify_batch_bytes`] with this mempool's chain id
    /// and raw-payload setting. Another copy may have been stored or committed, or the store may
    /// have filled, since it was screened: that is checked again (`needed`: a proposal named
    /// it, so it is stored even when the store is full).
    pub fn store_verified(
        &mut self,
        bytes: Vec<u8>,
        verified: VerifiedBatch,
        needed: bool,
    ) -> Result<Received, BatchRejected> {
        let VerifiedBatch { digest, batch } = verified;
        if let Some(done) = self.already_here(&digest) {
            return Ok(done);
        }
        if !needed && let Err(full) = self.check_room(bytes.len()) {
            return Err(self.rejected(full));
        }
        let mut ids = Vec::with_capacity(batch.len());
        for tx in &batch.txs {
            let id = tx.hash();
            let fresh = Known {
                sender: Some(tx.sender_address()),
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
