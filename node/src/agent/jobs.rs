//! Task runs, off the agent's thread: a queue ordered by deadline (the most urgent run first)
//! and a fixed number of worker threads (`[agent] workers`), so a slow or hung service delays
//! other work by at most its timeout and never the node.
//!
//! WebAssembly tasks run in the chain's own VM with the chain's limits and fuel cap
//! (`max_task_fuel`, the task's `max_output_bytes`), so runner, verifiers and the chain's
//! re-run in a dispute all get the same bytes. External tasks go to the service's program.

use super::faults;
use super::program::Program;
use super::protocol::{self, Reply};
use super::salts::Answer;
use crate::config::RunnerMode;
use crate::runtime::Shared;
use parking_lot::{Condvar, Mutex};
use runnet_state::objects::VerificationKind;
use runnet_types::Hash;
use runnet_types::execution::{TaskResult, Verdict};
use runnet_types::service::TaskDefinition;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// What runs a service's tasks.
#[derive(Clone)]
pub enum Engine {
    Wasm(Arc<Vec<u8>>),
    External(Arc<Program>),
}

/// What the run is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// The assigned runner's result.
    Result,
    /// A drawn verifier's verdict for an execution verified this way.
    Verdict(VerificationKind),
}

pub struct Job {
    pub execution: Hash,
    /// The last chain time (ms) at which the answer still counts: the queue's order.
    pub deadline: u64,
    pub want: Want,
    pub mode: RunnerMode,
    pub engine: Engine,
    pub task: TaskDefinition,
    /// The check task of a public_effect task.
    pub check: Option<TaskDefinition>,
    pub inputs: Vec<u8>,
    /// The runner's revealed result: what a public_effect verifier judges.
    pub revealed: Option<TaskResult>,
}

/// Why a run gave no answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// A stable name for metrics: `crash`, `timeout`, `vm`, `bad_outputs`, `late`, ...
    pub reason: &'static str,
    pub detail: String,
}

pub struct Done {
    pub execution: Hash,
    pub outcome: Result<Answer, Failure>,
}

struct Entry {
    deadline: u64,
    seq: u64,
    job: Job,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

#[derive(Default)]
struct Inner {
    heap: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    closed: bool,
}

/// Jobs by deadline, earliest first; equal deadlines in the order they came.
#[derive(Default)]
pub struct WorkQueue {
    inner: Mutex<Inner>,
    ready: Condvar,
}

impl WorkQueue {
    pub fn push(&self, job: Job) {
        let mut inner = self.inner.lock();
        inner.seq += 1;
        let seq = inner.seq;
        inner.heap.push(Reverse(Entry {
            deadline: job.deadline,
            seq,
            job,
        }));
        self.ready.notify_one();
    }

    /// The most urgent job, waiting for one; `None` once closed.
    pub fn pop(&self) -> Option<Job> {
        let mut inner = self.inner.lock();
        loop {
            if inner.closed {
                return None;
            }
            if let Some(Reverse(entry)) = inner.heap.pop() {
                return Some(entry.job);
            }
            self.ready.wait(&mut inner);
        }
    }

    pub fn len(&self) -> usize {
        self.inner.lock().heap.len()
    }

    #[cfg(test)]
    pub fn close(&self) {
        self.inner.lock().closed = true;
        self.ready.notify_all();
    }
}

/// Starts `count` workers that run jobs and hand each outcome to `done`.
pub fn spawn_workers(
    count: usize,
    queue: Arc<WorkQueue>,
    shared: Arc<Shared>,
    done: Arc<dyn Fn(Done) + Send + Sync>,
) -> std::io::Result<()> {
    for i in 0..count {
        let (queue, shared, done) = (queue.clone(), shared.clone(), done.clone());
        std::thread::Builder::new()
            .name(format!("agent-worker-{i}"))
            .spawn(move || {
                while let Some(job) = queue.pop() {
                    shared.metrics.agent_queue.set(queue.len() as i64);
                    // At chain time >= the deadline, the next block is stamped after it: an
                    // answer could only land late.
                    let now_ms = shared.executor.chain_time_ms().unwrap_or(0);
                    let outcome = if now_ms >= job.deadline {
                        Err(Failure {
                            reason: "late",
                            detail: format!(
                                "its deadline (chain time {} ms) passed while it waited",
                                job.deadline
                            ),
                        })
                    } else {
                        perform(&shared, &job)
                    };
                    done(Done {
                        execution: job.execution,
                        outcome,
                    });
                }
            })?;
    }
    Ok(())
}

/// The answer a job asks for, with the runner's mode applied.
pub fn perform(shared: &Shared, job: &Job) -> Result<Answer, Failure> {
    let limits = Limits {
        fuel: shared.executor.params().max_task_fuel,
        vm: Some(shared.executor.vm()),
    };
    answer(&limits, job)
}

/// What running needs from the node: the VM and its fuel cap (absent in tests of external
/// programs).
pub struct Limits<'a> {
    pub fuel: u64,
    pub vm: Option<&'a runnet_vm_exec::Vm>,
}

