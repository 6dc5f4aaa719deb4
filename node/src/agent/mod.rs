//! The agent: this node's runners at work, and the chain-wide execution metrics.
//!
//! After each executed block the execution thread hands the agent a [`BlockReport`]: the
//! block's receipts and what the state's queue says the block means (executions to be assigned
//! or to have verifiers drawn at the end of the next block, executions that ended). The agent,
//! on its own thread, registers the `[[runner]]` sections, finds executions assigned to its
//! runners and draws that picked them, and for each decides its next step from the execution's
//! record (duty.rs) and takes it (act.rs): run the task (jobs.rs, in the chain's VM or the
//! service's program), write the answer and its salt to `agent/salts.json` (salts.rs), commit,
//! reveal, or submit a trusted result. Events a service's program prints become EmitEvent
//! transactions (emit.rs). Every transaction is the owner account's, nonces and retries handled
//! by submit.rs. docs/runners.md is the guide.

mod act;
mod duty;
mod emit;
mod faults;
mod follow;
mod jobs;
mod program;
mod protocol;
mod runners;
mod salts;

use crate::runtime::{Shared, StartError};
use duty::{Local, Role, Step};
use jobs::{Engine, Job, Want, WorkQueue};
use runners::{Mine, Registration, short};
use runnet_state::objects::{Execution, ExecutionStatus};
use runnet_state::{ErrorCode, Receipt};
use runnet_types::execution::{TaskResult, result_commitment, verdict_commitment};
use runnet_types::service::{ServiceDefinition, Verification};
use runnet_types::{Hash, Payload, SecretKey, SignedTx};
use salts::{Answer, SaltStore, Secret};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::Path;
use std::sync::{Arc, mpsc};
use std::time::Duration;
use submit::{Fate, Purpose, Submitter};

mod submit;

pub use follow::Due;

/// Attempts at one transaction for one execution before the agent gives up on it.
const MAX_ATTEMPTS: u32 = 3;
/// Event ids remembered as reported, so a program repeating itself costs no gas.
const REMEMBERED_EVENTS: usize = 10_000;
/// Parsed definitions and WebAssembly bundles kept (a dispute of anyone's service may need one).
const CACHED_DEFINITIONS: usize = 256;
const CACHED_MODULES: usize = 16;

/// What one executed block means to the agent.
pub struct BlockReport {
    pub height: u64,
    pub receipts: Vec<Receipt>,
    pub due: Due,
    /// Equivocation evidence applied in the block: each is a slash.
    pub evidence_slashes: u64,
}

impl BlockReport {
    /// Reads the queue entries the next block will consume; run right after executing `height`.
    pub fn collect(
        shared: &Shared,
        height: u64,
        txs: &[SignedTx],
        receipts: Vec<Receipt>,
    ) -> BlockReport {
        let retention = shared.executor.params().retention_ms;
        // Right after `height` executed, the state's chain time is that block's.
        let due = match shared.executor.chain_time_ms() {
            Ok(now_ms) => follow::due_after(shared.state_store.as_ref(), height, now_ms, retention)
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        }
        .unwrap_or_else(|e| {
            tracing::warn!(height, "reading the execution queue: {e}");
            Due::default()
        });
        let evidence_slashes = txs
            .iter()
            .zip(&receipts)
            .filter(|(tx, r)| matches!(tx.body.payload, Payload::Evidence(_)) && r.is_success())
            .count() as u64;
        BlockReport {
            height,
            receipts,
            due,
            evidence_slashes,
        }
    }
}

enum Msg {
    Block(BlockReport),
    Done(jobs::Done),
    Event {
        runner: usize,
        event: String,
        data: Value,
    },
}

/// How the execution thread reaches the agent.
#[derive(Clone)]
pub struct AgentHandle {
    tx: mpsc::Sender<Msg>,
}

impl AgentHandle {
    pub fn block_executed(&self, report: BlockReport) {
        let _ = self.tx.send(Msg::Block(report));
    }
}

