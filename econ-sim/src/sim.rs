//! The simulation: a chain on the in-memory store run by the real `state` executor, block by
//! block, with payers, a victim process, and agents that act on what the committed state shows.

use crate::report::{AgentReport, Report};
use crate::rng::Rng;
use crate::strategy::Strategy;
use runnet_state::objects::{Execution, runner_id, service_id};
use runnet_state::store::MemStore;
use runnet_state::{
    BlockContext, ExecutionStatus, Executor, Outcome, ProcessStatus, RunnerStatus, Signatures,
};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::{Genesis, GenesisAccount, GenesisValidator, Params};
use runnet_types::process::{
    Condition, Constant, Edge, KeyPath, MapField, MapValue, Node, Op, ProcessDefinition,
};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody, VrfSecretKey};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

const CHAIN_ID: &str = "runnet-econ-sim";
const ARITH_JSON: &str = include_str!("../../examples/services/arith.json");
const ARITH_WAT: &str = include_str!("../../examples/services/arith.wat");
const GAS_LIMIT: u64 = 200_000;
const BIG_GAS_LIMIT: u64 = 5_000_000;
const BALANCE: u64 = 10_000_000_000_000;
const PAYERS: usize = 4;
/// Account 0 publishes the service; 1..=PAYERS pay; agents' identities follow.
const DEVELOPER: usize = 0;

/// Everything a run depends on: the same configuration gives the same report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub seed: u64,
    /// Blocks of activity after the two setup blocks.
    pub blocks: u64,
    /// Blocks at the end with no new requests, events or processes, so that open work settles:
    /// at 100 ms a block, 1,200 blocks are two minutes of chain time, more than a task timeout
    /// (10 s), the commit window and both reveal windows (30 s each) of the defaults.
    pub drain_blocks: u64,
    /// Chain time each block adds (the block pace's default, 100 ms): every duration of the
    /// rules is chain time, so this sets how many blocks a window lasts.
    pub block_ms: u64,
    /// Payers' requests per block, in hundredths (150: 1.5 a block on average).
    pub demand_centi: u64,
    /// Stake of each agent (split over its identities).
    pub stake: u64,
    pub price_per_call: u64,
    pub price_per_kib: u64,
    pub max_open: u32,
    pub sybil_identities: usize,
    /// Mean length of a flaky agent's outages, in blocks (30: 3 s at 100 ms a block).
    pub outage_mean_blocks: u64,
    /// True `tick` events are reported every this many blocks (0: never).
    pub tick_every: u64,
    /// Requests naming a rival a capacity filler sends per block at most.
    pub filler_per_block: usize,
    /// A walk spammer creates one process every this many blocks.
    pub spam_every: u64,
    pub population: Vec<Strategy>,
    /// The chain's rules: the genesis defaults unless a test changes them.
    pub params: Params,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            seed: 1,
            blocks: 100_000,
            drain_blocks: 1_200,
            block_ms: 100,
            demand_centi: 100,
            stake: 10_000_000,
            // Above a runner's own gas for a commit and a reveal (about 14,000 at min_gas_price):
            // at the worked example's 1,000 every duty as runner loses money.
            price_per_call: 20_000,
            price_per_kib: 100,
            max_open: 4,
            sybil_identities: 4,
            outage_mean_blocks: 30,
            tick_every: 100,
            filler_per_block: 2,
            spam_every: 20,
            population: Strategy::population(),
            params: Params::default(),
        }
    }
}

struct Account {
    key: SecretKey,
    address: Address,
    nonce: u64,
}

struct Agent {
    strategy: Strategy,
    /// Account indices of its identities.
    ids: Vec<usize>,
    down: bool,
    report: AgentReport,
    /// Open processes it owns (spammer).
    processes: Vec<Hash>,
}

/// What the simulation remembers of a live execution.
#[derive(Default)]
struct Tracked {
    truth: Option<TaskResult>,
    runner_counted: bool,
    verifiers_counted: BTreeSet<Address>,
}

