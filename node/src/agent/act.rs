//! The agent's steps for one duty: run, commit (after the secret is on disk), submit, reveal,
//! forget; and what it makes of its transactions' fates.

use super::*;

impl Agent {
    /// Takes the next step for one duty.
    pub(super) fn advance(&mut self, id: &Hash) {
        let Some(duty) = self.duties.get(id) else {
            return;
        };
        let execution = match self.shared.executor.execution(id) {
            Ok(Some(e)) => e,
            // Pruned: long final.
            Ok(None) => return self.forget(id),
            Err(e) => {
                tracing::warn!(%id, "reading an execution: {e}");
                return;
            }
        };
        let mine = &self.runners[duty.runner];
        let local = Local {
            silent: mine.mode() == crate::config::RunnerMode::Silent,
            answer: duty.answer.is_some(),
            secret: self.salts.get(id).is_some(),
            running: duty.running,
            failed: duty.failed,
        };
        let step = duty::next_step(&execution, duty.role, &mine.id, local);
        match step {
            Step::Done => {
                tracing::info!(
                    execution = %id,
                    status = ?execution.status,
                    runner = %mine.label(),
                    "agent: execution final"
                );
                self.forget(id);
            }
            Step::Wait => self.note_wait(id, local),
            Step::Run => self.enqueue(id, &execution),
            Step::Commit => self.commit(id, &execution),
            Step::Submit => self.submit(id),
            Step::Reveal => self.reveal(id),
        }
    }

    fn forget(&mut self, id: &Hash) {
        self.duties.remove(id);
        if let Err(e) = self.salts.remove(id) {
            tracing::warn!(%id, "agent: {e}");
        }
    }

    fn note_wait(&mut self, id: &Hash, local: Local) {
        let Some(duty) = self.duties.get_mut(id) else {
            return;
        };
        if duty.noted || !(local.silent || local.failed) {
            return;
        }
        duty.noted = true;
        let mine = &self.runners[duty.runner];
        if local.silent {
            tracing::warn!(
                execution = %id,
                runner = %mine.label(),
                role = ?duty.role,
                "silent mode: not answering (the chain will slash this runner)"
            );
        }
    }

    fn enqueue(&mut self, id: &Hash, execution: &Execution) {
        let Some(duty) = self.duties.get(id) else {
            return;
        };
        let (role, index) = (duty.role, duty.runner);
        let job = self.job(execution, role, index);
        let Some(duty) = self.duties.get_mut(id) else {
            return;
        };
        match job {
            Ok(job) => {
                duty.running = true;
                self.queue.push(job);
            }
            Err(problem) => {
                duty.failed = true;
                self.shared.metrics.agent_failed("setup");
                tracing::error!(
                    execution = %id,
                    runner = %self.runners[index].label(),
                    "agent: cannot run it ({problem}); it will pass its deadline"
                );
            }
        }
    }

    fn job(&mut self, execution: &Execution, role: Role, index: usize) -> Result<Job, String> {
        let definition = self
            .definition(&execution.service)
            .ok_or("the service's definition cannot be read")?;
        let task = definition
            .task(&execution.task)
            .cloned()
            .ok_or_else(|| format!("the service has no task '{}'", execution.task))?;
        let check = match &task.verification {
            Verification::PublicEffect { check } => Some(
                definition
                    .task(check)
                    .cloned()
                    .ok_or_else(|| format!("the service has no check task '{check}'"))?,
            ),
            _ => None,
        };
        let program = self.runners[index].program.clone();
        let engine = self
            .engine(&execution.service, program)
            .ok_or("no way to run the service (an external one needs `program`)")?;
        let (want, deadline) = match role {
            Role::Runner => (Want::Result, execution.deadline),
            Role::Verifier => (
                Want::Verdict(execution.verification),
                execution.commit_deadline,
            ),
        };
        let mine = &self.runners[index];
        Ok(Job {
            execution: execution.id,
            deadline: deadline.unwrap_or(u64::MAX),
            want,
            mode: mine.mode(),
            engine,
            task,
            check,
            inputs: execution.inputs.clone(),
            revealed: execution.result.clone(),
        })
    }

    pub(super) fn on_done(&mut self, done: jobs::Done) {
        let Some(duty) = self.duties.get_mut(&done.execution) else {
            return;
        };
        duty.running = false;
        let label = self.runners[duty.runner].label();
        match done.outcome {
            Ok(answer) => {
                duty.answer = Some(answer);
                self.advance(&done.execution);
            }
            Err(failure) => {
                duty.failed = true;
                self.shared.metrics.agent_failed(failure.reason);
                tracing::error!(
                    execution = %done.execution,
                    runner = %label,
                    reason = failure.reason,
                    "agent: the run gave no answer: {}; the execution will pass its deadline",
                    failure.detail
                );
            }
        }
    }