/// Starts the agent. Refuses, naming the field, `[[runner]]` sections it cannot serve, and a
/// salts file it cannot read.
pub fn start(
    shared: Arc<Shared>,
    home: &Path,
    account: Option<SecretKey>,
) -> Result<AgentHandle, StartError> {
    let (tx, rx) = mpsc::channel();
    let config_file = home.join("config.toml").display().to_string();
    let events = tx.clone();
    let on_event = move |runner: usize| -> program::OnEvent {
        let events = events.clone();
        Arc::new(move |event, data| {
            let _ = events.send(Msg::Event {
                runner,
                event,
                data,
            });
        })
    };
    let runners = runners::resolve(
        &shared.config.runners,
        account.as_ref().map(|k| k.public().address()),
        shared.executor.params(),
        home,
        &on_event,
    )
    .map_err(|(field, problem)| StartError::File {
        file: config_file,
        problem: format!("field '{field}': {problem}"),
    })?;
    let salts_dir = home.join("agent");
    let salts = SaltStore::open(&salts_dir).map_err(|problem| StartError::File {
        file: salts_dir.join(salts::FILE).display().to_string(),
        problem,
    })?;
    let queue = Arc::new(WorkQueue::default());
    if !runners.is_empty() {
        let done = tx.clone();
        jobs::spawn_workers(
            shared.config.agent.workers,
            queue.clone(),
            shared.clone(),
            Arc::new(move |d| {
                let _ = done.send(Msg::Done(d));
            }),
        )
        .map_err(|e| StartError::State(format!("cannot start the agent's workers: {e}")))?;
    }
    let agent = Agent {
        submitter: account.filter(|_| !runners.is_empty()).map(Submitter::new),
        shared,
        runners,
        salts,
        queue,
        duties: BTreeMap::new(),
        watch: BTreeMap::new(),
        definitions: BTreeMap::new(),
        modules: BTreeMap::new(),
        reported: (VecDeque::new(), BTreeSet::new()),
    };
    std::thread::Builder::new()
        .name("agent".into())
        .spawn(move || agent.run(rx))
        .map_err(|e| StartError::State(format!("cannot start the agent: {e}")))?;
    Ok(AgentHandle { tx })
}

/// One execution this node has a part in.
struct Duty {
    runner: usize,
    role: Role,
    answer: Option<Answer>,
    running: bool,
    failed: bool,
    attempts: u32,
    /// Logged why it waits (silent, failed), once.
    noted: bool,
}

struct Agent {
    shared: Arc<Shared>,
    runners: Vec<Mine>,
    /// `None` when this node runs no runner.
    submitter: Option<Submitter>,
    salts: SaltStore,
    queue: Arc<WorkQueue>,
    duties: BTreeMap<Hash, Duty>,
    /// Executions to look at once block `key` has executed (a draw that may pick us).
    watch: BTreeMap<u64, BTreeSet<Hash>>,
    definitions: BTreeMap<Hash, Arc<ServiceDefinition>>,
    /// WebAssembly bundles by digest.
    modules: BTreeMap<Hash, Arc<Vec<u8>>>,
    reported: (VecDeque<Hash>, BTreeSet<Hash>),
}

impl Agent {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        if self.submitter.is_some() {
            self.recover();
        }
        loop {
            match rx.recv_timeout(Duration::from_secs(1)) {
                Ok(Msg::Block(report)) => self.on_block(report),
                Ok(Msg::Done(done)) => self.on_done(done),
                Ok(Msg::Event {
                    runner,
                    event,
                    data,
                }) => self.on_event(runner, event, data),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
            for mine in &self.runners {
                if mine.active
                    && mine.wasm == Some(false)
                    && let Some(program) = &mine.program
                {
                    program.keep_alive();
                }
            }
        }
    }

    /// After a restart: the answers in salts.json still to reveal, and every execution the
    /// queue still names, looked at once for duties of this node's runners.
    fn recover(&mut self) {
        let pending: Vec<Hash> = self.salts.executions().copied().collect();
        if !pending.is_empty() {
            tracing::info!(
                count = pending.len(),
                "agent: answers committed before the restart are waiting in agent/salts.json"
            );
        }
        let live = follow::live_executions(self.shared.state_store.as_ref()).unwrap_or_else(|e| {
            tracing::warn!("agent: reading the execution queue: {e}");
            Vec::new()
        });
        self.watch
            .entry(0)
            .or_default()
            .extend(pending.into_iter().chain(live));
    }

    fn on_block(&mut self, report: BlockReport) {
        self.count(&report);
        let Some(submitter) = self.submitter.as_mut() else {
            return;
        };
        let height = report.height;
        let fates = submitter.settle(&self.shared, height, &report.receipts);
        for (purpose, fate) in fates {
            self.settled(purpose, fate);
        }
        // A node catching up reads old state: what it would send now would only fail. It keeps
        // noting duties and acts once it has caught up.
        let syncing = self.shared.status.read().syncing;
        if let Some(submitter) = self.submitter.as_mut()
            && !syncing
        {
            for mine in &mut self.runners {
                runners::refresh(mine, &self.shared, submitter);
            }
        }
        let next = self.watch.entry(height + 1).or_default();
        next.extend(report.due.assign.iter().chain(&report.due.draws).copied());
        let due: Vec<u64> = self.watch.range(..=height).map(|(h, _)| *h).collect();
        for h in due {
            for id in self.watch.remove(&h).unwrap_or_default() {
                self.look_at(id, height);
            }
        }
        if !syncing {
            let ids: Vec<Hash> = self.duties.keys().copied().collect();
            for id in ids {
                self.advance(&id);
            }
        }
        self.shared.metrics.agent_queue.set(self.queue.len() as i64);
    }

