//! The execution lifecycle, scenario by scenario: honest settlement, a cheating runner caught by
//! the chain's re-run, a lying verifier, commit-reveal against copying, a missed deadline,
//! capacity, trusted and public_effect tasks, error results, cancellation, forced leave, pruning.

mod common;

use common::*;
use runnet_state::bundle::result_of_run;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ErrorCode, ExecutionStatus, Outcome, RunnerStatus};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Address, Hash, Payload};

const STAKE: u64 = 1_000_000;
/// The verifier fee, and what a verifier revealing an 8-byte re-run is paid (the fee plus the
/// result bytes' gas, `Params::verifier_pay`).
const FEE: u64 = 20_000;
const PAY: u64 = FEE + 10 * 8;
const MAX_FEE: u64 = 1_000_000;

fn params() -> Params {
    Params {
        verifiers_per_execution: 3,
        verifier_fee: FEE,
        commit_window_ms: 2 * BLOCK_MS,
        reveal_window_ms: 2 * BLOCK_MS,
        min_runner_stake: 600_000,
        retention_ms: 20 * BLOCK_MS,
        fuel_price: 1,
        ..test_params()
    }
}

/// Account 0 is the developer, 1..=runners register runners, account 9 requests.
const PAYER: usize = 9;

struct Market {
    chain: Chain,
    service: Hash,
    module: Option<Vec<u8>>,
}

impl Market {
    fn wasm(name: &str, runners: usize) -> Market {
        let (definition, module) = example(name);
        Market::publish(
            definition,
            Bundle::Wasm(module.clone()),
            Some(module),
            runners,
        )
    }

    fn publish(
        definition: Vec<u8>,
        bundle: Bundle,
        module: Option<Vec<u8>>,
        runners: usize,
    ) -> Market {
        let mut chain = Chain::with_params(10, params());
        let terms = RunnerTerms {
            stake: STAKE,
            price_per_call: 1_000,
            price_per_kib: 100,
            max_open: 1,
        };
        let service = chain.publish_with_runners(&definition, bundle, 1..=runners, &terms);
        Market {
            chain,
            service,
            module,
        }
    }

    fn runner(&self, owner: usize) -> Hash {
        runner_id(&self.service, &addr(owner))
    }

    fn request(&mut self, task: &str, inputs: Vec<u8>, runner: Option<usize>) -> Hash {
        let named = runner.map(|i| self.runner(i));
        let tx = self.chain.tx(
            PAYER,
            Payload::RequestExecution {
                service: self.service,
                task: task.into(),
                inputs,
                max_fee: MAX_FEE,
                runner: named,
            },
        );
        let id = tx.hash();
        let outcome = self.chain.block(vec![tx]);
        assert_eq!(
            outcome.receipts[0].outcome,
            Outcome::Success,
            "{:?}",
            outcome.receipts[0]
        );
        id
    }

    fn execution(&self, id: &Hash) -> Execution {
        self.chain
            .exec
            .execution(id)
            .unwrap()
            .expect("execution exists")
    }

    fn owner_index(&self, address: Address) -> usize {
        (0..10)
            .find(|i| addr(*i) == address)
            .expect("a known account")
    }

    /// The assigned runner's account index, after the assignment block.
    fn assigned(&mut self, id: &Hash) -> usize {
        if self.execution(id).status == ExecutionStatus::Requested {
            self.chain.block(vec![]);
        }
        let e = self.execution(id);
        assert_eq!(e.status, ExecutionStatus::Assigned);
        self.owner_index(e.runner_owner.unwrap())
    }

    fn honest(&self, id: &Hash) -> TaskResult {
        let e = self.execution(id);
        let module = self.module.as_ref().expect("a wasm service");
        result_of_run(
            self.chain
                .exec
                .vm()
                .run(module, &e.task, &e.inputs, 10_000_000, 4096),
        )
        .unwrap()
        .0
    }

    fn send(&mut self, who: usize, payload: Payload) -> runnet_state::Receipt {
        self.chain.run(who, payload)
    }

    /// Commits `result` for the runner; the verifiers are drawn at the end of the next block.
    fn commit(&mut self, id: &Hash, who: usize, result: &TaskResult) -> Hash {
        let salt = Hash::digest(&[who as u8, 1]);
        let commitment = result_commitment(result, &salt, &addr(who));
        let r = self.send(
            who,
            Payload::CommitResult {
                execution: *id,
                commitment,
            },
        );
        assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        salt
    }

