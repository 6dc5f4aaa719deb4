//! Processes (docs/economy.md, "Processes and emitters"): creation with its checks and deposit,
//! funding, closing, the balance their executions escrow from and refund to, and the pruning
//! of closed ones. Walks live in `walk.rs`, event reports in `events.rs`.

use crate::execution::corrupt;
use crate::executor::{ApplyError, BlockRun};
use crate::keys::{self, QueueKind};
use crate::objects::{
    Execution, ExecutionStatus, Process, ProcessLink, ProcessStatus, ProcessSummary, WalkJob,
};
use crate::receipt::{ErrorCode, fail};
use runnet_types::execution::TaskResult;
use runnet_types::process::{Compiled, Node, ProcessDefinition, ProcessError, services_named};
use runnet_types::service::ServiceDefinition;
use runnet_types::{Address, Amount, Hash, encoding};
use std::collections::BTreeMap;
use std::sync::Arc;

type Applied = Result<(), ApplyError>;

impl BlockRun<'_> {
    /// Checks a definition against the services it names, as they are now (services are
    /// immutable, so a process that compiled once always compiles).
    pub(crate) fn compile_process(
        &self,
        definition: &ProcessDefinition,
    ) -> Result<Result<Compiled, ProcessError>, ApplyError> {
        let mut services: BTreeMap<Hash, Arc<ServiceDefinition>> = BTreeMap::new();
        for id in services_named(definition) {
            if let Some((_, parsed)) = self.load_service(&id)? {
                services.insert(id, parsed);
            }
        }
        Ok(
            definition.compile(self.params.max_process_nodes as usize, |id| {
                services.get(id).map(|d| d.as_ref())
            }),
        )
    }

    pub(crate) fn create_process(
        &mut self,
        owner: &Address,
        id: Hash,
        definition: &ProcessDefinition,
        balance: Amount,
        spend_cap: Amount,
    ) -> Applied {
        let encoded = encoding::encode(definition).len() as u64;
        if encoded > self.params.max_definition_bytes {
            return fail(
                ErrorCode::ProcessTooLarge,
                format!(
                    "definition is {encoded} bytes, more than max_definition_bytes {}",
                    self.params.max_definition_bytes
                ),
            )?;
        }
        let compiled = match self.compile_process(definition)? {
            Ok(c) => c,
            Err(e @ ProcessError::TooLarge { .. }) => {
                return fail(ErrorCode::ProcessTooLarge, e.to_string())?;
            }
            Err(e) => return fail(ErrorCode::InvalidProcess, e.to_string())?,
        };
        let step = self.walk_step_price();
        if spend_cap == 0 || spend_cap < step {
            return fail(
                ErrorCode::InvalidProcess,
                format!(
                    "spend_cap of {spend_cap} is below the price of one walk step ({step}): the process could never walk"
                ),
            )?;
        }
        let deposit = self.params.process_deposit;
        let Some(total) = deposit.checked_add(balance) else {
            return fail(ErrorCode::Overflow, "deposit plus balance overflows")?;
        };
        self.debit(owner, total, "process deposit and balance")?;
        if self.overlay.get_raw(&keys::process(&id))?.is_some() {
            return Err(corrupt(format!("process id {id} reused")));
        }
        let Some(Node::Trigger { service, event }) = definition.nodes.get(compiled.root as usize)
        else {
            return Err(corrupt("a compiled process without its trigger"));
        };
        // One that cannot pay a walk step starts paused, out of its trigger's index.
        let status = if balance >= step {
            let trigger = keys::trigger_id(service, event);
            self.overlay
                .put(keys::trigger_entry(&trigger, &id), &self.height);
            ProcessStatus::Open
        } else {
            ProcessStatus::Paused
        };
        self.save_process(&Process {
            id,
            owner: *owner,
            definition: definition.clone(),
            balance,
            deposit,
            spend_cap,
            spent: 0,
            spent_at: self.height,
            status,
            created_at: self.height,
            closed_at: None,
            walks: 0,
            executions: 0,
            skipped: 0,
            last_skip: None,
        });
        Ok(())
    }

    pub(crate) fn load_process(&self, id: &Hash) -> Result<Option<Process>, ApplyError> {
        Ok(self.overlay.get(&keys::process(id))?)
    }

    pub(crate) fn save_process(&mut self, process: &Process) {
        self.overlay.put(keys::process(&process.id), process);
    }

    fn open_process(&self, id: &Hash) -> Result<Process, ApplyError> {
        let Some(process) = self.load_process(id)? else {
            return fail(ErrorCode::ProcessNotFound, format!("no process {id}"))?;
        };
        if process.status == ProcessStatus::Closed {
            return fail(ErrorCode::ProcessClosed, format!("process {id} is closed"))?;
        }
        Ok(process)
    }

    /// What a process pays for each walk step: `gas.walk_step` at `min_gas_price`.
    pub(crate) fn walk_step_price(&self) -> Amount {
        self.params
            .gas
            .walk_step
            .saturating_mul(self.params.min_gas_price)
    }

    /// The trigger index entry of a process (its root is its trigger).
    fn trigger_key(process: &Process) -> Option<Vec<u8>> {
        process.definition.nodes.iter().find_map(|n| match n {
            Node::Trigger { service, event } => Some(keys::trigger_entry(
                &keys::trigger_id(service, event),
                &process.id,
            )),
            _ => None,
        })
    }

    /// A process whose balance or spend cap is below one walk step leaves its trigger's index:
    /// events no longer look at it, so it costs no walk budget.
    pub(crate) fn pause_process(&mut self, process: &mut Process) {
        process.status = ProcessStatus::Paused;
        if let Some(key) = Self::trigger_key(process) {
            self.overlay.delete(key);
        }
    }

    /// A paused process that can pay a walk step again rejoins its trigger's index, as of now:
    /// it fires on events that fire from now on.
    fn resume_if_payable(&mut self, process: &mut Process) {
        let step = self.walk_step_price();
        if process.status == ProcessStatus::Paused && process.balance.min(process.spend_cap) >= step
        {
            process.status = ProcessStatus::Open;
            if let Some(key) = Self::trigger_key(process) {
                self.overlay.put(key, &self.height);
            }
        }
    }

    pub(crate) fn fund_process(&mut self, sender: &Address, id: &Hash, amount: Amount) -> Applied {
        if amount == 0 {
            return fail(ErrorCode::ZeroAmount, "funding of 0")?;
        }
        let mut process = self.open_process(id)?;
        self.debit(sender, amount, "process funding")?;
        process.balance = match process.balance.checked_add(amount) {
            Some(b) => b,
            None => return fail(ErrorCode::Overflow, "process balance would overflow")?,
        };
        self.resume_if_payable(&mut process);
        self.save_process(&process);
        Ok(())
    }

    pub(crate) fn close_process(&mut self, sender: &Address, id: &Hash) -> Applied {
        let mut process = self.open_process(id)?;
        if process.owner != *sender {
            return fail(
                ErrorCode::NotProcessOwner,
                "only the process's owner may close it",
            )?;
        }
        let back = process
            .balance
            .checked_add(process.deposit)
            .ok_or_else(|| corrupt("process balance plus deposit overflows"))?;
        process.balance = 0;
        process.deposit = 0;
        process.status = ProcessStatus::Closed;
        process.closed_at = Some(self.height);
        if let Some(key) = Self::trigger_key(&process) {
            self.overlay.delete(key);
        }
        self.save_process(&process);
        self.overlay.put(
            keys::queue_entry(
                self.now_ms.saturating_add(self.params.retention_ms),
                QueueKind::PruneProcess,
                id,
            ),
            &(),
        );
        self.credit_existing(sender, back)
    }

    /// Refunds to a process: its balance while open or paused (a refund that pays a walk step
    /// again resumes it), its owner's account once closed (or pruned).
    pub(crate) fn credit_process(&mut self, id: &Hash, amount: Amount) -> Applied {
        if amount == 0 {
            return Ok(());
        }
        match self.load_process(id)? {
            Some(mut process) if process.status != ProcessStatus::Closed => {
                process.balance = process
                    .balance
                    .checked_add(amount)
                    .ok_or_else(|| corrupt("process balance overflows: supply exceeded"))?;
                self.resume_if_payable(&mut process);
                self.save_process(&process);
                Ok(())
            }
            Some(process) => self.credit_existing(&process.owner, amount),
            None => match self
                .overlay
                .get::<ProcessSummary>(&keys::process_summary(id))?
            {
                Some(summary) => self.credit_existing(&summary.owner, amount),
                None => Err(corrupt(format!("refund to unknown process {id}"))),
            },
        }
    }

    /// An execution a process created has ended: a completion with outputs resumes the walk
    /// below its task node (rejected, expired, cancelled and error results do not fire).
    pub(crate) fn process_execution_ended(
        &mut self,
        process_id: &Hash,
        execution: &Execution,
    ) -> Applied {
        let link_key = keys::process_link(&execution.id);
        let Some(link) = self.overlay.get::<ProcessLink>(&link_key)? else {
            return Ok(());
        };
        self.overlay.delete(link_key);
        let completed = matches!(
            execution.status,
            ExecutionStatus::Completed | ExecutionStatus::CompletedUnverified
        );
        let Some(TaskResult::Output(outputs)) = &execution.result else {
            return Ok(());
        };
        if !completed {
            return Ok(());
        }
        let Some(process) = self.load_process(process_id)? else {
            return Ok(());
        };
        let has_children = process.definition.edges.iter().any(|e| e.from == link.node);
        if process.status == ProcessStatus::Closed || !has_children {
            return Ok(());
        }
        let mut scope = link.scope;
        scope.insert(link.node, outputs.clone());
        self.queue_walk(&WalkJob::Resume {
            process: *process_id,
            node: link.node,
            execution: execution.id,
            scope,
        })
    }

    /// Appends a job to the walk queue.
    pub(crate) fn queue_walk(&mut self, job: &WalkJob) -> Applied {
        let key = keys::meta(keys::meta_names::WALK_SEQ);
        let seq: u64 = self.overlay.get(&key)?.unwrap_or(0);
        self.overlay.put(keys::walk(seq), job);
        self.overlay.put(key, &(seq + 1));
        Ok(())
    }

    /// A closed process past its retention shrinks to its summary.
    pub(crate) fn prune_process(&mut self, id: &Hash) -> Applied {
        let Some(process) = self.load_process(id)? else {
            return Ok(());
        };
        self.overlay.put(
            keys::process_summary(id),
            &ProcessSummary {
                id: *id,
                owner: process.owner,
                status: process.status,
                created_at: process.created_at,
                closed_at: process.closed_at.unwrap_or(self.height),
                walks: process.walks,
                executions: process.executions,
                skipped: process.skipped,
            },
        );
        self.overlay.delete(keys::process(id));
        Ok(())
    }
}
