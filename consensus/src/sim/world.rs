//! One simulated seed: nodes, a network, a virtual clock and the checks.

use super::{ByzantineKind, Load, Rng, ScriptedFault, SeedReport, SimConfig};
use crate::core::{
    Action, CommittedBlock, CommittedTip, Core, CoreConfig, Environment, Event, PayloadCheck,
    PayloadSource, Recovery,
};
use crate::crypto::{Crypto, Ed25519Crypto, TestCrypto};
use crate::equivocation::in_window;
use crate::safety::SafetyData;
use runnet_types::consensus::{
    CommitProof, Committee, ConsensusMessage, Evidence, MessageBody, Proposal, ProposedBlock,
    SyncInfo, ValidatorInfo, Vote, VoteData,
};
use runnet_types::encoding::hash_of;
use runnet_types::{Address, Domain, Hash, PublicKey, SecretKey, VrfPublicKey, VrfSecretKey};
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::rc::Rc;
use std::sync::Arc;

const CHAIN_ID: &str = "sim";
/// Committees are drawn for this many epochs; the last never ends.
const EPOCHS: u64 = 64;
/// A seed that needs more events than this is spinning.
const MAX_EVENTS: u64 = 3_000_000;
/// A faulty validator's stake; honest ones draw 1 to 4 times it, so f of 3f+1 validators always
/// hold less than a third.
const UNIT_STAKE: u64 = 100;

/// The validators of every epoch, fixed by the seed. When each epoch ends is the chain's to
/// say ([`SimEnv::committee`]); the committees here end never, and serve for their keys.
struct Schedule {
    committees: Vec<Arc<Committee>>,
    epoch_ms: u64,
}

impl Schedule {
    fn get(&self, epoch: u64) -> Option<Arc<Committee>> {
        self.committees.get(epoch as usize).cloned()
    }

    /// Epoch `epoch`'s committee ending at `end_ms` (the last epoch never ends).
    fn ending(&self, epoch: u64, end_ms: u64) -> Option<Arc<Committee>> {
        let c = self.get(epoch)?;
        if epoch + 1 >= self.committees.len() as u64 {
            return Some(c);
        }
        Committee::new(epoch, CHAIN_ID, c.validators().to_vec(), end_ms)
            .ok()
            .map(Arc::new)
    }
}

/// What a node's disk holds: the committed blocks and their proofs, the safety data.
#[derive(Default)]
struct Store {
    ledger: Vec<Arc<ProposedBlock>>,
    last_hash: Option<Hash>,
    proofs: BTreeMap<u64, CommitProof>,
    tip: Option<CommittedTip>,
    safety: Option<SafetyData>,
    executed: u64,
}

struct SimEnv {
    crypto: Box<dyn Crypto>,
    schedule: Rc<Schedule>,
    store: Rc<RefCell<Store>>,
    /// Committees this node's chain has decided, by epoch.
    decided: RefCell<BTreeMap<u64, Arc<Committee>>>,
}

impl Environment for SimEnv {
    fn committee(&self, epoch: u64) -> Option<Arc<Committee>> {
        if let Some(c) = self.decided.borrow().get(&epoch) {
            return Some(c.clone());
        }
        // Like the state machine (state/src/epochs.rs): epoch 0 ends `epoch_ms` after the
        // genesis time (0 here); the next committee is known once the previous epoch's last
        // block is executed, and ends `epoch_ms` after that block's chain time.
        let end_ms = if epoch == 0 {
            self.schedule.epoch_ms
        } else {
            let previous = self.committee(epoch - 1)?;
            let store = self.store.borrow();
            let executed = usize::try_from(store.executed)
                .unwrap_or(usize::MAX)
                .min(store.ledger.len());
            let last = store.ledger[..executed]
                .iter()
                .rev()
                .find(|b| b.epoch() == epoch - 1)?;
            let stamped = last.header().timestamp_ms;
            if !previous.ends_at(stamped) {
                return None;
            }
            stamped.saturating_add(self.schedule.epoch_ms)
        };
        let c = self.schedule.ending(epoch, end_ms)?;
        self.decided.borrow_mut().insert(epoch, c.clone());
        Some(c)
    }

    fn crypto(&self) -> &dyn Crypto {
        &*self.crypto
    }

    fn committed_block(&self, height: u64) -> Option<Arc<ProposedBlock>> {
        let index = usize::try_from(height.checked_sub(1)?).ok()?;
        self.store.borrow().ledger.get(index).cloned()
    }