    fn verifiers(&mut self, id: &Hash) -> Vec<usize> {
        if self.execution(id).status == ExecutionStatus::Committed {
            self.chain.block(vec![]);
        }
        let e = self.execution(id);
        e.verifiers
            .iter()
            .map(|v| self.owner_index(v.owner))
            .collect()
    }

    fn stake(&self, owner: usize) -> u64 {
        self.chain
            .exec
            .runner(&self.runner(owner))
            .unwrap()
            .unwrap()
            .stake
    }
}

/// Runs a full round: the runner commits `result`, each drawn verifier answers with the given
/// function of its account, then everyone reveals.
fn round(
    market: &mut Market,
    id: &Hash,
    result: TaskResult,
    verdict_of: impl Fn(usize) -> Option<Verdict>,
) -> (usize, Vec<usize>) {
    let runner = market.assigned(id);
    let runner_salt = market.commit(id, runner, &result);
    let reveal = |market: &mut Market| {
        market.chain.tx(
            runner,
            Payload::RevealResult {
                execution: *id,
                result: result.clone(),
                salt: runner_salt,
            },
        )
    };
    if market.execution(id).status == ExecutionStatus::RunnerRevealing {
        // public_effect: the runner reveals first, its verifiers are drawn after.
        let tx = reveal(market);
        let outcome = market.chain.block(vec![tx]);
        assert_eq!(outcome.receipts[0].outcome, Outcome::Success);
    }
    let verifiers = market.verifiers(id);
    // Every verifier commits in the same block, as agents following the chain would.
    let mut commits = Vec::new();
    let mut salts = Vec::new();
    for v in &verifiers {
        if let Some(verdict) = verdict_of(*v) {
            let salt = Hash::digest(&[*v as u8, 2]);
            let commitment = verdict_commitment(&verdict, &salt, &addr(*v));
            commits.push(market.chain.tx(
                *v,
                Payload::CommitVerdict {
                    execution: *id,
                    commitment,
                },
            ));
            salts.push((*v, verdict, salt));
        }
    }
    let outcome = market.chain.block(commits);
    assert!(
        outcome
            .receipts
            .iter()
            .all(|r| r.outcome == Outcome::Success),
        "{:?}",
        outcome.receipts
    );
    while market.execution(id).status == ExecutionStatus::Verifying {
        // Not everyone committed: the commit window must close first.
        market.chain.block(vec![]);
    }
    // A deterministic task's runner reveals in its window, before the verifiers in theirs (which
    // opens with its reveal, so both fit in one block).
    let mut reveals = Vec::new();
    if market.execution(id).status == ExecutionStatus::RunnerRevealing {
        reveals.push(reveal(market));
    } else {
        assert_eq!(market.execution(id).status, ExecutionStatus::Revealing);
    }
    for (v, verdict, salt) in salts {
        reveals.push(market.chain.tx(
            v,
            Payload::RevealVerdict {
                execution: *id,
                verdict,
                salt,
            },
        ));
    }
    let outcome = market.chain.block(reveals);
    assert!(
        outcome
            .receipts
            .iter()
            .all(|r| r.outcome == Outcome::Success),
        "{:?}",
        outcome.receipts
    );
    while !market.execution(id).status.is_final() {
        market.chain.block(vec![]);
    }
    (runner, verifiers)
}

