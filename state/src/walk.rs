//! Process walks: end of block, step 3. Jobs run in queue order within `walk_gas_per_block`;
//! a job that could exceed what is left waits, first in line, for the next block (the first job
//! of a block always runs, so the queue always moves). An event's job walks the processes it
//! fires in process id order and may stop between two of them.
//!
//! One walk: reimburse the reporters, go depth first in node order from the start node (filters
//! stop branches, maps build records, tasks escrow and create executions whose completion resumes
//! the walk below them), then pay the reporters their incentive per execution created. Every
//! payment is "as far as the balance goes", within the process's per-block spend cap; a task
//! node it cannot pay is skipped with everything below it, and said so. Each step (a reporter
//! paid, a node visited) costs the process `gas.walk_step` at `min_gas_price`, burned: the walk
//! stops at the first step it cannot pay, and a process that cannot pay one step at all is not
//! walked (and, if its balance or cap is below a step, paused out of its trigger's index).

use crate::execution::corrupt;
use crate::executor::{ApplyError, BlockRun};
use crate::keys;
use crate::objects::{
    EventWalks, Payer, Process, ProcessLink, ProcessStatus, Reporter, SkipCause, WalkJob,
    WalkReport, WalkSkip,
};
use crate::overlay::decode_value;
use runnet_types::process::{
    Compiled, Node, Scope, build_map, decode_scope, encode_scope, process_execution_id,
};
use runnet_types::record::Value;
use runnet_types::{Address, Amount, Hash};

/// What is left of the block's walk gas.
struct Budget {
    left: u64,
    step: u64,
    started: bool,
}

impl Budget {
    /// Whether a walk of at most `steps` steps may start now.
    fn admit(&mut self, steps: usize) -> bool {
        let cost = (steps as u64).saturating_mul(self.step);
        if self.started && cost > self.left {
            return false;
        }
        self.started = true;
        true
    }

    fn spend(&mut self, steps: u64) {
        self.left = self.left.saturating_sub(steps.saturating_mul(self.step));
    }

    /// Nothing left for even one step, and the block's first walk has run.
    fn exhausted(&self) -> bool {
        self.started && self.left < self.step
    }
}

/// Where a walk starts: below the root (an event fired) or below a task node (its execution
/// completed).
enum Start {
    Root,
    Below(u32),
}

