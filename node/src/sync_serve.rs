//! Answering peers' sync requests off the consensus driver (issue 14, finding 4).
//!
//! A sync request asks for the committed blocks after a height; the answer is up to
//! 4 × `sync_batch_blocks` (512) blocks read from RocksDB, decoded and encoded again. The core
//! built it on the driver, so every answer made votes and proposals wait. Now the driver only
//! charges the request to the sender's budget (serve.rs, [`crate::serve::SyncBudget`]) and
//! hands it here, with a snapshot of what the answer needs from the core (its epoch, committed
//! height and sync info); one thread of its own builds the answer from the block store:
//! - each height is read once, in order, and nothing after the first missing one;
//! - reading stops before the message would pass [`MAX_CONSENSUS_MESSAGE_BYTES`] (the core
//!   never measured its answer: blocks naming thousands of batches could make one no peer
//!   accepts);
//! - the blocks end where the core's would: at the epoch's end (with the proof that ended it),
//!   at this node's committed height, or past `sync_batch_blocks` on a block the receiver can
//!   commit;
//! - at most [`MAX_SYNC_PER_PEER`] requests per peer and [`MAX_SYNC_QUEUED`] in all wait or are
//!   being built (as many again for validators, so strangers never crowd out a catching-up
//!   voter), one at a time; a request past a bound, or repeating one of the peer's that is still
//!   waiting, is dropped at once and counted (`runnet_syncs_busy_total`).
//!
//! A request within [`TIP_GAP`] blocks of this node's committed height still goes to the core:
//! its answer ends with the core's uncommitted chain and highest certificate, which only the core
//! holds. It reads those few committed blocks from the driver's memory, not from disk
//! (driver.rs, `NodeEnv`), so it costs the driver a copy of at most [`TIP_GAP`] blocks and the
//! tip.

use crate::runtime::Shared;
use libp2p::PeerId;
use parking_lot::Mutex;
use runnet_types::consensus::{
    CommitProof, ConsensusMessage, MAX_CONSENSUS_MESSAGE_BYTES, MessageBody, ProposedBlock,
    QuorumCert, SyncInfo, SyncRequest, SyncResponse,
};
use runnet_types::encoding;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};

/// Requests waiting or being built for one peer.
pub const MAX_SYNC_PER_PEER: usize = 2;
/// Requests waiting or being built for validators, and as many for other peers.
pub const MAX_SYNC_QUEUED: usize = 8;
/// A request for the blocks after a height within this many of the committed one goes to the
/// core, which adds its uncommitted tip.
pub const TIP_GAP: u64 = 16;
/// Room kept in a message for its sync info's and the response's own framing.
const FRAMING: usize = 4096;

/// What an answer needs from the core, as the driver saw it when the request came.
#[derive(Clone, Debug)]
pub struct View {
    pub epoch: u64,
    pub committed_height: u64,
    /// Sent with the answer, as with every consensus message.
    pub sync: SyncInfo,
    /// The core's `sync_batch_blocks`.
    pub soft: usize,
}

/// Where answers come from: the block store and the state's committees.
pub trait Source {
    fn block(&self, height: u64) -> Option<ProposedBlock>;
    /// The last height of `epoch`, once its committee is known.
    fn epoch_end(&self, epoch: u64) -> Option<u64>;
    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof>;
}

impl Source for Shared {
    fn block(&self, height: u64) -> Option<ProposedBlock> {
        self.blocks.block(height).ok().flatten().map(|b| b.block)
    }

    /// From the proof that ended the epoch, which starts with the block after its last one
    /// (epochs end by chain time, so no length gives it; docs/consensus.md, "Epochs").
    fn epoch_end(&self, epoch: u64) -> Option<u64> {
        let proof = self.blocks.epoch_end_proof(epoch).ok().flatten()?;
        proof.blocks.first().map(|b| b.height().saturating_sub(1))
    }

    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.blocks.epoch_end_proof(epoch).ok().flatten()
    }
}