#[test]
fn honest_runner_owner_and_verifiers_are_paid() {
    let mut m = Market::wasm("arith", 4);
    let before: Vec<u64> = (0..10).map(|i| m.chain.balance(&addr(i))).collect();
    let id = m.request("add", ints(2, 40), None);
    let honest = m.honest(&id);
    assert_eq!(honest, TaskResult::Output(42i64.to_le_bytes().to_vec()));
    let (runner, verifiers) = round(&mut m, &id, honest.clone(), |_| {
        Some(Verdict::Rerun(honest.clone()))
    });
    let e = m.execution(&id);
    assert_eq!(e.status, ExecutionStatus::Completed);
    assert_eq!(verifiers.len(), 3);
    assert_eq!(e.escrow, 0);
    // price = 1,000 per call + 100 per KiB of (16 input + 8 output bytes) = 1,100.
    let price = 1_100u64;
    let developer = price * 2_000 / 10_000;
    let gas = |i: usize| before[i] - m.chain.balance(&addr(i));
    let paid = |i: usize| m.chain.balance(&addr(i)) as i128 - before[i] as i128;
    // The runner paid gas for its commit and reveal; net of that it earned its share.
    let runner_gas = (before[runner] as i128 + (price - developer) as i128)
        - m.chain.balance(&addr(runner)) as i128;
    assert!(
        runner_gas > 0 && runner_gas < 40_000,
        "runner gas {runner_gas}"
    );
    assert_eq!(paid(0), developer as i128);
    for v in &verifiers {
        let verifier_gas = before[*v] as i128 + PAY as i128 - m.chain.balance(&addr(*v)) as i128;
        assert!(
            verifier_gas > 0 && verifier_gas < PAY as i128,
            "the fee covers the gas"
        );
        assert_eq!(m.stake(*v), STAKE, "an honest verifier is never slashed");
    }
    assert_eq!(m.stake(runner), STAKE);
    // The payer paid the price and three verifiers' pay, plus its own gas.
    assert!(gas(PAYER) > price + 3 * PAY && gas(PAYER) < price + 3 * PAY + 40_000);
    let r = m.chain.exec.runner(&m.runner(runner)).unwrap().unwrap();
    assert_eq!((r.open_executions, r.open_duties), (0, 0));
}

#[test]
fn a_cheating_runner_is_rejected_by_the_chains_rerun_and_slashed() {
    let mut m = Market::wasm("arith", 4);
    let id = m.request("add", ints(2, 40), None);
    let honest = m.honest(&id);
    let payer_before = m.chain.balance(&addr(PAYER));
    let proposer_before = m.chain.balance(&m.chain.proposer.clone());
    let burned_before = m.chain.exec.burned().unwrap();
    let lie = TaskResult::Output(41i64.to_le_bytes().to_vec());
    let (runner, verifiers) = round(&mut m, &id, lie, |_| Some(Verdict::Rerun(honest.clone())));
    let e = m.execution(&id);
    assert_eq!(e.status, ExecutionStatus::Rejected);
    assert!(e.rerun_fuel.unwrap() > 0, "the chain ran the task itself");
    let slash = STAKE * 5_000 / 10_000;
    assert_eq!(m.stake(runner), STAKE - slash);
    // The runner's stake fell below the minimum: it leaves and is drawn for nothing more.
    let r = m.chain.exec.runner(&m.runner(runner)).unwrap().unwrap();
    assert_eq!(r.status, RunnerStatus::Leaving);
    for v in &verifiers {
        assert_eq!(m.stake(*v), STAKE);
    }
    // The payer got the whole escrow back: only its own gas is gone.
    assert_eq!(m.chain.balance(&addr(PAYER)), payer_before + MAX_FEE);
    // Fuel went to the proposer, 3 verifiers' pay to the verifiers, the rest of the slash burned.
    let fuel_cost = e.rerun_fuel.unwrap().div_ceil(1000);
    let burned = m.chain.exec.burned().unwrap() - burned_before;
    assert_eq!(burned, slash - fuel_cost - 3 * PAY);
    assert!(m.chain.balance(&m.chain.proposer.clone()) >= proposer_before + fuel_cost);
}

#[test]
fn a_lying_verifier_against_an_honest_runner_is_slashed_and_the_runner_paid() {
    let mut m = Market::wasm("arith", 4);
    let id = m.request("mul", ints(6, 7), None);
    let honest = m.honest(&id);
    let lie = Verdict::Rerun(TaskResult::Output(0i64.to_le_bytes().to_vec()));
    let runner = m.assigned(&id);
    let liar = (1..=4).find(|i| *i != runner).unwrap();
    let (_, verifiers) = round(&mut m, &id, honest.clone(), |v| {
        Some(if v == liar {
            lie.clone()
        } else {
            Verdict::Rerun(honest.clone())
        })
    });
    assert!(verifiers.contains(&liar));
    let e = m.execution(&id);
    assert_eq!(e.status, ExecutionStatus::Completed);
    assert!(e.rerun_fuel.is_some(), "the dispute was judged by a re-run");
    assert_eq!(m.stake(liar), STAKE - STAKE * 2_000 / 10_000);
    assert_eq!(m.stake(runner), STAKE, "an honest runner is never slashed");
    for v in verifiers.iter().filter(|v| **v != liar) {
        assert_eq!(m.stake(*v), STAKE);
    }
}

