//! Random audits of settled WebAssembly executions (docs/economy.md, "Audits"): a drawn share of
//! the executions that would settle without a dispute is re-run by the chain under the re-run
//! budget before anything is paid. An audit that overturns the result slashes the runner and the
//! verifiers who agreed with it and pays the slashes to the payer (nothing burned); one that
//! confirms it pays the audit's fuel from the audit pool and settles as usual.
//!
//! The agents: four `arith` runners. Each execution's runner either reveals the true result or
//! the true result plus one; its verifiers either re-run the task or, lazily, commit whatever the
//! runner will reveal (they learned it from the runner, off the chain).

mod common;

use common::*;
use runnet_state::bundle::result_of_run;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ExecutionStatus, Outcome, audit_drawn, audit_pool_address};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::Bundle;
use runnet_types::{Hash, Payload, SignedTx};
use std::collections::BTreeMap;

const STAKE: u64 = 1_000_000;
const FEE: u64 = 20_000;
/// What a verifier revealing an 8-byte re-run result is paid.
const PAY: u64 = FEE + 10 * 8;
const MAX_FEE: u64 = 1_000_000;
const PAYER: usize = 9;
const RUNNERS: [usize; 4] = [1, 2, 3, 4];
const TASK_FUEL: u64 = 10_000_000;
/// price = 1,000 per call + 100 per KiB of (16 input + 8 output bytes).
const PRICE: u64 = 1_100;

