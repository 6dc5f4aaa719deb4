//! Batches from peers: checked cheapest first, verified once, stored by digest.

use crate::error::BatchRejected;
use crate::index::{Known, Place};
use crate::store::Stored;
use crate::verify::{check_size, decode_and_verify, digest_of};
use crate::{Mempool, Received};
use runnet_types::Hash;
use std::sync::Arc;

impl Mempool {
    /// A batch from a peer, or one fetched because a proposal named it (`expected` = the digest
    /// asked for: a mismatch is an error). Bounded decode, digest, one batch verification,
    /// stored. A fetched batch is stored even when the store is full: the vote waits for it.
    pub fn receive_batch(
        &mut self,
        bytes: &[u8],
        expected: Option<Hash>,
    ) -> Result<Received, BatchRejected> {
        let result = self.receive(bytes, expected);
        match &result {
            Ok(Received::New(_)) => self.stats.batches_received += 1,
            Ok(_) => {}
            Err(error) => *self.stats.batches_rejected.entry(error.kind()).or_default() += 1,
        }
        result
    }

    fn receive(&mut self, bytes: &[u8], expected: Option<Hash>) -> Result<Received, BatchRejected> {
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
        // Same digest, same bytes: nothing to decode.
        if self.store.contains(&digest) {
            return Ok(Received::Known(digest));
        }
        if self.recent.contains(&digest) {
            return Ok(Received::AlreadyCommitted(digest));
        }
        if expected.is_none()
            && (self.store.len() >= self.config.max_stored_batches
                || self.store.bytes() + bytes.len() > self.config.max_stored_batch_bytes)
        {
            return Err(BatchRejected::StoreFull {
                batches: self.store.len(),
                bytes: self.store.bytes(),
            });
        }
        let batch = decode_and_verify(bytes, &self.config.chain_id, self.config.allow_raw)?;

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
        for raw in &batch.raw {
            let id = Hash::digest(raw);
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
                bytes: Arc::new(bytes.to_vec()),
                seq,
                ids,
                own: None,
            },
        );
        Ok(Received::New(digest))
    }

    /// The peer's batch now carries `id`: if it was waiting here, it stops waiting, so it is not
    /// batched twice.
    fn take_from_queue(&mut self, id: Hash, fresh: Known) {
        if let Some(seq) = self.index.add_batch_ref(id, fresh) {
            self.queue.remove(seq);
        }
    }
}
