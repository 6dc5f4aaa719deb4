//! The one acceptance rule for a batch that comes from outside, shared by gossip, fetches and
//! block sync: bounded decode, chain id, raw payloads only where enabled, the author's signature,
//! one batch verification. Whether the author may author batches is the store's question
//! ([`crate::Mempool::store_verified`]): it needs the validator sets.

use crate::error::{BatchRejected, quoted};
use runnet_types::batch::{BatchError, MAX_BATCH_BYTES};
use runnet_types::{Batch, Hash};

/// A batch that passed [`verify_batch_bytes`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedBatch {
    pub digest: Hash,
    pub batch: Batch,
    /// The transactions' ids, in order, hashed once outside the mempool's lock.
    pub tx_ids: Vec<Hash>,
}

impl VerifiedBatch {
    /// A batch its holder vouches for, with its transactions' ids hashed here.
    pub fn new(digest: Hash, batch: Batch) -> VerifiedBatch {
        let tx_ids = tx_ids(&batch);
        VerifiedBatch {
            digest,
            batch,
            tx_ids,
        }
    }
}

/// The ids of `batch`'s transactions, in order.
pub fn tx_ids(batch: &Batch) -> Vec<Hash> {
    batch.txs.iter().map(|tx| tx.hash()).collect()
}

/// Checks a batch's bytes without storing anything: what [`crate::Mempool::receive_batch`]
/// applies, for paths that do not go through the mempool (block sync).
pub fn verify_batch_bytes(
    bytes: &[u8],
    chain_id: &str,
    allow_raw: bool,
) -> Result<VerifiedBatch, BatchRejected> {
    check_size(bytes)?;
    verify_screened_batch(bytes, Batch::digest_of_encoded(bytes), chain_id, allow_raw)
}

/// [`verify_batch_bytes`] for bytes that passed [`crate::Mempool::screen_batch`], which checked
/// their size and gave `digest` ([`crate::Screened::Verify`]): a batch is hashed once.
pub fn verify_screened_batch(
    bytes: &[u8],
    digest: Hash,
    chain_id: &str,
    allow_raw: bool,
) -> Result<VerifiedBatch, BatchRejected> {
    let batch = Batch::decode(bytes).map_err(BatchRejected::Decode)?;
    let ids = tx_ids(&batch);
    verify_decoded_batch(batch, ids, digest, chain_id, allow_raw)
}

/// [`verify_screened_batch`] for a batch the caller decoded already from the bytes `digest`
/// names, with its transactions' ids ([`tx_ids`]): a batch is decoded once and each
/// transaction hashed once.
pub fn verify_decoded_batch(
    batch: Batch,
    tx_ids: Vec<Hash>,
    digest: Hash,
    chain_id: &str,
    allow_raw: bool,
) -> Result<VerifiedBatch, BatchRejected> {
    let batch = verify(batch, &digest, chain_id, allow_raw)?;
    Ok(VerifiedBatch {
        digest,
        batch,
        tx_ids,
    })
}

pub(crate) fn check_size(bytes: &[u8]) -> Result<(), BatchRejected> {
    if bytes.len() > MAX_BATCH_BYTES {
        return Err(BatchRejected::Oversized {
            len: bytes.len(),
            limit: MAX_BATCH_BYTES,
        });
    }
    Ok(())
}

/// Everything after the size check and the decoding, cheapest first: the signatures come last.
fn verify(
    batch: Batch,
    digest: &Hash,
    chain_id: &str,
    allow_raw: bool,
) -> Result<Batch, BatchRejected> {
    if batch.is_empty() {
        return Err(BatchRejected::Empty);
    }
    if !allow_raw && !batch.raw.is_empty() {
        return Err(BatchRejected::RawDisabled);
    }
    if let Some((position, tx)) = batch
        .txs
        .iter()
        .enumerate()
        .find(|(_, tx)| tx.body.chain_id != chain_id)
    {
        return Err(BatchRejected::WrongChainId {
            position,
            got: quoted(&tx.body.chain_id),
        });
    }
    // The author's signature before the transactions': one check refuses a forged batch.
    batch
        .verify_author_of(digest, chain_id)
        .map_err(|_| BatchRejected::BadAuthorSignature)?;
    batch.verify_signatures().map_err(|error| match error {
        BatchError::BadSignatures(positions) => BatchRejected::BadSignatures(positions),
        other => BatchRejected::Decode(other),
    })?;
    Ok(batch)
}