/// The answer to `req`, as the core would give it short of the tip, within `limit` bytes of
/// blocks and certificates; `None` when there is nothing to send.
pub fn answer(
    source: &impl Source,
    req: &SyncRequest,
    view: &View,
    limit: usize,
) -> Option<SyncResponse> {
    if req.epoch > view.epoch {
        return None;
    }
    let mut blocks = Vec::new();
    let mut certs: Vec<QuorumCert> = Vec::new();
    let mut bytes = 0usize;
    if req.epoch < view.epoch {
        let end = source.epoch_end(req.epoch)?;
        let reached = collect(source, req, end, view.soft, limit, &mut blocks, &mut bytes);
        if reached && let Some(proof) = source.epoch_end_proof(req.epoch) {
            let heights: BTreeSet<u64> = blocks.iter().map(ProposedBlock::height).collect();
            let extra: Vec<ProposedBlock> = proof
                .blocks
                .into_iter()
                .filter(|b| !heights.contains(&b.height()))
                .collect();
            let more =
                encoding::encoded_len(&extra).saturating_add(encoding::encoded_len(&proof.qc));
            if bytes.saturating_add(more) <= limit {
                blocks.extend(extra);
                certs.push(proof.qc);
            }
        }
    } else {
        collect(
            source,
            req,
            view.committed_height,
            view.soft,
            limit,
            &mut blocks,
            &mut bytes,
        );
    }
    if blocks.is_empty() && certs.is_empty() {
        return None;
    }
    Some(SyncResponse { blocks, certs })
}

/// Committed blocks of `req.epoch` after `req.committed_height` up to `to`, each height read
/// once; returns whether `to` was reached. Stops, as the core does, past `soft` blocks on one the
/// receiver can commit (or at four times `soft`), and before the blocks pass `limit` bytes.
fn collect(
    source: &impl Source,
    req: &SyncRequest,
    to: u64,
    soft: usize,
    limit: usize,
    out: &mut Vec<ProposedBlock>,
    bytes: &mut usize,
) -> bool {
    let soft = soft.max(3);
    let hard = soft.saturating_mul(4);
    let mut height = req.committed_height.saturating_add(1);
    while height <= to {
        let Some(block) = source.block(height) else {
            return false;
        };
        if block.epoch() != req.epoch || block.height() != height {
            return false;
        }
        let size = encoding::encoded_len(&block);
        if bytes.saturating_add(size) > limit {
            return false;
        }
        *bytes += size;
        out.push(block);
        let n = out.len();
        if height == u64::MAX {
            return true;
        }
        height += 1;
        if n >= soft && height <= to {
            // The receiver commits out[n-3] when out[n-2] is of the next round (out[n-1]
            // carries the certificate of out[n-2]).
            let consecutive = out[n - 2].round() == out[n - 3].round().saturating_add(1);
            if consecutive || n >= hard {
                return false;
            }
        }
    }
    true
}

/// Whether a request was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    Queued,
    /// The peer or the node is at its bound.
    Busy,
    /// The same request of the same peer is still waiting.
    Duplicate,
}

/// Requests waiting or being built, by peer, and which of them.
#[derive(Default)]
struct Pending {
    /// Per peer: how many, and whether it is a validator.
    peers: BTreeMap<PeerId, (usize, bool)>,
    /// Per kind (other peers, validators).
    totals: [usize; 2],
    asked: BTreeSet<(PeerId, u64, u64)>,
}

impl Pending {
    fn take(&mut self, peer: PeerId, validator: bool, req: &SyncRequest) -> Admit {
        let key = (peer, req.epoch, req.committed_height);
        if self.asked.contains(&key) {
            return Admit::Duplicate;
        }
        let kind = usize::from(validator);
        let mine = self.peers.get(&peer).map_or(0, |(n, _)| *n);
        if mine >= MAX_SYNC_PER_PEER || self.totals[kind] >= MAX_SYNC_QUEUED {
            return Admit::Busy;
        }
        self.peers.insert(peer, (mine + 1, validator));
        self.totals[kind] += 1;
        self.asked.insert(key);
        Admit::Queued
    }

    fn give_back(&mut self, peer: PeerId, req: &SyncRequest) {
        self.asked.remove(&(peer, req.epoch, req.committed_height));
        let Some((n, validator)) = self.peers.get_mut(&peer) else {
            return;
        };
        let kind = usize::from(*validator);
        self.totals[kind] = self.totals[kind].saturating_sub(1);
        *n = n.saturating_sub(1);
        if *n == 0 {
            self.peers.remove(&peer);
        }
    }

    fn len(&self) -> usize {
        self.totals.iter().sum()
    }
}

struct Job {
    peer: PeerId,
    req: SyncRequest,
    view: View,
}

/// The sync server: a bounded queue and one thread that answers from the block store.
pub struct SyncServer {
    queue: SyncSender<Job>,
    pending: Arc<Mutex<Pending>>,
}

impl SyncServer {
    /// Starts the serving thread; it ends when the server is dropped.
    pub fn start(shared: Arc<Shared>) -> std::io::Result<SyncServer> {
        let (queue, jobs) = std::sync::mpsc::sync_channel(2 * MAX_SYNC_QUEUED);
        let pending = Arc::new(Mutex::new(Pending::default()));
        let server_pending = pending.clone();
        std::thread::Builder::new()
            .name("runnet-sync-serve".into())
            .spawn(move || serve(&shared, &jobs, &server_pending))?;
        Ok(SyncServer { queue, pending })
    }

