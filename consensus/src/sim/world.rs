//! One simulated seed: the nodes, the virtual clock and the run loop. The network, the fakes,
//! the byzantine behaviours, the checks and the trace live in files of their own.

use super::checker::Seen;
use super::draw::{Drawn, draw};
use super::fakes::{Pool, Schedule, SimCore, SimEnv, SimPayload, Store, make_crypto};
use super::network::{Ev, Net, Partition, Queued};
use super::trace::{describe_action, describe_event};
use super::{ByzantineKind, Load, Rng, ScriptedFault, SeedReport, SimConfig};
use crate::core::{Action, Core, CoreConfig, Event};
use runnet_types::consensus::SyncInfo;
use runnet_types::encoding::hash_of;
use runnet_types::{Address, Hash, PublicKey};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::rc::Rc;
pub(super) const CHAIN_ID: &str = "sim";
/// Committees are drawn for this many epochs; the last never ends.
pub(super) const EPOCHS: u64 = 64;
/// A seed that needs more events than this is spinning.
const MAX_EVENTS: u64 = 3_000_000;
/// A faulty validator's stake; honest ones draw 1 to 4 times it, so f of 3f+1 validators always
/// hold less than a third.
pub(super) const UNIT_STAKE: u64 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    Honest,
    Byzantine(ByzantineKind),
}

pub(super) struct Node {
    pub(super) identity: usize,
    pub(super) address: Address,
    pub(super) role: Role,
    pub(super) core: Option<SimCore>,
    pub(super) store: Rc<RefCell<Store>>,
    pub(super) pool: Rc<RefCell<Pool>>,
    pub(super) incarnation: u32,
    pub(super) timer_at: Option<u64>,
    pub(super) crash_pending: bool,
    pub(super) alive: bool,
    pub(super) evidence: BTreeSet<(PublicKey, u64, u64, u8)>,
    /// A forking equivocator keeps its real certificates to itself until this round, and
    /// speaks only with this sync info.
    pub(super) hide: Option<(u64, SyncInfo)>,
}

pub(super) struct World {
    pub(super) config: SimConfig,
    pub(super) seed: u64,
    pub(super) net_rng: Rng,
    pub(super) load_rng: Rng,
    pub(super) byz_rng: Rng,
    pub(super) now: u64,
    pub(super) seq: u64,
    pub(super) queue: BinaryHeap<Reverse<Queued>>,
    pub(super) nodes: Vec<Node>,
    pub(super) schedule: Rc<Schedule>,
    pub(super) real_crypto: bool,
    pub(super) genesis: Hash,
    pub(super) net: Net,
    pub(super) partition: Option<Partition>,
    pub(super) heal_at: u64,
    pub(super) deadline: u64,
    pub(super) healed: bool,
    pub(super) height_at_heal: u64,
    pub(super) commit_after_heal: bool,
    pub(super) committed: BTreeMap<u64, (Hash, usize)>,
    pub(super) max_committed: u64,
    pub(super) violations: Vec<String>,
    pub(super) seen: Seen,
    pub(super) honest_keys: BTreeSet<PublicKey>,
    pub(super) events: u64,
    pub(super) messages: u64,
    pub(super) evidence: u64,
    pub(super) batches: u64,
    pub(super) busy_until: u64,
    pub(super) idle_until: u64,
    pub(super) scenario: String,
    /// When each height was first committed by an honest node, in order.
    pub(super) commit_times: Vec<u64>,
    /// When each batch was offered, and which of them an honest node committed.
    pub(super) batch_times: BTreeMap<Hash, u64>,
    pub(super) batches_committed_set: BTreeSet<Hash>,
}