#[test]
fn nothing_can_be_copied_before_everyone_committed() {
    let mut m = Market::wasm("arith", 4);
    let id = m.request("add", ints(1, 1), None);
    let honest = m.honest(&id);
    let runner = m.assigned(&id);
    let runner_salt = m.commit(&id, runner, &honest);
    let verifiers = m.verifiers(&id);
    // What a verifier sees is a hash; the runner cannot reveal before the verifiers committed.
    let early = m.send(
        runner,
        Payload::RevealResult {
            execution: id,
            result: honest.clone(),
            salt: runner_salt,
        },
    );
    assert_failed(&early, ErrorCode::WrongPhase);
    // Copying the runner's commitment does not help: it binds the runner's address.
    let copied = m.execution(&id).commitment.unwrap();
    let copier = verifiers[0];
    let mut commits = vec![m.chain.tx(
        copier,
        Payload::CommitVerdict {
            execution: id,
            commitment: copied,
        },
    )];
    for v in &verifiers[1..] {
        let salt = Hash::digest(&[*v as u8, 2]);
        let commitment = verdict_commitment(&Verdict::Rerun(honest.clone()), &salt, &addr(*v));
        commits.push(m.chain.tx(
            *v,
            Payload::CommitVerdict {
                execution: id,
                commitment,
            },
        ));
    }
    let outcome = m.chain.block(commits);
    assert!(
        outcome
            .receipts
            .iter()
            .all(|r| r.outcome == Outcome::Success)
    );
    // The runner reveals first; the verifiers' commitments were fixed before it did.
    let r = m.send(
        runner,
        Payload::RevealResult {
            execution: id,
            result: honest.clone(),
            salt: runner_salt,
        },
    );
    assert_eq!(r.outcome, Outcome::Success, "{r:?}");
    let r = m.send(
        copier,
        Payload::RevealVerdict {
            execution: id,
            verdict: Verdict::Rerun(honest.clone()),
            salt: runner_salt,
        },
    );
    assert_failed(&r, ErrorCode::CommitmentMismatch);
}

#[test]
fn a_missed_deadline_forfeits_the_fee_and_the_payer_is_refunded() {
    let mut m = Market::wasm("arith", 1);
    let payer_before = m.chain.balance(&addr(PAYER));
    let id = m.request("add", ints(1, 2), None);
    let runner = m.assigned(&id);
    let deadline = m.execution(&id).deadline.unwrap();
    while m.chain.now_ms() < deadline {
        assert_eq!(m.execution(&id).status, ExecutionStatus::Assigned);
        m.chain.block(vec![]);
    }
    let e = m.execution(&id);
    assert_eq!((e.status, e.escrow), (ExecutionStatus::Expired, 0));
    // A missed duty, not a cheat: no stake taken (docs/economy.md, "Downtime").
    assert_eq!(m.stake(runner), STAKE);
    let gas = payer_before - m.chain.balance(&addr(PAYER));
    assert!(gas < 40_000, "the payer lost only its gas ({gas})");
    // A commit after the deadline is refused.
    let late = m.send(
        runner,
        Payload::CommitResult {
            execution: id,
            commitment: Hash::ZERO,
        },
    );
    assert_failed(&late, ErrorCode::WrongPhase);
}

#[test]
fn a_runner_at_capacity_is_refused_and_a_lone_full_runner_cancels() {
    let mut m = Market::wasm("arith", 1);
    let first = m.request("add", ints(1, 2), Some(1));
    m.assigned(&first);
    // Named again while at capacity: refused at once.
    let tx = m.chain.tx(
        PAYER,
        Payload::RequestExecution {
            service: m.service,
            task: "add".into(),
            inputs: ints(3, 4),
            max_fee: MAX_FEE,
            runner: Some(m.runner(1)),
        },
    );
    assert_failed(
        &m.chain.block(vec![tx]).receipts[0],
        ErrorCode::RunnerIneligible,
    );
    // Unnamed: no eligible runner at assignment, so it is cancelled and fully refunded.
    let payer_before = m.chain.balance(&addr(PAYER));
    let id = m.request("add", ints(3, 4), None);
    let gas = payer_before - m.chain.balance(&addr(PAYER)) - MAX_FEE;
    m.chain.block(vec![]);
    let e = m.execution(&id);
    assert_eq!((e.status, e.escrow), (ExecutionStatus::Cancelled, 0));
    assert_eq!(m.chain.balance(&addr(PAYER)), payer_before - gas);
}

