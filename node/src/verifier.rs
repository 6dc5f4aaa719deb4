//! The batch verifier: peers' batches are decoded and their signatures verified on this thread,
//! never on the driver's and never under the mempool's lock.
//!
//! A 4,000-transaction batch costs about 40 ms of signature checks. Done by the driver, every
//! consensus message queued behind it waited that long, and with a full network's batches
//! arriving faster than one core verifies them, rounds timed out and throughput collapsed.
//! Here the driver hands batches over and goes on; the mempool is locked only for the cheap
//! screen before verification and for storing after it.
//!
//! Two queues, served in priority order: batches a proposal named and this node fetched (the
//! vote waits for them), then batches peers pushed. The pushed ones are bounded: past the bound
//! a batch is dropped and counted, which is safe, since a proposal that names it makes this node
//! fetch it. That is how a node that cannot keep up sheds load instead of falling ever further
//! behind.

use crate::runtime::Shared;
use libp2p::PeerId;
use parking_lot::{Condvar, Mutex};
use runnet_mempool::{BatchRejected, Received, Screened, verify_screened_batch};
use runnet_p2p::Offence;
use runnet_types::Hash;
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Pushed batches waiting for verification, at most (a full network's worth of a few rounds).
const MAX_QUEUED_BATCHES: usize = 256;
/// And at most these many bytes of them.
const MAX_QUEUED_BYTES: usize = 64 << 20;

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
}

#[derive(Default)]
struct Queues {
    fetched: VecDeque<Fetched>,
    pushed: VecDeque<(PeerId, Vec<u8>)>,
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
    ) -> std::io::Result<(Verifier, mpsc::UnboundedReceiver<Verdict>)> {
        let queues = Arc::new((Mutex::new(Queues::default()), Condvar::new()));
        let (verdicts, receiver) = mpsc::unbounded_channel();
        let worker = queues.clone();
        std::thread::Builder::new()
            .name("batch-verifier".into())
            .spawn(move || run(&shared, &worker, &verdicts))?;
        Ok((Verifier { queues }, receiver))
    }

    /// A batch a peer pushed. False when it was dropped because the queue is full.
    pub fn pushed(&self, from: PeerId, bytes: Vec<u8>) -> bool {
        let (lock, wake) = &*self.queues;
        let mut queues = lock.lock();
        if queues.pushed.len() >= MAX_QUEUED_BATCHES
            || queues.pushed_bytes + bytes.len() > MAX_QUEUED_BYTES
        {
            return false;
        }
        queues.pushed_bytes += bytes.len();
        queues.pushed.push_back((from, bytes));
        wake.notify_one();
        true
    }

    /// Batches fetched because a proposal named them: served before any pushed batch.
    pub fn fetched(&self, asked: Vec<Hash>, found: Vec<Vec<u8>>) {
        let (lock, wake) = &*self.queues;
        lock.lock().fetched.push_back(Fetched { asked, found });
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
    Pushed(PeerId, Vec<u8>),
}

fn next_job(queues: &(Mutex<Queues>, Condvar)) -> Option<Job> {
    let (lock, wake) = queues;
    let mut queues = lock.lock();
    loop {
        if let Some(fetched) = queues.fetched.pop_front() {
            return Some(Job::Fetched(fetched));
        }
        if let Some((from, bytes)) = queues.pushed.pop_front() {
            queues.pushed_bytes = queues.pushed_bytes.saturating_sub(bytes.len());
            return Some(Job::Pushed(from, bytes));
        }
        if queues.closed {
            return None;
        }
        wake.wait(&mut queues);
    }
}

fn run(
    shared: &Shared,
    queues: &(Mutex<Queues>, Condvar),
    verdicts: &mpsc::UnboundedSender<Verdict>,
) {
    while let Some(job) = next_job(queues) {
        let verdict = match job {
            Job::Pushed(from, bytes) => match admit(shared, bytes, None) {
                Ok(Received::New(_)) => {
                    shared.metrics.batches_received.inc();
                    Some(Verdict::Stored)
                }
                Ok(_) => None,
                Err(error) => {
                    tracing::debug!(%from, "batch refused: {error}");
                    shared.metrics.batches_refused.inc();
                    match error {
                        BatchRejected::StoreFull { .. } => None,
                        BatchRejected::BadSignatures(_) => {
                            Some(Verdict::Offence(from, Offence::BadSignature))
                        }
                        _ => Some(Verdict::Offence(from, Offence::Malformed)),
                    }
                }
            },
            Job::Fetched(Fetched { asked, found }) => {
                let mut any = false;
                for bytes in found {
                    let digest = Hash::digest(&bytes);
                    if !asked.contains(&digest) {
                        continue;
                    }
                    match admit(shared, bytes, Some(digest)) {
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

/// Screen under the lock, verify outside it, store under it. `expected`: the digest a fetch
/// asked for (the batch is then stored even when the store is full: a vote waits for it).
fn admit(
    shared: &Shared,
    bytes: Vec<u8>,
    expected: Option<Hash>,
) -> Result<Received, BatchRejected> {
    let (digest, chain_id, allow_raw) = {
        let mut mempool = shared.mempool.lock();
        let digest = match mempool.screen_batch(&bytes, expected)? {
            Screened::Done(received) => return Ok(received),
            Screened::Verify(digest) => digest,
        };
        (
            digest,
            mempool.config().chain_id.clone(),
            mempool.allow_raw(),
        )
    };
    match verify_screened_batch(&bytes, digest, &chain_id, allow_raw) {
        Ok(verified) => shared
            .mempool
            .lock()
            .store_verified(bytes, verified, expected.is_some()),
        Err(error) => Err(shared.mempool.lock().rejected(error)),
    }
}
