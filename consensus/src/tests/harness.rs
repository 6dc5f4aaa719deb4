//! A scripted network for hand-written scenarios: the test decides which message arrives, which
//! is lost, and when timers fire.

use crate::core::{
    Action, CommittedBlock, Core, CoreConfig, Environment, Event, PayloadCheck, PayloadSource,
};
use crate::crypto::{Crypto, TestCrypto};
use crate::leader::LeaderSchedule;
use runnet_types::consensus::{
    CommitProof, Committee, ConsensusMessage, Evidence, MessageBody, ProposedBlock, ValidatorInfo,
};
use runnet_types::genesis::ConsensusParams;
use runnet_types::{Address, Hash};
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::sync::Arc;

pub(crate) const CHAIN: &str = "test";

/// The node's disk: the simulator's fake, shared.
pub(crate) use crate::sim::fakes::Disk;

pub(crate) struct Env {
    pub(crate) crypto: TestCrypto,
    pub(crate) committees: Rc<Vec<Arc<Committee>>>,
    pub(crate) disk: Rc<RefCell<Disk>>,
}

impl Environment for Env {
    fn committee(&self, epoch: u64) -> Option<Arc<Committee>> {
        self.committees.get(epoch as usize).cloned()
    }
    fn crypto(&self) -> &dyn Crypto {
        &self.crypto
    }
    fn committed_block(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        self.disk.borrow().block(height)
    }
    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.disk.borrow().epoch_end_proof(epoch)
    }
}

#[derive(Default)]
pub(crate) struct Mempool {
    pub(crate) available: BTreeSet<Hash>,
    /// Batches this node would propose.
    pub(crate) own: Vec<Hash>,
    /// Held batches that together would take a block over its limits.
    pub(crate) oversized: BTreeSet<Hash>,
    /// Whatever it offers fills a block (no block pace).
    pub(crate) full: bool,
}

pub(crate) struct Payload(pub(crate) Rc<RefCell<Mempool>>);

impl PayloadSource for Payload {
    fn next_payload(&mut self, in_flight: &BTreeSet<Hash>, max: usize) -> Vec<Hash> {
        self.0
            .borrow()
            .own
            .iter()
            .filter(|b| !in_flight.contains(*b))
            .take(max)
            .copied()
            .collect()
    }
    fn check_payload(&mut self, batches: &[Hash]) -> PayloadCheck {
        let m = self.0.borrow();
        if !batches.iter().all(|b| m.available.contains(b)) {
            PayloadCheck::Missing
        } else if batches.iter().any(|b| m.oversized.contains(b)) {
            PayloadCheck::OverLimit {
                items: 1_000_000,
                bytes: 1 << 30,
            }
        } else {
            PayloadCheck::Ready
        }
    }
    fn fills_block(&mut self, _batches: &[Hash]) -> bool {
        self.0.borrow().full
    }
}

pub(crate) type TestCore = Core<Env, Payload>;

pub(crate) struct Node {
    pub(crate) id: u64,
    pub(crate) address: Address,
    pub(crate) core: Option<TestCore>,
    pub(crate) disk: Rc<RefCell<Disk>>,
    pub(crate) mempool: Rc<RefCell<Mempool>>,
    pub(crate) commits: Vec<CommittedBlock>,
    pub(crate) evidence: Vec<Evidence>,
    /// Why the core halted, if it did.
    pub(crate) halted: Option<String>,
    /// The refusals the current core returned, by kind (its `Stats::refused` counts the same).
    pub(crate) refused: BTreeMap<&'static str, u64>,
    pub(crate) timer: Option<u64>,
}

