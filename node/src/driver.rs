//! The consensus driver: one tokio task that owns the sans-IO core, feeds it network messages,
//! timers, batch arrivals and execution notices, and performs what it asks.
//!
//! The one ordering rule that matters: `PersistSafety` is written and synced before any later
//! action of the same batch is performed, and a failed write stops the node, so no vote or
//! timeout ever leaves that the disk does not remember.

use crate::blockstore::StoredBlock;
use crate::byzantine::Attacks;
use crate::runtime::{Shared, StateView, now_ms};
use crate::serve::{PeerBuckets, SyncBudget, SyncVerdict, USELESS_PER_ROUND, USELESS_TOLERANCE};
use crate::sync_serve::{Admit, SyncServer, TIP_GAP};
use crate::verifier::{Room, Sizes, Verdict, Verifier};
use libp2p::PeerId;
use parking_lot::Mutex;
use runnet_consensus::{
    Action, CommittedBlock, Core, CoreConfig, Ed25519Crypto, Environment, Event, PayloadCheck,
    PayloadSource, Recovery,
};
use runnet_p2p::{NetworkEvent, NetworkEvents, Offence};
use runnet_types::consensus::{
    CommitProof, Committee, ConsensusMessage, MessageBody, ProposedBlock, SyncInfo, SyncRequest,
};
use runnet_types::{Hash, SecretKey};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Digests per batch request: below the network's per-request limit (256 by default), so a
/// block naming hundreds of batches is fetched in several requests.
pub const FETCH_CHUNK: usize = 128;

/// A fetch of a proposal's batches, done.
pub struct Fetched {
    asked: Vec<Hash>,
    found: Vec<Vec<u8>>,
    room: Room,
    /// The proposer and its proposal's epoch and round, when it answered without any of them
    /// and no other peer had them either.
    unserved_by: Option<((u64, u64), PeerId)>,
}

/// The node as the core's environment: committees from the state, blocks from the block store.
pub struct NodeEnv {
    shared: Arc<Shared>,
    crypto: Ed25519Crypto,
    /// Committees once known never change; caching also keeps an ended epoch's committee after
    /// the state moved on to the next set.
    committees: RefCell<BTreeMap<u64, Arc<Committee>>>,
    /// The last [`RECENT_BLOCKS`] committed blocks, in height order: the core serves sync
    /// requests near the tip (sync_serve.rs) and reads the latest blocks' signers from memory,
    /// not from RocksDB on the driver.
    recent: RefCell<VecDeque<Arc<ProposedBlock>>>,
}

/// Committed blocks [`NodeEnv`] keeps in memory: past [`TIP_GAP`], with room for a commit of a
/// few blocks at once.
const RECENT_BLOCKS: usize = 2 * TIP_GAP as usize;

impl NodeEnv {
    fn remember(&self, blocks: &[CommittedBlock]) {
        let mut recent = self.recent.borrow_mut();
        for b in blocks {
            // Heights stay consecutive, so a lookup is an offset.
            if recent
                .back()
                .is_some_and(|last| last.height().checked_add(1) != Some(b.block.height()))
            {
                recent.clear();
            }
            recent.push_back(b.block.clone());
            if recent.len() > RECENT_BLOCKS {
                recent.pop_front();
            }
        }
    }
}

impl Environment for NodeEnv {
    fn committee(&self, epoch: u64) -> Option<Arc<Committee>> {
        if let Some(c) = self.committees.borrow().get(&epoch) {
            return Some(c.clone());
        }
        let committee = Arc::new(self.shared.executor.committee(epoch).ok().flatten()?);
        self.committees
            .borrow_mut()
            .insert(epoch, committee.clone());
        Some(committee)
    }

    fn crypto(&self) -> &dyn runnet_consensus::Crypto {
        &self.crypto
    }

    fn committed_block(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        {
            let recent = self.recent.borrow();
            if let Some(first) = recent.front().map(|b| b.height())
                && let Some(offset) = height.checked_sub(first)
                && let Some(block) = usize::try_from(offset).ok().and_then(|i| recent.get(i))
            {
                return Some(block.clone());
            }
        }
        self.shared
            .blocks
            .block(height)
            .ok()
            .flatten()
            .map(|b| Arc::new(b.block))
    }

    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.shared.blocks.epoch_end_proof(epoch).ok().flatten()
    }
}

