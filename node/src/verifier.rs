//! The batch verifier: peers' batches are decoded and their signatures verified on this thread,
//! never on the driver's and never under the mempool's lock.
//!
//! A 4,000-transaction batch costs about 40 ms of signature checks. Done by the driver, every
//! consensus message queued behind it waited that long, and with a full network's batches
//! arriving faster than one core verifies them, rounds timed out and throughput collapsed.
//! Here the driver hands batches over and goes on; the mempool is locked only for the cheap
//! screen before verification and for storing after it.
//!
//! Only validators push batches into the store: a batch from any other peer (a full node
//! relaying what its clients sent) is taken apart and its transactions go through the same
//! admission as the API's, so a stranger can never fill the store, only this node's pending
//! bounds, which its own clients share with it.
//!
//! Two queues, served in priority order: batches a proposal named and this node fetched (the
//! vote waits for them), then batches peers pushed. The pushed ones are bounded: past the bound
//! a batch is dropped and counted, which is safe, since a proposal that names it makes this node
//! fetch it. That is how a node that cannot keep up sheds load instead of falling ever further
//! behind.
//!
//! A fetched batch is sized before it is verified: its bytes and, decoded, its items. When the
//! batches a fetch brought take the proposal past the block's limits, no signature is checked
//! and the sizes are kept in [`Sizes`]; the proposal is then refused over the limit. Otherwise a
//! leader naming junk batches of tens of thousands of copies made every voter check every copy's
//! signature before it could count them (a `poison-block` attack stalled a testnet).

