//! The execution lifecycle (docs/economy.md): request with escrow, assignment, commit and reveal,
//! the verifier draw, settlement for each verification kind (with the chain's own re-run of a
//! disputed WebAssembly task), payouts, slashes, expiry and pruning.
//!
//! Every deadline and window is chain time (ms, the block's `now_ms`) and an entry in the queue by
//! due time ([`keys::queue_entry`]): the first block whose timestamp reaches it handles it, and a
//! transaction in a block stamped after it is late. Draws are due in the next block, whatever its
//! time ([`keys::draw_entry`]). So the end of a block touches only what is due, never all
//! executions. Disputes that need the chain's re-run
//! wait in their own queue ([`keys::rerun_entry`]), drained within `max_rerun_fuel_per_block`.

use crate::draw::draw;
use crate::executor::{ApplyError, BlockRun};
use crate::keys::{self, QueueKind};
use crate::objects::{
    Execution, ExecutionStatus, ExecutionSummary, Payer, Runner, RunnerStatus, Service,
    VerificationKind, VerifierSlot,
};
use crate::receipt::{ErrorCode, fail};
use crate::store::StoreError;
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::BPS;
use runnet_types::service::{ServiceDefinition, TaskDefinition, Verification};
use runnet_types::{Address, Amount, Hash};
use std::sync::Arc;

type Applied = Result<(), ApplyError>;

// Random audits of settled WebAssembly executions: a child module, so that it shares this
// module's private settlement steps (`complete`, `slash`, `rerun`, ...).
#[path = "audit.rs"]
pub(crate) mod audit;

pub(crate) fn corrupt(what: impl Into<String>) -> ApplyError {
    ApplyError::Fatal(StoreError::Corrupt(what.into()).into())
}

/// `amount * bps / 10_000`, rounding down, in a wider integer.
pub(crate) fn share(amount: Amount, bps: u64) -> Amount {
    (u128::from(amount) * u128::from(bps) / u128::from(BPS)) as Amount
}

/// A runner's price for an execution: per call, plus per KiB of inputs and outputs together.
pub(crate) fn price(runner: &Runner, input_bytes: usize, output_bytes: usize) -> u128 {
    let kib = (input_bytes as u128 + output_bytes as u128).div_ceil(1024);
    u128::from(runner.price_per_call) + u128::from(runner.price_per_kib) * kib
}