/// The mempool as the core's payload source.
pub struct NodePayload {
    shared: Arc<Shared>,
    fetch: mpsc::UnboundedSender<(Vec<Hash>, Room)>,
    /// Fetched batches sized but not verified, the proposal naming them being over the limits.
    sizes: Sizes,
    /// Test networks only: a `[byzantine]` node's proposals name what its attacks choose.
    attacks: Option<Arc<Mutex<Attacks>>>,
}

impl PayloadSource for NodePayload {
    fn next_payload(&mut self, in_flight: &BTreeSet<Hash>, max: usize) -> Vec<Hash> {
        if let Some(attacks) = &self.attacks
            && let Some(digests) = attacks.lock().payload(max)
        {
            return digests;
        }
        self.shared.mempool.lock().next_payload(
            in_flight,
            max,
            crate::runtime::MAX_BLOCK_TXS,
            self.max_block_bytes(),
        )
    }

    /// Every batch held (in the mempool, or in the block store for one a block already
    /// committed), and the block within its limits: the same ones the proposer keeps to.
    fn check_payload(&mut self, batches: &[Hash]) -> PayloadCheck {
        let runnet_mempool::PayloadSize {
            mut items,
            mut bytes,
            missing,
            unknown_authors,
        } = self.shared.mempool.lock().payload_size(batches);
        // A batch whose author is no validator of the current or previous epoch: nobody
        // answers for its skipped transactions (docs/economy.md, "Skipped transactions"). The
        // core has no refusal of its own for it; over the limit is the refusal it has.
        if !unknown_authors.is_empty() {
            self.shared
                .metrics
                .consensus_refused_by("unknown_batch_author", 1);
            return PayloadCheck::OverLimit { items, bytes };
        }
        let mut absent = Vec::new();
        for digest in missing {
            match self.shared.blocks.batch(&digest) {
                Ok(Some(stored)) => {
                    // Committed before: its transactions are skipped, but its bytes count. Its
                    // author pays nothing again only while the state remembers the batch (this
                    // epoch's blocks and the previous one's); named later, it would pay again
                    // for an old batch, so no vote.
                    if !self
                        .shared
                        .executor
                        .batch_remembered(&digest)
                        .unwrap_or(false)
                    {
                        self.shared
                            .metrics
                            .consensus_refused_by("stale_committed_batch", 1);
                        return PayloadCheck::OverLimit { items, bytes };
                    }
                    bytes = bytes.saturating_add(stored.len());
                    items = items.saturating_add(
                        runnet_types::Batch::decode(&stored).map_or(0, |b| b.len()),
                    );
                }
                _ => match self.sizes.lock().get(&digest) {
                    // Fetched and sized, not verified: it counts against the limits all the same.
                    Some((n, len)) => {
                        items = items.saturating_add(*n);
                        bytes = bytes.saturating_add(*len);
                    }
                    None => absent.push(digest),
                },
            }
        }
        let (max_items, max_bytes) = (crate::runtime::MAX_BLOCK_TXS, self.max_block_bytes());
        // Over the limits with what is known is over them whatever the missing ones hold.
        if items > max_items || bytes > max_bytes {
            return PayloadCheck::OverLimit { items, bytes };
        }
        if !absent.is_empty() {
            let room = (max_items - items, max_bytes - bytes);
            let _ = self.fetch.send((absent, room));
            return PayloadCheck::Missing;
        }
        PayloadCheck::Ready
    }

    /// A twentieth of the block's item or byte limit (1,000 items or 1.6 MiB at the defaults)
    /// is worth a block at once, whatever the block pace: the pace saves per-block work at
    /// light load and must not hold back a heavy one (a tenth of the limits, tried first, cost
    /// the raw bench 15-20 %: blocks of 6,000 items waited 100 ms each).
    fn fills_block(&mut self, batches: &[Hash]) -> bool {
        let size = self.shared.mempool.lock().payload_size(batches);
        let (max_items, max_bytes) = (crate::runtime::MAX_BLOCK_TXS, self.max_block_bytes());
        size.items.saturating_mul(20) >= max_items || size.bytes.saturating_mul(20) >= max_bytes
    }
}

impl NodePayload {
    fn max_block_bytes(&self) -> usize {
        usize::try_from(self.shared.genesis.params.max_block_bytes).unwrap_or(usize::MAX)
    }
}

