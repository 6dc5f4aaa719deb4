//! The next step for one execution this node has a part in, decided from the execution's record
//! in the state and what the node holds locally, never from what it remembers having sent: a
//! lost transaction, a restart or a block seen late all lead back to the right step.

use runnet_state::objects::{Execution, ExecutionStatus, VerificationKind};
use runnet_types::Hash;

/// This node's part in an execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Its runner is the assigned one.
    Runner,
    /// Its runner was drawn to verify.
    Verifier,
}

/// What the node holds for the execution.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Local {
    /// The runner is in `silent` mode: it takes work and never answers.
    pub silent: bool,
    /// An answer is at hand (computed, or kept in salts.json).
    pub answer: bool,
    /// A committed answer and its salt are in salts.json.
    pub secret: bool,
    /// A run is queued or running.
    pub running: bool,
    /// The run gave no answer (crash, hang, VM failure): the deadline will pass.
    pub failed: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Run the task (or the re-run, or the check).
    Run,
    /// Send CommitResult or CommitVerdict, after writing the secret to disk.
    Commit,
    /// Send SubmitResult (trusted tasks).
    Submit,
    /// Send RevealResult or RevealVerdict.
    Reveal,
    /// Nothing to do now.
    Wait,
    /// The execution is final: forget it.
    Done,
}

/// `runner`'s part in `execution`, if any.
pub fn role_of(execution: &Execution, runner: &Hash) -> Option<Role> {
    if execution.runner == Some(*runner) {
        Some(Role::Runner)
    } else if execution.verifiers.iter().any(|v| v.runner == *runner) {
        Some(Role::Verifier)
    } else {
        None
    }
}