impl BlockRun<'_> {
    pub(crate) fn load_service(
        &self,
        id: &Hash,
    ) -> Result<Option<(Service, Arc<ServiceDefinition>)>, ApplyError> {
        let Some(service) = self.overlay.get::<Service>(&keys::service(id))? else {
            return Ok(None);
        };
        let definition = self
            .definitions
            .get_or_parse(id, &service.definition)
            .map_err(|e| corrupt(format!("stored definition of {id}: {e}")))?;
        Ok(Some((service, definition)))
    }

    fn load_execution(&self, id: &Hash) -> Result<Execution, ApplyError> {
        match self.overlay.get::<Execution>(&keys::execution(id))? {
            Some(e) => Ok(e),
            None => fail(ErrorCode::ExecutionNotFound, format!("no execution {id}"))?,
        }
    }

    fn save_execution(&mut self, execution: &Execution) {
        self.overlay.put(keys::execution(&execution.id), execution);
    }

    pub(crate) fn load_runner(&self, id: &Hash) -> Result<Option<Runner>, ApplyError> {
        Ok(self.overlay.get::<Runner>(&keys::runner(id))?)
    }

    fn save_runner(&mut self, runner: &Runner) {
        self.overlay.put(keys::runner(&runner.id), runner);
    }

    /// Queues what falls due at chain time `due_ms`.
    fn queue(&mut self, due_ms: u64, kind: QueueKind, id: &Hash) {
        self.overlay.put(keys::queue_entry(due_ms, kind, id), &());
    }

    fn unqueue(&mut self, due_ms: u64, kind: QueueKind, id: &Hash) {
        self.overlay.delete(keys::queue_entry(due_ms, kind, id));
    }

    /// Queues a draw for the end of the next block, which brings the seed nobody knows yet.
    fn queue_draw(&mut self, kind: QueueKind, id: &Hash) {
        self.overlay.put(
            keys::draw_entry(self.height.saturating_add(1), kind, id),
            &(),
        );
    }

    /// Chain time `duration_ms` from this block's.
    fn after(&self, duration_ms: u64) -> u64 {
        self.now_ms.saturating_add(duration_ms)
    }

    /// Deadlines are inclusive: a transaction in a block stamped after one is late, even if no
    /// block has handled the deadline yet (the first block stamped at or after it does).
    fn check_deadline(&self, deadline: Option<u64>, what: &str) -> Applied {
        if deadline.is_some_and(|d| self.now_ms > d) {
            return fail(ErrorCode::DeadlinePassed, format!("{what} has passed"))?;
        }
        Ok(())
    }

    fn verifier_count(&self, verification: VerificationKind) -> u64 {
        match verification {
            VerificationKind::Trusted => 0,
            _ => u64::from(self.params.verifiers_per_execution),
        }
    }

    /// What an execution must escrow with this runner: its price at the task's maximum output,
    /// plus, for each verifier the task will draw, the most a verifier can be paid (a re-run
    /// verdict's result at the task's maximum output).
    fn needed_escrow(&self, runner: &Runner, execution: &Execution, task_max_output: u32) -> u128 {
        let result_bytes = match execution.verification {
            VerificationKind::WasmRerun | VerificationKind::ExternalRerun => {
                task_max_output as usize
            }
            _ => 0,
        };
        price(runner, execution.inputs.len(), task_max_output as usize)
            + u128::from(self.params.verifier_pay(result_bytes))
                * u128::from(self.verifier_count(execution.verification))
    }

    /// What a verifier who revealed is paid, whatever its verdict: `verifier_fee`, plus the gas
    /// of a re-run result's bytes in its reveal (`Params::verifier_pay`).
    fn pay_of(&self, slot: &VerifierSlot) -> Amount {
        let bytes = rerun_of(slot).map_or(0, TaskResult::len);
        self.params.verifier_pay(bytes)
    }

    /// Pays each listed verifier out of `pool`, in the order given, as far as it goes; returns
    /// what is left.
    fn pay_verifiers(
        &mut self,
        execution: &Execution,
        paid: &[usize],
        mut pool: Amount,
    ) -> Result<Amount, ApplyError> {
        for i in paid {
            let slot = &execution.verifiers[*i];
            let fee = self.pay_of(slot).min(pool);
            pool -= fee;
            let owner = slot.owner;
            self.credit_existing(&owner, fee)?;
        }
        Ok(pool)
    }

    /// Active, staked enough, and below its maximum of open executions.
    fn eligible(&self, runner: &Runner) -> bool {
        runner.status == RunnerStatus::Active
            && runner.stake >= self.params.min_runner_stake
            && runner.open_executions < runner.max_open
    }

    /// Active, staked enough, and below `max_open_verifications` verifying duties; the
    /// executions it runs do not count, so filling a runner's `max_open` with requests cannot
    /// keep it from verifying.
    fn may_verify(&self, runner: &Runner) -> bool {
        let verifying = runner.open_duties.saturating_sub(runner.open_executions);
        runner.status == RunnerStatus::Active
            && runner.stake >= self.params.min_runner_stake
            && verifying < self.params.max_open_verifications
    }

    /// The runners of a service, in id order.
    pub(crate) fn runners_of(&self, service: &Hash) -> Result<Vec<Runner>, ApplyError> {
        let prefix = keys::service_runners_prefix(service);
        let mut runners = Vec::new();
        for (key, _) in self.overlay.scan(&prefix)? {
            let id = Hash::from_slice(&key[prefix.len()..])
                .ok_or_else(|| corrupt("service runner index key"))?;
            if let Some(runner) = self.load_runner(&id)? {
                runners.push(runner);
            }
        }
        Ok(runners)
    }

    fn current_seed(&self) -> Result<Hash, ApplyError> {
        Ok(self
            .overlay
            .get(&keys::meta(keys::meta_names::SEED))?
            .unwrap_or(Hash::ZERO))
    }

    fn task_of(definition: &ServiceDefinition, key: &str) -> Result<TaskDefinition, ApplyError> {
        match definition.task(key) {
            Some(t) => Ok(t.clone()),
            None => Err(corrupt(format!("task {key} vanished from its service"))),
        }
    }

    // ---- transactions -------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn request_execution(
        &mut self,
        sender: &Address,
        id: Hash,
        service_id: &Hash,
        task_key: &str,
        inputs: &[u8],
        max_fee: Amount,
        named_runner: Option<Hash>,
    ) -> Applied {
        if max_fee == 0 {
            return fail(ErrorCode::ZeroAmount, "max_fee of 0")?;
        }
        let Some((service, definition)) = self.load_service(service_id)? else {
            return fail(
                ErrorCode::ServiceNotFound,
                format!("no service {service_id}"),
            )?;
        };
        let Some(task) = definition.task(task_key).cloned() else {
            return fail(
                ErrorCode::TaskNotFound,
                format!("service has no task '{task_key}'"),
            )?;
        };
        if let Err(e) = task.inputs.check_bytes(inputs) {
            return fail(ErrorCode::InvalidInputs, e.to_string())?;
        }
        let execution = Self::new_execution(
            id,
            &service,
            &task,
            inputs,
            Payer::Account(*sender),
            max_fee,
            named_runner,
            self.height,
        );
        // A named runner that cannot take the work now is refused at once, so the requester
        // learns it; at assignment it is checked again ("if it is still eligible").
        if let Some(named) = named_runner {
            let runner = self.load_runner(&named)?;
            let fits = runner.as_ref().is_some_and(|r| {
                r.service == *service_id
                    && self.eligible(r)
                    && self.needed_escrow(r, &execution, task.max_output_bytes)
                        <= u128::from(max_fee)
            });
            if !fits {
                return fail(
                    ErrorCode::RunnerIneligible,
                    format!(
                        "runner {named} is not an active runner of this service with room and a price within max_fee"
                    ),
                )?;
            }
        }
        if self.execution_id_used(&id)? {
            return Err(corrupt(format!("execution id {id} reused")));
        }
        self.debit(sender, max_fee, "max_fee escrow")?;
        self.open_execution(&execution);
        Ok(())
    }

    /// A requested execution, before anyone is assigned.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_execution(
        id: Hash,
        service: &Service,
        task: &TaskDefinition,
        inputs: &[u8],
        payer: Payer,
        max_fee: Amount,
        named_runner: Option<Hash>,
        height: u64,
    ) -> Execution {
        let verification = match (&task.verification, service.wasm) {
            (Verification::Trusted, _) => VerificationKind::Trusted,
            (Verification::PublicEffect { .. }, _) => VerificationKind::PublicEffect,
            (Verification::Deterministic, true) => VerificationKind::WasmRerun,
            (Verification::Deterministic, false) => VerificationKind::ExternalRerun,
        };
        Execution {
            id,
            service: service.id,
            task: task.key.clone(),
            inputs: inputs.to_vec(),
            payer,
            max_fee,
            escrow: max_fee,
            verification,
            requested_at: height,
            named_runner,
            runner: None,
            runner_owner: None,
            assigned_at: None,
            deadline: None,
            commitment: None,
            result: None,
            verifiers: Vec::new(),
            drawn_at: None,
            commit_deadline: None,
            reveal_deadline: None,
            status: ExecutionStatus::Requested,
            settled_at: None,
            rerun_fuel: None,
        }
    }

    /// Whether an execution (live or pruned to its summary) has this id.
    pub(crate) fn execution_id_used(&self, id: &Hash) -> Result<bool, ApplyError> {
        Ok(self.overlay.get_raw(&keys::execution(id))?.is_some()
            || self
                .overlay
                .get_raw(&keys::execution_summary(id))?
                .is_some())
    }

    /// Stores an escrowed execution; its runner is assigned at the end of the next block.
    pub(crate) fn open_execution(&mut self, execution: &Execution) {
        self.save_execution(execution);
        self.queue_draw(QueueKind::Assign, &execution.id);
    }

    /// The sender's runner for an execution's service.
    fn sender_runner(&self, sender: &Address, execution: &Execution) -> Hash {
        crate::objects::runner_id(&execution.service, sender)
    }

    pub(crate) fn commit_result(
        &mut self,
        sender: &Address,
        id: &Hash,
        commitment: Hash,
    ) -> Applied {
        let mut execution = self.load_execution(id)?;
        self.check_runner(sender, &execution)?;
        if execution.verification == VerificationKind::Trusted {
            return fail(
                ErrorCode::WrongVerification,
                "a trusted task takes SubmitResult",
            )?;
        }
        if execution.status != ExecutionStatus::Assigned {
            return fail(
                ErrorCode::WrongPhase,
                format!("execution is {:?}", execution.status),
            )?;
        }
        self.check_deadline(execution.deadline, "the runner's deadline")?;
        let deadline = execution.deadline.unwrap_or(0);
        execution.commitment = Some(commitment);
        self.unqueue(deadline, QueueKind::Expire, id);
        if execution.verification == VerificationKind::PublicEffect {
            // Its verifiers judge the revealed outputs: the runner reveals first.
            self.open_reveals(&mut execution);
        } else {
            execution.status = ExecutionStatus::Committed;
            self.queue_draw(QueueKind::DrawVerifiers, id);
        }
        self.save_execution(&execution);
        Ok(())
    }

    fn check_runner(&self, sender: &Address, execution: &Execution) -> Applied {
        if execution.runner_owner != Some(*sender) {
            return fail(
                ErrorCode::NotTheRunner,
                "only the assigned runner's owner may do this",
            )?;
        }
        Ok(())
    }

    /// Output bytes must be a record of the task's output schema; both kinds within the size cap.
    fn check_result(&self, execution: &Execution, result: &TaskResult) -> Applied {
        let Some((_, definition)) = self.load_service(&execution.service)? else {
            return Err(corrupt("execution of a missing service"));
        };
        let task = Self::task_of(&definition, &execution.task)?;
        if result.len() > task.max_output_bytes as usize {
            return fail(
                ErrorCode::InvalidResult,
                format!(
                    "result of {} bytes exceeds max_output_bytes {}",
                    result.len(),
                    task.max_output_bytes
                ),
            )?;
        }
        if let TaskResult::Output(bytes) = result
            && let Err(e) = task.outputs.check_bytes(bytes)
        {
            return fail(ErrorCode::InvalidResult, format!("outputs: {e}"))?;
        }
        Ok(())
    }

    pub(crate) fn reveal_result(
        &mut self,
        sender: &Address,
        id: &Hash,
        result: TaskResult,
        salt: &Hash,
    ) -> Applied {
        let mut execution = self.load_execution(id)?;
        self.check_runner(sender, &execution)?;
        if execution.result.is_some() {
            return fail(ErrorCode::WrongPhase, "already revealed")?;
        }
        self.check_reveal_window(&execution, ExecutionStatus::RunnerRevealing)?;
        if execution.commitment != Some(result_commitment(&result, salt, sender)) {
            return fail(
                ErrorCode::CommitmentMismatch,
                "reveal does not match the commitment",
            )?;
        }
        self.check_result(&execution, &result)?;
        execution.result = Some(result);
        let window_closes = execution.reveal_deadline.unwrap_or(self.now_ms);
        self.unqueue(window_closes, QueueKind::Settle, id);
        if execution.verification == VerificationKind::PublicEffect {
            // Now the verifiers can be drawn to judge it.
            execution.status = ExecutionStatus::Committed;
            execution.reveal_deadline = None;
            self.queue_draw(QueueKind::DrawVerifiers, id);
        } else {
            // The verifiers' reveal window opens at once (they committed already); with nobody
            // committed there is nothing to wait for.
            self.open_reveals(&mut execution);
            self.settle_early_if_all_revealed(&mut execution);
        }
        self.save_execution(&execution);
        Ok(())
    }

    /// The runner reveals in `RunnerRevealing`, verifiers in `Revealing`, each by
    /// `reveal_deadline`.
    fn check_reveal_window(&self, execution: &Execution, window: ExecutionStatus) -> Applied {
        if execution.status != window {
            let whose = match window {
                ExecutionStatus::RunnerRevealing => "the runner's reveal window",
                _ => "the verifiers' reveal window (after the runner's reveal)",
            };
            return fail(
                ErrorCode::WrongPhase,
                format!("execution is {:?}, not in {whose}", execution.status),
            )?;
        }
        self.check_deadline(execution.reveal_deadline, "the reveal window")
    }

    /// In the verifiers' reveal window: settle at the end of this block once every verifier who
    /// committed revealed.
    fn settle_early_if_all_revealed(&mut self, execution: &mut Execution) {
        let all = execution.status == ExecutionStatus::Revealing
            && execution
                .verifiers
                .iter()
                .all(|v| v.commitment.is_none() || v.verdict.is_some());
        if let (true, Some(deadline)) = (all, execution.reveal_deadline)
            && deadline > self.now_ms
        {
            self.unqueue(deadline, QueueKind::Settle, &execution.id);
            self.queue(self.now_ms, QueueKind::Settle, &execution.id);
            execution.reveal_deadline = Some(self.now_ms);
        }
    }

    pub(crate) fn submit_result(
        &mut self,
        sender: &Address,
        id: &Hash,
        result: TaskResult,
    ) -> Applied {
        let mut execution = self.load_execution(id)?;
        self.check_runner(sender, &execution)?;
        if execution.verification != VerificationKind::Trusted {
            return fail(
                ErrorCode::WrongVerification,
                "only trusted tasks take SubmitResult",
            )?;
        }
        if execution.status != ExecutionStatus::Assigned {
            return fail(
                ErrorCode::WrongPhase,
                format!("execution is {:?}", execution.status),
            )?;
        }
        self.check_deadline(execution.deadline, "the runner's deadline")?;
        self.check_result(&execution, &result)?;
        let deadline = execution.deadline.unwrap_or(0);
        self.unqueue(deadline, QueueKind::Expire, id);
        execution.result = Some(result);
        self.complete(&mut execution, ExecutionStatus::Completed, &[])?;
        self.save_execution(&execution);
        Ok(())
    }

    fn verifier_index(&self, sender: &Address, execution: &Execution) -> Result<usize, ApplyError> {
        let runner = self.sender_runner(sender, execution);
        match execution.verifiers.iter().position(|v| v.runner == runner) {
            Some(i) => Ok(i),
            None => fail(
                ErrorCode::NotADrawnVerifier,
                "the sender's runner was not drawn to verify this execution",
            )?,
        }
    }

    pub(crate) fn commit_verdict(
        &mut self,
        sender: &Address,
        id: &Hash,
        commitment: Hash,
    ) -> Applied {
        let mut execution = self.load_execution(id)?;
        let i = self.verifier_index(sender, &execution)?;
        if execution.status != ExecutionStatus::Verifying {
            return fail(
                ErrorCode::WrongPhase,
                format!("execution is {:?}, not verifying", execution.status),
            )?;
        }
        if execution.verifiers[i].commitment.is_some() {
            return fail(
                ErrorCode::AlreadyCommitted,
                "this verifier already committed",
            )?;
        }
        self.check_deadline(execution.commit_deadline, "the commit window")?;
        execution.verifiers[i].commitment = Some(commitment);
        if execution.verifiers.iter().all(|v| v.commitment.is_some()) {
            let close = execution.commit_deadline.unwrap_or(self.now_ms);
            self.unqueue(close, QueueKind::CloseCommits, id);
            self.open_reveals(&mut execution);
        }
        self.save_execution(&execution);
        Ok(())
    }

    pub(crate) fn reveal_verdict(
        &mut self,
        sender: &Address,
        id: &Hash,
        verdict: Verdict,
        salt: &Hash,
    ) -> Applied {
        let mut execution = self.load_execution(id)?;
        let i = self.verifier_index(sender, &execution)?;
        self.check_reveal_window(&execution, ExecutionStatus::Revealing)?;
        let slot = &execution.verifiers[i];
        if slot.verdict.is_some() {
            return fail(ErrorCode::WrongPhase, "already revealed")?;
        }
        let kind_ok = matches!(
            (&verdict, execution.verification),
            (
                Verdict::Rerun(_),
                VerificationKind::WasmRerun | VerificationKind::ExternalRerun
            ) | (Verdict::Check { .. }, VerificationKind::PublicEffect)
        );
        if !kind_ok {
            return fail(
                ErrorCode::WrongVerdictKind,
                "re-run outputs for deterministic tasks, a check verdict for public_effect",
            )?;
        }
        if slot.commitment != Some(verdict_commitment(&verdict, salt, sender)) {
            return fail(
                ErrorCode::CommitmentMismatch,
                "reveal does not match the commitment",
            )?;
        }
        execution.verifiers[i].verdict = Some(verdict);
        self.settle_early_if_all_revealed(&mut execution);
        self.save_execution(&execution);
        Ok(())
    }

    /// Opens the next reveal window, now: the runner's while its result is hidden, then the
    /// verifiers'. Either closes `reveal_window_ms` of chain time after it opens.
    fn open_reveals(&mut self, execution: &mut Execution) {
        let deadline = self.after(self.params.reveal_window_ms);
        execution.status = if execution.result.is_some() {
            ExecutionStatus::Revealing
        } else {
            ExecutionStatus::RunnerRevealing
        };
        execution.reveal_deadline = Some(deadline);
        self.queue(deadline, QueueKind::Settle, &execution.id);
    }

    // ---- end of block -------------------------------------------------------------------

    /// Takes this block's entries off the queues: the draws caused by the previous block, and
    /// everything due by this block's chain time (the head of the queue by due time, however
    /// many blocks' worth of time this block's stamp skipped). Nothing the end of a block does
    /// queues anything due by its own time (every duration is at least 1 ms), so one read serves
    /// every step.
    pub(crate) fn take_queue(&mut self) -> Result<Due, ApplyError> {
        let mut due = Due::default();
        let prefix = keys::draws_at(self.height);
        for (key, _) in self.overlay.scan(&prefix)? {
            let (kind, id) = parse_queue_rest(&key[prefix.len()..])?;
            self.overlay.delete(key);
            due.entries.push((self.height, kind, id));
        }
        let mut cursor: Option<Vec<u8>> = None;
        while let Some((key, _)) = self.overlay.first_after(keys::QUEUE, cursor.as_deref())? {
            let at = keys::due_of(keys::QUEUE, &key).ok_or_else(|| corrupt("queue key"))?;
            if at > self.now_ms {
                break;
            }
            let (kind, id) = parse_queue_rest(&key[keys::QUEUE.len() + 8..])?;
            self.overlay.delete(key.clone());
            due.entries.push((at, kind, id));
            cursor = Some(key);
        }
        Ok(due)
    }

    fn queued_execution(&self, id: &Hash) -> Result<Execution, ApplyError> {
        match self.overlay.get::<Execution>(&keys::execution(id))? {
            Some(execution) => Ok(execution),
            None => Err(corrupt(format!("queued execution {id} missing"))),
        }
    }

    /// Step 1: assignments and verifier draws due now, in execution id order.
    pub(crate) fn run_draws(&mut self, due: &mut Due) -> Applied {
        for (id, kind) in due.take(&[QueueKind::Assign, QueueKind::DrawVerifiers]) {
            let mut execution = self.queued_execution(&id)?;
            match kind {
                QueueKind::Assign => self.assign(&mut execution)?,
                _ => self.draw_verifiers(&mut execution)?,
            }
            self.save_execution(&execution);
        }
        Ok(())
    }

    /// Step 2: expiries and settlements whose window closes now, by (deadline, execution id),
    /// then the re-runs of disputes, in queue order, within the block's re-run budget.
    pub(crate) fn run_deadlines(&mut self, due: &mut Due) -> Applied {
        let kinds = [
            QueueKind::Expire,
            QueueKind::CloseCommits,
            QueueKind::Settle,
        ];
        for (id, kind) in due.take(&kinds) {
            let mut execution = self.queued_execution(&id)?;
            match kind {
                QueueKind::Expire if execution.status == ExecutionStatus::Assigned => {
                    self.expire(&mut execution)?
                }
                QueueKind::CloseCommits if execution.status == ExecutionStatus::Verifying => {
                    self.open_reveals(&mut execution)
                }
                QueueKind::Settle if execution.status == ExecutionStatus::Revealing => {
                    self.settle(&mut execution)?
                }
                QueueKind::Settle if execution.status == ExecutionStatus::RunnerRevealing => {
                    self.withheld(&mut execution)?
                }
                // The event already happened another way (a commit before the deadline).
                _ => continue,
            }
            self.save_execution(&execution);
        }
        // Disputes among those settlements joined the re-run queue behind older ones.
        self.run_reruns()
    }

    /// Step 5: what is past its retention shrinks to a summary (executions, events, closed
    /// processes).
    pub(crate) fn run_pruning(&mut self, due: &mut Due) -> Applied {
        let kinds = [
            QueueKind::Prune,
            QueueKind::PruneEvent,
            QueueKind::PruneProcess,
        ];
        for (id, kind) in due.take(&kinds) {
            match kind {
                QueueKind::PruneEvent => self.prune_event(&id)?,
                QueueKind::PruneProcess => self.prune_process(&id)?,
                _ => self.prune_execution(&id)?,
            }
        }
        Ok(())
    }

    fn prune_execution(&mut self, id: &Hash) -> Applied {
        let key = keys::execution(id);
        if let Some(execution) = self.overlay.get::<Execution>(&key)? {
            self.overlay.put(
                keys::execution_summary(id),
                &ExecutionSummary {
                    id: *id,
                    service: execution.service,
                    status: execution.status,
                    settled_at: execution.settled_at.unwrap_or(self.height),
                },
            );
            self.overlay.delete(key);
        }
        Ok(())
    }

    fn assign(&mut self, execution: &mut Execution) -> Applied {
        let Some((_, definition)) = self.load_service(&execution.service)? else {
            return Err(corrupt("execution of a missing service"));
        };
        let task = Self::task_of(&definition, &execution.task)?;
        let max_fee = u128::from(execution.max_fee);
        let fits = |run: &Self, r: &Runner| {
            run.eligible(r) && run.needed_escrow(r, execution, task.max_output_bytes) <= max_fee
        };
        let mut chosen = None;
        if let Some(named) = execution.named_runner
            && let Some(runner) = self.load_runner(&named)?
            && runner.service == execution.service
            && fits(self, &runner)
        {
            chosen = Some(runner);
        }
        if chosen.is_none() {
            let fitting: Vec<(Runner, u128)> = self
                .runners_of(&execution.service)?
                .into_iter()
                .filter(|r| fits(self, r))
                .map(|r| {
                    let p = price(&r, execution.inputs.len(), task.max_output_bytes as usize);
                    (r, p)
                })
                .collect();
            // Price counts: only runners priced within the band of the cheapest are drawn.
            let cheapest = fitting.iter().map(|(_, p)| *p).min().unwrap_or(0);
            let ceiling = cheapest * u128::from(self.params.price_band_bps);
            let runners: Vec<Runner> = fitting
                .into_iter()
                .filter(|(_, p)| *p * u128::from(BPS) <= ceiling)
                .map(|(r, _)| r)
                .collect();
            let candidates: Vec<(Hash, u64)> = runners.iter().map(|r| (r.id, r.stake)).collect();
            let seed = self.current_seed()?;
            if let Some(id) = draw(&seed, "runner", &execution.id, &candidates, 1).first() {
                chosen = runners.into_iter().find(|r| r.id == *id);
            }
        }
        let Some(mut runner) = chosen else {
            // Nobody can take it: the whole max_fee goes back.
            self.refund(execution, execution.escrow)?;
            return self.finish(execution, ExecutionStatus::Cancelled);
        };
        // needed <= max_fee, checked by `fits`.
        let needed = self.needed_escrow(&runner, execution, task.max_output_bytes) as Amount;
        self.refund(execution, execution.escrow - needed)?;
        runner.open_executions += 1;
        runner.open_duties += 1;
        self.save_runner(&runner);
        let deadline = self.after(task.timeout_ms);
        execution.runner = Some(runner.id);
        execution.runner_owner = Some(runner.owner);
        execution.assigned_at = Some(self.height);
        execution.deadline = Some(deadline);
        execution.status = ExecutionStatus::Assigned;
        self.queue(deadline, QueueKind::Expire, &execution.id);
        Ok(())
    }

    fn draw_verifiers(&mut self, execution: &mut Execution) -> Applied {
        let runners: Vec<Runner> = self
            .runners_of(&execution.service)?
            .into_iter()
            .filter(|r| Some(r.id) != execution.runner && self.may_verify(r))
            .collect();
        let candidates: Vec<(Hash, u64)> = runners.iter().map(|r| (r.id, r.stake)).collect();
        let seed = self.current_seed()?;
        let count = self.params.verifiers_per_execution as usize;
        let picked = draw(&seed, "verifier", &execution.id, &candidates, count);
        let mut slots = Vec::with_capacity(picked.len());
        for id in picked {
            let Some(mut runner) = runners.iter().find(|r| r.id == id).cloned() else {
                return Err(corrupt("drawn runner vanished"));
            };
            runner.open_duties += 1;
            self.save_runner(&runner);
            slots.push(VerifierSlot {
                runner: runner.id,
                owner: runner.owner,
                stake: runner.stake,
                commitment: None,
                verdict: None,
            });
        }
        // Slots in id order: the order of payouts "as far as the slash goes".
        slots.sort_by_key(|s| s.runner);
        execution.verifiers = slots;
        execution.drawn_at = Some(self.height);
        if execution.verifiers.is_empty() {
            if execution.result.is_some() {
                // public_effect, revealed, and nobody to judge it: it ends unverified now.
                self.settle(execution)?;
            } else {
                // Nobody to wait for: the runner reveals at once and the execution ends
                // unverified.
                self.open_reveals(execution);
            }
        } else {
            let close = self.after(self.params.commit_window_ms);
            execution.commit_deadline = Some(close);
            execution.status = ExecutionStatus::Verifying;
            self.queue(close, QueueKind::CloseCommits, &execution.id);
        }
        Ok(())
    }

    /// The reveal window closed (or all revealed): decide, pay, slash.
    fn settle(&mut self, execution: &mut Execution) -> Applied {
        let revealed: Vec<usize> = (0..execution.verifiers.len())
            .filter(|i| execution.verifiers[*i].verdict.is_some())
            .collect();
        let Some(result) = execution.result.clone() else {
            return Err(corrupt("settling an execution without a result"));
        };
        match execution.verification {
            VerificationKind::WasmRerun => self.settle_wasm(execution, &result, &revealed),
            VerificationKind::ExternalRerun | VerificationKind::PublicEffect => {
                self.settle_by_stake(execution, &result)
            }
            // Trusted executions complete on SubmitResult and never reach a reveal window.
            VerificationKind::Trusted => Err(corrupt("trusted execution in a reveal window")),
        }
    }

    fn settle_wasm(
        &mut self,
        execution: &mut Execution,
        result: &TaskResult,
        revealed: &[usize],
    ) -> Applied {
        if revealed.is_empty() {
            if self.audit_at_settlement(execution)? {
                return Ok(());
            }
            return self.complete(execution, ExecutionStatus::CompletedUnverified, &[]);
        }
        let agree: Vec<usize> = revealed
            .iter()
            .copied()
            .filter(|i| rerun_of(&execution.verifiers[*i]) == Some(result))
            .collect();
        if agree.len() == revealed.len() {
            if self.audit_at_settlement(execution)? {
                return Ok(());
            }
            return self.complete(execution, ExecutionStatus::Completed, revealed);
        }
        // A dispute: the chain must run the task itself. Re-runs cost every validator, so they
        // wait in line for the block's re-run budget (`run_reruns`, at the end of this step,
        // takes this one in this very block if the budget allows). The status keeps every other
        // rule off it meanwhile: settlements, reveals and expiries all require another status.
        execution.status = ExecutionStatus::AwaitingRerun;
        self.overlay
            .put(keys::rerun_entry(self.height, &execution.id), &());
        Ok(())
    }

    /// The worst-case fuel of the chain's re-run of a task: what the budget is charged before it
    /// runs, whatever the module then does. One place, so the charge and the run cannot differ.
    fn rerun_fuel_limit(&self) -> u64 {
        self.params.max_task_fuel
    }

    /// Disputed WebAssembly executions in the order they became due, each charged its
    /// worst-case fuel against `max_rerun_fuel_per_block` before it runs; the first that does
    /// not fit ends the step and it and those behind it wait for the next block. The budget is
    /// at least one worst case (genesis validation), so the queue moves every block.
    fn run_reruns(&mut self) -> Applied {
        let cost = self.rerun_fuel_limit();
        let mut left = self.params.max_rerun_fuel_per_block;
        let mut cursor: Option<Vec<u8>> = None;
        while left >= cost {
            let Some((key, _)) = self.overlay.first_after(keys::RERUNS, cursor.as_deref())? else {
                break;
            };
            let (_, id) =
                keys::parse_rerun_entry(&key).ok_or_else(|| corrupt("re-run queue key"))?;
            left -= cost;
            self.overlay.delete(key.clone());
            cursor = Some(key);
            let mut execution = self.queued_execution(&id)?;
            if execution.status != ExecutionStatus::AwaitingRerun {
                return Err(corrupt(format!(
                    "queued re-run of execution {id} in status {:?}",
                    execution.status
                )));
            }
            if self.take_audit(&id)? {
                self.judge_audit(&mut execution)?;
            } else {
                self.judge_dispute(&mut execution)?;
            }
            self.save_execution(&execution);
        }
        Ok(())
    }

    /// The chain's re-run decides a WebAssembly dispute: its result is the truth, the wrong
    /// parties are slashed and pay its fuel. What it reads (the result, the verdicts) could not
    /// change while the execution waited.
    fn judge_dispute(&mut self, execution: &mut Execution) -> Applied {
        let Some(result) = execution.result.clone() else {
            return Err(corrupt("a disputed execution without a result"));
        };
        let revealed: Vec<usize> = (0..execution.verifiers.len())
            .filter(|i| execution.verifiers[*i].verdict.is_some())
            .collect();
        let result = &result;
        let (truth, fuel) = self.rerun(execution)?;
        execution.rerun_fuel = Some(fuel);
        let fuel_cost = fuel.saturating_mul(self.params.fuel_price).div_ceil(1000);
        let right: Vec<usize> = revealed
            .iter()
            .copied()
            .filter(|i| rerun_of(&execution.verifiers[*i]) == Some(&truth))
            .collect();
        let wrong_verifiers: Vec<usize> = revealed
            .iter()
            .copied()
            .filter(|i| !right.contains(i))
            .collect();
        let runner_wrong = *result != truth;
        // Wrong parties in id order, with their slashes.
        let mut wrong: Vec<(Hash, u64)> = wrong_verifiers
            .iter()
            .map(|i| {
                (
                    execution.verifiers[*i].runner,
                    self.params.verifier_fault_slash,
                )
            })
            .collect();
        if runner_wrong && let Some(runner) = execution.runner {
            wrong.push((runner, self.params.wrong_result_slash));
        }
        wrong.sort_by_key(|(id, _)| *id);
        let mut pools = Vec::with_capacity(wrong.len());
        for (id, bps) in &wrong {
            pools.push((*id, self.slash(id, *bps)?));
        }
        // The re-run's fuel: equal parts of the wrong parties' slashes, remainder from the lowest id.
        if !pools.is_empty() && fuel_cost > 0 {
            let n = pools.len() as u64;
            let (each, mut extra) = (fuel_cost / n, fuel_cost % n);
            let mut to_proposer = 0;
            for (_, pool) in pools.iter_mut() {
                let owed = each + u64::from(extra > 0);
                extra = extra.saturating_sub(1);
                let paid = owed.min(*pool);
                *pool -= paid;
                to_proposer += paid;
            }
            let proposer = self.proposer;
            self.credit_existing(&proposer, to_proposer)?;
        }
        if runner_wrong {
            // Every verifier who revealed is paid from the runner's slash, in id order, as far
            // as it goes.
            let runner = execution.runner.unwrap_or(Hash::ZERO);
            let pool = pools
                .iter()
                .find(|(id, _)| *id == runner)
                .map_or(0, |(_, p)| *p);
            let pool = self.pay_verifiers(execution, &revealed, pool)?;
            for (id, rest) in pools.iter_mut() {
                if *id == runner {
                    *rest = pool;
                }
            }
            let total: Amount = pools.iter().map(|(_, p)| p).sum();
            self.burn(total)?;
            let escrow = execution.escrow;
            self.refund(execution, escrow)?;
            self.slash_withholding_verifiers(execution)?;
            self.finish(execution, ExecutionStatus::Rejected)?;
            self.release_duties(execution)?;
            Ok(())
        } else {
            let total: Amount = pools.iter().map(|(_, p)| p).sum();
            self.burn(total)?;
            self.complete(execution, ExecutionStatus::Completed, &revealed)
        }
    }

    /// The chain's own run of a task: its output is the truth of a dispute.
    fn rerun(&self, execution: &Execution) -> Result<(TaskResult, u64), ApplyError> {
        let Some((service, definition)) = self.load_service(&execution.service)? else {
            return Err(corrupt("execution of a missing service"));
        };
        let task = Self::task_of(&definition, &execution.task)?;
        let module = self
            .overlay
            .get_raw(&keys::bundle(&service.bundle_digest))?
            .ok_or_else(|| corrupt("bundle of a WebAssembly service missing"))?;
        crate::bundle::run_task(
            self.vm,
            &module,
            &execution.task,
            &execution.inputs,
            self.rerun_fuel_limit(),
            task.max_output_bytes as usize,
        )
    }

    /// External deterministic and public_effect tasks: the stake of the verifiers who revealed
    /// votes (recorded at the draw). A verdict carries with more than two thirds of it; every
    /// revealed verifier is paid, whatever its verdict, and those against a verdict that carried
    /// are slashed.
    fn settle_by_stake(&mut self, execution: &mut Execution, result: &TaskResult) -> Applied {
        let (mut valid, mut invalid) = (Vec::new(), Vec::new());
        for (i, slot) in execution.verifiers.iter().enumerate() {
            match &slot.verdict {
                Some(Verdict::Check { valid: true }) => valid.push(i),
                Some(Verdict::Check { valid: false }) => invalid.push(i),
                Some(Verdict::Rerun(r)) if r == result => valid.push(i),
                Some(Verdict::Rerun(_)) => invalid.push(i),
                None => {}
            }
        }
        let revealed: Vec<usize> = (0..execution.verifiers.len())
            .filter(|i| execution.verifiers[*i].verdict.is_some())
            .collect();
        let stake_of = |ids: &[usize]| -> u128 {
            ids.iter()
                .map(|i| u128::from(execution.verifiers[*i].stake))
                .sum()
        };
        let total = stake_of(&revealed);
        let carries = |stake: u128| total > 0 && 3 * stake > 2 * total;
        if carries(stake_of(&invalid)) {
            let runner = execution.runner.unwrap_or(Hash::ZERO);
            let pool = self.slash(&runner, self.params.wrong_result_slash)?;
            let pool = self.pay_verifiers(execution, &revealed, pool)?;
            self.burn(pool)?;
            for i in &valid {
                let id = execution.verifiers[*i].runner;
                let slashed = self.slash(&id, self.params.verifier_fault_slash)?;
                self.burn(slashed)?;
            }
            let escrow = execution.escrow;
            self.refund(execution, escrow)?;
            self.slash_withholding_verifiers(execution)?;
            self.finish(execution, ExecutionStatus::Rejected)?;
            self.release_duties(execution)
        } else if carries(stake_of(&valid)) {
            for i in &invalid {
                let id = execution.verifiers[*i].runner;
                let slashed = self.slash(&id, self.params.verifier_fault_slash)?;
                self.burn(slashed)?;
            }
            self.complete(execution, ExecutionStatus::Completed, &revealed)
        } else {
            // No verdict carries (or nobody revealed): nobody is slashed for the outcome, the
            // runner is paid `unverified_share` of its price.
            self.complete(execution, ExecutionStatus::CompletedUnverified, &revealed)
        }
    }

    /// Completion: the runner and the service owner share the price at the actual output size,
    /// every verifier who revealed is paid (`paid`, in id order), the payer gets the rest back.
    fn complete(
        &mut self,
        execution: &mut Execution,
        status: ExecutionStatus,
        paid: &[usize],
    ) -> Applied {
        let runner_id = execution
            .runner
            .ok_or_else(|| corrupt("completed without a runner"))?;
        let runner = self
            .load_runner(&runner_id)?
            .ok_or_else(|| corrupt("runner missing"))?;
        let Some((service, _)) = self.load_service(&execution.service)? else {
            return Err(corrupt("execution of a missing service"));
        };
        let price = match &execution.result {
            Some(TaskResult::Output(bytes)) => price(&runner, execution.inputs.len(), bytes.len()),
            // An upheld error pays only the price per call.
            _ => u128::from(runner.price_per_call),
        };
        let mut escrow = execution.escrow;
        // The escrow was sized for the largest output; a smaller one costs no more.
        let mut price = price.min(u128::from(escrow)) as Amount;
        if status == ExecutionStatus::CompletedUnverified {
            // Nobody's verdict carried: the runner is paid only part of the price.
            price = share(price, self.params.unverified_share);
        }
        let developer = share(price, self.params.developer_share);
        let to_audit_pool = self.audit_premium(execution, price, developer);
        let to_runner = price - developer - to_audit_pool;
        escrow -= price;
        self.credit_existing(&runner.owner, to_runner)?;
        self.credit_existing(&service.owner, developer)?;
        self.credit_existing(&audit::audit_pool_address(), to_audit_pool)?;
        let escrow = self.pay_verifiers(execution, paid, escrow)?;
        execution.escrow = escrow;
        self.refund(execution, escrow)?;
        self.slash_withholding_verifiers(execution)?;
        self.finish(execution, status)?;
        self.release_duties(execution)
    }

    /// No commitment (or trusted result) by the deadline: a missed duty. The runner earns
    /// nothing and loses no stake (the duty is recorded, `release_duties`); the payer gets the
    /// whole escrow back.
    fn expire(&mut self, execution: &mut Execution) -> Applied {
        let escrow = execution.escrow;
        self.refund(execution, escrow)?;
        self.finish(execution, ExecutionStatus::Expired)?;
        self.release_duties(execution)
    }

    /// The runner's reveal window closed without its reveal: a missed duty, not a cheat. Nothing
    /// of the verifiers' was revealed yet, so withholding taught the runner nothing; but each
    /// verifier who committed did its work for nothing, so the runner pays each `verifier_fee`
    /// out of its stake (in id order, as far as it goes), nothing burned. The payer gets the
    /// whole escrow back; drawn verifiers who never committed missed their duty (no stake).
    fn withheld(&mut self, execution: &mut Execution) -> Applied {
        let runner = execution
            .runner
            .ok_or_else(|| corrupt("a reveal window without a runner"))?;
        let committed: Vec<usize> = (0..execution.verifiers.len())
            .filter(|i| execution.verifiers[*i].commitment.is_some())
            .collect();
        // No verdict was revealed: each is owed `verifier_fee`.
        let owed = committed
            .iter()
            .map(|i| self.pay_of(&execution.verifiers[*i]))
            .fold(0, Amount::saturating_add);
        let escrow = execution.escrow;
        self.refund(execution, escrow)?;
        self.finish(execution, ExecutionStatus::Expired)?;
        self.release_duties(execution)?;
        let pool = self.take_stake(&runner, owed)?;
        let pool = self.pay_verifiers(execution, &committed, pool)?;
        self.burn(pool)
    }

    /// A verifier who committed and withheld its reveal after the runner's result was revealed
    /// loses `verifier_fault_slash`, as for a wrong verdict: it saw the result and could choose.
    /// Drawn verifiers who never committed lose nothing but their fee (a missed duty, recorded
    /// by `release_duties`); nor do those who committed when the runner never revealed. The
    /// chain cannot tell a withheld reveal from an outage, so one left below `min_runner_stake`
    /// is jailed (it comes back with a top-up), not expelled like a proven cheat.
    fn slash_withholding_verifiers(&mut self, execution: &Execution) -> Applied {
        if execution.result.is_none() {
            return Ok(());
        }
        for slot in &execution.verifiers {
            if slot.verdict.is_none() && slot.commitment.is_some() {
                let slashed = self.slash_with(
                    &slot.runner,
                    self.params.verifier_fault_slash,
                    BelowMinimum::Jail,
                )?;
                self.burn(slashed)?;
            }
        }
        Ok(())
    }

    /// Takes up to `amount` of a runner's stake (what it owes others for a missed duty) and
    /// returns what it took. An active runner left below `min_runner_stake` is jailed, with no
    /// jail period and no slash: it returns to work with UnjailRunner and a top-up.
    fn take_stake(&mut self, id: &Hash, amount: Amount) -> Result<Amount, ApplyError> {
        let Some(mut runner) = self.load_runner(id)? else {
            return Err(corrupt(format!("stake of missing runner {id}")));
        };
        let taken = amount.min(runner.stake);
        runner.stake -= taken;
        if runner.status == RunnerStatus::Active && runner.stake < self.params.min_runner_stake {
            runner.status = RunnerStatus::Jailed { until: self.now_ms };
        }
        self.save_runner(&runner);
        Ok(taken)
    }

    /// Records one duty of a runner, done or missed. An active runner with more than
    /// `max_missed_duties` misses among its last `duty_window` duties is jailed until
    /// `downtime_jail_ms` of chain time from now and loses `downtime_slash` of its stake (burned), once;
    /// its record starts afresh.
    fn record_duty(&mut self, runner: &mut Runner, missed: bool) -> Applied {
        runner.duties = runner.duties.saturating_add(1);
        runner.missed_log = (runner.missed_log << 1) | u64::from(missed);
        if !missed {
            return Ok(());
        }
        runner.missed = runner.missed.saturating_add(1);
        if runner.status == RunnerStatus::Active
            && runner.missed_in_window(self.params.duty_window) > self.params.max_missed_duties
        {
            let slashed = share(runner.stake, self.params.downtime_slash);
            runner.stake -= slashed;
            self.burn(slashed)?;
            runner.status = RunnerStatus::Jailed {
                until: self.after(self.params.downtime_jail_ms),
            };
            runner.missed_log = 0;
        }
        Ok(())
    }

    /// Takes `bps` of a runner's stake for a proven cheat and returns it (the caller decides
    /// where it goes). A runner left below the minimum stake leaves: it is drawn for nothing
    /// more.
    fn slash(&mut self, id: &Hash, bps: u64) -> Result<Amount, ApplyError> {
        self.slash_with(id, bps, BelowMinimum::Expel)
    }

    /// Takes `bps` of a runner's stake; an active runner left below `min_runner_stake` is
    /// expelled (`Leaving`) or jailed with no jail period (`Jailed { until: now }`), as `below`
    /// says.
    fn slash_with(
        &mut self,
        id: &Hash,
        bps: u64,
        below: BelowMinimum,
    ) -> Result<Amount, ApplyError> {
        let Some(mut runner) = self.load_runner(id)? else {
            return Err(corrupt(format!("slash of missing runner {id}")));
        };
        let amount = share(runner.stake, bps);
        runner.stake -= amount;
        if runner.status == RunnerStatus::Active && runner.stake < self.params.min_runner_stake {
            runner.status = match below {
                BelowMinimum::Expel => RunnerStatus::Leaving,
                BelowMinimum::Jail => RunnerStatus::Jailed { until: self.now_ms },
            };
        }
        self.save_runner(&runner);
        Ok(amount)
    }

    fn refund(&mut self, execution: &mut Execution, amount: Amount) -> Applied {
        if amount == 0 {
            return Ok(());
        }
        execution.escrow = execution
            .escrow
            .checked_sub(amount)
            .ok_or_else(|| corrupt("refund larger than the escrow"))?;
        match execution.payer {
            Payer::Account(address) => self.credit_existing(&address, amount),
            Payer::Process(process) => self.credit_process(&process, amount),
        }
    }

    fn finish(&mut self, execution: &mut Execution, status: ExecutionStatus) -> Applied {
        execution.status = status;
        execution.settled_at = Some(self.height);
        let prune_at = self.after(self.params.retention_ms);
        self.queue(prune_at, QueueKind::Prune, &execution.id);
        if let Payer::Process(process) = execution.payer {
            self.process_execution_ended(&process, execution)?;
        }
        Ok(())
    }

    /// The runner's and verifiers' duties end, each recorded as done or missed (`record_duty`);
    /// a leaving runner with none left is released later. The runner's duty is done when its
    /// result was revealed (or submitted); a verifier's when its verdict was revealed, or when it
    /// committed and the runner never revealed (it had no window to reveal in).
    fn release_duties(&mut self, execution: &Execution) -> Applied {
        let revealed = execution.result.is_some();
        let mut ids: Vec<(Hash, bool, bool)> = execution
            .verifiers
            .iter()
            .map(|v| {
                let done = v.verdict.is_some() || (v.commitment.is_some() && !revealed);
                (v.runner, false, !done)
            })
            .collect();
        if let Some(runner) = execution.runner {
            ids.push((runner, true, !revealed));
        }
        for (id, is_runner, missed) in ids {
            let Some(mut runner) = self.load_runner(&id)? else {
                return Err(corrupt(format!("duty of missing runner {id}")));
            };
            self.record_duty(&mut runner, missed)?;
            runner.open_duties = runner.open_duties.saturating_sub(1);
            if is_runner {
                runner.open_executions = runner.open_executions.saturating_sub(1);
            }
            if runner.status == RunnerStatus::Leaving
                && runner.open_duties == 0
                && runner.release_at.is_none()
            {
                self.schedule_runner_release(&mut runner);
            }
            self.save_runner(&runner);
        }
        Ok(())
    }

    pub(crate) fn credit_existing(&mut self, address: &Address, amount: Amount) -> Applied {
        if amount == 0 {
            return Ok(());
        }
        self.credit(address, amount).map_err(|e| match e {
            ApplyError::Tx(f) => corrupt(f.detail),
            fatal => fatal,
        })
    }
}