pub fn answer(limits: &Limits<'_>, job: &Job) -> Result<Answer, Failure> {
    let max = job.task.max_output_bytes as usize;
    match job.want {
        Want::Result => {
            let honest = run(limits, &job.engine, &job.task, &job.inputs)?;
            Ok(Answer::Result(match job.mode {
                RunnerMode::WrongResult => faults::wrong_result(&honest, &job.task.outputs, max),
                _ => honest,
            }))
        }
        Want::Verdict(kind) if job.mode == RunnerMode::AlwaysInvalid => {
            Ok(Answer::Verdict(faults::invalid_verdict(kind)))
        }
        Want::Verdict(VerificationKind::PublicEffect) => {
            let check = job.check.as_ref().ok_or_else(|| Failure {
                reason: "definition",
                detail: "the task names no check task".into(),
            })?;
            // The runner revealed before the verifiers were drawn: the check runs on its
            // outputs (docs/economy.md, "The execution lifecycle"; docs/runners.md, "Verifying").
            let revealed = job.revealed.as_ref().ok_or_else(|| Failure {
                reason: "not_revealed",
                detail: "the runner's result is not revealed yet: nothing to check".into(),
            })?;
            let valid = match revealed {
                TaskResult::Output(outputs) => {
                    check_says_valid(limits, &job.engine, check, &job.inputs, outputs)?
                }
                // An error has no outputs to check; the chain pays it only the price per call.
                TaskResult::Error(_) => true,
            };
            Ok(Answer::Verdict(Verdict::Check { valid }))
        }
        Want::Verdict(_) => Ok(Answer::Verdict(Verdict::Rerun(run(
            limits,
            &job.engine,
            &job.task,
            &job.inputs,
        )?))),
    }
}

/// Runs a public_effect task's check on `{inputs, outputs}`, whose encoding is the inputs'
/// bytes followed by the outputs' (docs/vm.md).
pub fn check_says_valid(
    limits: &Limits<'_>,
    engine: &Engine,
    check: &TaskDefinition,
    inputs: &[u8],
    outputs: &[u8],
) -> Result<bool, Failure> {
    let mut record = inputs.to_vec();
    record.extend_from_slice(outputs);
    Ok(match run(limits, engine, check, &record)? {
        TaskResult::Output(bytes) => bytes == [1],
        TaskResult::Error(_) => false,
    })
}

/// One run of `task` on `inputs`.
pub fn run(
    limits: &Limits<'_>,
    engine: &Engine,
    task: &TaskDefinition,
    inputs: &[u8],
) -> Result<TaskResult, Failure> {
    let max = task.max_output_bytes as usize;
    match engine {
        Engine::Wasm(module) => {
            let Some(vm) = limits.vm else {
                return Err(Failure {
                    reason: "vm",
                    detail: "no VM here".into(),
                });
            };
            let run = vm.run(&module[..], &task.key, inputs, limits.fuel, max);
            match run {
                Ok(outcome) => Ok(from_vm(outcome.result)),
                Err(e) if e.is_deterministic() => Ok(TaskResult::vm_failure(e.code())),
                Err(e) => Err(Failure {
                    reason: "vm",
                    detail: format!("the VM failed on this node: {e}"),
                }),
            }
        }
        Engine::External(program) => {
            let json = protocol::record_to_json(&task.inputs, inputs).map_err(|e| Failure {
                reason: "bad_inputs",
                detail: format!("the inputs do not decode: {e}"),
            })?;
            let reply = program.call(&task.key, &json).map_err(|e| Failure {
                reason: e.reason(),
                detail: e.to_string(),
            })?;
            match reply {
                Reply::Outputs(outputs) => {
                    let bytes =
                        protocol::record_from_json(&task.outputs, &outputs).map_err(|e| {
                            Failure {
                                reason: "bad_outputs",
                                detail: format!(
                                    "its outputs for '{}' do not fit the task's schema: {e}",
                                    task.key
                                ),
                            }
                        })?;
                    if bytes.len() > max {
                        return Err(Failure {
                            reason: "bad_outputs",
                            detail: format!(
                                "its outputs are {} bytes, more than max_output_bytes {max}",
                                bytes.len()
                            ),
                        });
                    }
                    Ok(TaskResult::Output(bytes))
                }
                Reply::Error(message) => {
                    let mut bytes = message.into_bytes();
                    bytes.truncate(max);
                    Ok(TaskResult::Error(bytes))
                }
            }
        }
    }
}

