//! The chain's own re-runs of disputed WebAssembly executions under the per-block fuel budget
//! (`max_rerun_fuel_per_block`): disputes that settle together never make a block re-run more
//! than the budget, the rest wait in order (`awaiting_rerun`) and nothing about them changes while
//! they wait.
//!
//! The workload: `mixer.mix` with more rounds than the fuel cap allows, so every honest answer is
//! `vm:out_of_fuel` and every re-run burns exactly `max_task_fuel`, the worst case the budget
//! counts. Two runners, one verifier per execution: each execution's verifier is the other runner,
//! and it lies, so every execution is a dispute the chain must judge.

mod common;

use common::*;
use runnet_state::bundle::result_of_run;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ErrorCode, ExecutionStatus, Outcome, Receipt, RunnerStatus};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Hash, Payload, SignedTx};
use std::collections::BTreeMap;

const STAKE: u64 = 100_000;
const TASK_FUEL: u64 = 1_000_000;
/// Two worst-case re-runs per block.
const BUDGET: u64 = 2 * TASK_FUEL;
const PAYER: usize = 9;
const RUNNERS: [usize; 2] = [1, 2];

fn params() -> Params {
    Params {
        verifiers_per_execution: 1,
        commit_window_ms: 2 * BLOCK_MS,
        reveal_window_ms: 2 * BLOCK_MS,
        min_runner_stake: 10_000,
        fuel_price: 1,
        // Small enough that a debug build re-runs quickly; the rule does not depend on the size.
        max_task_fuel: TASK_FUEL,
        max_rerun_fuel_per_block: BUDGET,
        retention_ms: 100 * BLOCK_MS,
        ..test_params()
    }
}

fn mixer() -> (Vec<u8>, Vec<u8>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
    let json = std::fs::read_to_string(dir.join("mixer.json")).unwrap();
    let mut definition: ServiceDefinition = serde_json::from_str(&json).unwrap();
    at_test_pace(&mut definition);
    let wat = std::fs::read_to_string(dir.join("mixer.wat")).unwrap();
    (
        definition.to_canonical_bytes(),
        runnet_vm_exec::wat_to_wasm(&wat).unwrap(),
    )
}

struct Market {
    chain: Chain,
    service: Hash,
    module: Vec<u8>,
    ids: Vec<Hash>,
}

fn salt(id: &Hash, who: usize) -> Hash {
    runnet_types::encoding::hash_of(&(id, who as u64))
}

