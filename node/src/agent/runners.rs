//! The `[[runner]]` sections as the agent holds them: the runner ids they stand for, their
//! registration on the chain, and the external program of each.
//!
//! A runner is registered on start if the chain does not know it (or knows it as `left`),
//! signed by the home's `account.key`, its owner. The service may not be published yet: the
//! agent waits for it, looking again after each block. Registered once, a runner is not
//! registered again in the same run, so an operator's `runnet tx runner unregister` sticks. The
//! program of an external service starts once its runner is active, and stays up (restarted
//! after a crash) while the node runs. A runner the chain jailed for downtime (it missed too
//! many duties while the node was down or cut off) is unjailed with UnjailRunner as soon as its
//! jail is over, topped up to `min_runner_stake` from the account if a slash took it below;
//! except in the `silent` fault mode, which never answers anything.

use super::program::{OnEvent, Program, ProgramSpec};
use super::submit::{Fate, Purpose, Submitter};
use crate::config::{RunnerConfig, RunnerMode};
use crate::runtime::Shared;
use runnet_state::objects::runner_id;
use runnet_state::{Runner, RunnerStatus};
use runnet_types::{Address, Amount, Hash, Params, Payload};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Registration {
    /// Not on the chain yet: send RegisterRunner once the service exists.
    Pending,
    Sent,
    Registered,
    /// The chain refused it; the log says why and what to fix.
    Failed,
}

pub struct Mine {
    /// Its position in config.toml, for messages.
    pub index: usize,
    pub config: RunnerConfig,
    pub service: Hash,
    pub id: Hash,
    pub program: Option<Arc<Program>>,
    pub registration: Registration,
    /// Active with at least `min_runner_stake`: drawn, and allowed to emit.
    pub active: bool,
    /// Whether the service runs in WebAssembly, once it is published.
    pub wasm: Option<bool>,
    /// An UnjailRunner is on its way (or was refused: not sent again in this run).
    pub unjail: Unjail,
    warned: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unjail {
    Idle,
    Sent,
    /// The chain refused it; the log says why.
    Failed,
}

impl Mine {
    pub fn mode(&self) -> RunnerMode {
        self.config.mode
    }

    pub fn label(&self) -> String {
        format!("runner[{}] (service {})", self.index, short(&self.service))
    }
}

pub fn short(id: &Hash) -> String {
    id.to_string().chars().take(12).collect()
}

/// Resolves the sections; an error names the field to fix.
pub fn resolve(
    sections: &[RunnerConfig],
    owner: Option<Address>,
    params: &Params,
    home: &Path,
    on_event: &dyn Fn(usize) -> OnEvent,
) -> Result<Vec<Mine>, (String, String)> {
    let mut out = Vec::with_capacity(sections.len());
    for (index, config) in sections.iter().enumerate() {
        let field = |name: &str| format!("runner[{index}].{name}");
        let Some(owner) = owner else {
            return Err((
                field("service"),
                "this home has no account.key to own and sign for the runner (the operator's \
                 account: create one with `runnet keys generate --out account.key`)"
                    .into(),
            ));
        };
        let service = config
            .service_id()
            .map_err(|e| (field("service"), e.to_string()))?;
        if config.stake < params.min_runner_stake {
            return Err((
                field("stake"),
                format!(
                    "{} is below the chain's min_runner_stake of {}",
                    config.stake, params.min_runner_stake
                ),
            ));
        }
        let id = runner_id(&service, &owner);
        let program = config.program.as_ref().map(|command| {
            Arc::new(Program::new(
                ProgramSpec {
                    label: format!("runner[{index}]"),
                    command: command.clone(),
                    dir: home.to_path_buf(),
                    env: vec![
                        ("RUNNET_SERVICE".into(), service.to_string()),
                        ("RUNNET_RUNNER".into(), id.to_string()),
                    ],
                    timeout: Duration::from_millis(config.timeout_ms),
                },
                on_event(index),
            ))
        });
        out.push(Mine {
            index,
            config: config.clone(),
            service,
            id,
            program,
            registration: Registration::Pending,
            active: false,
            wasm: None,
            unjail: Unjail::Idle,
            warned: false,
        });
    }
    Ok(out)
}

/// Looks at the runner's record after a block: registers it if needed, notes whether it may
/// work, keeps its program up.
pub fn refresh(mine: &mut Mine, shared: &Shared, submitter: &mut Submitter) {
    let record = match shared.executor.runner(&mine.id) {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(runner = %mine.label(), "reading the runner: {e}");
            return;
        }
    };
    let min_stake = shared.executor.params().min_runner_stake;
    mine.active = record
        .as_ref()
        .is_some_and(|r| r.status == RunnerStatus::Active && r.stake >= min_stake);
    match record.as_ref().filter(|r| r.status != RunnerStatus::Left) {
        Some(r) if mine.registration != Registration::Registered => {
            mine.registration = Registration::Registered;
            note_registered(mine, r);
        }
        None if mine.registration == Registration::Pending => register(mine, shared, submitter),
        _ => {}
    }
    let jailed = record
        .as_ref()
        .is_some_and(|r| matches!(r.status, RunnerStatus::Jailed { .. }));
    // The transaction lands in a later block, stamped after the last one's chain time.
    let now_ms = shared.executor.chain_time_ms().unwrap_or(0);
    match record
        .as_ref()
        .and_then(|r| unjail_due(r, now_ms, mine.mode(), min_stake))
    {
        Some(top_up) if mine.unjail == Unjail::Idle => unjail(mine, shared, submitter, top_up),
        _ if !jailed && mine.unjail == Unjail::Sent => mine.unjail = Unjail::Idle,
        _ => {}
    }
    if mine.wasm.is_none()
        && let Ok(Some(service)) = shared.executor.service(&mine.service)
    {
        mine.wasm = Some(service.wasm);
        match (service.wasm, &mine.program) {
            (true, Some(_)) => tracing::warn!(
                runner = %mine.label(),
                "the service runs in WebAssembly: its `program` is not used"
            ),
            (false, None) => tracing::error!(
                runner = %mine.label(),
                "the service is an external program: set `program` in config.toml's \
                 [[runner]] section, or its executions will pass their deadlines"
            ),
            _ => {}
        }
    }
    if mine.active
        && mine.wasm == Some(false)
        && let Some(program) = &mine.program
    {
        program.keep_alive();
    }
}

