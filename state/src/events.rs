//! Emitters (docs/economy.md, "Emitters"): runners report their service's events, each report
//! burning a bond; an event fires once enough distinct eligible runners holding enough of the
//! service's eligible stake reported it within `event_window_ms` of each other, and then queues
//! the walks of the processes it triggers, which reimburse its quorum's gas and bonds. Reports
//! older than the window are forgotten.

use crate::execution::corrupt;
use crate::executor::{ApplyError, BlockRun};
use crate::keys::{self, QueueKind};
use crate::objects::{
    EventRecord, EventReport, EventSummary, EventWalks, Reporter, Runner, RunnerStatus, WalkJob,
    runner_id,
};
use crate::receipt::{ErrorCode, fail};
use runnet_types::genesis::BPS;
use runnet_types::process::event_id;
use runnet_types::{Address, Hash};

type Applied = Result<(), ApplyError>;

impl BlockRun<'_> {
    /// Emitting needs only an active runner with the minimum stake: a runner busy with its
    /// maximum of executions still sees its service's events.
    pub(crate) fn can_emit(&self, runner: &Runner) -> bool {
        runner.status == RunnerStatus::Active && runner.stake >= self.params.min_runner_stake
    }

    pub(crate) fn emit_event(
        &mut self,
        sender: &Address,
        service_id: &Hash,
        key: &str,
        data: &[u8],
        gas_used: u64,
    ) -> Applied {
        let Some((_, definition)) = self.load_service(service_id)? else {
            return fail(
                ErrorCode::ServiceNotFound,
                format!("no service {service_id}"),
            )?;
        };
        let Some(event) = definition.event(key) else {
            return fail(
                ErrorCode::EventNotFound,
                format!("service has no event '{key}'"),
            )?;
        };
        if data.len() > self.params.max_event_bytes as usize {
            return fail(
                ErrorCode::InvalidEventData,
                format!(
                    "event data of {} bytes exceeds max_event_bytes {}",
                    data.len(),
                    self.params.max_event_bytes
                ),
            )?;
        }
        if let Err(e) = event.data.check_bytes(data) {
            return fail(ErrorCode::InvalidEventData, e.to_string())?;
        }
        let runner_id = runner_id(service_id, sender);
        let emitter = self.load_runner(&runner_id)?;
        if !emitter.as_ref().is_some_and(|r| self.can_emit(r)) {
            return fail(
                ErrorCode::NotAnEmitter,
                "the sender has no active runner of this service with the minimum stake",
            )?;
        }
        let id = event_id(service_id, key, data);
        let summary = self
            .overlay
            .get::<EventSummary>(&keys::event_summary(&id))?;
        if summary.is_some_and(|s| s.fired_at.is_some()) {
            return fail(
                ErrorCode::EventWindowClosed,
                format!("event {id} fired long ago; put what makes it unique in its data"),
            )?;
        }
        let record_key = keys::event(&id);
        let mut record = match self.overlay.get::<EventRecord>(&record_key)? {
            Some(record) => record,
            None => EventRecord {
                id,
                service: *service_id,
                key: key.to_string(),
                data: data.to_vec(),
                first_height: self.height,
                first_ms: self.now_ms,
                reports: Vec::new(),
                fired_at: None,
            },
        };
        if record.fired_at.is_some() {
            return fail(
                ErrorCode::EventAlreadyFired,
                format!("event {id} already fired"),
            )?;
        }
        // A report counts for `event_window_ms`; one older is forgotten (its bond stays burned).
        // When none counts any more the window closed without a quorum: the record starts afresh.
        let now = self.now_ms;
        let window = self.params.event_window_ms;
        record
            .reports
            .retain(|r| r.at_ms.saturating_add(window) >= now);
        if record.reports.is_empty() {
            record.first_height = self.height;
            record.first_ms = now;
        }
        if record.reports.iter().any(|r| r.runner == runner_id) {
            return fail(
                ErrorCode::AlreadyReported,
                "this runner reported this event already",
            )?;
        }
        // The bond: burned now, reimbursed by the processes the event fires if this report is
        // part of its quorum, lost otherwise.
        let bond = self.params.event_report_bond;
        if bond > 0 {
            self.debit(sender, bond, "the report bond")?;
            self.burn(bond)?;
        }
        record.reports.push(EventReport {
            runner: runner_id,
            owner: *sender,
            gas: gas_used,
            at_ms: now,
        });
        // Pruned `retention_ms` after its last report: to a summary if it fired, to nothing if
        // it did not (the id may open again).
        self.overlay.put(
            keys::queue_entry(
                now.saturating_add(self.params.retention_ms),
                QueueKind::PruneEvent,
                &id,
            ),
            &(),
        );
        if let Some(reporters) = self.quorum(&record)? {
            record.fired_at = Some(self.height);
            self.queue_walk(&WalkJob::Event(EventWalks {
                event: id,
                service: *service_id,
                key: key.to_string(),
                data: data.to_vec(),
                fired_at: self.height,
                reporters,
                firing: None,
                after: None,
            }))?;
        }
        self.overlay.put(record_key, &record);
        Ok(())
    }

    /// The reporters to pay when the reports reach the quorum: at least `min_emitters` distinct
    /// runners that may still emit, holding at least `min_emitter_stake_bps` of the stake of
    /// all the service's runners that may.
    fn quorum(&self, record: &EventRecord) -> Result<Option<Vec<Reporter>>, ApplyError> {
        let runners = self.runners_of(&record.service)?;
        let eligible: Vec<&Runner> = runners.iter().filter(|r| self.can_emit(r)).collect();
        let total: u128 = eligible.iter().map(|r| u128::from(r.stake)).sum();
        let mut stake = 0u128;
        let mut reporters = Vec::new();
        for report in &record.reports {
            let Some(runner) = eligible.iter().find(|r| r.id == report.runner) else {
                continue;
            };
            stake += u128::from(runner.stake);
            let gas_cost = u128::from(report.gas) * u128::from(self.params.min_gas_price)
                + u128::from(self.params.event_report_bond);
            reporters.push(Reporter {
                owner: report.owner,
                gas_cost: u64::try_from(gas_cost)
                    .map_err(|_| corrupt("a report's gas cost exceeds the supply"))?,
            });
        }
        let enough_runners = reporters.len() as u64 >= u64::from(self.params.min_emitters);
        let enough_stake =
            stake * u128::from(BPS) >= total * u128::from(self.params.min_emitter_stake_bps);
        Ok((enough_runners && enough_stake && total > 0).then_some(reporters))
    }

    /// An event record `retention_ms` after its last report: one that fired shrinks to its
    /// summary, whose id never fires again; one that did not is dropped (its reports stopped
    /// counting long ago) and its id may open again. Earlier entries of a record that took
    /// reports since are not due yet.
    pub(crate) fn prune_event(&mut self, id: &Hash) -> Applied {
        let key = keys::event(id);
        let Some(record) = self.overlay.get::<EventRecord>(&key)? else {
            return Ok(());
        };
        let last = record.reports.last().map_or(record.first_ms, |r| r.at_ms);
        if last.saturating_add(self.params.retention_ms) > self.now_ms {
            return Ok(());
        }
        if record.fired_at.is_some() {
            self.overlay.put(
                keys::event_summary(id),
                &EventSummary {
                    id: *id,
                    service: record.service,
                    key: record.key,
                    first_height: record.first_height,
                    reports: record.reports.len() as u32,
                    fired_at: record.fired_at,
                },
            );
        }
        self.overlay.delete(key);
        Ok(())
    }
}