#[test]
fn request_errors() {
    let mut m = Market::wasm("arith", 1);
    let mut request = |task: &str, inputs: Vec<u8>, max_fee: u64, service: Hash| {
        let tx = m.chain.tx(
            PAYER,
            Payload::RequestExecution {
                service,
                task: task.into(),
                inputs,
                max_fee,
                runner: None,
            },
        );
        m.chain.block(vec![tx]).receipts.remove(0)
    };
    let service = m.service;
    assert_failed(
        &request("add", ints(1, 2), 0, service),
        ErrorCode::ZeroAmount,
    );
    assert_failed(
        &request("add", ints(1, 2), 10, Hash([1; 32])),
        ErrorCode::ServiceNotFound,
    );
    assert_failed(
        &request("div", ints(1, 2), 10, service),
        ErrorCode::TaskNotFound,
    );
    assert_failed(
        &request("add", vec![1, 2, 3], 10, service),
        ErrorCode::InvalidInputs,
    );
    assert_failed(
        &request("add", ints(1, 2), u64::MAX / 2, service),
        ErrorCode::InsufficientBalance,
    );
}

#[test]
fn an_escrow_too_small_for_any_runner_cancels() {
    let mut m = Market::wasm("arith", 2);
    let tx = m.chain.tx(
        PAYER,
        Payload::RequestExecution {
            service: m.service,
            task: "add".into(),
            inputs: ints(1, 2),
            max_fee: 500,
            runner: None,
        },
    );
    let id = tx.hash();
    m.chain.block(vec![tx]);
    m.chain.block(vec![]);
    assert_eq!(m.execution(&id).status, ExecutionStatus::Cancelled);
}

#[test]
fn a_lone_runner_completes_unverified() {
    let mut m = Market::wasm("arith", 1);
    let id = m.request("add", ints(5, 5), None);
    let honest = m.honest(&id);
    let (_, verifiers) = round(&mut m, &id, honest, |_| None);
    assert!(verifiers.is_empty());
    assert_eq!(
        m.execution(&id).status,
        ExecutionStatus::CompletedUnverified
    );
}

#[test]
fn absent_verifiers_forfeit_their_fee_and_an_error_result_pays_only_per_call() {
    let mut m = Market::wasm("arith", 4);
    // i64::MAX + 1 overflows: the task answers with an error, honestly.
    let id = m.request("add", ints(i64::MAX, 1), None);
    let honest = m.honest(&id);
    assert!(matches!(honest, TaskResult::Error(_)));
    let runner = m.assigned(&id);
    let others: Vec<usize> = (1..=4).filter(|i| *i != runner).collect();
    let silent = others[0];
    let developer_before = m.chain.balance(&addr(0));
    let (_, verifiers) = round(&mut m, &id, honest.clone(), |v| {
        (v != silent).then(|| Verdict::Rerun(honest.clone()))
    });
    assert!(verifiers.contains(&silent));
    assert_eq!(m.execution(&id).status, ExecutionStatus::Completed);
    assert_eq!(m.stake(silent), STAKE, "an absent verifier keeps its stake");
    assert_eq!(
        m.chain
            .exec
            .runner(&m.runner(silent))
            .unwrap()
            .unwrap()
            .missed,
        1,
        "and its missed duty is recorded"
    );
    // The price of an upheld error is the price per call: the developer got 20% of 1,000.
    assert_eq!(m.chain.balance(&addr(0)) - developer_before, 200);
}

fn trusted_definition() -> Vec<u8> {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "tweet",
        "tasks": [{"key": "post", "inputs": {"text": "string"}, "outputs": {"id": "int"},
                   "max_output_bytes": 64, "verification": "trusted", "timeout_ms": 10000}]
    }))
    .unwrap();
    definition.to_canonical_bytes()
}