fn note_registered(mine: &Mine, r: &Runner) {
    tracing::info!(
        runner = %mine.label(),
        id = %mine.id,
        stake = r.stake,
        status = ?r.status,
        mode = mine.mode().name(),
        "runner registered"
    );
    let c = &mine.config;
    if (r.stake, r.price_per_call, r.price_per_kib, r.max_open)
        != (c.stake, c.price_per_call, c.price_per_kib, c.max_open)
    {
        tracing::warn!(
            runner = %mine.label(),
            "the chain's record differs from config.toml (stake {}, price_per_call {}, \
             price_per_kib {}, max_open {}); the chain's holds until the runner is \
             unregistered and registered again",
            r.stake,
            r.price_per_call,
            r.price_per_kib,
            r.max_open
        );
    }
}

fn register(mine: &mut Mine, shared: &Shared, submitter: &mut Submitter) {
    match shared.executor.service(&mine.service) {
        Ok(Some(_)) => {}
        Ok(None) => {
            if !mine.warned {
                mine.warned = true;
                tracing::warn!(
                    runner = %mine.label(),
                    service = %mine.service,
                    "the service is not published yet: the runner registers once it is"
                );
            }
            return;
        }
        Err(e) => {
            tracing::warn!(runner = %mine.label(), "reading the service: {e}");
            return;
        }
    }
    let c = &mine.config;
    let payload = Payload::RegisterRunner {
        service: mine.service,
        stake: c.stake,
        price_per_call: c.price_per_call,
        price_per_kib: c.price_per_kib,
        max_open: c.max_open,
    };
    match submitter.send(shared, payload, Purpose::Register(mine.id)) {
        Ok(hash) => {
            mine.registration = Registration::Sent;
            tracing::info!(runner = %mine.label(), tx = %hash, "registering the runner");
        }
        Err(e) => tracing::warn!(runner = %mine.label(), "cannot send RegisterRunner yet: {e}"),
    }
}

/// The top-up to send with UnjailRunner if the runner is jailed and its jail (chain time) is
/// over by `now_ms`, the last block's chain time: what it lacks of `min_stake`. Never in the
/// `silent` fault mode.
pub fn unjail_due(
    record: &Runner,
    now_ms: u64,
    mode: RunnerMode,
    min_stake: Amount,
) -> Option<Amount> {
    match record.status {
        RunnerStatus::Jailed { until } if until <= now_ms && mode != RunnerMode::Silent => {
            Some(min_stake.saturating_sub(record.stake))
        }
        _ => None,
    }
}

/// Sends UnjailRunner for a runner whose jail is over, with what it lacks of the minimum stake.
fn unjail(mine: &mut Mine, shared: &Shared, submitter: &mut Submitter, top_up: Amount) {
    let payload = Payload::UnjailRunner {
        runner: mine.id,
        stake: top_up,
    };
    match submitter.send(shared, payload, Purpose::Unjail(mine.id)) {
        Ok(hash) => {
            mine.unjail = Unjail::Sent;
            tracing::info!(
                runner = %mine.label(),
                tx = %hash,
                top_up,
                "the runner was jailed for missed duties and its jail is over: unjailing it"
            );
        }
        Err(e) => tracing::warn!(runner = %mine.label(), "cannot send UnjailRunner yet: {e}"),
    }
}