fn from_vm(result: runnet_vm_exec::TaskResult) -> TaskResult {
    match result {
        runnet_vm_exec::TaskResult::Output(bytes) => TaskResult::Output(bytes),
        runnet_vm_exec::TaskResult::TaskError(bytes) => TaskResult::Error(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_types::service::ServiceDefinition;

    fn example(name: &str) -> (ServiceDefinition, Vec<u8>) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
        let json = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let wat = std::fs::read_to_string(dir.join(format!("{name}.wat"))).unwrap();
        (
            serde_json::from_str(&json).unwrap(),
            runnet_vm_exec::wat_to_wasm(&wat).unwrap(),
        )
    }

    fn ints(values: &[i64]) -> Vec<u8> {
        values.iter().flat_map(|v| v.to_le_bytes()).collect()
    }

    fn job(definition: &ServiceDefinition, module: &[u8], task: &str, want: Want) -> Job {
        let task = definition.task(task).unwrap().clone();
        let check = match &task.verification {
            runnet_types::service::Verification::PublicEffect { check } => {
                definition.task(check).cloned()
            }
            _ => None,
        };
        Job {
            execution: Hash([1; 32]),
            deadline: 10,
            want,
            mode: RunnerMode::Honest,
            engine: Engine::Wasm(Arc::new(module.to_vec())),
            task,
            check,
            inputs: ints(&[2, 40]),
            revealed: None,
        }
    }

    #[test]
    fn runs_reruns_and_faults_of_a_wasm_task() {
        let (definition, module) = example("arith");
        let vm = runnet_vm_exec::Vm::new(runnet_vm_exec::VmLimits::default());
        let limits = Limits {
            fuel: 10_000_000,
            vm: Some(&vm),
        };
        let honest = TaskResult::Output(ints(&[42]));
        let mut j = job(&definition, &module, "add", Want::Result);
        assert_eq!(answer(&limits, &j).unwrap(), Answer::Result(honest.clone()));
        j.want = Want::Verdict(VerificationKind::WasmRerun);
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Verdict(Verdict::Rerun(honest.clone()))
        );
        j.mode = RunnerMode::AlwaysInvalid;
        let Answer::Verdict(Verdict::Rerun(lie)) = answer(&limits, &j).unwrap() else {
            panic!("a re-run verdict was expected");
        };
        assert_ne!(lie, honest);
        j.mode = RunnerMode::WrongResult;
        j.want = Want::Result;
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Result(TaskResult::Output(ints(&[43])))
        );
        // Overflow is the task's own error, the same bytes everywhere.
        j.mode = RunnerMode::Honest;
        j.inputs = ints(&[i64::MAX, 1]);
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Result(TaskResult::Error(b"overflow".to_vec()))
        );
        // Too little fuel is a deterministic VM failure, not a node failure.
        let starved = Limits {
            fuel: 1,
            vm: Some(&vm),
        };
        let Answer::Result(TaskResult::Error(e)) = answer(&starved, &j).unwrap() else {
            panic!("an error result was expected");
        };
        assert!(e.starts_with(b"vm:"), "{}", String::from_utf8_lossy(&e));
    }

    #[test]
    fn a_public_effect_verifier_runs_the_check() {
        let (definition, module) = example("factor");
        let vm = runnet_vm_exec::Vm::new(runnet_vm_exec::VmLimits::default());
        let limits = Limits {
            fuel: 10_000_000,
            vm: Some(&vm),
        };
        let mut j = job(
            &definition,
            &module,
            "factor",
            Want::Verdict(VerificationKind::PublicEffect),
        );
        j.inputs = ints(&[77]);
        // The verifier judges the runner's revealed outputs, not its own.
        j.revealed = Some(TaskResult::Output(ints(&[7, 11])));
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Verdict(Verdict::Check { valid: true })
        );
        j.revealed = Some(TaskResult::Output(ints(&[7, 12])));
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Verdict(Verdict::Check { valid: false })
        );
        // Nothing revealed: nothing to judge, no verdict.
        j.revealed = None;
        assert!(answer(&limits, &j).is_err());
        j.revealed = Some(TaskResult::Output(ints(&[7, 11])));
        let check = j.check.clone().unwrap();
        assert!(
            check_says_valid(&limits, &j.engine, &check, &ints(&[77]), &ints(&[7, 11])).unwrap()
        );
        assert!(
            !check_says_valid(&limits, &j.engine, &check, &ints(&[77]), &ints(&[7, 12])).unwrap()
        );
        j.mode = RunnerMode::AlwaysInvalid;
        assert_eq!(
            answer(&limits, &j).unwrap(),
            Answer::Verdict(Verdict::Check { valid: false })
        );
    }

    #[test]
    fn the_queue_serves_the_earliest_deadline_first() {
        let (definition, module) = example("arith");
        let queue = WorkQueue::default();
        for (deadline, tag) in [(30, 1u8), (10, 2), (20, 3), (10, 4)] {
            let mut j = job(&definition, &module, "add", Want::Result);
            j.deadline = deadline;
            j.execution = Hash([tag; 32]);
            queue.push(j);
        }
        assert_eq!(queue.len(), 4);
        let order: Vec<u8> = (0..4)
            .map(|_| queue.pop().unwrap().execution.0[0])
            .collect();
        assert_eq!(order, vec![2, 4, 3, 1]);
        queue.close();
        assert!(queue.pop().is_none());
    }
}