#[test]
fn a_trusted_task_completes_on_submit_without_verification() {
    let mut m = Market::publish(
        trusted_definition(),
        Bundle::External {
            digest: Hash([3; 32]),
        },
        None,
        2,
    );
    let mut inputs = 2u32.to_le_bytes().to_vec();
    inputs.extend_from_slice(b"hi");
    let id = m.request("post", inputs, None);
    let runner = m.assigned(&id);
    let other = if runner == 1 { 2 } else { 1 };
    let result = TaskResult::Output(7i64.to_le_bytes().to_vec());
    assert_failed(
        &m.send(
            other,
            Payload::SubmitResult {
                execution: id,
                result: result.clone(),
            },
        ),
        ErrorCode::NotTheRunner,
    );
    assert_failed(
        &m.send(
            runner,
            Payload::CommitResult {
                execution: id,
                commitment: Hash::ZERO,
            },
        ),
        ErrorCode::WrongVerification,
    );
    assert_failed(
        &m.send(
            runner,
            Payload::SubmitResult {
                execution: id,
                result: TaskResult::Output(vec![1]),
            },
        ),
        ErrorCode::InvalidResult,
    );
    assert_eq!(
        m.send(
            runner,
            Payload::SubmitResult {
                execution: id,
                result
            }
        )
        .outcome,
        Outcome::Success
    );
    let e = m.execution(&id);
    assert_eq!(
        (e.status, e.escrow, e.verifiers.len()),
        (ExecutionStatus::Completed, 0, 0)
    );
}

#[test]
fn public_effect_results_are_judged_by_the_check_task_and_stake() {
    // Valid: verifiers ran check_factor and say so.
    let mut m = Market::wasm("factor", 4);
    let id = m.request("factor", 77i64.to_le_bytes().to_vec(), None);
    let honest = m.honest(&id);
    let (runner, _) = round(&mut m, &id, honest, |_| {
        Some(Verdict::Check { valid: true })
    });
    assert_eq!(m.execution(&id).status, ExecutionStatus::Completed);
    assert_eq!(m.stake(runner), STAKE);

    // Invalid: three verifiers with all the drawn stake say invalid.
    let mut m = Market::wasm("factor", 4);
    let id = m.request("factor", 77i64.to_le_bytes().to_vec(), None);
    let bogus = TaskResult::Output([1i64.to_le_bytes(), 1i64.to_le_bytes()].concat());
    let (runner, verifiers) = round(&mut m, &id, bogus, |_| {
        Some(Verdict::Check { valid: false })
    });
    assert_eq!(verifiers.len(), 3);
    assert_eq!(m.execution(&id).status, ExecutionStatus::Rejected);
    assert_eq!(m.stake(runner), STAKE / 2);

    // Split verdicts: no two-thirds either way, unverified, and nobody slashed for it.
    let mut m = Market::wasm("factor", 4);
    let id = m.request("factor", 77i64.to_le_bytes().to_vec(), None);
    let honest = m.honest(&id);
    let runner = m.assigned(&id);
    let contrarian = (1..=4).find(|i| *i != runner).unwrap();
    let (_, verifiers) = round(&mut m, &id, honest, |v| {
        Some(Verdict::Check {
            valid: v == contrarian,
        })
    });
    assert_eq!(verifiers.len(), 3);
    assert_eq!(
        m.execution(&id).status,
        ExecutionStatus::CompletedUnverified
    );
    for v in verifiers.iter().chain([&runner]) {
        assert_eq!(m.stake(*v), STAKE);
    }
    // A re-run verdict does not fit a public_effect task.
    let id = m.request("factor", 15i64.to_le_bytes().to_vec(), None);
    let runner = m.assigned(&id);
    let result = m.honest(&id);
    let salt = m.commit(&id, runner, &result);
    let r = m.send(
        runner,
        Payload::RevealResult {
            execution: id,
            result: result.clone(),
            salt,
        },
    );
    assert_eq!(r.outcome, Outcome::Success, "{r:?}");
    let verifiers = m.verifiers(&id);
    let wrong_kind = Verdict::Rerun(result);
    let commits = verifiers
        .iter()
        .map(|v| {
            let commitment =
                verdict_commitment(&wrong_kind, &Hash::digest(&[*v as u8, 2]), &addr(*v));
            m.chain.tx(
                *v,
                Payload::CommitVerdict {
                    execution: id,
                    commitment,
                },
            )
        })
        .collect();
    m.chain.block(commits);
    let salt = Hash::digest(&[verifiers[0] as u8, 2]);
    let r = m.send(
        verifiers[0],
        Payload::RevealVerdict {
            execution: id,
            verdict: wrong_kind,
            salt,
        },
    );
    assert_failed(&r, ErrorCode::WrongVerdictKind);
}