fn params(audit_share_bps: u64) -> Params {
    Params {
        verifiers_per_execution: 3,
        verifier_fee: FEE,
        min_runner_stake: 600_000,
        fuel_price: 1,
        max_task_fuel: TASK_FUEL,
        max_rerun_fuel_per_block: 4 * TASK_FUEL,
        audit_share_bps,
        audit_pool_bps: 500,
        audit_fault_slash: 5_000,
        ..test_params()
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Runner {
    Honest,
    /// Reveals the true sum plus one.
    Wrong,
}

#[derive(Clone, Copy, PartialEq)]
enum Verifiers {
    Honest,
    /// Commit and reveal the runner's result without running the task.
    Lazy,
}

struct Market {
    chain: Chain,
    service: Hash,
    module: Vec<u8>,
    /// Every execution requested, with how its runner and verifiers behave.
    ids: BTreeMap<Hash, (Runner, Verifiers)>,
    /// The beacon's seed after each block: the seed a settlement at that height drew with.
    seeds: BTreeMap<u64, Hash>,
    next_input: i64,
}

fn salt(id: &Hash, who: usize) -> Hash {
    runnet_types::encoding::hash_of(&(id, who as u64, "audits"))
}

impl Market {
    fn new(params: Params) -> Market {
        Market::with_runners(params, &RUNNERS)
    }

    fn with_runners(params: Params, runners: &[usize]) -> Market {
        let mut chain = Chain::with_params(10, params);
        let (definition, module) = example("arith");
        let terms = RunnerTerms {
            stake: STAKE,
            price_per_call: 1_000,
            price_per_kib: 100,
            max_open: 50,
        };
        let service = chain.publish_with_runners(
            &definition,
            Bundle::Wasm(module.clone()),
            runners.iter().copied(),
            &terms,
        );
        Market {
            chain,
            service,
            module,
            ids: BTreeMap::new(),
            seeds: BTreeMap::new(),
            next_input: 1,
        }
    }

    fn execution(&self, id: &Hash) -> Execution {
        self.chain.exec.execution(id).unwrap().expect("execution")
    }

    fn stake(&self, owner: usize) -> u64 {
        let id = runner_id(&self.service, &addr(owner));
        self.chain.exec.runner(&id).unwrap().unwrap().stake
    }

    fn index(address: runnet_types::Address) -> usize {
        (0..10).find(|i| addr(*i) == address).unwrap()
    }

    fn truth(&self, e: &Execution) -> TaskResult {
        result_of_run(
            self.chain
                .exec
                .vm()
                .run(&self.module, &e.task, &e.inputs, TASK_FUEL, 64),
        )
        .unwrap()
        .0
    }

    fn runner_result(&self, e: &Execution) -> TaskResult {
        let truth = self.truth(e);
        match self.ids[&e.id].0 {
            Runner::Honest => truth,
            Runner::Wrong => {
                let TaskResult::Output(bytes) = truth else {
                    panic!("add of small integers is an output")
                };
                let sum = i64::from_le_bytes(bytes.try_into().unwrap());
                out(sum + 1)
            }
        }
    }

    fn verdict(&self, e: &Execution) -> Verdict {
        Verdict::Rerun(match self.ids[&e.id].1 {
            Verifiers::Honest => self.truth(e),
            Verifiers::Lazy => self.runner_result(e),
        })
    }

    /// `n` requests of `add`, in one transaction list.
    fn requests(&mut self, n: usize, runner: Runner, verifiers: Verifiers) -> Vec<SignedTx> {
        (0..n)
            .map(|_| {
                let a = self.next_input;
                self.next_input += 1;
                let tx = self.chain.tx(
                    PAYER,
                    Payload::RequestExecution {
                        service: self.service,
                        task: "add".into(),
                        inputs: ints(a, 40),
                        max_fee: MAX_FEE,
                        runner: None,
                    },
                );
                self.ids.insert(tx.hash(), (runner, verifiers));
                tx
            })
            .collect()
    }

    /// Everyone does its next step as soon as it can.
    fn agents(&mut self) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        for id in self.ids.keys().copied().collect::<Vec<_>>() {
            // Requested in the block being built: nothing to do yet.
            let Some(e) = self.chain.exec.execution(&id).unwrap() else {
                continue;
            };
            let runner = e.runner_owner.map(Market::index);
            if e.status.is_final()
                || matches!(
                    e.status,
                    ExecutionStatus::Requested | ExecutionStatus::AwaitingRerun
                )
            {
                continue;
            }
            let result = self.runner_result(&e);
            match e.status {
                ExecutionStatus::Assigned => {
                    let who = runner.unwrap();
                    let commitment = result_commitment(&result, &salt(&id, who), &addr(who));
                    txs.push(self.chain.tx(
                        who,
                        Payload::CommitResult {
                            execution: id,
                            commitment,
                        },
                    ));
                }
                ExecutionStatus::Verifying => {
                    let verdict = self.verdict(&e);
                    for slot in e.verifiers.iter().filter(|s| s.commitment.is_none()) {
                        let who = Market::index(slot.owner);
                        let commitment = verdict_commitment(&verdict, &salt(&id, who), &addr(who));
                        txs.push(self.chain.tx(
                            who,
                            Payload::CommitVerdict {
                                execution: id,
                                commitment,
                            },
                        ));
                    }
                }
                // The runner's reveal opens the verifiers' window: both fit in one block.
                ExecutionStatus::RunnerRevealing | ExecutionStatus::Revealing => {
                    if e.result.is_none() {
                        let who = runner.unwrap();
                        txs.push(self.chain.tx(
                            who,
                            Payload::RevealResult {
                                execution: id,
                                result: result.clone(),
                                salt: salt(&id, who),
                            },
                        ));
                    }
                    let verdict = self.verdict(&e);
                    for slot in e.verifiers.iter().filter(|s| s.verdict.is_none()) {
                        let who = Market::index(slot.owner);
                        txs.push(self.chain.tx(
                            who,
                            Payload::RevealVerdict {
                                execution: id,
                                verdict: verdict.clone(),
                                salt: salt(&id, who),
                            },
                        ));
                    }
                }
                _ => {}
            }
        }
        txs
    }

    /// One block of the agents' transactions plus `requests`; every one must succeed.
    fn step(&mut self, requests: Vec<SignedTx>) {
        let mut txs = self.agents();
        txs.extend(requests);
        let outcome = self.chain.block(txs);
        for r in &outcome.receipts {
            assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        }
        let height = self.chain.exec.height();
        self.seeds.insert(height, self.chain.exec.seed().unwrap());
    }

    fn all_final(&self) -> bool {
        self.ids
            .keys()
            .all(|id| self.execution(id).status.is_final())
    }

    fn run_to_end(&mut self) {
        for _ in 0..40 {
            if self.all_final() {
                return;
            }
            self.step(vec![]);
        }
        panic!("executions still open after 40 blocks");
    }

    fn pool(&self) -> u64 {
        self.chain.balance(&audit_pool_address())
    }
}

/// Three lazy verifiers agree with a wrong result: without an audit it would complete and pay
/// everyone. Audited, it is rejected: the runner loses `wrong_result_slash`, each lazy verifier
/// `audit_fault_slash` and its fee, and the slashes, less the audit's fuel (to the proposer), go
/// to the payer; nothing is burned.
#[test]
fn lazy_agreement_with_a_wrong_result_is_caught_by_an_audit() {
    let mut m = Market::new(params(10_000));
    let payer_before = m.chain.balance(&addr(PAYER));
    let developer_before = m.chain.balance(&addr(0));
    let burned_before = m.chain.exec.burned().unwrap();
    let pool_before = m.pool();
    let balances: Vec<u64> = RUNNERS.iter().map(|r| m.chain.balance(&addr(*r))).collect();
    let batch = m.requests(1, Runner::Wrong, Verifiers::Lazy);
    let id = batch[0].hash();
    m.step(batch);
    let request_fee = payer_before - MAX_FEE - m.chain.balance(&addr(PAYER));
    m.run_to_end();
    let e = m.execution(&id);
    assert_eq!(e.status, ExecutionStatus::Rejected);
    assert_eq!(e.verifiers.len(), 3);
    assert!(
        e.verifiers
            .iter()
            .all(|v| v.verdict == Some(Verdict::Rerun(e.result.clone().unwrap()))),
        "every verifier agreed with the runner: no dispute"
    );
    let fuel = e.rerun_fuel.expect("the chain re-ran it");
    assert!(fuel > 0);
    let runner = Market::index(e.runner_owner.unwrap());
    let verifiers: Vec<usize> = e.verifiers.iter().map(|v| Market::index(v.owner)).collect();
    assert_eq!(m.stake(runner), STAKE - STAKE / 2, "wrong_result_slash");
    for v in &verifiers {
        assert_eq!(m.stake(*v), STAKE - STAKE / 2, "audit_fault_slash");
        // Its gas is gone and it earned nothing.
        assert!(m.chain.balance(&addr(*v)) < balances[*v - 1]);
    }
    assert_eq!(m.execution(&id).escrow, 0);
    // The payer: the whole escrow back, plus the four slashes less the audit's fuel.
    let slashes = 4 * (STAKE / 2);
    let fuel_cost = fuel.div_ceil(1000);
    assert_eq!(
        m.chain.balance(&addr(PAYER)),
        payer_before - request_fee + slashes - fuel_cost
    );
    assert_eq!(
        m.chain.exec.burned().unwrap(),
        burned_before,
        "nothing burned"
    );
    assert_eq!(m.chain.balance(&addr(0)), developer_before, "no price paid");
    assert_eq!(
        m.pool(),
        pool_before,
        "an overturned audit costs the pool nothing"
    );
    assert!(!m.chain.exec.audit_pending(&id).unwrap());
    // Supply conservation is checked after every block by the test chain.
}

/// Honest work audited: the chain's re-run confirms it and the execution completes exactly as
/// it would have, but for the audit pool's share of the runner's part. The first audit finds
/// the pool empty; the second is paid its fuel from the first one's share.
#[test]
fn an_audit_that_confirms_the_result_slashes_nobody() {
    let mut m = Market::new(params(10_000));
    let developer_before = m.chain.balance(&addr(0));
    let burned_before = m.chain.exec.burned().unwrap();
    let balances: Vec<u64> = RUNNERS.iter().map(|r| m.chain.balance(&addr(*r))).collect();
    let first = m.requests(1, Runner::Honest, Verifiers::Honest);
    let a = first[0].hash();
    m.step(first);
    m.run_to_end();
    let e = m.execution(&a);
    assert_eq!(e.status, ExecutionStatus::Completed);
    let fuel = e.rerun_fuel.expect("audited");
    let premium = PRICE * 500 / 10_000;
    assert_eq!(m.pool(), premium, "5% of the price, from the runner's part");
    for r in RUNNERS {
        assert_eq!(m.stake(r), STAKE, "nobody slashed");
    }
    assert_eq!(m.chain.exec.burned().unwrap(), burned_before);
    assert_eq!(
        m.chain.balance(&addr(0)) - developer_before,
        PRICE * 2_000 / 10_000
    );
    let runner = Market::index(e.runner_owner.unwrap());
    for v in e.verifiers.iter().map(|v| Market::index(v.owner)) {
        let gas = balances[v - 1] + PAY - m.chain.balance(&addr(v));
        assert!(gas > 0 && gas < PAY, "verifier {v} paid its fee");
    }
    let runner_gas =
        balances[runner - 1] + PRICE - PRICE / 5 - premium - m.chain.balance(&addr(runner));
    assert!(runner_gas > 0 && runner_gas < 40_000, "{runner_gas}");

    let second = m.requests(1, Runner::Honest, Verifiers::Honest);
    let b = second[0].hash();
    m.step(second);
    m.run_to_end();
    let e = m.execution(&b);
    assert_eq!(e.status, ExecutionStatus::Completed);
    let fuel_cost = e.rerun_fuel.expect("audited").div_ceil(1000);
    assert!(fuel_cost > 0 && fuel_cost <= premium && fuel > 0);
    assert_eq!(m.pool(), 2 * premium - fuel_cost, "the pool paid the fuel");
    for r in RUNNERS {
        assert_eq!(m.stake(r), STAKE);
    }
}

/// The draw is a function of (seed, execution id, share): the same seed gives the same audits,
/// and over many ids about the configured share is drawn.
#[test]
fn the_audit_draw_is_deterministic_and_about_the_share() {
    let seed = Hash::digest(b"seed");
    let other = Hash::digest(b"other seed");
    let ids: Vec<Hash> = (0u64..20_000)
        .map(|i| Hash::digest(&i.to_le_bytes()))
        .collect();
    for share in [500u64, 2_000, 5_000] {
        let drawn: Vec<bool> = ids.iter().map(|id| audit_drawn(&seed, id, share)).collect();
        let again: Vec<bool> = ids.iter().map(|id| audit_drawn(&seed, id, share)).collect();
        assert_eq!(drawn, again, "same seed, same audits");
        let count = drawn.iter().filter(|d| **d).count() as u64;
        let expected = ids.len() as u64 * share / 10_000;
        assert!(
            count.abs_diff(expected) * 100 <= expected * 10,
            "share {share}: {count} of {} drawn, expected about {expected}",
            ids.len()
        );
        let elsewhere: Vec<bool> = ids
            .iter()
            .map(|id| audit_drawn(&other, id, share))
            .collect();
        assert_ne!(drawn, elsewhere, "another seed draws others");
    }
    assert!(ids.iter().all(|id| !audit_drawn(&seed, id, 0)));
    assert!(ids.iter().all(|id| audit_drawn(&seed, id, 10_000)));
}

/// On a chain: an execution is audited exactly when the draw with the seed of the block it
/// settles in says so, and the same blocks give the same audits and the same state.
#[test]
fn a_chain_audits_what_the_draw_says_and_replays_identically() {
    let run = || {
        let mut m = Market::new(params(5_000));
        for _ in 0..4 {
            let batch = m.requests(3, Runner::Honest, Verifiers::Honest);
            m.step(batch);
        }
        m.run_to_end();
        m
    };
    let m = run();
    let mut audited = Vec::new();
    for id in m.ids.keys() {
        let e = m.execution(id);
        assert_eq!(e.status, ExecutionStatus::Completed);
        let height = e.settled_at.unwrap();
        // The budget takes four a block: each ran in the block its settlement came due.
        let drawn = audit_drawn(&m.seeds[&height], id, 5_000);
        assert_eq!(e.rerun_fuel.is_some(), drawn, "execution {id}");
        audited.push(drawn);
    }
    let count = audited.iter().filter(|a| **a).count();
    assert!(count > 0 && count < audited.len(), "{count} of 12 audited");
    let replay = run();
    assert_eq!(replay.chain.exec.state_root(), m.chain.exec.state_root());
    let again: Vec<bool> = replay
        .ids
        .keys()
        .map(|id| replay.execution(id).rerun_fuel.is_some())
        .collect();
    assert_eq!(again, audited, "same seed, same audits");
}

/// Audits take the re-run budget like disputes, each charged `max_task_fuel`: with room for one
/// a block, three settling together run over three blocks in execution id order, and the two
/// left wait as `awaiting_rerun` with their escrow held and nothing paid.
#[test]
fn audits_wait_under_the_rerun_budget_in_order() {
    let mut m = Market::new(Params {
        max_rerun_fuel_per_block: TASK_FUEL,
        ..params(10_000)
    });
    let batch = m.requests(3, Runner::Honest, Verifiers::Honest);
    m.step(batch);
    let mut ids: Vec<Hash> = m.ids.keys().copied().collect();
    ids.sort();
    for _ in 0..20 {
        if !m.chain.exec.rerun_queue().unwrap().is_empty() {
            break;
        }
        m.step(vec![]);
    }
    let due = m.chain.exec.height();
    let first = m.execution(&ids[0]);
    assert_eq!(
        (first.status, first.settled_at),
        (ExecutionStatus::Completed, Some(due))
    );
    assert_eq!(
        m.chain.exec.rerun_queue().unwrap(),
        vec![(due, ids[1]), (due, ids[2])]
    );
    let pool = m.pool();
    let stakes: Vec<u64> = RUNNERS.iter().map(|r| m.stake(*r)).collect();
    for id in &ids[1..] {
        let e = m.execution(id);
        assert_eq!(e.status, ExecutionStatus::AwaitingRerun);
        assert_eq!((e.settled_at, e.rerun_fuel), (None, None));
        assert!(e.escrow > 0, "nothing paid while it waits");
        assert!(m.chain.exec.audit_pending(id).unwrap());
    }
    m.step(vec![]);
    let e = m.execution(&ids[1]);
    assert_eq!(
        (e.status, e.settled_at),
        (ExecutionStatus::Completed, Some(due + 1))
    );
    assert_eq!(m.chain.exec.rerun_queue().unwrap(), vec![(due, ids[2])]);
    assert_eq!(m.execution(&ids[2]).status, ExecutionStatus::AwaitingRerun);
    m.step(vec![]);
    let e = m.execution(&ids[2]);
    assert_eq!(
        (e.status, e.settled_at),
        (ExecutionStatus::Completed, Some(due + 2))
    );
    assert!(m.chain.exec.rerun_queue().unwrap().is_empty());
    assert!(m.pool() > pool, "two more shares, less two audits' fuel");
    assert_eq!(
        RUNNERS.iter().map(|r| m.stake(*r)).collect::<Vec<_>>(),
        stakes
    );
}

/// A lone runner has nobody to verify it: its wrong result would complete unverified. Audited,
/// it is rejected and its slash, less the fuel, goes to the payer.
#[test]
fn an_unverified_wrong_result_is_caught_by_an_audit() {
    let mut m = Market::with_runners(params(10_000), &[1]);
    let payer_before = m.chain.balance(&addr(PAYER));
    let burned_before = m.chain.exec.burned().unwrap();
    let batch = m.requests(1, Runner::Wrong, Verifiers::Lazy);
    let id = batch[0].hash();
    m.step(batch);
    let request_fee = payer_before - MAX_FEE - m.chain.balance(&addr(PAYER));
    m.run_to_end();
    let e = m.execution(&id);
    assert!(e.verifiers.is_empty());
    assert_eq!(e.status, ExecutionStatus::Rejected);
    let fuel_cost = e.rerun_fuel.expect("audited").div_ceil(1000);
    assert_eq!(m.stake(1), STAKE / 2);
    assert_eq!(
        m.chain.balance(&addr(PAYER)),
        payer_before - request_fee + STAKE / 2 - fuel_cost
    );
    assert_eq!(m.chain.exec.burned().unwrap(), burned_before);
}