pub struct Driver {
    shared: Arc<Shared>,
    core: Core<NodeEnv, NodePayload>,
    safety_path: PathBuf,
    /// Signs evidence transactions (when the home has an account key).
    account: Option<SecretKey>,
    net_events: NetworkEvents,
    executed: mpsc::UnboundedReceiver<(u64, Hash)>,
    fetch_requests: mpsc::UnboundedReceiver<(Vec<Hash>, Room)>,
    fetched_tx: mpsc::UnboundedSender<Fetched>,
    fetched_rx: mpsc::UnboundedReceiver<Fetched>,
    /// Verifies peers' batches on its own thread.
    verifier: Verifier,
    /// Answers peers' batch fetches off this task.
    fetches: Arc<crate::serve::FetchServer>,
    verdicts: mpsc::UnboundedReceiver<Verdict>,
    timer_at: Option<u64>,
    /// Digests being fetched, so one missing batch is asked for once at a time.
    fetching: BTreeSet<Hash>,
    /// Peers' sync requests this node serves (serve.rs).
    sync_budget: SyncBudget,
    /// Builds the answers to sync requests off this task (sync_serve.rs).
    syncs: SyncServer,
    /// The sync info of the latest message the core sent, which answers built off this task
    /// carry; and the core's `sync_batch_blocks`.
    last_sync: Option<SyncInfo>,
    sync_soft: usize,
    /// Stale messages each peer may send a second, and in the current round, before they
    /// cost it score (both must be spent: see [`USELESS_PER_ROUND`]).
    useless: PeerBuckets,
    useless_round: ((u64, u64), BTreeMap<PeerId, u64>),
    /// Test networks only: the `[byzantine]` section's attacks (byzantine.rs).
    attacks: Option<Arc<Mutex<Attacks>>>,
    /// The latest proposal's epoch and round, and the peer of its proposer that sent it: a proposal refused over the limits is the proposer's doing (an honest one keeps to
    /// them when it chooses its batches), whenever the refusal comes.
    proposal_from: Option<((u64, u64), PeerId)>,
    /// The last proposal whose proposer was found withholding its batches.
    withheld_seen: Option<(u64, u64)>,
}

/// What the core refused in one batch of actions, gathered so the peer behind it is scored
/// once per message.
#[derive(Clone, Copy, Default)]
struct Refusals {
    /// Something only a forger sends.
    forged: bool,
    /// Over the chain's own limits: no honest peer of this chain sends one.
    oversized: bool,
    /// Stale messages, normal as rounds end, costly in a stream.
    useless: u64,
    /// A proposal over the block's limits: its proposer's doing, whenever it is found.
    over_limit: bool,
}

impl Refusals {
    fn note(&mut self, kind: &'static str) {
        self.over_limit |= kind == "over_limit";
        self.forged |= matches!(
            kind,
            "bad_signature" | "bad_certificate" | "bad_vrf" | "bad_block" | "wrong_chain"
        );
        self.oversized |= matches!(kind, "too_large" | "too_many_batches");
        if matches!(kind, "stale_epoch" | "stale_round" | "too_many_in_round") {
            self.useless += 1;
        }
    }
}

impl Driver {
    pub fn new(
        shared: Arc<Shared>,
        crypto: Ed25519Crypto,
        recovery: Recovery,
        safety_path: PathBuf,
        account: Option<SecretKey>,
        net_events: NetworkEvents,
        executed: mpsc::UnboundedReceiver<(u64, Hash)>,
    ) -> Result<Driver, String> {
        let (fetch_tx, fetch_requests) = mpsc::unbounded_channel();
        let (fetched_tx, fetched_rx) = mpsc::unbounded_channel();
        let genesis = &shared.genesis;
        let config = CoreConfig::new(
            genesis.chain_id.clone(),
            genesis.hash(),
            genesis.consensus.clone(),
        );
        let env = NodeEnv {
            shared: shared.clone(),
            crypto,
            committees: RefCell::new(BTreeMap::new()),
            recent: RefCell::new(VecDeque::new()),
        };
        let sync_soft = config.sync_batch_blocks;
        let syncs = SyncServer::start(shared.clone())
            .map_err(|e| format!("cannot start the sync server: {e}"))?;
        let is_validator = genesis
            .validators
            .iter()
            .any(|v| v.consensus_key == runnet_consensus::Crypto::public_key(&env.crypto));
        let attacks = Attacks::from_config(&shared, account.clone(), is_validator)?
            .map(|a| Arc::new(Mutex::new(a)));
        let sizes = Sizes::default();
        let payload = NodePayload {
            shared: shared.clone(),
            fetch: fetch_tx,
            sizes: sizes.clone(),
            attacks: attacks.clone(),
        };
        let core = Core::new(config, env, payload, recovery).map_err(|e| e.to_string())?;
        let (verifier, verdicts) = Verifier::start(shared.clone(), sizes)
            .map_err(|e| format!("cannot start the batch verifier: {e}"))?;
        Ok(Driver {
            shared,
            core,
            safety_path,
            account,
            net_events,
            executed,
            fetch_requests,
            fetched_tx,
            fetched_rx,
            verifier,
            verdicts,
            fetches: Arc::default(),
            timer_at: None,
            fetching: BTreeSet::new(),
            sync_budget: SyncBudget::new(Instant::now()),
            syncs,
            last_sync: None,
            sync_soft,
            useless: PeerBuckets::new(USELESS_TOLERANCE.0, USELESS_TOLERANCE.1),
            useless_round: ((0, 0), BTreeMap::new()),
            attacks,
            proposal_from: None,
            withheld_seen: None,
        })
    }