impl World {
    pub(super) fn new(config: &SimConfig, seed: u64) -> World {
        let mut root = Rng::new(seed);
        let mut scen = root.fork(1);
        let net_rng = root.fork(2);
        let mut load_rng = root.fork(3);
        let byz_rng = root.fork(4);
        let real_crypto =
            config.real_crypto_every > 0 && seed.is_multiple_of(config.real_crypto_every);

        let Drawn {
            nodes,
            schedule,
            honest_keys,
            net,
            partition,
            crashes,
            heal_at,
            deadline,
            scenario,
        } = draw(config, seed, &mut scen, real_crypto);

        let busy_first = load_rng.chance(500);
        let mut world = World {
            config: config.clone(),
            seed,
            net_rng,
            load_rng,
            byz_rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            schedule,
            real_crypto,
            genesis: hash_of(&("sim-genesis", seed)),
            net,
            partition,
            heal_at,
            deadline,
            healed: false,
            height_at_heal: 0,
            commit_after_heal: false,
            committed: BTreeMap::new(),
            max_committed: 0,
            violations: Vec::new(),
            seen: BTreeMap::new(),
            honest_keys,
            events: 0,
            messages: 0,
            evidence: 0,
            batches: 0,
            busy_until: 0,
            idle_until: 0,
            scenario,
            commit_times: Vec::new(),
            batch_times: BTreeMap::new(),
            batches_committed_set: BTreeSet::new(),
        };
        let scripted_crash = config
            .scripted
            .is_some_and(|sc| sc.fault == ScriptedFault::Crash);
        for (i, (node, at, back)) in crashes.into_iter().enumerate() {
            // The scripted crash (the first) is immediate, so runs with and without a change
            // lose the node at the same instant.
            if i == 0 && scripted_crash {
                world.push(
                    at,
                    Ev::HardCrash {
                        node,
                        incarnation: 1,
                    },
                );
            } else {
                world.push(at, Ev::Crash { node });
            }
            if back != u64::MAX {
                world.push(back, Ev::Restart { node });
            }
        }
        if config.load == Load::Busy || busy_first {
            world.busy_until = 0;
        } else {
            world.idle_until = world.load_rng.range(1_000, 8_000);
        }
        world.push(0, Ev::NewBatch);
        world
    }

    pub(super) fn run(mut self) -> SeedReport {
        for node in 0..self.nodes.len() {
            if self.nodes[node].role != Role::Byzantine(ByzantineKind::Silent) {
                self.boot(node);
            }
        }
        while let Some(Reverse(q)) = self.queue.pop() {
            self.now = q.at;
            if self.now > self.deadline {
                let text = format!(
                    "liveness: {} of simulated time after the network healed at {}ms, and not done: \
                     highest commit {} (need {}), committed since heal: {}, heights {:?}",
                    self.deadline - self.heal_at,
                    self.heal_at,
                    self.max_committed,
                    self.config.min_commits,
                    self.commit_after_heal,
                    self.heights()
                );
                self.violation(text);
                break;
            }
            self.events += 1;
            if self.events > MAX_EVENTS {
                self.violation(format!("more than {MAX_EVENTS} events: something spins"));
                break;
            }
            if !self.healed && self.now >= self.heal_at {
                self.healed = true;
                self.height_at_heal = self.max_committed;
            }
            self.dispatch(q.ev);
            if self.done() {
                break;
            }
        }
        self.check_evidence();
        let epochs = self
            .nodes
            .iter()
            .filter_map(|n| n.core.as_ref().map(|c| c.epoch()))
            .max()
            .unwrap_or(0);
        let end = self.now;
        let mut max_commit_gap_ms = 0;
        let mut last = 1_000u64;
        for t in self
            .commit_times
            .iter()
            .copied()
            .filter(|t| *t >= 1_000)
            .chain([end])
        {
            max_commit_gap_ms = max_commit_gap_ms.max(t.saturating_sub(last));
            last = t;
        }
        let offered: Vec<&Hash> = self
            .batch_times
            .iter()
            .filter(|(_, t)| **t + 2_000 <= end)
            .map(|(h, _)| h)
            .collect();
        let batches_committed = offered
            .iter()
            .filter(|h| self.batches_committed_set.contains(**h))
            .count() as u64;
        SeedReport {
            max_commit_gap_ms,
            batches_offered: offered.len() as u64,
            batches_committed,
            seed: self.seed,
            violations: self.violations,
            committed: self.max_committed,
            epochs,
            sim_time_ms: self.now,
            events: self.events,
            messages: self.messages,
            evidence: self.evidence,
            real_crypto: self.real_crypto,
            scenario: self.scenario,
        }
    }

