//! What an executed block means for the market, read from the state's queues (the indexes the
//! end of a block works from, `runnet_state::keys::{draw_entry, queue_entry}`), so nothing ever
//! scans all executions and every node reads the same thing from the same block:
//! - executions whose runner is assigned, or whose verifiers are drawn, at the end of the next
//!   block (`Assign` and `DrawVerifiers` entries of the draw queue at h + 1): where this node
//!   looks for its work;
//! - executions that ended in this block: each `finish` queues its pruning at exactly the
//!   block's chain time + `retention_ms`, so those entries of the queue by due time list them.
//!   They are counted by final status, with the slashes their settlement dealt, for the
//!   chain-wide metrics.
//!
//! The draw entries of h + 1 are consumed when block h + 1 executes, so [`due_after`] runs on
//! the execution thread right after block h, before the next one.

use runnet_state::keys::{self, QueueKind};
use runnet_state::objects::{Execution, ExecutionStatus, VerificationKind};
use runnet_state::store::{Store, StoreError};
use runnet_types::Hash;
use runnet_types::execution::{TaskResult, Verdict};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Due {
    /// Assigned a runner at the end of the next block.
    pub assign: Vec<Hash>,
    /// Drawn verifiers at the end of the next block.
    pub draws: Vec<Hash>,
    /// Ended in this block.
    pub finished: Vec<Hash>,
}

/// What block `height`, stamped `now_ms` (the state's chain time after it), means.
pub fn due_after(
    store: &dyn Store,
    height: u64,
    now_ms: u64,
    retention_ms: u64,
) -> Result<Due, StoreError> {
    let draws_at = keys::draws_at(height + 1);
    Ok(Due {
        assign: queued(store, &draws_at, QueueKind::Assign)?,
        draws: queued(store, &draws_at, QueueKind::DrawVerifiers)?,
        finished: queued(
            store,
            &keys::queue_entry(
                now_ms.saturating_add(retention_ms),
                QueueKind::Prune,
                &Hash::ZERO,
            )[..keys::QUEUE.len() + 8],
            QueueKind::Prune,
        )?,
    })
}

/// The ids queued for `kind` under `at` (a draw height's or a due time's prefix).
pub fn queued(store: &dyn Store, at: &[u8], kind: QueueKind) -> Result<Vec<Hash>, StoreError> {
    let mut prefix = at.to_vec();
    prefix.push(kind as u8);
    let mut ids = Vec::new();
    for (key, _) in store.scan_prefix(&prefix, None, usize::MAX)? {
        match key.get(prefix.len()..).and_then(Hash::from_slice) {
            Some(id) => ids.push(id),
            None => return Err(StoreError::Corrupt("queue key".into())),
        }
    }
    Ok(ids)
}

/// Every execution id the queue names for the work still ahead (assignments, draws, deadlines,
/// windows): what a restarted agent looks through once for duties it may hold.
pub fn live_executions(store: &dyn Store) -> Result<Vec<Hash>, StoreError> {
    const PAGE: usize = 4096;
    let live = [
        QueueKind::Assign,
        QueueKind::DrawVerifiers,
        QueueKind::Expire,
        QueueKind::CloseCommits,
        QueueKind::Settle,
    ];
    let mut ids = std::collections::BTreeSet::new();
    // Entry keys of both queues: prefix, 8-byte height or due time, kind byte, 32-byte id.
    for prefix in [keys::DRAWS, keys::QUEUE] {
        let kind_at = prefix.len() + 8;
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = store.scan_prefix(prefix, after.as_deref(), PAGE)?;
            for (key, _) in &page {
                let kind = key.get(kind_at).copied().and_then(QueueKind::from_byte);
                if kind.is_some_and(|k| live.contains(&k))
                    && let Some(id) = key.get(kind_at + 1..).and_then(Hash::from_slice)
                {
                    ids.insert(id);
                }
            }
            match page.last() {
                Some((key, _)) if page.len() == PAGE => after = Some(key.clone()),
                _ => break,
            }
        }
    }
    Ok(ids.into_iter().collect())
}

/// Settled executions of one block, by final status, the slashes their settlement dealt, and
/// the duties missed in them (which cost no stake: docs/economy.md, "Downtime").
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub completed: u64,
    pub rejected: u64,
    pub expired: u64,
    pub cancelled: u64,
    pub slashes: Slashes,
    pub missed: Missed,
}