/// A commitment an identity made and must open later.
enum Secret {
    Result(TaskResult, Hash),
    Verdict(Verdict, Hash),
}

/// Why a transaction was sent, for what follows its receipt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Purpose {
    Plain,
    Request,
    SpamProcess(usize),
    VictimProcess,
    Unjail(usize, u64),
}

pub struct Sim {
    cfg: Config,
    exec: Executor,
    rng: Rng,
    accounts: Vec<Account>,
    agents: Vec<Agent>,
    /// Identity address -> (agent, account).
    owner_of: BTreeMap<Address, (usize, usize)>,
    service: Hash,
    module: Vec<u8>,
    live: BTreeMap<Hash, Tracked>,
    secrets: BTreeMap<(Hash, usize), Secret>,
    proposer: Address,
    victim: Option<Hash>,
    /// Last seen stake and status of each identity's runner.
    last_runner: BTreeMap<usize, (u64, RunnerStatus)>,
    max_walk_queue: usize,
    walk_blocks: u64,
    later_walks: u64,
    tick_walks: u64,
}

fn key_of(label: &str, i: usize) -> SecretKey {
    let mut h = blake3::Hasher::new();
    h.update(b"runnet-econ-sim key");
    h.update(label.as_bytes());
    h.update(&(i as u64).to_le_bytes());
    SecretKey::from_seed(*h.finalize().as_bytes())
}

fn ints(a: i64, b: i64) -> Vec<u8> {
    [a.to_le_bytes(), b.to_le_bytes()].concat()
}

type SimResult<T> = Result<T, String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

impl Sim {
    pub fn new(cfg: Config) -> SimResult<Sim> {
        let mut accounts = Vec::new();
        let account = |label: &str, i: usize| {
            let key = key_of(label, i);
            Account {
                address: key.public().address(),
                key,
                nonce: 0,
            }
        };
        accounts.push(account("developer", 0));
        for i in 0..PAYERS {
            accounts.push(account("payer", i));
        }
        let mut agents = Vec::new();
        let mut owner_of = BTreeMap::new();
        for (a, strategy) in cfg.population.iter().enumerate() {
            let mut ids = Vec::new();
            for j in 0..strategy.identities(cfg.sybil_identities) {
                let index = accounts.len();
                accounts.push(account("agent", a * 64 + j));
                owner_of.insert(accounts[index].address, (a, index));
                ids.push(index);
            }
            agents.push(Agent {
                strategy: *strategy,
                ids,
                down: false,
                report: AgentReport::new(*strategy),
                processes: Vec::new(),
            });
        }
        let validator = key_of("validator", 0);
        let genesis = Genesis {
            chain_id: CHAIN_ID.into(),
            genesis_time_ms: 0,
            accounts: accounts
                .iter()
                .map(|a| GenesisAccount {
                    address: a.address,
                    balance: BALANCE,
                })
                .collect(),
            validators: vec![GenesisValidator {
                address: validator.public().address(),
                consensus_key: validator.public(),
                vrf_key: VrfSecretKey::from_seed([7; 32]).public(),
                peer_id: "validator-0".into(),
                stake: 1_000_000,
            }],
            params: cfg.params.clone(),
            consensus: Default::default(),
        };
        let exec = Executor::open(Arc::new(MemStore::new()), &genesis).map_err(err)?;
        let module = runnet_vm_exec::wat_to_wasm(ARITH_WAT).map_err(err)?;
        let rng = Rng::new(cfg.seed);
        let mut sim = Sim {
            cfg,
            exec,
            rng,
            accounts,
            agents,
            owner_of,
            service: Hash::ZERO,
            module,
            live: BTreeMap::new(),
            secrets: BTreeMap::new(),
            proposer: validator.public().address(),
            victim: None,
            last_runner: BTreeMap::new(),
            max_walk_queue: 0,
            walk_blocks: 0,
            later_walks: 0,
            tick_walks: 0,
        };
        sim.setup()?;
        Ok(sim)
    }