    /// Runs until a fatal error (returned) — the caller handles signals.
    pub async fn run(mut self) -> Result<(), String> {
        self.feed(Event::Start { now_ms: now_ms() })?;
        let mut tick = tokio::time::interval(Duration::from_millis(500));
        let mut flood = tokio::time::interval(crate::byzantine::FLOOD_TICK);
        let attacking = self.attacks.is_some();
        let mut arm = arm_signal(self.attacks.as_ref().is_some_and(|a| a.lock().waiting()));
        loop {
            let timer = sleep_until_ms(self.timer_at);
            let seal_at = self.shared.mempool.lock().next_seal_at();
            let seal = sleep_until_ms(seal_at);
            tokio::select! {
                event = self.net_events.recv() => match event {
                    Some(event) => self.on_network(event)?,
                    None => return Err("the network stopped".into()),
                },
                executed = self.executed.recv() => match executed {
                    Some((height, state_root)) => self.on_executed(height, state_root)?,
                    None => return Err("the execution thread stopped".into()),
                },
                Some((digests, room)) = self.fetch_requests.recv() => self.start_fetch(digests, room),
                Some(fetched) = self.fetched_rx.recv() => self.on_fetched(fetched),
                verdict = self.verdicts.recv() => match verdict {
                    Some(verdict) => self.on_verdict(verdict)?,
                    None => return Err("the batch verifier stopped".into()),
                },
                _ = timer => {
                    self.timer_at = None;
                    self.feed(Event::Timer { now_ms: now_ms() })?;
                }
                _ = seal => self.seal()?,
                _ = self.shared.admitted.notified() => self.seal()?,
                _ = tick.tick() => self.on_tick(),
                Some(()) = next_signal(&mut arm) => {
                    if let Some(attacks) = &self.attacks {
                        attacks.lock().arm();
                    }
                    arm = None;
                }
                _ = flood.tick(), if attacking => {
                    if let Some(attacks) = &self.attacks {
                        attacks.lock().tick();
                    }
                }
            }
        }
    }

    fn feed(&mut self, event: Event) -> Result<(), String> {
        self.feed_from(event, None)
    }

    /// Feeds an event; `from` is the peer whose message it carries, who answers for what the
    /// core refuses of it.
    fn feed_from(&mut self, event: Event, from: Option<PeerId>) -> Result<(), String> {
        let actions = self.core.handle(event);
        self.perform(actions, from)
    }