/// Stake taken by the rule of docs/economy.md that took it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Slashes {
    /// A runner whose result the verification rejected (`wrong_result_slash`).
    pub wrong_result: u64,
    /// A runner that withheld its reveal once verifiers committed: it pays their fees from its
    /// stake (not a burn, and not `wrong_result_slash`).
    pub withheld_reveal: u64,
    /// A verifier who revealed against the outcome, or withheld its committed verdict once the
    /// runner revealed (`verifier_fault_slash`).
    pub verifier_fault: u64,
}

impl Slashes {
    pub fn total(&self) -> u64 {
        self.wrong_result + self.withheld_reveal + self.verifier_fault
    }

    /// (metric label, count) for each reason.
    pub fn by_label(&self) -> [(&'static str, u64); 3] {
        [
            ("wrong_result", self.wrong_result),
            ("withheld_reveal", self.withheld_reveal),
            ("verifier_fault", self.verifier_fault),
        ]
    }

    fn add(&mut self, other: Slashes) {
        self.wrong_result += other.wrong_result;
        self.withheld_reveal += other.withheld_reveal;
        self.verifier_fault += other.verifier_fault;
    }
}

/// Duties missed, as the chain records them (`Runner::missed`): no stake, the fee forfeited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Missed {
    /// A runner with no revealed (or submitted) result: a missed deadline or a withheld reveal.
    pub runner: u64,
    /// A drawn verifier with no verdict (one that committed when the runner never revealed
    /// did its duty).
    pub verifier: u64,
}

/// The duties `execution` missed, by the rule of `release_duties` in state/src/execution.rs.
pub fn missed_duties(execution: &Execution) -> Missed {
    let revealed = execution.result.is_some();
    Missed {
        runner: u64::from(execution.runner.is_some() && !revealed),
        verifier: execution
            .verifiers
            .iter()
            .filter(|v| v.verdict.is_none() && (v.commitment.is_none() || revealed))
            .count() as u64,
    }
}

impl Tally {
    pub fn add(&mut self, execution: &Execution, truth: Option<&TaskResult>) {
        match execution.status {
            ExecutionStatus::Completed | ExecutionStatus::CompletedUnverified => {
                self.completed += 1
            }
            ExecutionStatus::Rejected => self.rejected += 1,
            ExecutionStatus::Expired => self.expired += 1,
            ExecutionStatus::Cancelled => self.cancelled += 1,
            _ => return,
        }
        self.slashes.add(slashes_by_reason(execution, truth));
        let missed = missed_duties(execution);
        self.missed.runner += missed.runner;
        self.missed.verifier += missed.verifier;
    }
}

/// Whether counting the slashes of `execution` needs the true result of its task: a rejected
/// WebAssembly task where some verifier revealed, and only the chain's re-run says who was right.
pub fn needs_truth(execution: &Execution) -> bool {
    execution.status == ExecutionStatus::Rejected
        && execution.verification == VerificationKind::WasmRerun
        && execution.verifiers.iter().any(|v| v.verdict.is_some())
}

/// The total of [`slashes_by_reason`].
#[cfg(test)]
fn slashes_of(execution: &Execution, truth: Option<&TaskResult>) -> u64 {
    slashes_by_reason(execution, truth).total()
}