    fn tx(&mut self, who: usize, payload: Payload, gas_limit: u64) -> SignedTx {
        let account = &mut self.accounts[who];
        let tx = TxBody {
            chain_id: CHAIN_ID.into(),
            sender: account.key.public(),
            nonce: account.nonce,
            gas_limit,
            gas_price: self.cfg.params.min_gas_price,
            payload,
        }
        .sign(&account.key);
        account.nonce += 1;
        tx
    }

    /// The service: arith's tasks and bundle, plus an event `tick {seq}` for processes.
    fn definition() -> SimResult<Vec<u8>> {
        let mut json: serde_json::Value = serde_json::from_str(ARITH_JSON).map_err(err)?;
        json["name"] = "arith-feed".into();
        json["events"] = serde_json::json!([{"key": "tick", "data": {"seq": "int"}}]);
        let definition: ServiceDefinition = serde_json::from_value(json).map_err(err)?;
        Ok(definition.to_canonical_bytes())
    }

    fn setup(&mut self) -> SimResult<()> {
        let definition = Self::definition()?;
        let bundle = Bundle::Wasm(self.module.clone());
        self.service = service_id(
            &self.accounts[DEVELOPER].address,
            &definition,
            &bundle.digest(),
        );
        let publish = self.tx(
            DEVELOPER,
            Payload::PublishService { definition, bundle },
            BIG_GAS_LIMIT * 10,
        );
        self.block(vec![(DEVELOPER, publish, Purpose::Plain)], true)?;
        let mut txs = Vec::new();
        for a in 0..self.agents.len() {
            let ids = self.agents[a].ids.clone();
            let stake = self.cfg.stake / ids.len() as u64;
            for id in ids {
                let payload = Payload::RegisterRunner {
                    service: self.service,
                    stake,
                    price_per_call: self.cfg.price_per_call,
                    price_per_kib: self.cfg.price_per_kib,
                    max_open: self.cfg.max_open,
                };
                let tx = self.tx(id, payload, GAS_LIMIT);
                txs.push((id, tx, Purpose::Plain));
            }
        }
        let victim = self.victim_process();
        let tx = self.tx(1, victim, BIG_GAS_LIMIT);
        txs.push((1, tx, Purpose::VictimProcess));
        self.block(txs, true)?;
        for a in 0..self.agents.len() {
            let mut stake = 0;
            for &id in &self.agents[a].ids {
                let r = self
                    .exec
                    .runner(&runner_id(&self.service, &self.accounts[id].address))
                    .map_err(err)?
                    .ok_or("a runner failed to register")?;
                stake += r.stake;
                self.last_runner.insert(id, (r.stake, r.status));
            }
            let wealth = self.wealth(a)?;
            let report = &mut self.agents[a].report;
            report.stake_initial = stake;
            report.wealth_initial = wealth;
        }
        if self.victim.is_none() {
            return Err("the victim process was refused".into());
        }
        Ok(())
    }

    fn trigger(&self) -> Node {
        Node::Trigger {
            service: self.service,
            event: "tick".into(),
        }
    }

    fn seq_positive() -> Node {
        Node::Filter {
            conditions: vec![Condition {
                path: KeyPath {
                    node: 0,
                    fields: vec!["seq".into()],
                },
                op: Op::Gt,
                value: Constant::Int(0),
            }],
        }
    }

    /// A payer's process: every tick, add 1,000 to its sequence number.
    fn victim_process(&self) -> Payload {
        let nodes = vec![
            self.trigger(),
            Self::seq_positive(),
            Node::Map {
                fields: vec![
                    MapField {
                        name: "a".into(),
                        value: MapValue::Path(KeyPath {
                            node: 0,
                            fields: vec!["seq".into()],
                        }),
                    },
                    MapField {
                        name: "b".into(),
                        value: MapValue::Constant(Constant::Int(1_000)),
                    },
                ],
            },
            Node::Task {
                service: self.service,
                task: "add".into(),
                max_fee: 1_000_000,
            },
        ];
        let edges = (0..3).map(|i| Edge { from: i, to: i + 1 }).collect();
        Payload::CreateProcess {
            definition: ProcessDefinition { nodes, edges },
            balance: 1_000_000_000,
            spend_cap: 10_000_000,
        }
    }