    fn epoch_end_proof(&self, epoch: u64) -> Option<CommitProof> {
        self.store.borrow().proofs.get(&epoch).cloned()
    }
}

/// The node's mempool: batches that reached it, minus those committed.
#[derive(Default)]
struct Pool {
    available: BTreeSet<Hash>,
    committed: BTreeSet<Hash>,
}

struct SimPayload {
    pool: Rc<RefCell<Pool>>,
}

impl PayloadSource for SimPayload {
    fn next_payload(&mut self, in_flight: &BTreeSet<Hash>, max: usize) -> Vec<Hash> {
        let pool = self.pool.borrow();
        pool.available
            .iter()
            .filter(|b| !in_flight.contains(*b))
            .take(max.min(8))
            .copied()
            .collect()
    }

    fn check_payload(&mut self, batches: &[Hash]) -> PayloadCheck {
        let pool = self.pool.borrow();
        if batches
            .iter()
            .all(|b| pool.available.contains(b) || pool.committed.contains(b))
        {
            PayloadCheck::Ready
        } else {
            PayloadCheck::Missing
        }
    }
}

type SimCore = Core<SimEnv, SimPayload>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Honest,
    Byzantine(ByzantineKind),
}

struct Node {
    identity: usize,
    address: Address,
    role: Role,
    core: Option<SimCore>,
    store: Rc<RefCell<Store>>,
    pool: Rc<RefCell<Pool>>,
    incarnation: u32,
    timer_at: Option<u64>,
    crash_pending: bool,
    alive: bool,
    evidence: BTreeSet<(PublicKey, u64, u64, u8)>,
    /// A forking equivocator keeps its real certificates to itself until this round, and
    /// speaks only with this sync info.
    hide: Option<(u64, SyncInfo)>,
}

enum Ev {
    Deliver {
        to: usize,
        from: Address,
        msg: Rc<ConsensusMessage>,
    },
    Timer {
        node: usize,
        incarnation: u32,
        at: u64,
    },
    Batch {
        node: usize,
        digest: Hash,
    },
    Executed {
        node: usize,
        incarnation: u32,
        height: u64,
    },
    Crash {
        node: usize,
    },
    HardCrash {
        node: usize,
        incarnation: u32,
    },
    Restart {
        node: usize,
    },
    NewBatch,
}