pub fn next_step(execution: &Execution, role: Role, runner: &Hash, local: Local) -> Step {
    if execution.status.is_final() {
        return Step::Done;
    }
    let work = |local: Local, answered: Step| {
        if local.answer {
            answered
        } else if local.silent || local.failed || local.running {
            Step::Wait
        } else {
            Step::Run
        }
    };
    match role {
        Role::Runner => match execution.status {
            ExecutionStatus::Assigned if local.silent => Step::Wait,
            ExecutionStatus::Assigned if execution.verification == VerificationKind::Trusted => {
                work(local, Step::Submit)
            }
            ExecutionStatus::Assigned => work(local, Step::Commit),
            // The runner's reveal window: after its verifiers committed (deterministic tasks),
            // or right after its commitment (public_effect, whose verifiers judge the reveal).
            ExecutionStatus::RunnerRevealing
                if execution.result.is_none() && local.secret && !local.silent =>
            {
                Step::Reveal
            }
            _ => Step::Wait,
        },
        Role::Verifier => {
            let Some(slot) = execution.verifiers.iter().find(|v| v.runner == *runner) else {
                return Step::Done;
            };
            match execution.status {
                ExecutionStatus::Verifying if slot.commitment.is_none() && local.silent => {
                    Step::Wait
                }
                ExecutionStatus::Verifying if slot.commitment.is_none() => {
                    work(local, Step::Commit)
                }
                // The verifiers' reveal window opens once the runner has revealed.
                ExecutionStatus::Revealing
                    if slot.commitment.is_some() && slot.verdict.is_none() && local.secret =>
                {
                    Step::Reveal
                }
                _ => Step::Wait,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use runnet_state::objects::{Payer, VerifierSlot};
    use runnet_types::Address;
    use runnet_types::execution::{TaskResult, Verdict};

    const ME: Hash = Hash([1; 32]);
    const OTHER: Hash = Hash([2; 32]);

    fn execution(status: ExecutionStatus, runner: Hash) -> Execution {
        Execution {
            id: Hash([9; 32]),
            service: Hash([8; 32]),
            task: "add".into(),
            inputs: vec![],
            payer: Payer::Account(Address([3; 20])),
            max_fee: 10,
            escrow: 10,
            verification: VerificationKind::WasmRerun,
            requested_at: 1,
            named_runner: None,
            runner: Some(runner),
            runner_owner: Some(Address([4; 20])),
            assigned_at: Some(2),
            deadline: Some(12),
            commitment: None,
            result: None,
            verifiers: vec![],
            drawn_at: None,
            commit_deadline: None,
            reveal_deadline: None,
            status,
            settled_at: None,
            rerun_fuel: None,
        }
    }

    fn slot(runner: Hash, committed: bool, revealed: bool) -> VerifierSlot {
        VerifierSlot {
            runner,
            owner: Address([5; 20]),
            stake: 100,
            commitment: committed.then_some(Hash([6; 32])),
            verdict: revealed.then_some(Verdict::Check { valid: true }),
        }
    }

    fn local(answer: bool, secret: bool) -> Local {
        Local {
            answer,
            secret,
            ..Local::default()
        }
    }

    #[test]
    fn the_runner_runs_commits_waits_reveals_and_forgets() {
        let mut e = execution(ExecutionStatus::Assigned, ME);
        assert_eq!(role_of(&e, &ME), Some(Role::Runner));
        assert_eq!(role_of(&e, &OTHER), None);
        let step = |e: &Execution, l| next_step(e, Role::Runner, &ME, l);
        assert_eq!(step(&e, local(false, false)), Step::Run);
        let running = Local {
            running: true,
            ..Local::default()
        };
        assert_eq!(step(&e, running), Step::Wait);
        assert_eq!(step(&e, local(true, false)), Step::Commit);
        // A commit that got lost: the secret is on disk, the state still says assigned.
        assert_eq!(step(&e, local(true, true)), Step::Commit);
        e.status = ExecutionStatus::Verifying;
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        // The runner's own reveal window comes before the verifiers' one.
        e.status = ExecutionStatus::RunnerRevealing;
        assert_eq!(step(&e, local(true, true)), Step::Reveal);
        // Without the secret there is nothing to reveal.
        assert_eq!(step(&e, local(true, false)), Step::Wait);
        e.result = Some(TaskResult::Output(vec![]));
        e.status = ExecutionStatus::Revealing;
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        e.status = ExecutionStatus::Completed;
        assert_eq!(step(&e, local(true, true)), Step::Done);
    }

    #[test]
    fn a_public_effect_runner_reveals_right_after_committing() {
        let mut e = execution(ExecutionStatus::Assigned, ME);
        e.verification = VerificationKind::PublicEffect;
        let step = |e: &Execution, l| next_step(e, Role::Runner, &ME, l);
        assert_eq!(step(&e, local(true, false)), Step::Commit);
        e.status = ExecutionStatus::RunnerRevealing;
        assert_eq!(step(&e, local(true, true)), Step::Reveal);
        // Revealed: its verifiers are drawn next and judge it; nothing more to send.
        e.result = Some(TaskResult::Output(vec![]));
        e.status = ExecutionStatus::Committed;
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        // A silent runner never reveals either.
        e.result = None;
        e.status = ExecutionStatus::RunnerRevealing;
        let silent = Local {
            silent: true,
            answer: true,
            secret: true,
            ..Local::default()
        };
        assert_eq!(step(&e, silent), Step::Wait);
    }

    #[test]
    fn trusted_tasks_are_submitted_and_faults_wait() {
        let mut e = execution(ExecutionStatus::Assigned, ME);
        e.verification = VerificationKind::Trusted;
        assert_eq!(
            next_step(&e, Role::Runner, &ME, local(true, false)),
            Step::Submit
        );
        let silent = Local {
            silent: true,
            ..Local::default()
        };
        assert_eq!(next_step(&e, Role::Runner, &ME, silent), Step::Wait);
        let failed = Local {
            failed: true,
            ..Local::default()
        };
        assert_eq!(next_step(&e, Role::Runner, &ME, failed), Step::Wait);
        e.status = ExecutionStatus::Expired;
        assert_eq!(next_step(&e, Role::Runner, &ME, failed), Step::Done);
    }

    #[test]
    fn a_verifier_commits_in_its_window_and_reveals_in_the_next() {
        let mut e = execution(ExecutionStatus::Verifying, OTHER);
        e.verifiers = vec![slot(ME, false, false), slot(Hash([7; 32]), false, false)];
        assert_eq!(role_of(&e, &ME), Some(Role::Verifier));
        let step = |e: &Execution, l| next_step(e, Role::Verifier, &ME, l);
        assert_eq!(step(&e, local(false, false)), Step::Run);
        assert_eq!(step(&e, local(true, false)), Step::Commit);
        e.verifiers[0] = slot(ME, true, false);
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        e.status = ExecutionStatus::Revealing;
        assert_eq!(step(&e, local(true, true)), Step::Reveal);
        e.verifiers[0] = slot(ME, true, true);
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        // The commit window closed before this verifier committed: nothing more to do.
        e.verifiers[0] = slot(ME, false, false);
        assert_eq!(step(&e, local(true, true)), Step::Wait);
        e.status = ExecutionStatus::Rejected;
        assert_eq!(step(&e, local(true, true)), Step::Done);
        // A silent verifier never commits.
        let mut e = execution(ExecutionStatus::Verifying, OTHER);
        e.verifiers = vec![slot(ME, false, false)];
        let silent = Local {
            silent: true,
            answer: true,
            ..Local::default()
        };
        assert_eq!(step(&e, silent), Step::Wait);
    }
}