    /// Writes the secret to disk, then sends the commitment.
    fn commit(&mut self, id: &Hash, execution: &Execution) {
        let (Some(duty), Some(submitter)) = (self.duties.get(id), self.submitter.as_ref()) else {
            return;
        };
        let purpose = Purpose::Commit(*id);
        if submitter.in_flight(&purpose) {
            return;
        }
        let role = duty.role;
        let runner = self.runners[duty.runner].id;
        let owner = submitter.address();
        let secret = match (self.salts.get(id), &duty.answer) {
            (Some(secret), _) => secret.clone(),
            (None, Some(answer)) => Secret {
                runner,
                salt: salts::derive_salt(submitter.key(), id, &runner),
                answer: answer.clone(),
            },
            (None, None) => return,
        };
        if let Err(e) = self.salts.put(*id, secret.clone()) {
            tracing::error!(execution = %id, "agent: not committing, the salt is not safe on disk: {e}");
            return;
        }
        let payload = match (&secret.answer, role) {
            (Answer::Result(result), Role::Runner) => Payload::CommitResult {
                execution: *id,
                commitment: result_commitment(result, &secret.salt, &owner),
            },
            (Answer::Verdict(verdict), Role::Verifier) => Payload::CommitVerdict {
                execution: *id,
                commitment: verdict_commitment(verdict, &secret.salt, &owner),
            },
            _ => {
                tracing::error!(execution = %id, "agent: the kept answer does not fit this node's role");
                return;
            }
        };
        let deadline = match role {
            Role::Runner => execution.deadline,
            Role::Verifier => execution.commit_deadline,
        };
        self.send(id, payload, purpose, deadline);
    }

    fn submit(&mut self, id: &Hash) {
        let Some(Answer::Result(result)) = self.duties.get(id).and_then(|d| d.answer.clone())
        else {
            return;
        };
        let purpose = Purpose::Submit(*id);
        if self
            .submitter
            .as_ref()
            .is_some_and(|s| s.in_flight(&purpose))
        {
            return;
        }
        let payload = Payload::SubmitResult {
            execution: *id,
            result,
        };
        self.send(id, payload, purpose, None);
    }

    fn reveal(&mut self, id: &Hash) {
        let Some(secret) = self.salts.get(id).cloned() else {
            return;
        };
        let purpose = Purpose::Reveal(*id);
        if self
            .submitter
            .as_ref()
            .is_some_and(|s| s.in_flight(&purpose))
        {
            return;
        }
        let payload = match secret.answer {
            Answer::Result(result) => Payload::RevealResult {
                execution: *id,
                result,
                salt: secret.salt,
            },
            Answer::Verdict(verdict) => Payload::RevealVerdict {
                execution: *id,
                verdict,
                salt: secret.salt,
            },
        };
        self.send(id, payload, purpose, None);
    }

    fn send(&mut self, id: &Hash, payload: Payload, purpose: Purpose, deadline: Option<u64>) {
        let (Some(submitter), Some(duty)) = (self.submitter.as_mut(), self.duties.get_mut(id))
        else {
            return;
        };
        let label = self.runners[duty.runner].label();
        if duty.attempts >= MAX_ATTEMPTS {
            if !duty.noted {
                duty.noted = true;
                tracing::error!(
                    execution = %id,
                    runner = %label,
                    "agent: giving up on {} after {MAX_ATTEMPTS} failed attempts",
                    purpose.kind()
                );
            }
            return;
        }
        match submitter.send(&self.shared, payload, purpose) {
            Ok(hash) => tracing::info!(
                execution = %id,
                runner = %label,
                tx = %hash,
                deadline = ?deadline,
                "agent: sent {}",
                purpose.kind()
            ),
            Err(e) => {
                duty.attempts += 1;
                tracing::warn!(
                    execution = %id,
                    runner = %label,
                    "agent: cannot send {} (attempt {}): {e}",
                    purpose.kind(),
                    duty.attempts
                );
            }
        }
    }

    /// A transaction of ours landed, failed or got lost.
    pub(super) fn settled(&mut self, purpose: Purpose, fate: Fate) {
        let id = match purpose {
            Purpose::Register(runner) => {
                if let Some(mine) = self.runners.iter_mut().find(|m| m.id == runner) {
                    runners::registration_settled(mine, &fate);
                }
                return;
            }
            Purpose::Unjail(runner) => {
                if let Some(mine) = self.runners.iter_mut().find(|m| m.id == runner) {
                    runners::unjail_settled(mine, &fate);
                }
                return;
            }
            Purpose::Emit(event) => {
                match &fate {
                    Fate::Done => {}
                    // Reported already, or the quorum fired without us: nothing to do.
                    Fate::Failed(ErrorCode::AlreadyReported | ErrorCode::EventAlreadyFired, _) => {}
                    Fate::Failed(code, detail) => tracing::warn!(
                        %event,
                        "agent: the event report failed ({code:?}: {detail})"
                    ),
                    Fate::Lost(why) => {
                        // Let the program's next report of it through.
                        self.reported.1.remove(&event);
                        tracing::warn!(%event, "agent: the event report {why}");
                    }
                }
                return;
            }
            Purpose::Commit(id) | Purpose::Reveal(id) | Purpose::Submit(id) => id,
        };
        let Some(duty) = self.duties.get_mut(&id) else {
            return;
        };
        let label = self.runners[duty.runner].label();
        match fate {
            Fate::Done => {}
            Fate::Lost(why) => {
                tracing::warn!(execution = %id, runner = %label, "agent: {} {why}: sending it again", purpose.kind());
            }
            Fate::Failed(code, detail) => {
                duty.attempts += 1;
                tracing::warn!(
                    execution = %id,
                    runner = %label,
                    "agent: {} failed ({code:?}: {detail})",
                    purpose.kind()
                );
            }
        }
    }
}
