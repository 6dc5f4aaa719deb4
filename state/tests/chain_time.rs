//! Chain time (issue 15; docs/economy.md, "Chain time"): every duration of the economy is
//! milliseconds of the committed headers' timestamps, not a count of blocks. A deadline due at
//! time T is handled by the first block stamped at or after T, whatever the block rate, and a
//! transaction in a block stamped after it is late. And a liveness fault that leaves a runner
//! under the minimum stake jails it instead of expelling it.

mod common;

use common::*;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ErrorCode, ExecutionStatus, Outcome, RunnerStatus, ValidatorStatus};
use runnet_types::execution::{Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::Bundle;
use runnet_types::{Hash, Payload};

const STAKE: u64 = 10_000;
const PAYER: usize = 9;
/// The trusted task's timeout, chain time.
const TIMEOUT_MS: u64 = 1_000;

fn params() -> Params {
    Params {
        verifiers_per_execution: 3,
        min_task_timeout_ms: 100,
        commit_window_ms: 1_000,
        reveal_window_ms: 1_000,
        min_runner_stake: STAKE,
        retention_ms: 5_000,
        ..test_params()
    }
}

/// A trusted `double {x} -> {y}` service (account 0) with `runners` runners (accounts 1..).
fn trusted(chain: &mut Chain, runners: usize) -> Hash {
    let definition: runnet_types::service::ServiceDefinition =
        serde_json::from_value(serde_json::json!({
            "name": "double",
            "tasks": [{"key": "double", "inputs": {"x": "int"}, "outputs": {"y": "int"},
                       "max_output_bytes": 64, "verification": "trusted",
                       "timeout_ms": TIMEOUT_MS}]
        }))
        .unwrap();
    let bundle = Bundle::External {
        digest: Hash::digest(b"double"),
    };
    chain.publish_with_runners(
        &definition.to_canonical_bytes(),
        bundle,
        1..=runners,
        &RunnerTerms {
            stake: STAKE,
            price_per_call: 1_000,
            price_per_kib: 0,
            max_open: 64,
        },
    )
}

fn request(chain: &mut Chain, service: Hash, task: &str, inputs: Vec<u8>) -> Hash {
    let receipt = chain.run(
        PAYER,
        Payload::RequestExecution {
            service,
            task: task.into(),
            inputs,
            max_fee: 1_000_000,
            runner: None,
        },
    );
    assert_eq!(receipt.outcome, Outcome::Success, "{receipt:?}");
    receipt.tx
}

fn execution(chain: &Chain, id: &Hash) -> Execution {
    chain.exec.execution(id).unwrap().expect("execution")
}

/// A runner that never answers: its execution expires at the first block stamped at or after
/// assignment + `timeout_ms`, at 20, 10 or 4 blocks a second alike. Counted in blocks (before),
/// the same timeout lasted 0.5 s at 20 blocks a second and 2.5 s at 4.
#[test]
fn a_task_timeout_lasts_the_same_chain_time_at_any_block_rate() {
    for block_ms in [50, 100, 250] {
        let mut chain = Chain::with_params(10, params());
        chain.block_ms = block_ms;
        let service = trusted(&mut chain, 1);
        let id = request(&mut chain, service, "double", ints(1, 0)[..8].to_vec());
        chain.block(vec![]);
        let assigned_ms = chain.now_ms();
        let e = execution(&chain, &id);
        assert_eq!(e.status, ExecutionStatus::Assigned);
        assert_eq!(e.deadline, Some(assigned_ms + TIMEOUT_MS));
        let mut expired_ms = None;
        for _ in 0..100 {
            chain.block(vec![]);
            if execution(&chain, &id).status == ExecutionStatus::Expired {
                expired_ms = Some(chain.now_ms());
                break;
            }
        }
        let elapsed = expired_ms.expect("expired") - assigned_ms;
        assert!(
            (TIMEOUT_MS..TIMEOUT_MS + block_ms).contains(&elapsed),
            "at {block_ms} ms a block the timeout took {elapsed} ms"
        );
    }
}

/// A block stamped long after its parent (the chain stalled) handles everything that fell due
/// meanwhile, and its own transactions are late: a result submitted in it is refused
/// `deadline_passed`, not taken because no block had expired the execution yet.
#[test]
fn a_block_that_skips_past_a_deadline_is_late_and_expires_it() {
    let mut chain = Chain::with_params(10, params());
    let service = trusted(&mut chain, 1);
    let ids: Vec<Hash> = (0..3)
        .map(|x| request(&mut chain, service, "double", ints(x, 0)[..8].to_vec()))
        .collect();
    chain.block(vec![]);
    assert!(
        ids.iter()
            .all(|id| execution(&chain, id).status == ExecutionStatus::Assigned)
    );
    // The next block comes 10 s later: past every deadline at once.
    chain.block_ms = 10_000;
    let tx = chain.tx(
        1,
        Payload::SubmitResult {
            execution: ids[2],
            result: out(0),
        },
    );
    let receipt = chain.block(vec![tx]).receipts.remove(0);
    assert_failed(&receipt, ErrorCode::DeadlinePassed);
    for id in &ids {
        assert_eq!(execution(&chain, id).status, ExecutionStatus::Expired);
    }
    // A result in time, in the last block stamped at the deadline, still counts.
    chain.block_ms = 100;
    let id = request(&mut chain, service, "double", ints(5, 0)[..8].to_vec());
    chain.block(vec![]);
    let deadline = execution(&chain, &id).deadline.unwrap();
    chain.block_ms = deadline - chain.now_ms();
    let tx = chain.tx(
        1,
        Payload::SubmitResult {
            execution: id,
            result: out(10),
        },
    );
    ok(&chain.block(vec![tx]).receipts[0]);
    assert_eq!(chain.now_ms(), deadline);
    assert_eq!(execution(&chain, &id).status, ExecutionStatus::Completed);
}

/// The state's clock never runs back, whatever a block's stamp says, and readers see it.
#[test]
fn the_chain_time_is_recorded_and_monotone() {
    let mut chain = Chain::with_params(2, params());
    assert_eq!(chain.now_ms(), 0);
    chain.block(vec![]);
    assert_eq!(chain.now_ms(), 100);
    chain.time_ms = 40;
    chain.block_ms = 10;
    chain.block(vec![]);
    assert_eq!(
        chain.now_ms(),
        100,
        "a stamp before the last one moves nothing back"
    );
}

/// Jails and unbonding are chain time: a validator that unbonds gets its stake back at the first
/// block stamped at or after unbond + `unbonding_ms`, however many blocks that takes.
#[test]
fn unbonding_is_released_by_chain_time() {
    let mut chain = Chain::with_params(4, params());
    ok(&chain.run(1, bond_payload(1, 1, "peer-1", 5_000)));
    chain.block_ms = 1_000;
    ok(&chain.run(1, Payload::UnbondValidator { amount: 5_000 }));
    let unbonded_ms = chain.now_ms();
    let before = chain.balance(&addr(1));
    let validator = chain.exec.validator(&addr(1)).unwrap().unwrap();
    assert_eq!(validator.status, ValidatorStatus::Unbonding);
    while chain.now_ms() < unbonded_ms + params().unbonding_ms {
        assert_eq!(chain.balance(&addr(1)), before, "released early");
        chain.block(vec![]);
    }
    assert_eq!(chain.balance(&addr(1)), before + 5_000);
    // 6 s of unbonding at one block a second: 6 blocks, not 60.
    assert_eq!(chain.exec.height(), 8);
}

// ---- a liveness slash jails, it does not expel ------------------------------------------------

fn commit_verdict(chain: &mut Chain, id: &Hash, who: usize, verdict: &Verdict) -> Hash {
    let salt = Hash::digest(&[who as u8, 2]);
    let commitment = verdict_commitment(verdict, &salt, &addr(who));
    ok(&chain.run(
        who,
        Payload::CommitVerdict {
            execution: *id,
            commitment,
        },
    ));
    salt
}

/// A verifier that committed and was cut off for the whole verifiers' reveal window loses
/// `verifier_fault_slash`, as for a withheld verdict (the chain cannot tell them apart); at the
/// minimum stake that leaves it under `min_runner_stake`, and it is jailed (back with a top-up),
/// not expelled like a cheat. Before, `slash` set it `leaving`.
#[test]
fn a_verifier_cut_off_before_its_reveal_is_jailed_not_expelled() {
    let (definition, module) = example("arith");
    let mut chain = Chain::with_params(10, params());
    let service = chain.publish_with_runners(
        &definition,
        Bundle::Wasm(module),
        1..=4,
        &RunnerTerms {
            stake: STAKE,
            price_per_call: 1_000,
            price_per_kib: 0,
            max_open: 64,
        },
    );
    let id = request(&mut chain, service, "add", ints(2, 40));
    chain.block(vec![]);
    let e = execution(&chain, &id);
    let runner = (1..=4).find(|i| Some(addr(*i)) == e.runner_owner).unwrap();
    let result = out(42);
    let salt = Hash::digest(b"runner");
    ok(&chain.run(
        runner,
        Payload::CommitResult {
            execution: id,
            commitment: result_commitment(&result, &salt, &addr(runner)),
        },
    ));
    chain.block(vec![]);
    let verifiers: Vec<usize> = execution(&chain, &id)
        .verifiers
        .iter()
        .map(|v| (1..=4).find(|i| addr(*i) == v.owner).unwrap())
        .collect();
    assert_eq!(verifiers.len(), 3);
    let verdict = Verdict::Rerun(out(42));
    let mut salts = Vec::new();
    for v in &verifiers {
        salts.push(commit_verdict(&mut chain, &id, *v, &verdict));
    }
    ok(&chain.run(
        runner,
        Payload::RevealResult {
            execution: id,
            result,
            salt,
        },
    ));
    // Two reveal; the third is down until the window has closed.
    for (v, salt) in verifiers.iter().zip(&salts).take(2) {
        ok(&chain.run(
            *v,
            Payload::RevealVerdict {
                execution: id,
                verdict: verdict.clone(),
                salt: *salt,
            },
        ));
    }
    let deadline = execution(&chain, &id).reveal_deadline.unwrap();
    chain.run_until_ms(deadline);
    assert_eq!(execution(&chain, &id).status, ExecutionStatus::Completed);
    let cut_off = chain
        .exec
        .runner(&runner_id(&service, &addr(verifiers[2])))
        .unwrap()
        .unwrap();
    assert_eq!(cut_off.stake, STAKE - STAKE / 5, "verifier_fault_slash");
    assert!(
        matches!(cut_off.status, RunnerStatus::Jailed { until } if until <= chain.now_ms()),
        "jailed with no jail period, not expelled: {:?}",
        cut_off.status
    );
    // It comes back with a top-up, like any runner jailed for downtime.
    ok(&chain.run(
        verifiers[2],
        Payload::UnjailRunner {
            runner: cut_off.id,
            stake: STAKE / 5,
        },
    ));
    let back = chain.exec.runner(&cut_off.id).unwrap().unwrap();
    assert_eq!((back.status, back.stake), (RunnerStatus::Active, STAKE));
}