    pub(super) fn boot(&mut self, node: usize) {
        let n = &self.nodes[node];
        let env = SimEnv {
            crypto: make_crypto(self.real_crypto, self.seed, n.identity),
            schedule: self.schedule.clone(),
            store: n.store.clone(),
            decided: RefCell::new(BTreeMap::new()),
        };
        let recovery = {
            let mut store = n.store.borrow_mut();
            // The node replays what it committed before serving anything.
            store.executed = store.disk.height();
            store
                .disk
                .recovery(store.executed, hash_of(&("state", store.executed)))
        };
        let payload = SimPayload {
            pool: n.pool.clone(),
        };
        let mut config = CoreConfig::new(CHAIN_ID, self.genesis, self.config.params.clone());
        #[cfg(test)]
        {
            config.flaw = self.config.flaw;
        }
        #[cfg(not(test))]
        let _ = &mut config;
        match Core::new(config, env, payload, recovery) {
            Ok(core) => {
                let n = &mut self.nodes[node];
                n.core = Some(core);
                n.alive = true;
                n.incarnation += 1;
                n.timer_at = None;
                n.crash_pending = false;
                self.feed(node, Event::Start { now_ms: self.now });
            }
            Err(e) => self.violation(format!("node {node} cannot start: {e}")),
        }
    }

    pub(super) fn crash(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        n.alive = false;
        n.core = None;
        n.timer_at = None;
        n.crash_pending = false;
    }

    pub(super) fn dispatch(&mut self, ev: Ev) {
        match ev {
            Ev::Deliver { to, from, msg } => self.deliver(to, from, msg),
            Ev::Timer {
                node,
                incarnation,
                at,
            } => {
                let n = &mut self.nodes[node];
                if n.alive && n.incarnation == incarnation && n.timer_at == Some(at) {
                    n.timer_at = None;
                    self.feed(node, Event::Timer { now_ms: self.now });
                }
            }
            Ev::Batch { node, digest } => {
                {
                    let mut pool = self.nodes[node].pool.borrow_mut();
                    if pool.committed.contains(&digest) {
                        return;
                    }
                    pool.available.insert(digest);
                }
                if self.nodes[node].alive {
                    self.feed(node, Event::PayloadReady { now_ms: self.now });
                }
            }
            Ev::Executed {
                node,
                incarnation,
                height,
            } => {
                let n = &self.nodes[node];
                if !n.alive || n.incarnation != incarnation {
                    return;
                }
                {
                    let mut store = n.store.borrow_mut();
                    store.executed = store.executed.max(height);
                }
                self.feed(
                    node,
                    Event::BlockExecuted {
                        height,
                        state_root: hash_of(&("state", height)),
                        now_ms: self.now,
                    },
                );
            }
            Ev::Crash { node } => {
                if !self.nodes[node].alive {
                    return;
                }
                if self.net_rng.chance(500) {
                    self.crash(node);
                } else {
                    // Crash right after the next safety write, before what it protects is sent.
                    let incarnation = self.nodes[node].incarnation;
                    self.nodes[node].crash_pending = true;
                    self.push(self.now + 2_000, Ev::HardCrash { node, incarnation });
                }
            }
            Ev::HardCrash { node, incarnation } => {
                if self.nodes[node].alive && self.nodes[node].incarnation == incarnation {
                    self.crash(node);
                }
            }
            Ev::Restart { node } => {
                if self.nodes[node].crash_pending {
                    // The crash waiting for a safety write never happened: crash now.
                    self.crash(node);
                }
                if !self.nodes[node].alive {
                    self.boot(node);
                }
            }
            Ev::NewBatch => self.new_batch(),
        }
    }