    /// Queues `req` of `peer`, or refuses it at once (see [`Admit`]).
    pub fn submit(&self, peer: PeerId, validator: bool, req: SyncRequest, view: View) -> Admit {
        let admit = self.pending.lock().take(peer, validator, &req);
        if admit != Admit::Queued {
            return admit;
        }
        match self.queue.try_send(Job { peer, req, view }) {
            Ok(()) => Admit::Queued,
            // Cannot be full (the pending bounds are below its capacity); the thread may be gone.
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => {
                self.pending.lock().give_back(job.peer, &job.req);
                Admit::Busy
            }
        }
    }

    /// Requests waiting or being built (for tests and metrics).
    pub fn pending(&self) -> usize {
        self.pending.lock().len()
    }
}

fn serve(shared: &Shared, jobs: &Receiver<Job>, pending: &Mutex<Pending>) {
    while let Ok(Job { peer, req, view }) = jobs.recv() {
        let limit = MAX_CONSENSUS_MESSAGE_BYTES
            .saturating_sub(encoding::encoded_len(&view.sync))
            .saturating_sub(FRAMING);
        if let Some(response) = answer(shared, &req, &view, limit) {
            let message = ConsensusMessage {
                sync: view.sync,
                body: MessageBody::SyncResponse(response),
            };
            let bytes = message.encode();
            if bytes.len() <= MAX_CONSENSUS_MESSAGE_BYTES {
                shared.metrics.syncs_served.inc();
                shared.network.send_consensus(peer, Arc::new(bytes));
            }
        }
        pending.lock().give_back(peer, &req);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::Hash;
    use runnet_types::{Block, BlockHeader, Signature};
    use std::cell::Cell;

    /// Blocks 1..=tip of epoch 0, rounds consecutive except where `gaps` says, each naming
    /// `batches` digests; counts reads.
    struct Chain {
        tip: u64,
        gaps: BTreeSet<u64>,
        batches: usize,
        reads: Cell<usize>,
        end: u64,
    }

    impl Chain {
        fn new(tip: u64) -> Chain {
            Chain {
                tip,
                gaps: BTreeSet::new(),
                batches: 0,
                reads: Cell::new(0),
                end: u64::MAX,
            }
        }
    }

    fn block(height: u64, round: u64, epoch: u64, batches: usize) -> ProposedBlock {
        ProposedBlock {
            block: Block {
                header: BlockHeader {
                    chain_id: "runnet-test".into(),
                    height,
                    round,
                    epoch,
                    parent: Hash::ZERO,
                    justify_signers: Vec::new(),
                    failed_leaders: Vec::new(),
                    leader_exclusions: Vec::new(),
                    proposer: runnet_types::Address([1; 20]),
                    batches_root: Hash::ZERO,
                    executed_height: 0,
                    executed_state_root: Hash::ZERO,
                    vrf: runnet_types::VrfProof::default(),
                    timestamp_ms: 0,
                },
                batches: vec![Hash([7; 32]); batches],
            },
            justify: QuorumCert::root(epoch, Hash::ZERO, height.saturating_sub(1)),
            signature: Signature([0; 64]),
        }
    }

    impl Source for Chain {
        fn block(&self, height: u64) -> Option<ProposedBlock> {
            self.reads.set(self.reads.get() + 1);
            if height == 0 || height > self.tip {
                return None;
            }
            // A round skipped before each gap height.
            let round = height + self.gaps.range(..=height).count() as u64;
            Some(block(height, round, 0, self.batches))
        }
        fn epoch_end(&self, _: u64) -> Option<u64> {
            Some(self.end)
        }
        fn epoch_end_proof(&self, _: u64) -> Option<CommitProof> {
            None
        }
    }

    fn view(epoch: u64, committed_height: u64) -> View {
        View {
            epoch,
            committed_height,
            sync: SyncInfo {
                highest_qc: QuorumCert::root(0, Hash::ZERO, 0),
                highest_tc: None,
                highest_commit: QuorumCert::root(0, Hash::ZERO, 0),
            },
            soft: 128,
        }
    }

    fn req(epoch: u64, committed_height: u64) -> SyncRequest {
        SyncRequest {
            epoch,
            committed_height,
        }
    }

    #[test]
    fn an_answer_reads_each_height_once_and_ends_where_the_cores_would() {
        let chain = Chain::new(1_000);
        let resp = answer(&chain, &req(0, 10), &view(0, 1_000), usize::MAX).unwrap();
        let heights: Vec<u64> = resp.blocks.iter().map(ProposedBlock::height).collect();
        // Consecutive rounds: it stops as soon as it passes 128 blocks.
        assert_eq!(heights, (11..=138).collect::<Vec<_>>());
        assert_eq!(chain.reads.get(), 128, "each height read once");
        assert!(resp.certs.is_empty());
        // Up to this node's committed height, not past it.
        let resp = answer(&chain, &req(0, 990), &view(0, 995), usize::MAX).unwrap();
        assert_eq!(resp.blocks.len(), 5);
        // Nothing past the committed height: nothing to send.
        assert!(answer(&chain, &req(0, 995), &view(0, 995), usize::MAX).is_none());
        // A later epoch than ours: nothing.
        assert!(answer(&chain, &req(1, 0), &view(0, 995), usize::MAX).is_none());
        // Rounds never consecutive: at four times the soft count.
        let mut chain = Chain::new(1_000);
        chain.gaps = (1..=1_000).collect();
        let resp = answer(&chain, &req(0, 0), &view(0, 1_000), usize::MAX).unwrap();
        assert_eq!(resp.blocks.len(), 512);
        // A hole in the store: nothing after it.
        let chain = Chain::new(50);
        let resp = answer(&chain, &req(0, 40), &view(0, 60), usize::MAX).unwrap();
        assert_eq!(resp.blocks.len(), 10);
        assert_eq!(
            chain.reads.get(),
            11,
            "nothing read after the first missing height"
        );
        // A past epoch: up to its end.
        let mut chain = Chain::new(1_000);
        chain.end = 20;
        let resp = answer(&chain, &req(0, 0), &view(1, 1_000), usize::MAX).unwrap();
        assert_eq!(resp.blocks.len(), 20);
    }

    #[test]
    fn an_answer_stops_before_the_size_limit() {
        // Blocks naming 4,096 batches: 128 of them would be 16 MiB of digests.
        let mut chain = Chain::new(1_000);
        chain.batches = 4_096;
        let one = encoding::encoded_len(&block(1, 1, 0, 4_096));
        let limit = MAX_CONSENSUS_MESSAGE_BYTES - FRAMING;
        let resp = answer(&chain, &req(0, 0), &view(0, 1_000), limit).unwrap();
        let n = resp.blocks.len();
        assert_eq!(n, limit / one, "as many as fit");
        assert!(n < 128);
        assert_eq!(
            chain.reads.get(),
            n + 1,
            "one read past the limit, none kept"
        );
        let message = ConsensusMessage {
            sync: view(0, 0).sync,
            body: MessageBody::SyncResponse(resp),
        };
        assert!(message.encode().len() <= MAX_CONSENSUS_MESSAGE_BYTES);
    }

    #[test]
    fn requests_are_bounded_per_peer_and_in_all_and_repeats_are_dropped() {
        let mut pending = Pending::default();
        let peers: Vec<PeerId> = (0..6).map(|_| PeerId::random()).collect();
        assert_eq!(pending.take(peers[0], false, &req(0, 1)), Admit::Queued);
        assert_eq!(
            pending.take(peers[0], false, &req(0, 1)),
            Admit::Duplicate,
            "the same request while one waits"
        );
        assert_eq!(pending.take(peers[0], false, &req(0, 2)), Admit::Queued);
        assert_eq!(
            pending.take(peers[0], false, &req(0, 3)),
            Admit::Busy,
            "a third for one peer"
        );
        for peer in &peers[1..4] {
            assert_eq!(pending.take(*peer, false, &req(0, 1)), Admit::Queued);
            assert_eq!(pending.take(*peer, false, &req(0, 2)), Admit::Queued);
        }
        assert_eq!(pending.len(), MAX_SYNC_QUEUED);
        assert_eq!(pending.take(peers[4], false, &req(0, 1)), Admit::Busy);
        // Validators have room of their own.
        let voter = PeerId::random();
        assert_eq!(pending.take(voter, true, &req(0, 1)), Admit::Queued);
        // Answered: room again, and the same request may come again.
        pending.give_back(peers[0], &req(0, 1));
        assert_eq!(pending.take(peers[0], false, &req(0, 1)), Admit::Queued);
        assert_eq!(pending.take(peers[5], false, &req(0, 1)), Admit::Busy);
        for peer in &peers[..4] {
            pending.give_back(*peer, &req(0, 1));
            pending.give_back(*peer, &req(0, 2));
        }
        pending.give_back(voter, &req(0, 1));
        assert_eq!(pending.len(), 0);
        assert!(pending.peers.is_empty() && pending.asked.is_empty());
    }
}