#[test]
fn a_runner_that_never_reveals_pays_the_committed_verifiers_from_its_stake() {
    let mut m = Market::wasm("arith", 4);
    let id = m.request("add", ints(3, 3), None);
    let honest = m.honest(&id);
    let runner = m.assigned(&id);
    m.commit(&id, runner, &honest);
    let verifiers = m.verifiers(&id);
    let verdict = Verdict::Rerun(honest.clone());
    let salts: Vec<Hash> = verifiers
        .iter()
        .map(|v| Hash::digest(&[*v as u8, 2]))
        .collect();
    let commits = verifiers
        .iter()
        .zip(&salts)
        .map(|(v, salt)| {
            let commitment = verdict_commitment(&verdict, salt, &addr(*v));
            m.chain.tx(
                *v,
                Payload::CommitVerdict {
                    execution: id,
                    commitment,
                },
            )
        })
        .collect();
    m.chain.block(commits);
    let before: Vec<u64> = verifiers
        .iter()
        .map(|v| m.chain.balance(&addr(*v)))
        .collect();
    // Their reveals wait for the runner's, which never comes.
    let reveals = verifiers
        .iter()
        .zip(&salts)
        .map(|(v, salt)| {
            m.chain.tx(
                *v,
                Payload::RevealVerdict {
                    execution: id,
                    verdict: verdict.clone(),
                    salt: *salt,
                },
            )
        })
        .collect();
    let outcome = m.chain.block(reveals);
    for r in &outcome.receipts {
        assert_failed(r, ErrorCode::WrongPhase);
    }
    while !m.execution(&id).status.is_final() {
        m.chain.block(vec![]);
    }
    assert_eq!(m.execution(&id).status, ExecutionStatus::Expired);
    assert_eq!(m.stake(runner), STAKE - verifiers.len() as u64 * FEE);
    for (v, b) in verifiers.iter().zip(before) {
        let gained = m.chain.balance(&addr(*v)) as i128 - b as i128;
        assert!(
            gained > FEE as i128 - 40_000 && gained <= FEE as i128,
            "verifier fee paid net of the refused reveal's gas: {gained}"
        );
        assert_eq!(m.stake(*v), STAKE);
    }
}

#[test]
fn finished_executions_are_pruned_to_a_queryable_summary() {
    let mut m = Market::wasm("arith", 1);
    let id = m.request("add", ints(1, 1), None);
    let honest = m.honest(&id);
    round(&mut m, &id, honest, |_| None);
    let settled = m.execution(&id).settled_at.unwrap();
    while m.chain.exec.height() < settled + params().retention_ms / BLOCK_MS {
        m.chain.block(vec![]);
    }
    assert!(m.chain.exec.execution(&id).unwrap().is_none());
    let summary = m.chain.exec.execution_summary(&id).unwrap().unwrap();
    assert_eq!(
        (summary.status, summary.settled_at),
        (ExecutionStatus::CompletedUnverified, settled)
    );
}

#[test]
fn a_leaving_runner_is_released_only_after_its_last_duty() {
    let mut m = Market::wasm("arith", 1);
    let id = m.request("add", ints(1, 1), None);
    m.assigned(&id);
    assert_eq!(
        m.send(
            1,
            Payload::UnregisterRunner {
                runner: m.runner(1)
            }
        )
        .outcome,
        Outcome::Success
    );
    let r = m.chain.exec.runner(&m.runner(1)).unwrap().unwrap();
    assert_eq!((r.status, r.release_at), (RunnerStatus::Leaving, None));
    let honest = m.honest(&id);
    let salt = m.commit(&id, 1, &honest);
    m.verifiers(&id);
    m.send(
        1,
        Payload::RevealResult {
            execution: id,
            result: honest,
            salt,
        },
    );
    while !m.execution(&id).status.is_final() {
        m.chain.block(vec![]);
    }
    let release_at = m
        .chain
        .exec
        .runner(&m.runner(1))
        .unwrap()
        .unwrap()
        .release_at
        .expect("scheduled after the last duty");
    while m.chain.now_ms() < release_at {
        m.chain.block(vec![]);
    }
    assert_eq!(
        m.chain.exec.runner(&m.runner(1)).unwrap().unwrap().status,
        RunnerStatus::Left
    );
}