impl Node {
    pub(crate) fn core(&self) -> &TestCore {
        match &self.core {
            Some(c) => c,
            None => panic!("node {} is down", self.id),
        }
    }
    pub(crate) fn core_mut(&mut self) -> &mut TestCore {
        match &mut self.core {
            Some(c) => c,
            None => panic!("node {} is down", self.id),
        }
    }
    pub(crate) fn height(&self) -> u64 {
        self.disk.borrow().ledger.len() as u64
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Envelope {
    pub(crate) from: usize,
    pub(crate) to: usize,
    pub(crate) msg: ConsensusMessage,
}

pub(crate) struct Harness {
    /// (node, height): from that height on, that node's state machine computes other roots.
    pub(crate) diverged: Option<(usize, u64)>,
    pub(crate) nodes: Vec<Node>,
    pub(crate) now: u64,
    pub(crate) queue: VecDeque<Envelope>,
    pub(crate) committees: Rc<Vec<Arc<Committee>>>,
    pub(crate) genesis: Hash,
    pub(crate) params: ConsensusParams,
}

pub(crate) fn committee_of(ids: &[u64], stakes: &[u64], epoch: u64, end: u64) -> Committee {
    let validators = ids
        .iter()
        .zip(stakes)
        .map(|(id, stake)| {
            let c = TestCrypto::new(*id);
            ValidatorInfo {
                address: c.public_key().address(),
                consensus_key: c.public_key(),
                vrf_key: c.vrf_public_key(),
                stake: *stake,
            }
        })
        .collect();
    match Committee::new(epoch, CHAIN, validators, end) {
        Ok(c) => c,
        Err(e) => panic!("{e}"),
    }
}

impl Harness {
    /// `n` validators of equal stake, one epoch that never ends.
    pub(crate) fn new(n: usize) -> Harness {
        let ids: Vec<u64> = (0..n as u64).collect();
        Harness::with_committees(n, vec![committee_of(&ids, &vec![1; n], 0, u64::MAX)])
    }

    /// `nodes` nodes with test keys 0..nodes, and the given committees (epoch i at index i).
    pub(crate) fn with_committees(nodes: usize, committees: Vec<Committee>) -> Harness {
        let committees: Rc<Vec<Arc<Committee>>> =
            Rc::new(committees.into_iter().map(Arc::new).collect());
        let nodes = (0..nodes as u64)
            .map(|id| Node {
                id,
                address: TestCrypto::new(id).public_key().address(),
                core: None,
                disk: Rc::new(RefCell::new(Disk::default())),
                mempool: Rc::new(RefCell::new(Mempool::default())),
                commits: Vec::new(),
                evidence: Vec::new(),
                halted: None,
                refused: BTreeMap::new(),
                timer: None,
            })
            .collect();
        let mut h = Harness {
            diverged: None,
            nodes,
            now: 0,
            queue: VecDeque::new(),
            committees,
            genesis: Hash([7; 32]),
            // The numbers the scripted tests are written in (not the genesis defaults, which
            // may move): 1 s empty-block wait, 2 s base timeout, 30 s cap, no block pace.
            params: ConsensusParams {
                empty_block_interval_ms: 1_000,
                base_round_timeout_ms: 2_000,
                max_round_timeout_ms: 30_000,
                min_block_interval_ms: 0,
                ..ConsensusParams::default()
            },
        };
        for i in 0..h.nodes.len() {
            h.boot(i);
        }
        h
    }

    /// Other consensus parameters, for every node (before `start`).
    pub(crate) fn set_params(&mut self, params: ConsensusParams) {
        self.params = params;
        for i in 0..self.nodes.len() {
            self.boot(i);
        }
    }

    pub(crate) fn config(&self) -> CoreConfig {
        CoreConfig::new(CHAIN, self.genesis, self.params.clone())
    }

    fn boot(&mut self, i: usize) {
        let node = &self.nodes[i];
        let recovery = {
            let disk = node.disk.borrow();
            disk.recovery(disk.height(), Hash::ZERO)
        };
        let env = Env {
            crypto: TestCrypto::new(node.id),
            committees: self.committees.clone(),
            disk: node.disk.clone(),
        };
        let core = match Core::new(self.config(), env, Payload(node.mempool.clone()), recovery) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        };
        self.nodes[i].core = Some(core);
        self.nodes[i].timer = None;
        self.nodes[i].refused.clear();
    }

    pub(crate) fn start(&mut self) {
        for i in 0..self.nodes.len() {
            self.feed(i, Event::Start { now_ms: self.now });
        }
    }

    /// Index of the node with this address (the first, for twins).
    pub(crate) fn index_of(&self, address: &Address) -> usize {
        self.nodes
            .iter()
            .position(|n| n.address == *address)
            .unwrap_or(usize::MAX)
    }

    /// The node leading `round` of `epoch`.
    /// The schedule's leader of `round` (the leader after a timeout, or of any round while
    /// every validator is seen at work).
    pub(crate) fn leader(&self, epoch: u64, round: u64) -> usize {
        let c = &self.committees[epoch as usize];
        self.node_of(epoch, LeaderSchedule::new(c).leader(round))
    }

    /// The node of committee member `index`.
    pub(crate) fn node_of(&self, epoch: u64, index: u32) -> usize {
        let c = &self.committees[epoch as usize];
        self.index_of(&c.validators()[index as usize].address)
    }

    pub(crate) fn feed(&mut self, i: usize, event: Event) -> Vec<Action> {
        let Some(core) = self.nodes[i].core.as_mut() else {
            return Vec::new();
        };
        let actions = core.handle(event);
        self.perform(i, &actions);
        actions
    }

    pub(crate) fn perform(&mut self, i: usize, actions: &[Action]) {
        for action in actions {
            match action {
                Action::Send { to, message } => {
                    for (j, n) in self.nodes.iter().enumerate() {
                        if j != i && n.address == *to {
                            self.queue.push_back(Envelope {
                                from: i,
                                to: j,
                                msg: message.clone(),
                            });
                        }
                    }
                }
                Action::Broadcast { message } => {
                    for j in 0..self.nodes.len() {
                        if j != i {
                            self.queue.push_back(Envelope {
                                from: i,
                                to: j,
                                msg: message.clone(),
                            });
                        }
                    }
                }
                Action::PersistSafety(data) => {
                    self.nodes[i].disk.borrow_mut().safety = Some(data.clone());
                }
                Action::Commit {
                    blocks,
                    proof,
                    ends_epoch,
                } => {
                    let node = &mut self.nodes[i];
                    let mut disk = node.disk.borrow_mut();
                    for (k, b) in blocks.iter().enumerate() {
                        assert_eq!(b.block.height(), disk.height() + 1 + k as u64);
                    }
                    disk.commit(blocks, proof.clone(), *ends_epoch);
                    node.commits.extend(blocks.iter().cloned());
                }
                Action::SetTimer { at_ms } => self.nodes[i].timer = Some(*at_ms),
                Action::ReportEvidence(e) => self.nodes[i].evidence.push(e.clone()),
                Action::Halt { reason } => self.nodes[i].halted = Some(reason.clone()),
                Action::Refused(r) => *self.nodes[i].refused.entry(r.kind()).or_default() += 1,
            }
        }
        // Execution follows commit at once here.
        let committed = self.nodes[i].height();
        if actions.iter().any(|a| matches!(a, Action::Commit { .. })) {
            let diverged = self
                .diverged
                .is_some_and(|(node, from)| node == i && committed >= from);
            let event = Event::BlockExecuted {
                height: committed,
                state_root: if diverged { Hash([1; 32]) } else { Hash::ZERO },
                now_ms: self.now,
            };
            self.feed(i, event);
        }
    }

    pub(crate) fn deliver(&mut self, env: Envelope) -> Vec<Action> {
        let from = self.nodes[env.from].address;
        let event = Event::Message {
            from,
            message: env.msg,
            now_ms: self.now,
        };
        self.feed(env.to, event)
    }

    /// Delivers queued messages (and those they cause) until none is left; `keep` decides, per
    /// message, whether it arrives or is lost.
    pub(crate) fn run(&mut self, keep: &mut dyn FnMut(&Envelope) -> bool) {
        let mut steps = 0;
        while let Some(env) = self.queue.pop_front() {
            steps += 1;
            assert!(steps < 200_000, "the scripted network does not settle");
            if self.nodes[env.to].core.is_some() && keep(&env) {
                self.deliver(env);
            }
        }
    }

    pub(crate) fn run_all(&mut self) {
        self.run(&mut |_| true);
    }

    /// Moves the clock to the earliest timer and fires every timer due then.
    pub(crate) fn fire_next_timer(&mut self) {
        let Some(at) = self
            .nodes
            .iter()
            .filter(|n| n.core.is_some())
            .filter_map(|n| n.timer)
            .min()
        else {
            return;
        };
        self.now = self.now.max(at);
        for i in 0..self.nodes.len() {
            if self.nodes[i].timer.is_some_and(|t| t <= self.now) {
                self.nodes[i].timer = None;
                self.feed(i, Event::Timer { now_ms: self.now });
            }
        }
    }

    /// Runs (delivering what `keep` lets through, firing timers) until `done` or `max_timers`.
    pub(crate) fn run_until(
        &mut self,
        keep: &mut dyn FnMut(&Envelope) -> bool,
        done: &mut dyn FnMut(&Harness) -> bool,
        max_timers: usize,
    ) -> bool {
        for _ in 0..max_timers {
            self.run(keep);
            if done(self) {
                return true;
            }
            self.fire_next_timer();
        }
        self.run(keep);
        done(self)
    }

    pub(crate) fn crash(&mut self, i: usize) {
        self.nodes[i].core = None;
        self.nodes[i].timer = None;
        self.queue.retain(|e| e.to != i);
    }

    pub(crate) fn restart(&mut self, i: usize) {
        self.boot(i);
        self.feed(i, Event::Start { now_ms: self.now });
    }

    /// Every pair of nodes agrees on every height both committed.
    pub(crate) fn assert_agreement(&self) {
        for a in &self.nodes {
            for b in &self.nodes {
                let (la, lb) = (a.disk.borrow(), b.disk.borrow());
                for (x, y) in la.ledger.iter().zip(lb.ledger.iter()) {
                    assert_eq!(x.hash(), y.hash(), "nodes {} and {} disagree", a.id, b.id);
                }
            }
        }
    }

    pub(crate) fn min_height(&self) -> u64 {
        self.nodes
            .iter()
            .filter(|n| n.core.is_some())
            .map(|n| n.height())
            .min()
            .unwrap_or(0)
    }
}

pub(crate) fn is_proposal(e: &Envelope) -> bool {
    matches!(e.msg.body, MessageBody::Proposal(_))
}

pub(crate) fn is_vote(e: &Envelope) -> bool {
    matches!(e.msg.body, MessageBody::Vote(_))
}

pub(crate) fn round_of(e: &Envelope) -> Option<u64> {
    match &e.msg.body {
        MessageBody::Proposal(p) => Some(p.block.round()),
        MessageBody::Vote(v) => Some(v.data.round),
        MessageBody::Timeout(t) => Some(t.data.round),
        _ => None,
    }
}