struct Queued {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Net {
    drop: u64,
    dup: u64,
    min_delay: u64,
    max_delay: u64,
    slow: u64,
}

struct Partition {
    start: u64,
    end: u64,
    group: Vec<u8>,
}

type SeenKey = (usize, u32, u64, u64, PublicKey, u8);
type Seen = BTreeMap<SeenKey, BTreeSet<runnet_types::Signature>>;

pub(super) struct World {
    config: SimConfig,
    seed: u64,
    net_rng: Rng,
    load_rng: Rng,
    byz_rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<Queued>>,
    nodes: Vec<Node>,
    schedule: Rc<Schedule>,
    real_crypto: bool,
    genesis: Hash,
    net: Net,
    partition: Option<Partition>,
    heal_at: u64,
    deadline: u64,
    healed: bool,
    height_at_heal: u64,
    commit_after_heal: bool,
    committed: BTreeMap<u64, (Hash, usize)>,
    max_committed: u64,
    violations: Vec<String>,
    seen: Seen,
    honest_keys: BTreeSet<PublicKey>,
    events: u64,
    messages: u64,
    evidence: u64,
    batches: u64,
    busy_until: u64,
    idle_until: u64,
    scenario: String,
    /// When each height was first committed by an honest node, in order.
    commit_times: Vec<u64>,
    /// When each batch was offered, and which of them an honest node committed.
    batch_times: BTreeMap<Hash, u64>,
    batches_committed_set: BTreeSet<Hash>,
}

fn key_seed(seed: u64, identity: usize, purpose: &str) -> [u8; 32] {
    hash_of(&("sim-key", purpose, seed, identity as u64)).0
}

fn make_crypto(real: bool, seed: u64, identity: usize) -> Box<dyn Crypto> {
    if real {
        Box::new(Ed25519Crypto::new(
            SecretKey::from_seed(key_seed(seed, identity, "ed25519")),
            VrfSecretKey::from_seed(key_seed(seed, identity, "vrf")),
        ))
    } else {
        Box::new(TestCrypto::new(
            seed.wrapping_mul(1_000_003).wrapping_add(identity as u64),
        ))
    }
}

impl World {
    pub(super) fn new(config: &SimConfig, seed: u64) -> World {
        let mut root = Rng::new(seed);
        let mut scen = root.fork(1);
        let net_rng = root.fork(2);
        let mut load_rng = root.fork(3);
        let byz_rng = root.fork(4);
        let n = config.validators;
        let real_crypto =
            config.real_crypto_every > 0 && seed.is_multiple_of(config.real_crypto_every);

        // Who is faulty, and how.
        let mut order: Vec<usize> = (0..n).collect();
        scen.shuffle(&mut order);
        let kinds: Vec<ByzantineKind> = if config.kinds.is_empty() {
            ByzantineKind::ALL.to_vec()
        } else {
            config.kinds.clone()
        };
        let mut roles = vec![Role::Honest; n];
        for identity in order.iter().take(config.byzantine) {
            let kind = scen.pick(&kinds).copied().unwrap_or(ByzantineKind::Silent);
            roles[*identity] = Role::Byzantine(kind);
        }

        // Keys of each identity.
        let identities: Vec<(PublicKey, VrfPublicKey)> = (0..n)
            .map(|i| {
                let c = make_crypto(real_crypto, seed, i);
                (c.public_key(), c.vrf_public_key())
            })
            .collect();
        let honest_keys = (0..n)
            .filter(|i| roles[*i] == Role::Honest)
            .map(|i| identities[i].0)
            .collect();

        // Committees: stakes vary by epoch and, when there is room, an honest validator sits an
        // epoch out and follows the chain instead.
        let mut committees = Vec::new();
        let mut stake_rng = scen.fork(5);
        for epoch in 0..EPOCHS {
            let honest: Vec<usize> = (0..n).filter(|i| roles[*i] == Role::Honest).collect();
            let sit_out = if config.faults.committee_changes
                && epoch > 0
                && 3 * config.byzantine + 1 < n.saturating_sub(1)
                && stake_rng.chance(300)
            {
                stake_rng.pick(&honest).copied()
            } else {
                None
            };
            let validators: Vec<ValidatorInfo> = (0..n)
                .filter(|i| Some(*i) != sit_out)
                .map(|i| ValidatorInfo {
                    address: identities[i].0.address(),
                    consensus_key: identities[i].0,
                    vrf_key: identities[i].1,
                    stake: match roles[i] {
                        Role::Honest if config.faults.committee_changes => {
                            UNIT_STAKE * stake_rng.range(1, 4)
                        }
                        _ => UNIT_STAKE,
                    },
                })
                .collect();
            // Distinct keys and non-zero stakes by construction.
            match Committee::new(epoch, CHAIN_ID, validators, u64::MAX) {
                Ok(c) => committees.push(Arc::new(c)),
                Err(e) => panic!("simulator built an invalid committee: {e}"),
            }
        }
        let schedule = Rc::new(Schedule {
            committees,
            epoch_ms: config.epoch_ms,
        });

        // Nodes: one per identity, plus a second node for each twin.
        let mut node_identities: Vec<usize> = (0..n).collect();
        node_identities
            .extend((0..n).filter(|i| roles[*i] == Role::Byzantine(ByzantineKind::Twins)));
        let nodes: Vec<Node> = node_identities
            .iter()
            .map(|&identity| Node {
                identity,
                address: identities[identity].0.address(),
                role: roles[identity],
                core: None,
                store: Rc::new(RefCell::new(Store::default())),
                pool: Rc::new(RefCell::new(Pool::default())),
                incarnation: 0,
                timer_at: None,
                crash_pending: false,
                alive: false,
                evidence: BTreeSet::new(),
                hide: None,
            })
            .collect();

        // The network.
        let net = if config.faults.network {
            Net {
                drop: *scen.pick(&[0, 5, 20, 50, 100]).unwrap_or(&0),
                dup: *scen.pick(&[0, 10, 50]).unwrap_or(&0),
                min_delay: scen.range(1, 5),
                max_delay: scen.range(10, 120),
                slow: *scen.pick(&[0, 20, 50]).unwrap_or(&0),
            }
        } else {
            Net {
                drop: 0,
                dup: 0,
                min_delay: 1,
                max_delay: 10,
                slow: 0,
            }
        };
        let total_nodes = nodes.len();
        let partition =
            (config.faults.partitions && total_nodes > 1 && scen.chance(600)).then(|| {
                let start = scen.range(2_000, 40_000);
                let end = start + scen.range(1_000, 60_000);
                let mut group = vec![0u8; total_nodes];
                match scen.below(3) {
                    0 => group.iter_mut().for_each(|g| *g = scen.below(2) as u8),
                    1 => group[scen.below(total_nodes as u64) as usize] = 1,
                    _ => {
                        let mut idx: Vec<usize> = (0..total_nodes).collect();
                        scen.shuffle(&mut idx);
                        for i in idx.iter().take(total_nodes / 2) {
                            group[*i] = 1;
                        }
                    }
                }
                Partition { start, end, group }
            });
        let partition = match config.scripted {
            Some(sc) if sc.fault == ScriptedFault::Isolate => {
                let mut group = vec![0u8; total_nodes];
                group[sc.node] = 1;
                Some(Partition {
                    start: sc.from_ms,
                    end: sc.until_ms,
                    group,
                })
            }
            _ => partition,
        };
        let mut crashes = Vec::new();
        if let Some(sc) = config.scripted
            && sc.fault == ScriptedFault::Crash
        {
            crashes.push((sc.node, sc.from_ms, sc.until_ms));
        }
        if config.faults.crashes && scen.chance(600) {
            let mut candidates: Vec<usize> = (0..total_nodes)
                .filter(|i| nodes[*i].role == Role::Honest)
                .collect();
            scen.shuffle(&mut candidates);
            let count = scen.range(1, 2) as usize;
            for node in candidates.into_iter().take(count) {
                let at = scen.range(1_000, 60_000);
                let down = scen.range(300, 40_000);
                crashes.push((node, at, at + down));
            }
        }
        // A fault that never ends is healed, for the liveness check, when it starts: the
        // others must go on without that node.
        let ends = |end: u64, start: u64| if end == u64::MAX { start } else { end };
        let heal_at = partition
            .as_ref()
            .map_or(0, |p| ends(p.end, p.start))
            .max(
                crashes
                    .iter()
                    .map(|c| ends(c.2, c.1).saturating_add(2_000))
                    .max()
                    .unwrap_or(0),
            )
            .max(config.min_sim_ms);
        let deadline = heal_at + 10 * config.params.max_round_timeout_ms.max(1);

        let mut scenario = format!(
            "n={} byz=[{}] crypto={} drop={}‰ dup={}‰ delay={}-{}ms slow={}‰",
            n,
            roles
                .iter()
                .filter_map(|r| match r {
                    Role::Byzantine(k) => Some(k.name()),
                    Role::Honest => None,
                })
                .collect::<Vec<_>>()
                .join(","),
            if real_crypto { "ed25519" } else { "test" },
            net.drop,
            net.dup,
            net.min_delay,
            net.max_delay,
            net.slow
        );
        if let Some(p) = &partition {
            scenario.push_str(&format!(
                " partition={:.1}s-{:.1}s{:?}",
                p.start as f64 / 1000.0,
                p.end as f64 / 1000.0,
                p.group
            ));
        }
        for (node, at, back) in &crashes {
            scenario.push_str(&format!(
                " crash=n{node}@{:.1}s-{:.1}s",
                *at as f64 / 1000.0,
                (*back).min(u64::MAX / 2) as f64 / 1000.0
            ));
        }

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

    fn push(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Queued {
            at,
            seq: self.seq,
            ev,
        }));
    }