    /// Transactions arrive in busy spells separated by idle ones.
    pub(super) fn new_batch(&mut self) {
        let now = self.now;
        if self.config.load == Load::Busy {
            self.spread_batch();
            let next = now + self.load_rng.range(5, 20);
            self.push(next, Ev::NewBatch);
            return;
        }
        if now < self.idle_until {
            let at = self.idle_until;
            self.push(at, Ev::NewBatch);
            return;
        }
        if now >= self.busy_until && self.busy_until > 0 {
            // A busy spell ended: go idle.
            self.idle_until = now + self.load_rng.range(2_000, 15_000);
            self.busy_until = 0;
            let at = self.idle_until;
            self.push(at, Ev::NewBatch);
            return;
        }
        if self.busy_until == 0 {
            self.busy_until = now + self.load_rng.range(2_000, 10_000);
        }
        self.spread_batch();
        let next = now + self.load_rng.range(100, 700);
        self.push(next, Ev::NewBatch);
    }

    pub(super) fn spread_batch(&mut self) {
        self.batches += 1;
        let digest = hash_of(&("batch", self.seed, self.batches));
        self.batch_times.insert(digest, self.now);
        for node in 0..self.nodes.len() {
            let at = self.now + self.load_rng.range(1, 150);
            self.push(at, Ev::Batch { node, digest });
        }
    }

    pub(super) fn feed(&mut self, node: usize, event: Event) {
        let Some(core) = self.nodes[node].core.as_mut() else {
            return;
        };
        let before = self.config.trace.then(|| describe_event(&event));
        let actions = core.handle(event);
        if let Some(before) = before {
            let acts: Vec<String> = actions.iter().map(describe_action).collect();
            eprintln!(
                "{:>8}ms n{node} e{} r{} h{} {before} -> {acts:?} (last refusal: {:?})",
                self.now,
                core.epoch(),
                core.round(),
                core.committed_height(),
                core.stats().last_refusal
            );
        }
        self.perform(node, actions);
    }

    pub(super) fn perform(&mut self, node: usize, actions: Vec<Action>) {
        for action in actions {
            if !self.nodes[node].alive {
                break;
            }
            match action {
                Action::PersistSafety(data) => {
                    self.nodes[node].store.borrow_mut().disk.safety = Some(data);
                    if self.nodes[node].crash_pending {
                        // Everything after the write is lost: the vote, timeout or proposal
                        // it protected never leaves.
                        self.crash(node);
                        break;
                    }
                }
                Action::Send { to, message } => self.send_action(node, to, message),
                Action::Broadcast { message } => self.broadcast_action(node, message),
                Action::Commit {
                    blocks,
                    proof,
                    ends_epoch,
                } => self.on_commit(node, blocks, proof, ends_epoch),
                Action::SetTimer { at_ms } => {
                    let n = &mut self.nodes[node];
                    n.timer_at = Some(at_ms);
                    let incarnation = n.incarnation;
                    self.push(
                        at_ms,
                        Ev::Timer {
                            node,
                            incarnation,
                            at: at_ms,
                        },
                    );
                }
                Action::ReportEvidence(e) => self.on_evidence(node, e),
                // Counted in the core's stats; the simulated network scores no one.
                Action::Refused(_) => {}
                Action::Halt { reason } => {
                    // Every honest node computes the same roots here: a halt is a bug.
                    if self.nodes[node].role == Role::Honest {
                        self.violation(format!("node {node} halted: {reason}"));
                    }
                    self.crash(node);
                    break;
                }
            }
        }
    }
}