    /// A spammer's process: the trigger and a chain of filters that all pass, the most walk steps
    /// a process may cost without spending anything.
    fn spam_process(&self) -> Payload {
        let max = self.cfg.params.max_process_nodes.max(2);
        let mut nodes = vec![self.trigger()];
        nodes.extend((1..max).map(|_| Self::seq_positive()));
        let edges = (0..max - 1).map(|i| Edge { from: i, to: i + 1 }).collect();
        Payload::CreateProcess {
            definition: ProcessDefinition { nodes, edges },
            balance: 0,
            spend_cap: 1,
        }
    }

    /// Executes one block of `txs`; attributes their fees and follows their effects.
    fn block(&mut self, txs: Vec<(usize, SignedTx, Purpose)>, setup: bool) -> SimResult<()> {
        let height = self.exec.height() + 1;
        let mut vrf = blake3::Hasher::new();
        vrf.update(b"vrf");
        vrf.update(&self.cfg.seed.to_le_bytes());
        vrf.update(&height.to_le_bytes());
        let ctx = BlockContext {
            height,
            proposer: self.proposer,
            vrf_output: Hash::digest(vrf.finalize().as_bytes()),
            timestamp_ms: height * self.cfg.block_ms.max(1),
        };
        let signed: Vec<SignedTx> = txs.iter().map(|(_, t, _)| t.clone()).collect();
        let outcome = self
            .exec
            .execute_block(&ctx, &signed, Signatures::AlreadyVerified)
            .map_err(err)?;
        let mut senders = BTreeSet::new();
        for ((who, tx, purpose), receipt) in txs.iter().zip(&outcome.receipts) {
            senders.insert(*who);
            let ok = receipt.outcome == Outcome::Success;
            if setup && !ok {
                return Err(format!("setup transaction failed: {receipt:?}"));
            }
            if let Some(&(a, _)) = self.owner_of.get(&self.accounts[*who].address) {
                self.agents[a].report.gas += receipt.fee;
                if !ok {
                    self.agents[a].report.failed_txs += 1;
                }
            }
            match (purpose, ok) {
                (Purpose::Request, true) => {
                    self.live.insert(tx.hash(), Tracked::default());
                }
                (Purpose::VictimProcess, true) => self.victim = Some(tx.hash()),
                (Purpose::SpamProcess(a), true) => self.agents[*a].processes.push(tx.hash()),
                (Purpose::Unjail(a, topup), true) => self.agents[*a].report.topups += topup,
                _ => {}
            }
        }
        for walk in &outcome.walks {
            for id in &walk.executions {
                self.live.insert(*id, Tracked::default());
            }
        }
        for who in senders {
            self.accounts[who].nonce = self
                .exec
                .account(&self.accounts[who].address)
                .map_err(err)?
                .nonce;
        }
        if !setup {
            self.follow_runners()?;
            if !outcome.walks.is_empty() || self.max_walk_queue > 0 {
                let queued = self.exec.walk_queue().map_err(err)?.len();
                if queued > 0 {
                    self.walk_blocks += 1;
                }
                self.max_walk_queue = self.max_walk_queue.max(queued);
            }
        }
        Ok(())
    }