    fn perform(&mut self, actions: Vec<Action>, from: Option<PeerId>) -> Result<(), String> {
        let mut refusals = Refusals::default();
        for action in actions {
            match action {
                Action::PersistSafety(data) => {
                    // Synchronous on purpose: nothing after this may happen before it is on disk.
                    data.store(&self.safety_path).map_err(|e| {
                        format!(
                            "cannot persist {}: {e}; stopping so no vote leaves unrecorded",
                            self.safety_path.display()
                        )
                    })?;
                }
                Action::Send { to, message } => {
                    self.last_sync = Some(message.sync.clone());
                    let peer = self.shared.peers.lock().peer_of(&to);
                    let twins = self.twins(&message);
                    for message in std::iter::once(message).chain(twins) {
                        match peer {
                            Some(peer) => self
                                .shared
                                .network
                                .send_consensus(peer, Arc::new(message.encode())),
                            // An unknown peer id (e.g. a validator that never connected): the
                            // message still reaches it by broadcast.
                            None => self
                                .shared
                                .network
                                .broadcast_consensus(Arc::new(message.encode())),
                        }
                    }
                }
                Action::Broadcast { message } => {
                    self.last_sync = Some(message.sync.clone());
                    let twins = self.twins(&message);
                    for message in std::iter::once(message).chain(twins) {
                        self.shared
                            .network
                            .broadcast_consensus(Arc::new(message.encode()));
                    }
                }
                Action::Commit {
                    blocks,
                    proof,
                    ends_epoch,
                } => self.on_commit(blocks, proof, ends_epoch)?,
                Action::SetTimer { at_ms } => self.timer_at = Some(at_ms),
                Action::ReportEvidence(evidence) => {
                    tracing::warn!(?evidence, "equivocation seen");
                    crate::evidence::submit(&self.shared, self.account.as_ref(), evidence);
                }
                Action::Halt { reason } => {
                    tracing::error!("{reason}");
                    return Err(reason);
                }
                Action::Refused(refusal) => {
                    let kind = refusal.kind();
                    // With no sender (a parked proposal checked when its batches arrive, a
                    // timer), only a proposal over the limits is counted: its proposer's doing.
                    if from.is_some() || kind == "over_limit" {
                        self.shared.metrics.consensus_refused_by(kind, 1);
                    }
                    refusals.note(kind);
                }
            }
        }
        self.update_status();
        self.score_refusals(refusals, from);
        Ok(())
    }

    /// Test networks only: the second, conflicting messages an equivocating node sends.
    fn twins(&self, message: &ConsensusMessage) -> Vec<ConsensusMessage> {
        let Some(attacks) = &self.attacks else {
            return Vec::new();
        };
        let me = self.shared.status.read().validator;
        attacks.lock().twins(self.core.env().crypto(), me, message)
    }

    fn on_commit(
        &mut self,
        blocks: Vec<CommittedBlock>,
        proof: CommitProof,
        ends_epoch: Option<u64>,
    ) -> Result<(), String> {
        self.core.env().remember(&blocks);
        let stored: Vec<StoredBlock> = blocks
            .iter()
            .map(|b| StoredBlock {
                block: (*b.block).clone(),
                seed: b.seed,
                vrf_output: b.vrf_output,
            })
            .collect();
        // Batches this node holds go to disk with the block, before it is executed, so a restart
        // can replay it without asking anyone.
        for b in &blocks {
            for digest in &b.block.block.batches {
                let bytes = self.shared.mempool.lock().batch_bytes(digest);
                if let Some(bytes) = bytes {
                    self.shared
                        .blocks
                        .put_batch(digest, &bytes)
                        .map_err(|e| e.to_string())?;
                }
            }
        }
        self.shared
            .blocks
            .put_committed(&stored, &proof, ends_epoch)
            .map_err(|e| e.to_string())?;
        // Forget the committed batches now, not after execution, so the next proposal cannot
        // name them again while execution catches up.
        let digests: Vec<Hash> = blocks
            .iter()
            .flat_map(|b| b.block.block.batches.iter().copied())
            .collect();
        if let Some(last) = blocks.last() {
            self.shared
                .mempool
                .lock()
                .on_commit(&digests, last.block.height());
        }
        if let Some(last) = blocks.last() {
            self.shared
                .metrics
                .blocks_committed
                .inc_by(blocks.len() as u64);
            let height = last.block.height();
            self.shared.metrics.committed_height.set(height as i64);
            let (lock, wake) = &*self.shared.committed;
            if let Ok(mut committed) = lock.lock() {
                *committed = height;
            }
            wake.notify_all();
        }
        Ok(())
    }

    fn on_executed(&mut self, height: u64, state_root: Hash) -> Result<(), String> {
        self.shared
            .mempool
            .lock()
            .on_executed(height, &StateView(&self.shared.executor));
        self.feed(Event::BlockExecuted {
            height,
            state_root,
            now_ms: now_ms(),
        })
    }