/// The stake settling `execution` took, by the rules of docs/economy.md: the runner for a
/// rejected result or for a reveal withheld once verifiers committed (their fees), and verifiers
/// who revealed against the outcome or withheld a committed verdict (`verifier_fault`). A missed
/// deadline and an absent verifier take no stake ([`missed_duties`]). `truth` is the chain's
/// re-run result when [`needs_truth`].
pub fn slashes_by_reason(execution: &Execution, truth: Option<&TaskResult>) -> Slashes {
    let count = |f: &dyn Fn(&Verdict) -> bool| {
        execution
            .verifiers
            .iter()
            .filter(|v| v.verdict.as_ref().is_some_and(f))
            .count() as u64
    };
    // One who committed and withheld its reveal (possible only once the runner revealed) is
    // slashed as for a wrong verdict.
    let withheld = if execution.result.is_some() {
        execution
            .verifiers
            .iter()
            .filter(|v| v.commitment.is_some() && v.verdict.is_none())
            .count() as u64
    } else {
        0
    };
    let committed = execution.verifiers.iter().any(|v| v.commitment.is_some());
    let result = execution.result.as_ref();
    // A by-stake vote: a check verdict, or a re-run that matches the runner's result.
    let says_valid = |v: &Verdict| match v {
        Verdict::Check { valid } => *valid,
        Verdict::Rerun(r) => Some(r) == result,
    };
    let by_stake = matches!(
        execution.verification,
        VerificationKind::ExternalRerun | VerificationKind::PublicEffect
    );
    match execution.status {
        // A runner that withheld its reveal once verifiers committed pays their fees.
        ExecutionStatus::Expired if committed => Slashes {
            withheld_reveal: 1,
            ..Slashes::default()
        },
        ExecutionStatus::Completed | ExecutionStatus::CompletedUnverified => {
            let against = match execution.verification {
                // Only a dispute (the chain re-ran it) finds anyone wrong.
                VerificationKind::WasmRerun if execution.rerun_fuel.is_some() => {
                    count(&|v| !matches!(v, Verdict::Rerun(r) if Some(r) == result))
                }
                _ if by_stake && execution.status == ExecutionStatus::Completed => {
                    count(&|v| !says_valid(v))
                }
                _ => 0,
            };
            Slashes {
                verifier_fault: against + withheld,
                ..Slashes::default()
            }
        }
        ExecutionStatus::Rejected => {
            let against = if by_stake {
                count(&says_valid)
            } else {
                count(&|v| !matches!(v, Verdict::Rerun(r) if Some(r) == truth))
            };
            Slashes {
                wrong_result: 1,
                verifier_fault: against + withheld,
                ..Slashes::default()
            }
        }
        _ => Slashes::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_state::objects::{Payer, VerifierSlot};
    use runnet_state::store::MemStore;
    use runnet_types::Address;

    fn execution(
        status: ExecutionStatus,
        verification: VerificationKind,
        verdicts: &[Option<Verdict>],
    ) -> Execution {
        Execution {
            id: Hash([9; 32]),
            service: Hash([8; 32]),
            task: "t".into(),
            inputs: vec![],
            payer: Payer::Account(Address([3; 20])),
            max_fee: 10,
            escrow: 0,
            verification,
            requested_at: 1,
            named_runner: None,
            runner: Some(Hash([1; 32])),
            runner_owner: Some(Address([4; 20])),
            assigned_at: Some(2),
            deadline: Some(12),
            commitment: Some(Hash([5; 32])),
            result: Some(ok()),
            verifiers: verdicts
                .iter()
                .enumerate()
                .map(|(i, v)| VerifierSlot {
                    runner: Hash([10 + i as u8; 32]),
                    owner: Address([10 + i as u8; 20]),
                    stake: 100,
                    // A verifier without a verdict never committed, unless a test says so.
                    commitment: v.is_some().then_some(Hash([6; 32])),
                    verdict: v.clone(),
                })
                .collect(),
            drawn_at: Some(4),
            commit_deadline: Some(6),
            reveal_deadline: Some(8),
            status,
            settled_at: Some(8),
            rerun_fuel: None,
        }
    }

    fn ok() -> TaskResult {
        TaskResult::Output(vec![42])
    }
    fn bad() -> TaskResult {
        TaskResult::Output(vec![43])
    }
    fn rerun(r: TaskResult) -> Option<Verdict> {
        Some(Verdict::Rerun(r))
    }

    #[test]
    fn slashes_follow_the_settlement_rules() {
        use ExecutionStatus::*;
        use VerificationKind::*;
        // Everyone agreed: nobody slashed; an absent verifier missed its duty, no stake.
        let e = execution(Completed, WasmRerun, &[rerun(ok()), rerun(ok()), None]);
        assert_eq!(slashes_of(&e, None), 0);
        assert_eq!(
            missed_duties(&e),
            Missed {
                runner: 0,
                verifier: 1
            }
        );
        // A lying verifier caught by the chain's re-run.
        let mut e = execution(Completed, WasmRerun, &[rerun(ok()), rerun(bad())]);
        e.rerun_fuel = Some(100);
        assert_eq!(slashes_of(&e, None), 1);
        // A wrong runner: itself, and a verifier who agreed with it.
        let mut e = execution(Rejected, WasmRerun, &[rerun(ok()), rerun(bad())]);
        e.result = Some(bad());
        assert!(needs_truth(&e));
        assert_eq!(slashes_of(&e, Some(&ok())), 2);
        assert_eq!(
            slashes_by_reason(&e, Some(&ok())),
            Slashes {
                wrong_result: 1,
                verifier_fault: 1,
                ..Slashes::default()
            }
        );
        // A missed deadline: a missed duty of the runner, no stake.
        let mut e = execution(Expired, WasmRerun, &[]);
        e.result = None;
        assert_eq!(slashes_of(&e, None), 0);
        assert_eq!(missed_duties(&e).runner, 1);
        // By stake: rejected slashes the runner and those who said valid.
        let e = execution(
            Rejected,
            PublicEffect,
            &[
                Some(Verdict::Check { valid: false }),
                Some(Verdict::Check { valid: false }),
                Some(Verdict::Check { valid: true }),
            ],
        );
        assert!(!needs_truth(&e));
        assert_eq!(slashes_of(&e, None), 2);
        // Completed by stake slashes those who said invalid; unverified slashes nobody.
        let e = execution(
            Completed,
            ExternalRerun,
            &[rerun(ok()), rerun(ok()), rerun(ok()), rerun(bad())],
        );
        assert_eq!(slashes_of(&e, None), 1);
        let e = execution(
            CompletedUnverified,
            ExternalRerun,
            &[rerun(ok()), rerun(bad())],
        );
        assert_eq!(slashes_of(&e, None), 0);
        let e = execution(Cancelled, Trusted, &[]);
        assert_eq!(slashes_of(&e, None), 0);
        // A runner withholding its reveal once verifiers committed pays their fees; the verifiers
        // who committed had no window to reveal: their duty is done.
        let mut e = execution(Expired, WasmRerun, &[None, None]);
        e.result = None;
        for slot in &mut e.verifiers {
            slot.commitment = Some(Hash([6; 32]));
        }
        assert_eq!(
            slashes_by_reason(&e, None),
            Slashes {
                withheld_reveal: 1,
                ..Slashes::default()
            }
        );
        assert_eq!(
            missed_duties(&e),
            Missed {
                runner: 1,
                verifier: 0
            }
        );
        // Nobody committed: missed duties of the runner and of the drawn verifiers, no stake.
        for slot in &mut e.verifiers {
            slot.commitment = None;
        }
        assert_eq!(slashes_of(&e, None), 0);
        assert_eq!(
            missed_duties(&e),
            Missed {
                runner: 1,
                verifier: 2
            }
        );
        // A verifier who committed and withheld its reveal is slashed as for a wrong verdict.
        let mut e = execution(Completed, WasmRerun, &[rerun(ok()), None, None]);
        e.verifiers[1].commitment = Some(Hash([6; 32]));
        assert_eq!(
            slashes_by_reason(&e, None),
            Slashes {
                verifier_fault: 1,
                ..Slashes::default()
            }
        );
        assert_eq!(missed_duties(&e).verifier, 2);

        let mut tally = Tally::default();
        tally.add(&execution(Completed, WasmRerun, &[None]), None);
        tally.add(&execution(Cancelled, WasmRerun, &[]), None);
        tally.add(&execution(Verifying, WasmRerun, &[]), None);
        assert_eq!(
            tally,
            Tally {
                completed: 1,
                cancelled: 1,
                missed: Missed {
                    runner: 0,
                    verifier: 1
                },
                ..Tally::default()
            }
        );
        assert_eq!(tally.slashes.total(), 0);
    }

    #[test]
    fn the_queues_are_read_by_height_or_due_time_and_kind() {
        let store = MemStore::new();
        let mut changes = runnet_state::store::ChangeSet::new();
        let unit = runnet_types::encoding::encode(&());
        for (height, kind, id) in [
            (5, QueueKind::Assign, 1u8),
            (5, QueueKind::Assign, 2),
            (5, QueueKind::DrawVerifiers, 3),
            (6, QueueKind::Assign, 4),
        ] {
            changes.insert(
                keys::draw_entry(height, kind, &Hash([id; 32])),
                Some(unit.clone()),
            );
        }
        // Block 4 stamped 400 ms: what it finished is pruned at 400 + retention (10,000 ms).
        for (due_ms, kind, id) in [
            (10_400, QueueKind::Prune, 5u8),
            (900, QueueKind::Expire, 6),
            (900, QueueKind::Prune, 7),
            (10_401, QueueKind::Prune, 8),
        ] {
            changes.insert(
                keys::queue_entry(due_ms, kind, &Hash([id; 32])),
                Some(unit.clone()),
            );
        }
        store.commit(1, &changes).unwrap();
        let due = due_after(&store, 4, 400, 10_000).unwrap();
        assert_eq!(due.assign, vec![Hash([1; 32]), Hash([2; 32])]);
        assert_eq!(due.draws, vec![Hash([3; 32])]);
        assert_eq!(due.finished, vec![Hash([5; 32])]);
        let live: Vec<u8> = live_executions(&store)
            .unwrap()
            .iter()
            .map(|h| h.0[0])
            .collect();
        assert_eq!(live, vec![1, 2, 3, 4, 6]);
    }
}