/// What became of an UnjailRunner.
pub fn unjail_settled(mine: &mut Mine, fate: &Fate) {
    match fate {
        Fate::Done => {}
        Fate::Failed(code, detail) => {
            mine.unjail = Unjail::Failed;
            tracing::error!(
                runner = %mine.label(),
                "the chain refused to unjail the runner ({code:?}: {detail}); fund the account \
                 if it lacks the top-up to min_runner_stake, then restart the node"
            );
        }
        Fate::Lost(why) => {
            mine.unjail = Unjail::Idle;
            tracing::warn!(runner = %mine.label(), "UnjailRunner {why}: sending it again");
        }
    }
}

/// What became of a RegisterRunner.
pub fn registration_settled(mine: &mut Mine, fate: &Fate) {
    match fate {
        Fate::Done => {}
        Fate::Failed(code, detail) => {
            mine.registration = Registration::Failed;
            tracing::error!(
                runner = %mine.label(),
                "the chain refused the registration ({code:?}: {detail}); fix config.toml's \
                 [[runner]] section or the account's balance and restart"
            );
        }
        Fate::Lost(why) => {
            mine.registration = Registration::Pending;
            tracing::warn!(runner = %mine.label(), "RegisterRunner {why}: sending it again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(stake: u64) -> RunnerConfig {
        RunnerConfig {
            service: Hash([7; 32]).to_string(),
            stake,
            price_per_call: 1,
            price_per_kib: 0,
            max_open: 1,
            program: Some("./svc".into()),
            timeout_ms: 1_000,
            mode: RunnerMode::Silent,
        }
    }

    fn resolved(
        sections: &[RunnerConfig],
        owner: Option<Address>,
    ) -> Result<Vec<Mine>, (String, String)> {
        let params = Params {
            min_runner_stake: 1_000,
            ..Params::default()
        };
        let no_events = |_: usize| -> OnEvent { Arc::new(|_, _| {}) };
        resolve(sections, owner, &params, Path::new("/tmp"), &no_events)
    }

    #[test]
    fn sections_become_runner_ids_of_the_owner() {
        let owner = Address([3; 20]);
        let mine = resolved(&[section(1_000)], Some(owner)).unwrap();
        assert_eq!(mine[0].id, runner_id(&Hash([7; 32]), &owner));
        assert_eq!(mine[0].mode(), RunnerMode::Silent);
        assert_eq!(mine[0].registration, Registration::Pending);
        assert!(mine[0].program.is_some());
    }

    /// An agent whose runner was jailed while its node was down unjails it once the jail is
    /// over, topped up to the minimum stake; not before, not when it is not jailed, and never in
    /// the silent fault mode.
    #[test]
    fn a_jailed_runner_is_unjailed_once_its_jail_is_over() {
        let record = |status, stake| Runner {
            id: Hash([1; 32]),
            service: Hash([7; 32]),
            owner: Address([3; 20]),
            stake,
            price_per_call: 1,
            price_per_kib: 0,
            max_open: 1,
            status,
            open_executions: 0,
            open_duties: 0,
            release_at: None,
            missed_log: 0,
            duties: 20,
            missed: 17,
        };
        let jailed = record(RunnerStatus::Jailed { until: 50 }, 990);
        assert_eq!(unjail_due(&jailed, 49, RunnerMode::Honest, 1_000), None);
        assert_eq!(unjail_due(&jailed, 50, RunnerMode::Honest, 1_000), Some(10));
        assert_eq!(
            unjail_due(&jailed, 51, RunnerMode::WrongResult, 1_000),
            Some(10)
        );
        assert_eq!(unjail_due(&jailed, 51, RunnerMode::Silent, 1_000), None);
        let above = record(RunnerStatus::Jailed { until: 50 }, 2_000);
        assert_eq!(unjail_due(&above, 60, RunnerMode::Honest, 1_000), Some(0));
        let active = record(RunnerStatus::Active, 990);
        assert_eq!(unjail_due(&active, 60, RunnerMode::Honest, 1_000), None);
    }

    #[test]
    fn sections_the_node_cannot_serve_name_the_field() {
        let (field, problem) = resolved(&[section(1_000)], None).err().unwrap();
        assert_eq!(field, "runner[0].service");
        assert!(problem.contains("account.key"), "{problem}");
        let (field, problem) = resolved(&[section(1_000), section(999)], Some(Address([3; 20])))
            .err()
            .unwrap();
        assert_eq!(field, "runner[1].stake");
        assert!(problem.contains("min_runner_stake of 1000"), "{problem}");
    }
}