    fn on_network(&mut self, event: NetworkEvent) -> Result<(), String> {
        match event {
            NetworkEvent::Consensus { from, bytes } => {
                let message = match ConsensusMessage::decode(&bytes) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(%from, "undecodable consensus message: {e}");
                        self.offence(from, Offence::Malformed);
                        return Ok(());
                    }
                };
                let message = match message.body {
                    MessageBody::SyncRequest(req) => {
                        match self.sync_budget.check(from, Instant::now()) {
                            SyncVerdict::Serve => {}
                            SyncVerdict::Refuse => {
                                self.shared.metrics.syncs_refused.inc();
                                return Ok(());
                            }
                            SyncVerdict::Penalise => {
                                self.shared.metrics.syncs_refused.inc();
                                self.offence(from, Offence::OverRate);
                                return Ok(());
                            }
                        }
                        match self.serve_sync(from, message.sync, req) {
                            Some(message) => message,
                            None => return Ok(()),
                        }
                    }
                    body => ConsensusMessage {
                        sync: message.sync,
                        body,
                    },
                };
                let address = self.shared.peers.lock().address_of(&from);
                if let MessageBody::Proposal(p) = &message.body
                    && address == p.block.block.header.proposer
                {
                    self.proposal_from = Some(((p.block.epoch(), p.block.round()), from));
                }
                self.feed_from(
                    Event::Message {
                        from: address,
                        message,
                        now_ms: now_ms(),
                    },
                    Some(from),
                )?;
            }
            NetworkEvent::Batch { from, bytes } => {
                let author = self.shared.peers.lock().validator(&from);
                if !self.verifier.pushed(from, author, bytes) {
                    self.shared.metrics.batches_shed.inc();
                }
            }
            NetworkEvent::BatchRequest {
                from,
                digests,
                reply,
            } => {
                // Built off this task, bounded per peer (serve.rs); validators have room of
                // their own, so strangers filling the node's bound never starve a voter.
                let validator = self.shared.peers.lock().validator(&from).is_some();
                self.fetches
                    .serve(&self.shared, from, validator, digests, reply);
            }
            NetworkEvent::PeerConnected(_) | NetworkEvent::PeerDisconnected(_) => {
                if let NetworkEvent::PeerDisconnected(peer) = &event {
                    self.shared.peers.lock().forget(peer);
                }
                self.record_peers();
            }
        }
        Ok(())
    }

    /// A sync request within its sender's budget: the answer is built off this task by the
    /// sync server, unless the request is near the tip, whose uncommitted part only the core
    /// holds (sync_serve.rs). Returns what the core still gets: the request itself (near the
    /// tip), the news that the sender is ahead (so the core asks it in turn), or nothing.
    fn serve_sync(
        &mut self,
        from: PeerId,
        sync: SyncInfo,
        req: SyncRequest,
    ) -> Option<ConsensusMessage> {
        let (epoch, root) = (self.core.epoch(), self.core.committed_height());
        let near_tip = req.epoch == epoch && req.committed_height.saturating_add(TIP_GAP) >= root;
        let Some(view_sync) = self
            .last_sync
            .clone()
            .filter(|_| !near_tip && req.epoch <= epoch)
        else {
            // Near the tip, or from a later epoch (the core answers nothing and asks the
            // sender), or before the core said anything.
            return Some(ConsensusMessage {
                sync,
                body: MessageBody::SyncRequest(req),
            });
        };
        let view = crate::sync_serve::View {
            epoch,
            committed_height: root,
            sync: view_sync,
            soft: self.sync_soft,
        };
        let validator = self.shared.peers.lock().validator(&from).is_some();
        match self.syncs.submit(from, validator, req, view) {
            Admit::Queued => {}
            Admit::Busy | Admit::Duplicate => {
                self.shared.metrics.syncs_busy.inc();
            }
        }
        // A sender whose sync info is of a later epoch is ahead of this node: the core asks it
        // for what it lacks, as it would on its request, and has nothing to serve for an epoch
        // it has not reached.
        let sync_epoch = sync.highest_qc.epoch().max(sync.highest_commit.epoch());
        (sync_epoch > epoch).then(|| ConsensusMessage {
            sync,
            body: MessageBody::SyncRequest(SyncRequest {
                epoch: epoch.saturating_add(1),
                committed_height: 0,
            }),
        })
    }

    /// Refusals that only a forger or a broken peer causes cost the sender, once per message
    /// however many it caused. With no sender, refusals of other events (a parked proposal
    /// checked when its batches arrive) are pinned on no one but a proposer over the limits.
    fn score_refusals(&mut self, refused: Refusals, from: Option<PeerId>) {
        let Refusals {
            forged,
            oversized,
            useless,
            over_limit,
        } = refused;
        // Refused when its batches arrived (no sender) or at once: the proposer's offence.
        if over_limit
            && let Some((round, proposer)) = self.proposal_from
            && round == (self.core.epoch(), self.core.round())
        {
            self.offence(proposer, Offence::Malformed);
        }
        let Some(from) = from else { return };
        if forged {
            self.offence(from, Offence::Forged);
        } else if oversized {
            self.offence(from, Offence::Malformed);
        }
        // Stale messages as rounds end are normal; a stream of them costs the sender.
        if useless > 0 && self.too_many_stale(from, useless) {
            self.offence(from, Offence::OverRate);
        }
    }

    /// Whether `from` sent more stale messages than an honest peer could: past
    /// [`USELESS_PER_ROUND`] in this round (fast rounds: an honest peer that lags sends a vote,
    /// a timeout, a status a round) and past [`USELESS_TOLERANCE`] a second (slow rounds: it
    /// retransmits every half second).
    fn too_many_stale(&mut self, from: PeerId, count: u64) -> bool {
        let round = (self.core.epoch(), self.core.round());
        let (seen_round, counts) = &mut self.useless_round;
        if *seen_round != round || counts.len() >= crate::serve::MAX_TRACKED_PEERS {
            *seen_round = round;
            counts.clear();
        }
        let this_round = counts.entry(from).or_insert(0);
        *this_round = this_round.saturating_add(count);
        let over_round = *this_round > USELESS_PER_ROUND;
        let now = Instant::now();
        let over_time = !(0..count).all(|_| self.useless.take(from, now));
        over_round && over_time
    }

    fn offence(&self, peer: PeerId, offence: Offence) {
        self.shared.metrics.peer_offences.inc();
        self.shared.network.report(peer, offence);
    }

    fn start_fetch(&mut self, digests: Vec<Hash>, room: Room) {
        let wanted: Vec<Hash> = digests
            .into_iter()
            .filter(|d| self.fetching.insert(*d))
            .collect();
        if wanted.is_empty() {
            return;
        }
        // The current round's proposer is asked first: it named these batches, so it holds
        // them, and it answers a validator's request unless two of this node's are in flight
        // there already (serve.rs). One chunk only, so this node never has more in flight.
        let proposer = self.proposal_from.filter(|(round, _)| {
            *round == (self.core.epoch(), self.core.round()) && wanted.len() <= FETCH_CHUNK
        });
        for chunk in wanted.chunks(FETCH_CHUNK) {
            let chunk = chunk.to_vec();
            let network = self.shared.network.clone();
            let done = self.fetched_tx.clone();
            tokio::spawn(async move {
                let mut unserved_by = None;
                if let Some((round, peer)) = proposer {
                    match network.fetch_batches(Some(peer), chunk.clone()).await {
                        Ok(found) if !found.is_empty() => {
                            let _ = done.send(Fetched {
                                asked: chunk,
                                found,
                                room,
                                unserved_by: None,
                            });
                            return;
                        }
                        // It answered, without any of the batches it named.
                        Ok(_) => unserved_by = Some((round, peer)),
                        Err(e) => tracing::debug!(%peer, "asking the proposer: {e}"),
                    }
                }
                let found = match network.fetch_batches(None, chunk.clone()).await {
                    Ok(found) => found,
                    Err(e) => {
                        tracing::debug!(asked = chunk.len(), "fetching a proposal's batches: {e}");
                        Vec::new()
                    }
                };
                // Another peer had them: the proposer was only slow to share (it may have been
                // at its bound); no one had them: the proposer withheld what it named.
                let unserved_by = unserved_by.filter(|_| found.is_empty());
                let _ = done.send(Fetched {
                    asked: chunk,
                    found,
                    room,
                    unserved_by,
                });
            });
        }
    }

    fn on_fetched(&mut self, fetched: Fetched) {
        let Fetched {
            asked,
            found,
            room,
            unserved_by,
        } = fetched;
        // Once per proposal, however often its batches are asked for again.
        if let Some((round, peer)) = unserved_by
            && self.withheld_seen != Some(round)
        {
            self.withheld_seen = Some(round);
            tracing::debug!(%peer, "the proposer did not serve the batches it named");
            self.shared.metrics.consensus_refused_by("withheld", 1);
            self.offence(peer, Offence::Malformed);
        }
        self.verifier.fetched(asked, found, room);
    }

    fn on_verdict(&mut self, verdict: Verdict) -> Result<(), String> {
        match verdict {
            Verdict::Stored => self.feed(Event::PayloadReady { now_ms: now_ms() }),
            Verdict::Offence(peer, offence) => {
                self.offence(peer, offence);
                Ok(())
            }
            Verdict::Fetched { asked, any } => {
                for d in &asked {
                    self.fetching.remove(d);
                }
                if any {
                    self.feed(Event::PayloadReady { now_ms: now_ms() })?;
                }
                Ok(())
            }
        }
    }

    fn seal(&mut self) -> Result<(), String> {
        let sealed = self.shared.mempool.lock().seal_due(now_ms());
        if sealed.is_empty() {
            return Ok(());
        }
        for batch in &sealed {
            self.shared.metrics.batches_sealed.inc();
            self.shared.network.broadcast_batch(batch.bytes.clone());
        }
        self.feed(Event::PayloadReady { now_ms: now_ms() })
    }

    fn on_tick(&mut self) {
        let expired = self.shared.mempool.lock().expire(now_ms());
        if expired > 0 {
            self.shared.metrics.batches_expired.inc_by(expired as u64);
            tracing::debug!(expired, "stored batches no block named aged out");
        }
        let stats = self.shared.mempool.lock().stats();
        self.shared
            .metrics
            .mempool_txs
            .set(stats.pending_txs as i64);
        self.shared
            .metrics
            .mempool_bytes
            .set(stats.pending_bytes as i64);
        let metrics = &self.shared.metrics;
        metrics.stored_batches.set(stats.stored_batches as i64);
        metrics
            .stored_batch_bytes
            .set(stats.stored_batch_bytes as i64);
        self.record_peers();
        self.update_status();
    }

    /// The connected peers' count, in the metrics and the status.
    fn record_peers(&self) {
        let peers = self.shared.network.connected_peers().len();
        self.shared.metrics.peers.set(peers as i64);
        self.shared.status.write().peers = peers as u64;
    }

    fn update_status(&self) {
        let core = &self.core;
        let stats = core.stats();
        self.shared.metrics.round.set(core.round() as i64);
        self.shared.metrics.epoch.set(core.epoch() as i64);
        let timeouts = stats.timeouts;
        let counted = self.shared.metrics.timeouts.get();
        if timeouts > counted {
            self.shared.metrics.timeouts.inc_by(timeouts - counted);
            // In the log too, so a stall can be told from a slow disk after the fact.
            tracing::info!(round = core.round(), timeouts, "a round timed out");
        }
        let mut status = self.shared.status.write();
        status.round = core.round();
        status.epoch = core.epoch();
        status.committed_height = core.committed_height();
        status.block_hash = core.committed_hash();
        status.syncing = status.committed_height > status.height.saturating_add(2);
    }
}