    /// Stake lost (slashes and stake taken to pay others) and jailings, from each identity's
    /// runner after the block.
    fn follow_runners(&mut self) -> SimResult<()> {
        for a in 0..self.agents.len() {
            for i in 0..self.agents[a].ids.len() {
                let id = self.agents[a].ids[i];
                let runner = self
                    .exec
                    .runner(&runner_id(&self.service, &self.accounts[id].address))
                    .map_err(err)?;
                let Some(runner) = runner else { continue };
                let (stake_before, status_before) = self.last_runner[&id];
                let topped = stake_before
                    + self.agents[a]
                        .report
                        .pending_topup
                        .take()
                        .unwrap_or_default();
                // A leaving runner's release empties its stake into its balance: not a loss.
                let released =
                    runner.status == RunnerStatus::Left && status_before != RunnerStatus::Left;
                if !released && runner.stake < topped {
                    self.agents[a].report.stake_lost += topped - runner.stake;
                }
                if matches!(runner.status, RunnerStatus::Jailed { .. })
                    && !matches!(status_before, RunnerStatus::Jailed { .. })
                {
                    self.agents[a].report.jailed += 1;
                }
                if runner.status == RunnerStatus::Leaving && status_before != RunnerStatus::Leaving
                {
                    self.agents[a].report.ejected += 1;
                }
                self.last_runner.insert(id, (runner.stake, runner.status));
            }
        }
        Ok(())
    }

    /// An agent's tokens: balances and runner stakes of its identities, and the balance and
    /// deposit of its open processes.
    fn wealth(&self, a: usize) -> SimResult<u64> {
        let mut total = 0u64;
        for &id in &self.agents[a].ids {
            let address = self.accounts[id].address;
            total += self.exec.account(&address).map_err(err)?.balance;
            if let Some(r) = self
                .exec
                .runner(&runner_id(&self.service, &address))
                .map_err(err)?
            {
                total += r.stake;
            }
        }
        for p in &self.agents[a].processes {
            if let Some(p) = self.exec.process(p).map_err(err)?
                && p.status == ProcessStatus::Open
            {
                total += p.balance + p.deposit;
            }
        }
        Ok(total)
    }

    fn truth(&self, execution: &Execution) -> TaskResult {
        let outcome = self.exec.vm().run(
            runnet_vm_exec::ModuleSource::Bytes(&self.module),
            &execution.task,
            &execution.inputs,
            self.cfg.params.max_task_fuel,
            64,
        );
        runnet_state::bundle::result_of_run(outcome)
            .map(|(r, _)| r)
            .unwrap_or_else(|| TaskResult::vm_failure("internal"))
    }

    fn salt(&mut self) -> Hash {
        let mut bytes = [0u8; 32];
        for chunk in bytes.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        Hash::digest(&bytes)
    }

    fn online(&self, a: usize) -> bool {
        !self.agents[a].down
    }

    /// Moves each flaky agent between up and down: outages of `outage_mean_blocks` on average,
    /// starting so that it is down `down_bps` of the time.
    fn step_outages(&mut self) {
        let mean = self.cfg.outage_mean_blocks.max(1);
        for a in 0..self.agents.len() {
            let bps = u64::from(self.agents[a].strategy.down_bps());
            if bps == 0 {
                continue;
            }
            if self.agents[a].down {
                if self.rng.below(mean) == 0 {
                    self.agents[a].down = false;
                }
            } else {
                // P(up -> down) = p / ((1 - p) * mean), in parts per billion.
                let ppb = bps * 1_000_000_000 / ((10_000 - bps.min(9_999)) * mean);
                if self.rng.below(1_000_000_000) < ppb {
                    self.agents[a].down = true;
                }
            }
            if self.agents[a].down {
                self.agents[a].report.blocks_down += 1;
            }
        }
    }