    fn violation(&mut self, text: String) {
        if self.violations.len() < 20 {
            self.violations.push(format!("t={}ms: {text}", self.now));
        }
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

    fn heights(&self) -> Vec<(usize, u64, u64, u64)> {
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(i, n)| {
                n.core
                    .as_ref()
                    .map(|c| (i, c.committed_height(), c.epoch(), c.round()))
            })
            .collect()
    }

    fn done(&self) -> bool {
        if !self.healed
            || !self.commit_after_heal
            || self.max_committed < self.config.min_commits
            || self.now < self.config.min_sim_ms
        {
            return false;
        }
        // A node crashed for good by the script is not waited for.
        let gone = self
            .config
            .scripted
            .filter(|s| s.fault == ScriptedFault::Crash && s.until_ms == u64::MAX)
            .map(|s| s.node);
        self.nodes
            .iter()
            .enumerate()
            .filter(|(i, n)| n.role == Role::Honest && Some(*i) != gone)
            .all(|(_, n)| n.alive && n.store.borrow().ledger.len() as u64 >= self.height_at_heal)
    }

    fn boot(&mut self, node: usize) {
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
            store.executed = store.ledger.len() as u64;
            Recovery {
                safety: store.safety.clone(),
                tip: store.tip.clone(),
                executed_height: store.executed,
                executed_state_root: hash_of(&("state", store.executed)),
            }
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

    fn crash(&mut self, node: usize) {
        let n = &mut self.nodes[node];
        n.alive = false;
        n.core = None;
        n.timer_at = None;
        n.crash_pending = false;
    }

    fn dispatch(&mut self, ev: Ev) {
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
    fn new_batch(&mut self) {
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

    fn spread_batch(&mut self) {
        self.batches += 1;
        let digest = hash_of(&("batch", self.seed, self.batches));
        self.batch_times.insert(digest, self.now);
        for node in 0..self.nodes.len() {
            let at = self.now + self.load_rng.range(1, 150);
            self.push(at, Ev::Batch { node, digest });
        }
    }

    fn feed(&mut self, node: usize, event: Event) {
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

    fn perform(&mut self, node: usize, actions: Vec<Action>) {
        for action in actions {
            if !self.nodes[node].alive {
                break;
            }
            match action {
                Action::PersistSafety(data) => {
                    self.nodes[node].store.borrow_mut().safety = Some(data);
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

    // -------------------------------------------------------------------------------------
    // Network

    fn transmit(&mut self, from: usize, to: usize, msg: Rc<ConsensusMessage>) {
        self.messages += 1;
        if let Some(p) = &self.partition
            && self.now >= p.start
            && self.now < p.end
            && p.group[from] != p.group[to]
        {
            return;
        }
        if self.net_rng.chance(self.net.drop) {
            return;
        }
        let copies = if self.net_rng.chance(self.net.dup) {
            2
        } else {
            1
        };
        let sender = self.nodes[from].address;
        for _ in 0..copies {
            let mut delay = self.net_rng.range(self.net.min_delay, self.net.max_delay);
            if self.net_rng.chance(self.net.slow) {
                delay += self.net_rng.range(100, 1_500);
            }
            self.push(
                self.now + delay,
                Ev::Deliver {
                    to,
                    from: sender,
                    msg: msg.clone(),
                },
            );
        }
    }

    fn targets(&self, from: usize, to: Address) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| *i != from && self.nodes[*i].address == to)
            .collect()
    }

    fn others(&self, from: usize) -> Vec<usize> {
        (0..self.nodes.len()).filter(|i| *i != from).collect()
    }

    /// The sync info a forking equivocator still hides behind, if any.
    fn hiding(&mut self, node: usize) -> Option<SyncInfo> {
        let n = &mut self.nodes[node];
        let round = n.core.as_ref().map_or(0, |c| c.round());
        match &n.hide {
            Some((until, sync)) if round <= *until => Some(sync.clone()),
            _ => {
                n.hide = None;
                None
            }
        }
    }

    fn send_action(&mut self, node: usize, to: Address, message: ConsensusMessage) {
        if self.hiding(node).is_some() {
            return;
        }
        if self.nodes[node].role == Role::Byzantine(ByzantineKind::DoubleVoter)
            && let MessageBody::Vote(v) = &message.body
        {
            let mut data = v.data.clone();
            data.block = hash_of(&("another block", data.block));
            let second = ConsensusMessage {
                sync: message.sync.clone(),
                body: MessageBody::Vote(self.sign_vote(node, data)),
            };
            let mut both = vec![Rc::new(message), Rc::new(second)];
            self.byz_rng.shuffle(&mut both);
            for target in self.targets(node, to) {
                for m in &both {
                    self.transmit(node, target, m.clone());
                }
            }
            return;
        }
        let msg = Rc::new(message);
        for target in self.targets(node, to) {
            self.transmit(node, target, msg.clone());
        }
    }

    fn broadcast_action(&mut self, node: usize, message: ConsensusMessage) {
        if self.hiding(node).is_some() {
            return;
        }
        if self.nodes[node].role == Role::Byzantine(ByzantineKind::Equivocator)
            && let MessageBody::Proposal(p) = &message.body
            && p.block.header().proposer == self.nodes[node].address
        {
            let p = p.clone();
            self.equivocate(node, message, p);
            return;
        }
        let msg = Rc::new(message);
        for target in self.others(node) {
            self.transmit(node, target, msg.clone());
        }
    }

    // -------------------------------------------------------------------------------------
    // Byzantine behaviour

    fn sign_vote(&self, node: usize, data: VoteData) -> Vote {
        let author = self.nodes[node].address;
        let signature = match &self.nodes[node].core {
            Some(core) => core
                .env()
                .crypto()
                .sign(Domain::Vote, &data.signing_bytes(CHAIN_ID)),
            None => Default::default(),
        };
        Vote {
            data,
            author,
            signature,
        }
    }

    /// The equivocator votes for whatever it sees, whatever its rules say.
    fn vote_for_anything(&mut self, node: usize, p: &Proposal) {
        let Some(core) = &self.nodes[node].core else {
            return;
        };
        let committee = core.committee().clone();
        if p.block.epoch() != committee.epoch() {
            return;
        }
        let next = core.vote_recipient(p.block.round(), &p.block.hash());
        let data = VoteData {
            epoch: p.block.epoch(),
            round: p.block.round(),
            height: p.block.height(),
            block: p.block.hash(),
            parent: p.block.header().parent,
            parent_round: p.block.justify.data.round,
        };
        let sync = core.sync_info();
        let sync = self.hiding(node).unwrap_or(sync);
        let Some(to) = committee.get(next).map(|v| v.address) else {
            return;
        };
        let vote = self.sign_vote(node, data);
        let msg = Rc::new(ConsensusMessage {
            sync,
            body: MessageBody::Vote(vote),
        });
        for target in self.targets(node, to) {
            self.transmit(node, target, msg.clone());
        }
    }

    fn equivocate(&mut self, node: usize, message: ConsensusMessage, p: Proposal) {
        let mode = self.byz_rng.below(3);
        let Some(core) = &self.nodes[node].core else {
            return;
        };
        let round = p.block.round();
        let committee = core.committee().clone();
        let (alternative, sync) = match mode {
            1 => (core.forge_variant(&p), message.sync.clone()),
            2 => match core.forge_fork(round, self.now) {
                // Hide the higher certificates, or the receivers would commit past the fork.
                Some(fork) => {
                    let sync = SyncInfo {
                        highest_qc: fork.block.justify.clone(),
                        highest_tc: None,
                        highest_commit: fork.block.justify.clone(),
                    };
                    (Some(fork), sync)
                }
                None => (core.forge_variant(&p), message.sync.clone()),
            },
            _ => (None, message.sync.clone()),
        };
        let mut others = self.others(node);
        let original = Rc::new(message);
        let Some(alternative) = alternative else {
            for target in others {
                self.transmit(node, target, original.clone());
            }
            return;
        };
        let forking = mode == 2 && alternative.block.justify != p.block.justify;
        if forking {
            if self.config.trace {
                eprintln!(
                    "{:>8}ms n{node} forks round {round}: real block on round {}, fork on round {}",
                    self.now,
                    p.block.justify.round(),
                    alternative.block.justify.round()
                );
            }
            self.nodes[node].hide = Some((round + 3, sync.clone()));
        }
        self.vote_for_anything(node, &alternative);
        let alt = Rc::new(ConsensusMessage {
            sync,
            body: MessageBody::Proposal(alternative),
        });
        self.byz_rng.shuffle(&mut others);
        if forking {
            // The real block, whose certificate commits its grandparent, goes to the lightest
            // validator only; everyone else gets the fork below that commit. A rule that ignores
            // the lock lets them certify it.
            let stake = |i: &usize| {
                committee
                    .index_of(&self.nodes[*i].address)
                    .and_then(|x| committee.get(x))
                    .map_or(0, |v| v.stake)
            };
            others.sort_by_key(stake);
            for (i, target) in others.iter().enumerate() {
                let m = if i == 0 { &original } else { &alt };
                self.transmit(node, *target, m.clone());
            }
            return;
        }
        let split = others.len() / 2;
        for (i, target) in others.iter().enumerate() {
            if i < split {
                self.transmit(node, *target, original.clone());
            } else {
                self.transmit(node, *target, alt.clone());
            }
        }
        // Someone sees both (and must produce evidence).
        if let Some(both) = others.first().copied() {
            self.transmit(node, both, alt);
        }
    }

    // -------------------------------------------------------------------------------------
    // Delivery and checks

    fn deliver(&mut self, to: usize, from: Address, msg: Rc<ConsensusMessage>) {
        if !self.nodes[to].alive {
            return;
        }
        if self.nodes[to].role == Role::Honest {
            self.record_seen(to, &msg);
        }
        if self.nodes[to].role == Role::Byzantine(ByzantineKind::Equivocator)
            && let MessageBody::Proposal(p) = &msg.body
        {
            let p = p.clone();
            self.vote_for_anything(to, &p);
        }
        self.feed(
            to,
            Event::Message {
                from,
                message: (*msg).clone(),
                now_ms: self.now,
            },
        );
    }

    /// Remembers signed proposals and votes an honest node is about to see, under the same
    /// conditions in which the core remembers them.
    fn record_seen(&mut self, node: usize, msg: &ConsensusMessage) {
        let n = &self.nodes[node];
        let Some(core) = &n.core else { return };
        let (epoch, round) = (core.epoch(), core.round());
        if msg.sync.highest_qc.epoch() > epoch || msg.sync.highest_commit.epoch() > epoch {
            return;
        }
        let Some(committee) = self.schedule.get(epoch) else {
            return;
        };
        // Signatures are deterministic (ed25519 and the test signer alike), so distinct signed
        // contents have distinct signatures: they identify the content without hashing it.
        let (author, msg_epoch, msg_round, digest, kind) = match &msg.body {
            MessageBody::Proposal(p) => (
                p.block.header().proposer,
                p.block.epoch(),
                p.block.round(),
                p.block.signature,
                0u8,
            ),
            MessageBody::Vote(v) => (v.author, v.data.epoch, v.data.round, v.signature, 1u8),
            _ => return,
        };
        if msg_epoch != epoch || !in_window(msg_round, round) {
            return;
        }
        let Some(key) = committee
            .index_of(&author)
            .and_then(|i| committee.get(i))
            .map(|v| v.consensus_key)
        else {
            return;
        };
        let incarnation = n.incarnation;
        self.seen
            .entry((node, incarnation, epoch, msg_round, key, kind))
            .or_default()
            .insert(digest);
    }

    fn on_evidence(&mut self, node: usize, e: Evidence) {
        if self.nodes[node].role != Role::Honest {
            return;
        }
        self.evidence += 1;
        let Some(committee) = self.schedule.get(e.epoch()) else {
            self.violation(format!("node {node} reported evidence of unknown epoch"));
            return;
        };
        let keys = committee.keys();
        let checked = if self.real_crypto {
            e.verify(CHAIN_ID, &keys)
        } else {
            let checker = TestCrypto::new(0);
            e.verify_with(CHAIN_ID, &keys, |k, d, m, s| checker.verify(k, d, m, s))
        };
        if let Err(err) = checked {
            self.violation(format!("node {node} reported invalid evidence: {err}"));
        }
        if self.honest_keys.contains(e.signer()) {
            self.violation(format!(
                "node {node} reported evidence against honest validator {}",
                e.signer()
            ));
        }
        let kind = match e {
            Evidence::Proposals { .. } => 0,
            Evidence::Votes { .. } => 1,
        };
        self.nodes[node]
            .evidence
            .insert((*e.signer(), e.epoch(), e.round(), kind));
    }

    fn check_evidence(&mut self) {
        let mut missing = Vec::new();
        for ((node, _, epoch, round, key, kind), digests) in &self.seen {
            if digests.len() >= 2
                && !self.nodes[*node]
                    .evidence
                    .contains(&(*key, *epoch, *round, *kind))
            {
                missing.push(format!(
                    "node {node} saw {} conflicting {} of {} in epoch {epoch} round {round} but reported no evidence",
                    digests.len(),
                    if *kind == 0 { "proposals" } else { "votes" },
                    key
                ));
            }
        }
        for m in missing {
            self.violation(m);
        }
    }

    fn on_commit(
        &mut self,
        node: usize,
        blocks: Vec<CommittedBlock>,
        proof: CommitProof,
        ends_epoch: Option<u64>,
    ) {
        let honest = self.nodes[node].role == Role::Honest;
        // A byzantine leader may name an already committed batch on purpose (execution then skips
        // its transactions); honest leaders never may.
        let all_honest = self.nodes.iter().all(|n| n.role == Role::Honest);
        let mut problems = Vec::new();
        {
            let n = &self.nodes[node];
            let mut store = n.store.borrow_mut();
            let mut pool = n.pool.borrow_mut();
            for b in &blocks {
                let height = b.block.height();
                let expected = store.ledger.len() as u64 + 1;
                let parent_ok = b.block.header().parent == store.last_hash.unwrap_or(self.genesis);
                if height != expected || !parent_ok {
                    problems.push(format!(
                        "node {node} committed height {height} (parent ok: {parent_ok}) after height {}",
                        expected - 1
                    ));
                }
                store.ledger.push(b.block.clone());
                store.last_hash = Some(b.hash);
                for batch in &b.block.block.batches {
                    pool.available.remove(batch);
                    // A batch named by two committed blocks would execute its transactions
                    // twice (the second time as skips).
                    if !pool.committed.insert(*batch) && all_honest {
                        problems.push(format!(
                            "node {node} committed batch {batch} a second time at height {height}"
                        ));
                    }
                }
            }
            if let Some(last) = blocks.last() {
                store.tip = Some(CommittedTip {
                    block: last.block.clone(),
                    seed: last.seed,
                    proof: proof.clone(),
                });
            }
            if let Some(epoch) = ends_epoch {
                store.proofs.insert(epoch, proof);
            }
        }
        for p in problems {
            self.violation(p);
        }
        if honest {
            for b in &blocks {
                let height = b.block.height();
                let hash = b.hash;
                match self.committed.get(&height) {
                    Some((other, by)) if *other != hash => {
                        let text = format!(
                            "SAFETY: node {node} committed {hash} at height {height}, node {by} committed {other}"
                        );
                        self.violation(text);
                    }
                    Some(_) => {}
                    None => {
                        self.committed.insert(height, (hash, node));
                        self.commit_times.push(self.now);
                        self.batches_committed_set
                            .extend(b.block.block.batches.iter().copied());
                    }
                }
                if height > self.max_committed {
                    self.max_committed = height;
                    if self.healed && height > self.height_at_heal {
                        self.commit_after_heal = true;
                    }
                }
            }
        }
        if let Some(last) = blocks.last() {
            let height = last.block.height();
            let incarnation = self.nodes[node].incarnation;
            let at = self.now + self.net_rng.range(0, 10);
            self.push(
                at,
                Ev::Executed {
                    node,
                    incarnation,
                    height,
                },
            );
        }
    }
}

fn describe_event(e: &Event) -> String {
    match e {
        Event::Message { from, message, .. } => {
            format!("{} from {}", describe_body(&message.body), from)
        }
        Event::Start { .. } => "start".into(),
        Event::Timer { .. } => "timer".into(),
        Event::PayloadReady { .. } => "payload ready".into(),
        Event::BlockExecuted { height, .. } => format!("executed {height}"),
    }
}

fn describe_body(b: &MessageBody) -> String {
    match b {
        MessageBody::Proposal(p) => format!(
            "proposal(r{} h{} qc{} tc{:?})",
            p.block.round(),
            p.block.height(),
            p.block.justify.round(),
            p.tc.as_ref().map(|t| t.round)
        ),
        MessageBody::Vote(v) => format!("vote(r{})", v.data.round),
        MessageBody::Timeout(t) => format!("timeout(r{} hqc{})", t.data.round, t.data.hqc_round),
        MessageBody::SyncRequest(r) => {
            format!("sync request(e{} h{})", r.epoch, r.committed_height)
        }
        MessageBody::SyncResponse(r) => format!("sync response({} blocks)", r.blocks.len()),
        MessageBody::Status => "status".into(),
    }
}

fn describe_action(a: &Action) -> String {
    match a {
        Action::Send { to, message } => format!("send {} to {to}", describe_body(&message.body)),
        Action::Broadcast { message } => format!("broadcast {}", describe_body(&message.body)),
        Action::PersistSafety(_) => "persist".into(),
        Action::Commit { blocks, .. } => format!(
            "commit {:?}",
            blocks.iter().map(|b| b.block.height()).collect::<Vec<_>>()
        ),
        Action::SetTimer { at_ms } => format!("timer {at_ms}"),
        Action::ReportEvidence(_) => "evidence".into(),
        Action::Halt { .. } => "halt".into(),
    }
}