impl BlockRun<'_> {
    pub(crate) fn run_walks(&mut self) -> Result<Vec<WalkReport>, ApplyError> {
        let mut budget = Budget {
            left: self.params.walk_gas_per_block,
            step: self.params.gas.walk_step,
            started: false,
        };
        let mut reports = Vec::new();
        let mut cursor: Option<Vec<u8>> = None;
        while let Some((key, bytes)) = self.overlay.first_after(keys::WALKS, cursor.as_deref())? {
            let job: WalkJob = decode_value(&key, &bytes)?;
            let done = match job {
                WalkJob::Event(mut walks) => {
                    let done = self.event_walks(&mut walks, &mut budget, &mut reports)?;
                    if !done {
                        self.overlay.put(key.clone(), &WalkJob::Event(walks));
                    }
                    done
                }
                WalkJob::Resume {
                    process,
                    node,
                    execution,
                    scope,
                } => self.resume_walk(
                    &process,
                    node,
                    &execution,
                    &scope,
                    &mut budget,
                    &mut reports,
                )?,
            };
            if !done {
                break;
            }
            self.overlay.delete(key.clone());
            cursor = Some(key);
        }
        Ok(reports)
    }

    /// Walks the processes an event fires, from where the job stopped. `true` when all are done.
    fn event_walks(
        &mut self,
        job: &mut EventWalks,
        budget: &mut Budget,
        reports: &mut Vec<WalkReport>,
    ) -> Result<bool, ApplyError> {
        let trigger = keys::trigger_id(&job.service, &job.key);
        let prefix = keys::triggers_prefix(&trigger);
        let fires = |created_at: u64| created_at <= job.fired_at;
        let firing = match job.firing {
            Some(n) => n,
            None => {
                let mut n = 0u64;
                for (key, bytes) in self.overlay.scan(&prefix)? {
                    let created_at: u64 = decode_value(&key, &bytes)?;
                    n += u64::from(fires(created_at));
                }
                job.firing = Some(n);
                n
            }
        };
        // Each reporter's gas is reimbursed once, in equal parts by the processes that fire.
        let owed: Vec<Reporter> = job
            .reporters
            .iter()
            .map(|r| Reporter {
                owner: r.owner,
                gas_cost: r.gas_cost / firing.max(1),
            })
            .collect();
        let mut after = job.after.map(|id| keys::trigger_entry(&trigger, &id));
        loop {
            let Some((key, bytes)) = self.overlay.first_after(&prefix, after.as_deref())? else {
                return Ok(true);
            };
            let id = key
                .get(prefix.len()..)
                .and_then(Hash::from_slice)
                .ok_or_else(|| corrupt("trigger index key"))?;
            let created_at: u64 = decode_value(&key, &bytes)?;
            if fires(created_at)
                && let Some(process) = self.load_process(&id)?
                && process.status == ProcessStatus::Open
            {
                if budget.exhausted() {
                    return Ok(false);
                }
                let Some(process) =
                    self.payable(process, Start::Root, job.event, budget, reports)?
                else {
                    job.after = Some(id);
                    after = Some(key);
                    continue;
                };
                let compiled = self.compiled(&process)?;
                if !budget.admit(compiled.len() + 2 * owed.len()) {
                    return Ok(false);
                }
                let mut scope = Scope::new();
                scope.insert(compiled.root, self.event_value(&compiled, &job.data)?);
                let (report, steps) =
                    self.walk(process, &compiled, Start::Root, job.event, scope, &owed)?;
                budget.spend(steps);
                reports.push(report);
            }
            job.after = Some(id);
            after = Some(key);
        }
    }

    fn event_value(&self, compiled: &Compiled, data: &[u8]) -> Result<Value, ApplyError> {
        let Some(Some(schema)) = compiled.data.get(compiled.root as usize) else {
            return Err(corrupt("a trigger without a data schema"));
        };
        schema.decode(data).map_err(|e| {
            corrupt(format!(
                "event data checked at report no longer decodes: {e}"
            ))
        })
    }

    /// A process's tree, checked; it compiled at creation and services never change.
    fn compiled(&self, process: &Process) -> Result<Compiled, ApplyError> {
        self.compile_process(&process.definition)?
            .map_err(|e| corrupt(format!("process {} no longer compiles: {e}", process.id)))
    }

    /// Continues a walk below the task node whose execution completed. `true` when done.
    fn resume_walk(
        &mut self,
        process_id: &Hash,
        node: u32,
        execution: &Hash,
        scope: &std::collections::BTreeMap<u32, Vec<u8>>,
        budget: &mut Budget,
        reports: &mut Vec<WalkReport>,
    ) -> Result<bool, ApplyError> {
        let Some(process) = self.load_process(process_id)? else {
            return Ok(true);
        };
        if process.status == ProcessStatus::Closed {
            return Ok(true);
        }
        if budget.exhausted() {
            return Ok(false);
        }
        // One that cannot pay its first step ends the branch (a paused process's completions
        // do not wait for its funding).
        let Some(process) =
            self.payable(process, Start::Below(node), *execution, budget, reports)?
        else {
            return Ok(true);
        };
        let compiled = self.compiled(&process)?;
        if !budget.admit(compiled.below(node)) {
            return Ok(false);
        }
        let scope = decode_scope(&compiled, scope)
            .map_err(|e| corrupt(format!("walk data of process {process_id}: {e}")))?;
        let (report, steps) = self.walk(
            process,
            &compiled,
            Start::Below(node),
            *execution,
            scope,
            &[],
        )?;
        budget.spend(steps);
        reports.push(report);
        Ok(true)
    }

    /// The process, if it can pay one walk step now. If not, it is not walked: the skip is
    /// reported (at the start node: `balance`, or `spend_cap` when only this block's cap is
    /// spent), the check costs one step of the budget, and a process whose balance or cap is
    /// below a step is paused.
    fn payable(
        &mut self,
        mut process: Process,
        start: Start,
        cause: Hash,
        budget: &mut Budget,
        reports: &mut Vec<WalkReport>,
    ) -> Result<Option<Process>, ApplyError> {
        let step = self.walk_step_price();
        if process.status == ProcessStatus::Open && process.available(self.height) >= step {
            return Ok(Some(process));
        }
        budget.started = true;
        budget.spend(1);
        let node = match start {
            Start::Root => process
                .definition
                .nodes
                .iter()
                .position(|n| matches!(n, Node::Trigger { .. }))
                .map_or(0, |i| i as u32),
            Start::Below(node) => node,
        };
        let reason = if process.balance < step {
            SkipCause::Balance
        } else {
            SkipCause::SpendCap
        };
        let skip = self.record_skip(&mut process, node, reason);
        if process.balance.min(process.spend_cap) < step {
            self.pause_process(&mut process);
        }
        self.save_process(&process);
        reports.push(WalkReport {
            process: process.id,
            cause,
            executions: Vec::new(),
            skipped: vec![skip],
            reimbursed: 0,
            incentives: 0,
            step_fees: 0,
        });
        Ok(None)
    }

    /// Pays one walk step from the process, within its balance and cap; why not, if it cannot.
    /// A walk that stopped at `node` for `reason`: counted on the process, and its last skip.
    fn record_skip(&self, process: &mut Process, node: u32, reason: SkipCause) -> WalkSkip {
        let skip = WalkSkip {
            height: self.height,
            node,
            reason,
        };
        process.skipped += 1;
        process.last_skip = Some(skip);
        skip
    }

    fn pay_step(&self, process: &mut Process, fees: &mut Amount) -> Option<SkipCause> {
        let step = self.walk_step_price();
        if process.available(self.height) < step {
            return Some(if process.balance < step {
                SkipCause::Balance
            } else {
                SkipCause::SpendCap
            });
        }
        process.balance -= step;
        process.spent += step;
        *fees += step;
        None
    }

    /// One walk of one process. Returns what it did and the steps it took.
    fn walk(
        &mut self,
        mut process: Process,
        compiled: &Compiled,
        start: Start,
        cause: Hash,
        scope: Scope,
        reporters: &[Reporter],
    ) -> Result<(WalkReport, u64), ApplyError> {
        if process.spent_at != self.height {
            process.spent_at = self.height;
            process.spent = 0;
        }
        let mut report = WalkReport {
            process: process.id,
            cause,
            executions: Vec::new(),
            skipped: Vec::new(),
            reimbursed: 0,
            incentives: 0,
            step_fees: 0,
        };
        let mut fees: Amount = 0;
        let mut steps = 0u64;
        let first = match start {
            Start::Root => compiled.root,
            Start::Below(node) => node,
        };
        // The first step the process cannot pay ends the walk there, reported as a skip.
        let mut stopped: Option<(u32, SkipCause)> = None;
        for reporter in reporters {
            steps += 1;
            if let Some(reason) = self.pay_step(&mut process, &mut fees) {
                stopped = Some((first, reason));
                break;
            }
            report.reimbursed += self.pay(&mut process, &reporter.owner, reporter.gas_cost)?;
        }
        let mut stack: Vec<(u32, Scope)> = if stopped.is_some() {
            Vec::new()
        } else {
            compiled
                .children_of(first)
                .iter()
                .rev()
                .map(|c| (*c, scope.clone()))
                .collect()
        };
        while let Some((index, mut scope)) = stack.pop() {
            steps += 1;
            if let Some(reason) = self.pay_step(&mut process, &mut fees) {
                stopped = Some((index, reason));
                break;
            }
            let Some(node) = process.definition.nodes.get(index as usize) else {
                return Err(corrupt("walk reached a node that does not exist"));
            };
            let go_on = match node {
                // The trigger is the root: never below anything.
                Node::Trigger { .. } => false,
                Node::Filter { conditions } => conditions.iter().all(|c| c.holds(&scope)),
                Node::Map { fields } => match build_map(fields, &scope) {
                    Some(record) => {
                        scope.insert(index, record);
                        true
                    }
                    None => false,
                },
                Node::Task {
                    service,
                    task,
                    max_fee,
                } => {
                    let (service, task, max_fee) = (*service, task.clone(), *max_fee);
                    match self.run_task_node(
                        &mut process,
                        compiled,
                        index,
                        &scope,
                        cause,
                        &service,
                        &task,
                        max_fee,
                    )? {
                        Ok(id) => report.executions.push(id),
                        Err(reason) => {
                            let skip = WalkSkip {
                                height: self.height,
                                node: index,
                                reason,
                            };
                            process.skipped += 1;
                            process.last_skip = Some(skip);
                            report.skipped.push(skip);
                        }
                    }
                    // Its children run when its execution completes.
                    false
                }
            };
            if go_on {
                for child in compiled.children_of(index).iter().rev() {
                    stack.push((*child, scope.clone()));
                }
            }
        }
        if let Some((node, reason)) = stopped {
            let skip = self.record_skip(&mut process, node, reason);
            report.skipped.push(skip);
        }
        let created = report.executions.len() as u64;
        if created > 0 {
            let incentive = self.params.emitter_incentive.saturating_mul(created);
            for reporter in reporters {
                steps += 1;
                if self.pay_step(&mut process, &mut fees).is_some() {
                    break;
                }
                report.incentives += self.pay(&mut process, &reporter.owner, incentive)?;
            }
        }
        self.burn(fees)?;
        report.step_fees = fees;
        process.walks += 1;
        process.executions += created;
        if process.balance.min(process.spend_cap) < self.walk_step_price() {
            self.pause_process(&mut process);
        }
        self.save_process(&process);
        Ok((report, steps))
    }

    /// Pays `amount` from the process to `to`, as far as its balance and cap go.
    fn pay(
        &mut self,
        process: &mut Process,
        to: &Address,
        amount: Amount,
    ) -> Result<Amount, ApplyError> {
        let paid = amount.min(process.available(self.height));
        if paid > 0 {
            process.balance -= paid;
            process.spent += paid;
            self.credit_existing(to, paid)?;
        }
        Ok(paid)
    }

    /// Creates the execution of a task node, paid by the process. `Err` says why it was skipped.
    #[allow(clippy::too_many_arguments)]
    fn run_task_node(
        &mut self,
        process: &mut Process,
        compiled: &Compiled,
        index: u32,
        scope: &Scope,
        cause: Hash,
        service_id: &Hash,
        task_key: &str,
        max_fee: Amount,
    ) -> Result<Result<Hash, SkipCause>, ApplyError> {
        let Some((service, definition)) = self.load_service(service_id)? else {
            return Err(corrupt("a process task's service vanished"));
        };
        let Some(task) = definition.task(task_key) else {
            return Err(corrupt("a process task vanished from its service"));
        };
        let source = compiled
            .source
            .get(index as usize)
            .copied()
            .ok_or_else(|| corrupt("walk node out of range"))?;
        let inputs = match scope.get(&source).map(|v| task.inputs.encode(v)) {
            Some(Ok(bytes)) if bytes.len() <= self.params.vm.max_input_bytes as usize => bytes,
            _ => return Ok(Err(SkipCause::InvalidInputs)),
        };
        let id = process_execution_id(&process.id, &cause, index);
        if self.execution_id_used(&id)? {
            return Ok(Err(SkipCause::IdInUse));
        }
        if max_fee > process.available(self.height) {
            return Ok(Err(if max_fee > process.balance {
                SkipCause::Balance
            } else {
                SkipCause::SpendCap
            }));
        }
        let link_scope = encode_scope(compiled, scope)
            .map_err(|e| corrupt(format!("walk data does not encode: {e}")))?;
        process.balance -= max_fee;
        process.spent += max_fee;
        let execution = Self::new_execution(
            id,
            &service,
            task,
            &inputs,
            Payer::Process(process.id),
            max_fee,
            None,
            self.height,
        );
        self.open_execution(&execution);
        self.overlay.put(
            keys::process_link(&id),
            &ProcessLink {
                process: process.id,
                node: index,
                scope: link_scope,
            },
        );
        Ok(Ok(id))
    }
}