/// Maps validators' peer ids (the latest set and the one before) for direct sends.
pub fn refresh_peer_book(shared: &Shared) {
    let pairs = match shared.executor.validator_peer_ids() {
        Ok(pairs) => pairs,
        Err(e) => {
            tracing::warn!("cannot read validators' peer ids: {e}");
            return;
        }
    };
    shared
        .peers
        .lock()
        .set_validators(pairs.iter().map(|(a, p)| (*a, p.as_str())));
}

#[cfg(unix)]
type ArmSignal = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type ArmSignal = Option<()>;

/// SIGUSR1, when a `[byzantine]` node waits for it to start its attacks.
fn arm_signal(wanted: bool) -> ArmSignal {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if wanted {
            return signal(SignalKind::user_defined1())
                .map_err(|e| tracing::warn!("cannot wait for SIGUSR1: {e}"))
                .ok();
        }
        None
    }
    #[cfg(not(unix))]
    {
        let _ = wanted;
        None
    }
}

async fn next_signal(signal: &mut ArmSignal) -> Option<()> {
    #[cfg(unix)]
    if let Some(signal) = signal {
        return signal.recv().await;
    }
    #[cfg(not(unix))]
    let _ = signal;
    std::future::pending().await
}

async fn sleep_until_ms(at: Option<u64>) {
    match at {
        Some(at) => {
            let wait = at.saturating_sub(now_ms());
            tokio::time::sleep(Duration::from_millis(wait)).await
        }
        None => std::future::pending().await,
    }
}