/// A verifier's re-run output, if its verdict is one.
fn rerun_of(slot: &VerifierSlot) -> Option<&TaskResult> {
    match &slot.verdict {
        Some(Verdict::Rerun(r)) => Some(r),
        _ => None,
    }
}

impl crate::executor::Executor {
    /// The disputes waiting for the chain's re-run, first in line first, each with the height
    /// its settlement came due. Each has status `awaiting_rerun`.
    pub fn rerun_queue(&self) -> Result<Vec<(u64, Hash)>, crate::executor::ExecError> {
        let mut out = Vec::new();
        for (key, _) in self.store().scan_prefix(keys::RERUNS, None, usize::MAX)? {
            out.push(
                keys::parse_rerun_entry(&key)
                    .ok_or_else(|| StoreError::Corrupt("re-run queue key".into()))?,
            );
        }
        Ok(out)
    }
}

/// What a slash below `min_runner_stake` does to an active runner.
#[derive(Clone, Copy)]
enum BelowMinimum {
    /// A proven cheat: the runner leaves.
    Expel,
    /// A liveness fault the chain cannot tell from an outage: jailed, back with a top-up.
    Jail,
}

/// The kind byte and object id after a queue key's due time or height.
fn parse_queue_rest(rest: &[u8]) -> Result<(QueueKind, Hash), ApplyError> {
    match (
        rest.first().and_then(|b| QueueKind::from_byte(*b)),
        rest.get(1..).and_then(Hash::from_slice),
    ) {
        (Some(kind), Some(id)) => Ok((kind, id)),
        _ => Err(corrupt("queue key")),
    }
}

/// This block's queue entries, (due time or height, kind, id), taken off the queues.
#[derive(Default)]
pub(crate) struct Due {
    entries: Vec<(u64, QueueKind, Hash)>,
}

impl Due {
    /// The entries of `kinds`, by (due, execution id, kind): the order docs/economy.md gives for
    /// each end-of-block step (one block may take several due times when its stamp skipped).
    fn take(&mut self, kinds: &[QueueKind]) -> Vec<(Hash, QueueKind)> {
        let (mut out, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.entries)
            .into_iter()
            .partition(|(_, kind, _)| kinds.contains(kind));
        self.entries = rest;
        out.sort_unstable_by_key(|(at, kind, id)| (*at, *id, *kind));
        out.into_iter().map(|(_, kind, id)| (id, kind)).collect()
    }
}