use crate::runtime::{Shared, StateView, now_ms};
use libp2p::PeerId;
use parking_lot::{Condvar, Mutex};
use runnet_mempool::{
    AdmitError, BatchRejected, Received, Screened, Source, tx_ids, verify_decoded_batch,
};
use runnet_p2p::Offence;
use runnet_types::{Address, Batch, Hash};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Pushed batches waiting for verification, at most (a full network's worth of a few rounds).
const MAX_QUEUED_BATCHES: usize = 256;
/// And at most these many bytes of them.
const MAX_QUEUED_BYTES: usize = 64 << 20;

/// Fetched batches whose digests matched but that were not verified, since with them the
/// proposal that named them is over the block's limits: digest → (items, bytes). Bounded by
/// [`MAX_SIZED`]; only sizes, never the bytes.
pub type Sizes = Arc<Mutex<BTreeMap<Hash, (usize, usize)>>>;
/// Sized batches remembered at most; past it the memo starts again empty.
pub const MAX_SIZED: usize = 4_096;

/// Room left in a proposal for its missing batches: (items, bytes).
pub type Room = (usize, usize);

/// What the verifier tells the driver.
#[derive(Debug)]
pub enum Verdict {
    /// A new batch is stored: a proposal may now use it, or a parked one may go on.
    Stored,
    /// A peer's batch broke the rules.
    Offence(PeerId, Offence),
    /// A fetch's batches are handled: `asked` may be fetched again if still missing; `any`
    /// says whether one of them is now held.
    Fetched { asked: Vec<Hash>, any: bool },
}

struct Fetched {
    asked: Vec<Hash>,
    found: Vec<Vec<u8>>,
    room: Room,
}

/// A batch a peer pushed; `author` is the validator behind the peer, `None` for any other peer.
struct Pushed {
    from: PeerId,
    author: Option<Address>,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Queues {
    fetched: VecDeque<Fetched>,
    pushed: VecDeque<Pushed>,
    pushed_bytes: usize,
    closed: bool,
}

/// The driver's handle; dropping it stops the thread once its queues are empty.
pub struct Verifier {
    queues: Arc<(Mutex<Queues>, Condvar)>,
}

impl Verifier {
    /// Starts the thread; verdicts arrive on the returned receiver.
    pub fn start(
        shared: Arc<Shared>,
        sizes: Sizes,
    ) -> std::io::Result<(Verifier, mpsc::UnboundedReceiver<Verdict>)> {
        let queues = Arc::new((Mutex::new(Queues::default()), Condvar::new()));
        let (verdicts, receiver) = mpsc::unbounded_channel();
        let worker = queues.clone();
        std::thread::Builder::new()
            .name("batch-verifier".into())
            .spawn(move || run(&shared, &sizes, &worker, &verdicts))?;
        Ok((Verifier { queues }, receiver))
    }

    /// A batch a peer pushed (`author`: the validator behind it, if any). False when it was
    /// dropped because the queue is full.
    pub fn pushed(&self, from: PeerId, author: Option<Address>, bytes: Vec<u8>) -> bool {
        let (lock, wake) = &*self.queues;
        let mut queues = lock.lock();
        if queues.pushed.len() >= MAX_QUEUED_BATCHES
            || queues.pushed_bytes + bytes.len() > MAX_QUEUED_BYTES
        {
            return false;
        }
        queues.pushed_bytes += bytes.len();
        queues.pushed.push_back(Pushed {
            from,
            author,
            bytes,
        });
        wake.notify_one();
        true
    }

    /// Batches fetched because a proposal named them: served before any pushed batch.
    pub fn fetched(&self, asked: Vec<Hash>, found: Vec<Vec<u8>>, room: Room) {
        let (lock, wake) = &*self.queues;
        lock.lock()
            .fetched
            .push_back(Fetched { asked, found, room });
        wake.notify_one();
    }

    /// Pushed batches waiting.
    pub fn queued(&self) -> usize {
        self.queues.0.lock().pushed.len()
    }
}

impl Drop for Verifier {
    fn drop(&mut self) {
        let (lock, wake) = &*self.queues;
        lock.lock().closed = true;
        wake.notify_one();
    }
}

enum Job {
    Fetched(Fetched),
    Pushed(Pushed),
}

fn next_job(queues: &(Mutex<Queues>, Condvar)) -> Option<Job> {
    let (lock, wake) = queues;
    let mut queues = lock.lock();
    loop {
        if let Some(fetched) = queues.fetched.pop_front() {
            return Some(Job::Fetched(fetched));
        }
        if let Some(pushed) = queues.pushed.pop_front() {
            queues.pushed_bytes = queues.pushed_bytes.saturating_sub(pushed.bytes.len());
            return Some(Job::Pushed(pushed));
        }
        if queues.closed {
            return None;
        }
        wake.wait(&mut queues);
    }
}

fn run(
    shared: &Shared,
    sizes: &Sizes,
    queues: &(Mutex<Queues>, Condvar),
    verdicts: &mpsc::UnboundedSender<Verdict>,
) {
    while let Some(job) = next_job(queues) {
        let verdict = match job {
            Job::Pushed(Pushed {
                from,
                author: None,
                bytes,
            }) => relay(shared, from, &bytes),
            Job::Pushed(Pushed {
                from,
                author: Some(author),
                bytes,
            }) => match admit(shared, bytes, Source::Pushed(author)) {
                Ok(Received::New(_)) => {
                    shared.metrics.batches_received.inc();
                    Some(Verdict::Stored)
                }
                Ok(_) => None,
                Err(error) => {
                    tracing::debug!(%from, "batch refused: {error}");
                    shared.metrics.batches_refused.inc();
                    shared.metrics.batch_refused_by(error.kind());
                    match error {
                        _ if error.is_busy() => None,
                        BatchRejected::BadSignatures(_) | BatchRejected::BadAuthorSignature => {
                            Some(Verdict::Offence(from, Offence::BadSignature))
                        }
                        _ => Some(Verdict::Offence(from, Offence::Malformed)),
                    }
                }
            },
            Job::Fetched(Fetched { asked, found, room }) => {
                let found: Vec<(Hash, Vec<u8>)> = found
                    .into_iter()
                    .map(|bytes| (Batch::digest_of_encoded(&bytes), bytes))
                    .filter(|(digest, _)| asked.contains(digest))
                    .collect();
                if let Some(sized) = over_room(&found, room) {
                    let mut memo = sizes.lock();
                    if memo.len() + sized.len() > MAX_SIZED {
                        memo.clear();
                    }
                    memo.extend(sized);
                    shared
                        .metrics
                        .consensus_refused_by("over_limit_unverified", 1);
                    // The driver checks the proposal again and finds it over the limit.
                    return_verdict(verdicts, Verdict::Fetched { asked, any: true });
                    continue;
                }
                let mut any = false;
                // Hashed once above; `found` holds only what was asked.
                for (digest, bytes) in found {
                    match admit(shared, bytes, Source::Fetched(digest)) {
                        Ok(Received::New(_) | Received::Known(_)) => any = true,
                        Ok(Received::AlreadyCommitted(_)) => {}
                        Err(e) => tracing::debug!("fetched batch refused: {e}"),
                    }
                }
                Some(Verdict::Fetched { asked, any })
            }
        };
        if let Some(verdict) = verdict
            && verdicts.send(verdict).is_err()
        {
            return;
        }
    }
}

fn return_verdict(verdicts: &mpsc::UnboundedSender<Verdict>, verdict: Verdict) {
    let _ = verdicts.send(verdict);
}

/// The sizes of `found` when together they pass `room` (an undecodable batch counts its bytes
/// and no items; it is refused later if it is ever verified).
fn over_room(
    found: &[(Hash, Vec<u8>)],
    (items_left, bytes_left): Room,
) -> Option<Vec<(Hash, (usize, usize))>> {
    let bytes: usize = found.iter().map(|(_, b)| b.len()).sum();
    let mut sized = Vec::with_capacity(found.len());
    let mut items = 0usize;
    for (digest, b) in found {
        let n = Batch::decode(b).map_or(0, |batch| batch.len());
        items = items.saturating_add(n);
        sized.push((*digest, (n, b.len())));
    }
    (items > items_left || bytes > bytes_left).then_some(sized)
}

/// Screen under the lock, verify outside it, store under it (screened against committed state
/// when pushed; a fetched batch may take the store past its bound: a vote waits for it).
fn admit(shared: &Shared, bytes: Vec<u8>, source: Source) -> Result<Received, BatchRejected> {
    let (digest, chain_id, allow_raw, max_items) = {
        let mut mempool = shared.mempool.lock();
        let digest = match mempool.screen_batch(&bytes, source)? {
            Screened::Done(received) => return Ok(received),
            Screened::Verify(digest) => digest,
        };
        let config = mempool.config();
        (
            digest,
            config.chain_id.clone(),
            mempool.allow_raw(),
            config.max_block_items,
        )
    };
    // Decoded once, for the prescreen and the verification alike.
    let batch = match Batch::decode(&bytes) {
        Ok(batch) => batch,
        Err(e) => return Err(shared.mempool.lock().rejected(BatchRejected::Decode(e))),
    };
    // Each transaction hashed once, for the prescreen and the store alike.
    let ids = tx_ids(&batch);
    if let Source::Pushed(_) = source
        && let Err(error) = prescreen(&batch, &ids, max_items)
    {
        return Err(shared.mempool.lock().rejected(error));
    }
    shared.metrics.signatures_checked("batch", batch.txs.len());
    match verify_decoded_batch(batch, ids, digest, &chain_id, allow_raw) {
        Ok(verified) => shared.mempool.lock().store_verified(
            bytes,
            verified,
            source,
            &StateView(&shared.executor),
            now_ms(),
        ),
        Err(error) => Err(shared.mempool.lock().rejected(error)),
    }
}

/// What the store's screen of a pushed batch refuses anyway, found before any signature is
/// checked: more items than a block, or one transaction twice. A validator's batch of thousands
/// of copies of one transaction (the `junk-batches` attack) was verified copy by copy first,
/// and the verifier fell behind the honest batches queued after it.
fn prescreen(batch: &Batch, ids: &[Hash], max_items: usize) -> Result<(), BatchRejected> {
    let items = batch.len();
    if items > max_items {
        return Err(BatchRejected::TooManyItems {
            items,
            limit: max_items,
        });
    }
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    for (position, id) in ids.iter().enumerate() {
        if !seen.insert(id) {
            return Err(BatchRejected::Duplicate { position });
        }
    }
    Ok(())
}

/// A batch from a peer that is no validator: its transactions are admitted one by one, like
/// the API's (every cheap check first, one batch verification outside the lock), and become
/// this node's to batch. A batch whose transactions all fail a check that only a forger or a
/// spammer fails (bad signature, wrong chain, undecodable) costs its sender.
fn relay(shared: &Shared, from: PeerId, bytes: &[u8]) -> Option<Verdict> {
    let batch = match Batch::decode(bytes) {
        Ok(batch) if batch.raw.is_empty() => batch,
        Ok(_) => return Some(Verdict::Offence(from, Offence::Malformed)),
        Err(e) => {
            tracing::debug!(%from, "relayed batch does not decode: {e}");
            return Some(Verdict::Offence(from, Offence::Malformed));
        }
    };
    // Each transaction once: copies would be refused as already pending, after their
    // signatures were checked one by one. Copies are the sender's doing and count as spam.
    let mut seen = std::collections::HashSet::with_capacity(batch.txs.len());
    let frames: Vec<Vec<u8>> = batch
        .txs
        .iter()
        .filter(|tx| seen.insert(tx.hash()))
        .map(|tx| tx.encode())
        .collect();
    let copies = batch.txs.len() - frames.len();
    let refs: Vec<&[u8]> = frames.iter().map(Vec::as_slice).collect();
    let view = StateView(&shared.executor);
    let prechecked = shared.mempool.lock().precheck_many(&refs, &view);
    let verified = prechecked.verify();
    let results = shared
        .mempool
        .lock()
        .admit_verified(verified, &view, now_ms());
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    shared.metrics.txs_relayed.inc_by(admitted as u64);
    if admitted > 0 {
        shared.admitted.notify_one();
    }
    // One bad transaction among honest ones may be a client's (or a race); a majority is the
    // sender's doing. A full mempool is this node's state, not the sender's fault.
    let forged = results.iter().filter(|r| is_forgery(r)).count();
    let spam = copies
        + results
            .iter()
            .filter(|r| r.as_ref().is_err_and(|e| !e.is_busy()))
            .count();
    if forged * 2 > results.len() {
        Some(Verdict::Offence(from, Offence::BadSignature))
    } else if spam * 2 > results.len() + copies {
        Some(Verdict::Offence(from, Offence::Spam))
    } else {
        None
    }
}

fn is_forgery(result: &Result<Hash, AdmitError>) -> bool {
    matches!(
        result,
        Err(AdmitError::BadSignature | AdmitError::WrongChainId { .. } | AdmitError::Decode(_))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::{Payload, SecretKey, TxBody};

    fn batch_of(copies: usize, seed: u8) -> (Hash, Vec<u8>) {
        let key = SecretKey::from_seed([seed; 32]);
        let tx = TxBody {
            chain_id: "c".into(),
            sender: key.public(),
            nonce: 0,
            gas_limit: 100_000,
            gas_price: 1,
            payload: Payload::Transfer {
                to: key.public().address(),
                amount: 1,
            },
        }
        .sign(&key);
        let bytes = Batch::unsigned(vec![tx; copies], vec![]).encode();
        (Batch::digest_of_encoded(&bytes), bytes)
    }

    #[test]
    fn fetched_batches_past_the_room_are_sized_not_verified() {
        let found = vec![batch_of(600, 1), batch_of(500, 2)];
        let bytes: usize = found.iter().map(|(_, b)| b.len()).sum();
        // Within the room: verified as usual.
        assert!(over_room(&found, (1_100, bytes)).is_none());
        // One item too many, or one byte: sized, with each batch's items and bytes.
        let sized = over_room(&found, (1_099, bytes)).expect("over the items");
        assert_eq!(sized[0], (found[0].0, (600, found[0].1.len())));
        assert_eq!(sized[1].1.0, 500);
        assert!(over_room(&found, (1_100, bytes - 1)).is_some());
        // Bytes that do not decode count their length and no items.
        let junk = vec![(Hash::digest(b"x"), b"x".to_vec())];
        assert_eq!(over_room(&junk, (0, 0)).unwrap()[0].1, (0, 1));
    }

    #[test]
    fn a_pushed_batch_repeating_a_transaction_is_refused_before_verification() {
        let repeated = Batch::decode(&batch_of(3, 1).1).unwrap();
        assert!(matches!(
            prescreen(&repeated, &tx_ids(&repeated), 20_000),
            Err(BatchRejected::Duplicate { position: 1 })
        ));
        let single = Batch::decode(&batch_of(1, 1).1).unwrap();
        assert!(prescreen(&single, &tx_ids(&single), 20_000).is_ok());
        assert!(matches!(
            prescreen(&repeated, &tx_ids(&repeated), 2),
            Err(BatchRejected::TooManyItems { items: 3, limit: 2 })
        ));
    }
}