    /// The agents' transactions for their duties in the live executions.
    fn duties(&mut self, txs: &mut Vec<(usize, SignedTx, Purpose)>) -> SimResult<()> {
        let ids: Vec<Hash> = self.live.keys().copied().collect();
        for id in ids {
            let Some(execution) = self.exec.execution(&id).map_err(err)? else {
                self.live.remove(&id);
                continue;
            };
            if execution.status.is_final() {
                self.settled(&execution);
                continue;
            }
            let Some(runner_owner) = execution.runner_owner else {
                continue;
            };
            if self.live[&id].truth.is_none() {
                let truth = self.truth(&execution);
                if let Some(t) = self.live.get_mut(&id) {
                    t.truth = Some(truth);
                }
            }
            let truth = self.live[&id]
                .truth
                .clone()
                .unwrap_or_else(|| TaskResult::Output(vec![]));
            let runner_agent = self.owner_of.get(&runner_owner).copied();
            if let Some((a, who)) = runner_agent {
                if !self.live[&id].runner_counted {
                    self.agents[a].report.duties_run += 1;
                    if let Some(t) = self.live.get_mut(&id) {
                        t.runner_counted = true;
                    }
                }
                self.runner_action(a, who, &execution, &truth, txs);
            }
            for slot in &execution.verifiers {
                let Some(&(a, who)) = self.owner_of.get(&slot.owner) else {
                    continue;
                };
                if !self.live[&id].verifiers_counted.contains(&slot.owner) {
                    self.agents[a].report.duties_verify += 1;
                    self.live
                        .get_mut(&id)
                        .map(|t| t.verifiers_counted.insert(slot.owner));
                }
                if !self.online(a) {
                    continue;
                }
                let strategy = self.agents[a].strategy;
                let ours = runner_agent.map(|(r, _)| r) == Some(a);
                match execution.status {
                    ExecutionStatus::Verifying if slot.commitment.is_none() => {
                        if let Some(verdict) =
                            strategy.verdict(&truth, ours, execution.result.as_ref())
                        {
                            let salt = self.salt();
                            let commitment =
                                verdict_commitment(&verdict, &salt, &self.accounts[who].address);
                            let tx = self.tx(
                                who,
                                Payload::CommitVerdict {
                                    execution: id,
                                    commitment,
                                },
                                GAS_LIMIT,
                            );
                            txs.push((who, tx, Purpose::Plain));
                            self.secrets
                                .insert((id, who), Secret::Verdict(verdict, salt));
                        }
                    }
                    ExecutionStatus::Revealing
                        if slot.commitment.is_some() && slot.verdict.is_none() =>
                    {
                        if let Some(Secret::Verdict(verdict, salt)) =
                            self.secrets.remove(&(id, who))
                        {
                            let tx = self.tx(
                                who,
                                Payload::RevealVerdict {
                                    execution: id,
                                    verdict,
                                    salt,
                                },
                                GAS_LIMIT,
                            );
                            txs.push((who, tx, Purpose::Plain));
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn runner_action(
        &mut self,
        a: usize,
        who: usize,
        execution: &Execution,
        truth: &TaskResult,
        txs: &mut Vec<(usize, SignedTx, Purpose)>,
    ) {
        if !self.online(a) {
            return;
        }
        let strategy = self.agents[a].strategy;
        let id = execution.id;
        match execution.status {
            ExecutionStatus::Assigned if execution.commitment.is_none() => {
                let result = strategy.runner_result(truth);
                let salt = self.salt();
                let commitment = result_commitment(&result, &salt, &self.accounts[who].address);
                let tx = self.tx(
                    who,
                    Payload::CommitResult {
                        execution: id,
                        commitment,
                    },
                    GAS_LIMIT,
                );
                txs.push((who, tx, Purpose::Plain));
                self.secrets.insert((id, who), Secret::Result(result, salt));
            }
            ExecutionStatus::RunnerRevealing
                if execution.result.is_none() && strategy.reveals() =>
            {
                if let Some(Secret::Result(result, salt)) = self.secrets.remove(&(id, who)) {
                    let tx = self.tx(
                        who,
                        Payload::RevealResult {
                            execution: id,
                            result,
                            salt,
                        },
                        GAS_LIMIT,
                    );
                    txs.push((who, tx, Purpose::Plain));
                }
            }
            _ => {}
        }
    }

    fn settled(&mut self, execution: &Execution) {
        self.live.remove(&execution.id);
        // Verdicts committed and never revealed after the runner's result was: the slashed case.
        if execution.result.is_some() {
            for slot in &execution.verifiers {
                if slot.commitment.is_some()
                    && slot.verdict.is_none()
                    && let Some(&(a, _)) = self.owner_of.get(&slot.owner)
                {
                    self.agents[a].report.verdicts_withheld += 1;
                }
            }
        }
        self.secrets.retain(|(id, _), _| *id != execution.id);
        if let Some(owner) = execution.runner_owner
            && let Some(&(a, _)) = self.owner_of.get(&owner)
        {
            let r = &mut self.agents[a].report;
            match execution.status {
                ExecutionStatus::Completed => r.completed += 1,
                ExecutionStatus::CompletedUnverified => r.unverified += 1,
                ExecutionStatus::Rejected => r.rejected += 1,
                ExecutionStatus::Expired => r.expired += 1,
                _ => {}
            }
        }
    }

    fn requests(&mut self, txs: &mut Vec<(usize, SignedTx, Purpose)>) {
        let whole = self.cfg.demand_centi / 100;
        let extra = u64::from(self.rng.below(100) < self.cfg.demand_centi % 100);
        for _ in 0..whole + extra {
            let payer = 1 + self.rng.below(PAYERS as u64) as usize;
            let task = if self.rng.below(2) == 0 { "add" } else { "mul" };
            let a = self.rng.below(2_000_001) as i64 - 1_000_000;
            let b = self.rng.below(2_000_001) as i64 - 1_000_000;
            let payload = Payload::RequestExecution {
                service: self.service,
                task: task.into(),
                inputs: ints(a, b),
                max_fee: 1_000_000,
                runner: None,
            };
            let tx = self.tx(payer, payload, GAS_LIMIT);
            txs.push((payer, tx, Purpose::Request));
        }
    }

    /// What each agent does besides its duties: unjailing, and the extra moves of its strategy.
    fn moves(&mut self, height: u64, txs: &mut Vec<(usize, SignedTx, Purpose)>) -> SimResult<()> {
        let active = height <= self.cfg.blocks + 2;
        for a in 0..self.agents.len() {
            if !self.online(a) {
                continue;
            }
            for i in 0..self.agents[a].ids.len() {
                let who = self.agents[a].ids[i];
                let (stake, status) = self.last_runner[&who];
                // The jail is chain time; the unjail lands in this block, stamped after the
                // last one.
                if let RunnerStatus::Jailed { until } = status
                    && self.exec.chain_time_ms().map_err(err)? >= until
                {
                    let topup = self.cfg.params.min_runner_stake.saturating_sub(stake);
                    let runner = runner_id(&self.service, &self.accounts[who].address);
                    let tx = self.tx(
                        who,
                        Payload::UnjailRunner {
                            runner,
                            stake: topup,
                        },
                        GAS_LIMIT,
                    );
                    txs.push((who, tx, Purpose::Unjail(a, topup)));
                    self.agents[a].report.pending_topup = Some(topup);
                }
            }
            if !active {
                continue;
            }
            match self.agents[a].strategy {
                Strategy::CapacityFiller => self.fill(a, txs)?,
                Strategy::FalseEvents => {
                    for i in 0..self.agents[a].ids.len() {
                        let who = self.agents[a].ids[i];
                        self.report_tick(who, 1_000_000_000 + height as i64, txs);
                    }
                }
                Strategy::WalkSpammer
                    if self.cfg.spam_every > 0 && height.is_multiple_of(self.cfg.spam_every) =>
                {
                    let who = self.agents[a].ids[0];
                    let payload = self.spam_process();
                    let tx = self.tx(who, payload, BIG_GAS_LIMIT);
                    txs.push((who, tx, Purpose::SpamProcess(a)));
                }
                _ => {}
            }
        }
        if active && self.cfg.tick_every > 0 && height.is_multiple_of(self.cfg.tick_every) {
            self.ticks(height, txs);
        }
        Ok(())
    }

    /// Requests naming rivals with room, up to `filler_per_block`, each paying the whole price.
    fn fill(&mut self, a: usize, txs: &mut Vec<(usize, SignedTx, Purpose)>) -> SimResult<()> {
        let who = self.agents[a].ids[0];
        let mut rivals = Vec::new();
        for (b, agent) in self.agents.iter().enumerate() {
            if b != a {
                rivals.extend(agent.ids.iter().copied());
            }
        }
        let mut sent = 0;
        for rival in rivals {
            if sent >= self.cfg.filler_per_block {
                break;
            }
            let runner = runner_id(&self.service, &self.accounts[rival].address);
            let Some(r) = self.exec.runner(&runner).map_err(err)? else {
                continue;
            };
            if r.status != RunnerStatus::Active || r.open_executions >= r.max_open {
                continue;
            }
            let payload = Payload::RequestExecution {
                service: self.service,
                task: "add".into(),
                inputs: ints(1, 1),
                max_fee: 1_000_000,
                runner: Some(runner),
            };
            // The same inputs every time: a unique nonce keeps the ids apart.
            let tx = self.tx(who, payload, GAS_LIMIT);
            txs.push((who, tx, Purpose::Request));
            sent += 1;
        }
        Ok(())
    }

    /// The true tick, reported by every agent that reports ticks, online, in a random order.
    fn ticks(&mut self, height: u64, txs: &mut Vec<(usize, SignedTx, Purpose)>) {
        let mut reporters: Vec<usize> = (0..self.agents.len())
            .filter(|a| self.online(*a) && self.agents[*a].strategy.reports_ticks())
            .flat_map(|a| self.agents[a].ids.clone())
            .collect();
        self.rng.shuffle(&mut reporters);
        let seq = (height / self.cfg.tick_every) as i64;
        for who in reporters {
            self.report_tick(who, seq, txs);
        }
    }

    /// `who` reports tick number `seq` of the service.
    fn report_tick(&mut self, who: usize, seq: i64, txs: &mut Vec<(usize, SignedTx, Purpose)>) {
        let payload = Payload::EmitEvent {
            service: self.service,
            event: "tick".into(),
            data: seq.to_le_bytes().to_vec(),
        };
        let tx = self.tx(who, payload, GAS_LIMIT);
        txs.push((who, tx, Purpose::Plain));
    }

    /// Runs the whole simulation and reports.
    pub fn run(mut self) -> SimResult<Report> {
        let end = self.cfg.blocks + self.cfg.drain_blocks + 2;
        while self.exec.height() < end {
            let height = self.exec.height() + 1;
            self.step_outages();
            let mut txs = Vec::new();
            if height <= self.cfg.blocks + 2 {
                self.requests(&mut txs);
            }
            self.duties(&mut txs)?;
            self.moves(height, &mut txs)?;
            let before = self.victim_walks()?;
            self.block(txs, false)?;
            let after = self.victim_walks()?;
            if after > before && !height.is_multiple_of(self.cfg.tick_every.max(1)) {
                self.later_walks += after - before;
            } else if after > before {
                self.tick_walks += after - before;
            }
        }
        let audit = self.exec.supply_audit().map_err(err)?;
        if !audit.balanced() {
            return Err(format!("supply not conserved: {audit:?}"));
        }
        let mut agents = Vec::new();
        for a in 0..self.agents.len() {
            let wealth = self.wealth(a)?;
            let mut stake = 0;
            for &id in &self.agents[a].ids {
                stake += self.last_runner[&id].0;
            }
            let mut report = self.agents[a].report.clone();
            report.wealth_final = wealth;
            report.stake_final = stake;
            agents.push(report);
        }
        Ok(Report {
            seed: self.cfg.seed,
            blocks: self.exec.height(),
            agents,
            open_executions: self.live.len(),
            max_walk_queue: self.max_walk_queue,
            blocks_with_walk_backlog: self.walk_blocks,
            victim_walks_at_ticks: self.tick_walks,
            victim_walks_later: self.later_walks,
        })
    }

    fn victim_walks(&self) -> SimResult<u64> {
        let Some(victim) = self.victim else {
            return Ok(0);
        };
        Ok(self
            .exec
            .process(&victim)
            .map_err(err)?
            .map_or(0, |p| p.walks))
    }
}