impl Market {
    fn new() -> Market {
        let mut chain = Chain::with_params(10, params());
        let (definition, module) = mixer();
        let terms = RunnerTerms {
            stake: STAKE,
            price_per_call: 1_000,
            price_per_kib: 0,
            max_open: 20,
        };
        let service = chain.publish_with_runners(
            &definition,
            Bundle::Wasm(module.clone()),
            RUNNERS.iter().copied(),
            &terms,
        );
        Market {
            chain,
            service,
            module,
            ids: Vec::new(),
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

    /// What the chain's re-run gives: more rounds than the fuel cap, so `vm:out_of_fuel`.
    fn honest(&self, e: &Execution) -> TaskResult {
        let fuel = self.chain.exec.params().max_task_fuel;
        result_of_run(
            self.chain
                .exec
                .vm()
                .run(&self.module, &e.task, &e.inputs, fuel, 64),
        )
        .unwrap()
        .0
    }

    /// `n` requests of `mix`, each with its own seed, in one transaction list.
    fn requests(&mut self, n: usize) -> Vec<SignedTx> {
        (0..n)
            .map(|i| {
                let seed = self.ids.len() as i64 + i as i64;
                let inputs = [i64::MAX.to_le_bytes(), seed.to_le_bytes()].concat();
                self.chain.tx(
                    PAYER,
                    Payload::RequestExecution {
                        service: self.service,
                        task: "mix".into(),
                        inputs,
                        max_fee: 100_000,
                        runner: None,
                    },
                )
            })
            .collect()
    }

    /// The runner commits and reveals the honest result; the verifier commits and reveals a lie.
    fn agents(&mut self) -> Vec<SignedTx> {
        let lie = TaskResult::Output(vec![0xAB; 8]);
        let mut txs = Vec::new();
        for id in self.ids.clone() {
            let e = self.execution(&id);
            let honest = self.honest(&e);
            let runner = e.runner_owner.map(Market::index);
            match e.status {
                ExecutionStatus::Assigned => {
                    let who = runner.unwrap();
                    let commitment = result_commitment(&honest, &salt(&id, who), &addr(who));
                    txs.push(self.chain.tx(
                        who,
                        Payload::CommitResult {
                            execution: id,
                            commitment,
                        },
                    ));
                }
                ExecutionStatus::Verifying => {
                    for slot in e.verifiers.iter().filter(|s| s.commitment.is_none()) {
                        let who = Market::index(slot.owner);
                        let verdict = Verdict::Rerun(lie.clone());
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
                                result: honest.clone(),
                                salt: salt(&id, who),
                            },
                        ));
                    }
                    for slot in e.verifiers.iter().filter(|s| s.verdict.is_none()) {
                        let who = Market::index(slot.owner);
                        txs.push(self.chain.tx(
                            who,
                            Payload::RevealVerdict {
                                execution: id,
                                verdict: Verdict::Rerun(lie.clone()),
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
        self.step_with(requests, |_| Vec::new());
    }

    /// As [`Market::step`], with transactions `others` makes after the agents' (so nonces stay
    /// in order); their receipts are returned, whatever they say.
    fn step_with(
        &mut self,
        requests: Vec<SignedTx>,
        others: impl FnOnce(&mut Market) -> Vec<SignedTx>,
    ) -> Vec<Receipt> {
        let mut txs = self.agents();
        self.ids.extend(requests.iter().map(|t| t.hash()));
        txs.extend(requests);
        let ours = txs.len();
        txs.extend(others(self));
        let mut receipts = self.chain.block(txs).receipts;
        for r in &receipts[..ours] {
            assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        }
        receipts.split_off(ours)
    }

    /// Fuel the chain re-ran at each height: the executions that settled there with a re-run.
    fn rerun_fuel_by_height(&self) -> BTreeMap<u64, u64> {
        let mut by_height = BTreeMap::new();
        for id in &self.ids {
            let e = self.execution(id);
            if let (Some(height), Some(fuel)) = (e.settled_at, e.rerun_fuel) {
                *by_height.entry(height).or_default() += fuel;
            }
        }
        by_height
    }

    fn all_final(&self) -> bool {
        self.ids
            .iter()
            .all(|id| self.execution(id).status.is_final())
    }
}

#[test]
fn disputes_settling_in_one_block_rerun_within_the_block_budget() {
    const K: usize = 5;
    let mut m = Market::new();
    let batch = m.requests(K);
    m.step(batch);
    for _ in 0..30 {
        if m.all_final() {
            break;
        }
        m.step(vec![]);
    }
    assert!(m.all_final(), "every dispute was judged in the end");
    // Every execution was a dispute the chain re-ran at the worst case.
    for id in &m.ids {
        let e = m.execution(id);
        assert_eq!(e.status, ExecutionStatus::Completed);
        assert_eq!(
            e.rerun_fuel,
            Some(TASK_FUEL),
            "a re-run of the whole fuel cap"
        );
    }
    let by_height = m.rerun_fuel_by_height();
    assert_eq!(by_height.values().sum::<u64>(), K as u64 * TASK_FUEL);
    for (height, fuel) in &by_height {
        assert!(
            *fuel <= BUDGET,
            "block {height} re-ran {fuel} fuel, over the budget of {BUDGET}: {by_height:?}"
        );
    }
    // Two a block: the five disputes took three blocks.
    assert_eq!(by_height.len(), K.div_ceil(2), "{by_height:?}");
    // Each lying verifier was slashed once per execution it verified, however long it waited.
    for owner in RUNNERS {
        let verified = m
            .ids
            .iter()
            .filter(|id| m.execution(id).verifiers[0].owner == addr(owner))
            .count();
        let mut stake = STAKE;
        for _ in 0..verified {
            stake -= stake * 2_000 / 10_000;
        }
        assert_eq!(m.stake(owner), stake, "runner {owner} verified {verified}");
    }
    assert!(m.chain.exec.rerun_queue().unwrap().is_empty());
}

/// What settles when: disputes due in one block run in execution id order, those left over run
/// before any that came due later, and each waits as `awaiting_rerun`, untouched.
#[test]
fn waiting_disputes_run_first_come_first_served_and_nothing_changes_while_they_wait() {
    let mut m = Market::new();
    let first = m.requests(3);
    m.step(first);
    let requested = m.chain.exec.height();
    let second = m.requests(3);
    m.step(second);
    let sorted = |ids: &[Hash]| {
        let mut ids = ids.to_vec();
        ids.sort();
        ids
    };
    let (a, b) = (sorted(&m.ids[..3]), sorted(&m.ids[3..]));
    // Request at r, assignment r+1, commit r+2, draw r+3, verdicts committed r+4, everyone
    // reveals in r+5: the first batch's settlements come due at r+5, the second's at r+6.
    let due = requested + 5;
    while m.chain.exec.height() < due {
        m.step(vec![]);
    }
    // End of r+5: two re-runs fit; the third of the first batch waits.
    for id in &a[..2] {
        let e = m.execution(id);
        assert_eq!(
            (e.status, e.settled_at),
            (ExecutionStatus::Completed, Some(due))
        );
    }
    let waiting = m.execution(&a[2]);
    assert_eq!(waiting.status, ExecutionStatus::AwaitingRerun);
    assert_eq!((waiting.settled_at, waiting.rerun_fuel), (None, None));
    assert!(waiting.escrow > 0, "its escrow stays held");
    assert_eq!(m.chain.exec.rerun_queue().unwrap(), vec![(due, a[2])]);
    assert_eq!(m.chain.exec.execution_summary(&a[2]).unwrap(), None);
    let verifier = Market::index(waiting.verifiers[0].owner);
    let stakes: Vec<u64> = RUNNERS.iter().map(|r| m.stake(*r)).collect();
    // While it waits it takes no reveal: the window it had is over.
    let salt = salt(&a[2], verifier);
    let receipts = m.step_with(vec![], |m| {
        vec![m.chain.tx(
            verifier,
            Payload::RevealVerdict {
                execution: a[2],
                verdict: Verdict::Rerun(TaskResult::Output(vec![1; 8])),
                salt,
            },
        )]
    });
    assert_failed(&receipts[0], ErrorCode::WrongPhase);
    // End of r+6: the first batch's last, then the second batch's first; two wait behind.
    let e = m.execution(&a[2]);
    assert_eq!(
        (e.status, e.settled_at),
        (ExecutionStatus::Completed, Some(due + 1))
    );
    assert_eq!(
        Execution {
            status: waiting.status,
            settled_at: None,
            rerun_fuel: None,
            escrow: waiting.escrow,
            ..e.clone()
        },
        waiting,
        "only the judgement changed it"
    );
    // Its verifier's one slash happened at the judgement, not before.
    assert!(m.stake(verifier) < stakes[verifier - 1]);
    let e = m.execution(&b[0]);
    assert_eq!(
        (e.status, e.settled_at),
        (ExecutionStatus::Completed, Some(due + 1))
    );
    assert_eq!(
        m.chain.exec.rerun_queue().unwrap(),
        vec![(due + 1, b[1]), (due + 1, b[2])]
    );
    let snapshots: Vec<Execution> = b[1..].iter().map(|id| m.execution(id)).collect();
    for snapshot in &snapshots {
        assert_eq!(snapshot.status, ExecutionStatus::AwaitingRerun);
    }
    m.step(vec![]);
    for id in &b[1..] {
        let e = m.execution(id);
        assert_eq!(
            (e.status, e.settled_at),
            (ExecutionStatus::Completed, Some(due + 2))
        );
    }
    assert!(m.chain.exec.rerun_queue().unwrap().is_empty());
    let by_height = m.rerun_fuel_by_height();
    assert_eq!(
        by_height.into_iter().collect::<Vec<_>>(),
        vec![(due, BUDGET), (due + 1, BUDGET), (due + 2, BUDGET)]
    );
}

/// A party to a waiting dispute cannot leave with its stake before the judgement: the duty
/// stays open, and the slash lands when the re-run runs.
#[test]
fn a_verifier_cannot_unbond_out_of_a_waiting_dispute() {
    let mut m = Market::new();
    let batch = m.requests(5);
    m.step(batch);
    let due = m.chain.exec.height() + 5;
    while m.chain.exec.height() < due {
        m.step(vec![]);
    }
    let queue = m.chain.exec.rerun_queue().unwrap();
    assert_eq!(queue.len(), 3, "two of five ran at once: {queue:?}");
    let (_, last) = queue[2];
    let verifier = Market::index(m.execution(&last).verifiers[0].owner);
    let receipts = m.step_with(vec![], |m| {
        let runner = runner_id(&m.service, &addr(verifier));
        vec![m.chain.tx(verifier, Payload::UnregisterRunner { runner })]
    });
    assert_eq!(receipts[0].outcome, Outcome::Success);
    // After block due + 1 the last one still waits: its verifier is leaving, not released.
    assert_eq!(m.execution(&last).status, ExecutionStatus::AwaitingRerun);
    let runner = runner_id(&m.service, &addr(verifier));
    let r = m.chain.exec.runner(&runner).unwrap().unwrap();
    assert_eq!(r.status, RunnerStatus::Leaving);
    assert_eq!(r.release_at, None, "a waiting dispute is an open duty");
    assert!(r.open_duties >= 1);
    let before = r.stake;
    m.step(vec![]);
    let e = m.execution(&last);
    assert_eq!(
        (e.status, e.settled_at),
        (ExecutionStatus::Completed, Some(due + 2))
    );
    let r = m.chain.exec.runner(&runner).unwrap().unwrap();
    assert_eq!(
        r.stake,
        before - before * 2_000 / 10_000,
        "slashed at the judgement"
    );
    assert_eq!(r.open_duties, 0);
    assert!(
        r.release_at.is_some(),
        "released only once the last duty settled"
    );
}