    /// Chain-wide counts of the executions that ended in this block.
    fn count(&mut self, report: &BlockReport) {
        let mut tally = follow::Tally::default();
        for id in &report.due.finished {
            let execution = match self.shared.executor.execution(id) {
                Ok(Some(e)) => e,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(%id, "reading a settled execution: {e}");
                    continue;
                }
            };
            let truth = if follow::needs_truth(&execution) {
                self.chain_truth(&execution)
            } else {
                None
            };
            tally.add(&execution, truth.as_ref());
        }
        let m = &self.shared.metrics;
        m.executions_completed.inc_by(tally.completed);
        m.executions_rejected.inc_by(tally.rejected);
        m.executions_expired.inc_by(tally.expired);
        m.executions_cancelled.inc_by(tally.cancelled);
        m.slashes
            .inc_by(tally.slashes.total() + report.evidence_slashes);
        for (reason, count) in tally.slashes.by_label() {
            m.slashed(reason, count);
        }
        m.slashed("double_sign", report.evidence_slashes);
    }

    /// The result the chain's own re-run found (rare: only rejected WebAssembly tasks that some
    /// verifier revealed on need it, to tell which verifiers were wrong).
    fn chain_truth(&mut self, execution: &Execution) -> Option<TaskResult> {
        let definition = self.definition(&execution.service)?;
        let task = definition.task(&execution.task)?.clone();
        let Some(Engine::Wasm(module)) = self.engine(&execution.service, None) else {
            return None;
        };
        let limits = jobs::Limits {
            fuel: self.shared.executor.params().max_task_fuel,
            vm: Some(self.shared.executor.vm()),
        };
        jobs::run(&limits, &Engine::Wasm(module), &task, &execution.inputs).ok()
    }

    /// Whether `id` involves one of this node's runners; if so it becomes a duty. An execution
    /// still waiting for its assignment or its draw is looked at again after the next block.
    fn look_at(&mut self, id: Hash, height: u64) {
        if self.duties.contains_key(&id) {
            return;
        }
        let execution = match self.shared.executor.execution(&id) {
            Ok(Some(e)) => e,
            Ok(None) => {
                let _ = self.salts.remove(&id);
                return;
            }
            Err(e) => {
                tracing::warn!(%id, "reading an execution: {e}");
                return;
            }
        };
        let Some(index) = self
            .runners
            .iter()
            .position(|m| m.service == execution.service)
        else {
            // No runner here serves it (its `[[runner]]` section was removed). A kept answer goes
            // once the execution is final, not before: the section may come back to reveal it.
            if execution.status.is_final() {
                let _ = self.salts.remove(&id);
            }
            return;
        };
        match duty::role_of(&execution, &self.runners[index].id) {
            Some(role) => {
                let answer = self.salts.get(&id).map(|s| s.answer.clone());
                tracing::info!(
                    execution = %id,
                    runner = %self.runners[index].label(),
                    role = ?role,
                    status = ?execution.status,
                    "agent: a new duty"
                );
                self.duties.insert(
                    id,
                    Duty {
                        runner: index,
                        role,
                        answer,
                        running: false,
                        failed: false,
                        attempts: 0,
                        noted: false,
                    },
                );
            }
            None if matches!(
                execution.status,
                ExecutionStatus::Requested | ExecutionStatus::Committed
            ) =>
            {
                self.watch.entry(height + 1).or_default().insert(id);
            }
            None => {
                let _ = self.salts.remove(&id);
            }
        }
    }

    fn definition(&mut self, service: &Hash) -> Option<Arc<ServiceDefinition>> {
        if let Some(d) = self.definitions.get(service) {
            return Some(d.clone());
        }
        let stored = self.shared.executor.service(service).ok()??;
        let parsed: ServiceDefinition = serde_json::from_slice(&stored.definition).ok()?;
        let parsed = Arc::new(parsed);
        if self.definitions.len() >= CACHED_DEFINITIONS {
            self.definitions.clear();
        }
        self.definitions.insert(*service, parsed.clone());
        Some(parsed)
    }

    fn engine(&mut self, service: &Hash, program: Option<Arc<program::Program>>) -> Option<Engine> {
        let stored = self.shared.executor.service(service).ok()??;
        if !stored.wasm {
            return program.map(Engine::External);
        }
        if let Some(module) = self.modules.get(&stored.bundle_digest) {
            return Some(Engine::Wasm(module.clone()));
        }
        let key = runnet_state::keys::bundle(&stored.bundle_digest);
        let bytes = self.shared.state_store.get(&key).ok()??;
        let module = Arc::new(bytes);
        if self.modules.len() >= CACHED_MODULES {
            self.modules.clear();
        }
        self.modules.insert(stored.bundle_digest, module.clone());
        Some(Engine::Wasm(module))
    }
}
