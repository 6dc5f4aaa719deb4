//! Market v2 (issue 15), the verification findings: each test states a rule of
//! docs/economy.md ("Changes from version 1") that version 1 broke.

mod common;

use common::*;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ExecutionStatus, Outcome, Receipt};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::Bundle;
use runnet_types::{Address, Hash, Payload};

const STAKE: u64 = 1_000_000;
const MAX_FEE: u64 = 1_000_000;
/// Account 0 publishes, 1..=8 run, 9 pays.
const PAYER: usize = 9;

fn params() -> Params {
    Params {
        verifiers_per_execution: 3,
        commit_window_ms: 2 * BLOCK_MS,
        reveal_window_ms: 2 * BLOCK_MS,
        min_runner_stake: 10_000,
        retention_ms: 50 * BLOCK_MS,
        ..test_params()
    }
}

struct Market {
    chain: Chain,
    service: Hash,
}

/// (stake, price per call, max_open) of each runner, accounts 1, 2, ...
type Terms = (u64, u64, u32);

impl Market {
    fn new(name: &str, params: Params, runners: &[Terms]) -> Market {
        let (definition, module) = example(name);
        let mut chain = Chain::with_params(10, params);
        let digest = Bundle::Wasm(module.clone()).digest();
        let receipt = chain.run(
            0,
            Payload::PublishService {
                definition: definition.clone(),
                bundle: Bundle::Wasm(module),
            },
        );
        assert_eq!(receipt.outcome, Outcome::Success, "{receipt:?}");
        let service = runnet_state::objects::service_id(&addr(0), &definition, &digest);
        let txs = runners
            .iter()
            .enumerate()
            .map(|(i, (stake, price, max_open))| {
                chain.tx(
                    i + 1,
                    Payload::RegisterRunner {
                        service,
                        stake: *stake,
                        price_per_call: *price,
                        price_per_kib: 0,
                        max_open: *max_open,
                    },
                )
            })
            .collect();
        let outcome = chain.block(txs);
        assert!(
            outcome
                .receipts
                .iter()
                .all(|r| r.outcome == Outcome::Success),
            "{:?}",
            outcome.receipts
        );
        Market { chain, service }
    }

    fn runner(&self, owner: usize) -> Hash {
        runner_id(&self.service, &addr(owner))
    }

    fn request_tx(&mut self, task: &str, inputs: Vec<u8>) -> runnet_types::SignedTx {
        self.chain.tx(
            PAYER,
            Payload::RequestExecution {
                service: self.service,
                task: task.into(),
                inputs,
                max_fee: MAX_FEE,
                runner: None,
            },
        )
    }

    /// Requests in one block; returns their ids once assigned (end of the next block).
    fn request_many(&mut self, task: &str, inputs: Vec<Vec<u8>>) -> Vec<Hash> {
        let txs: Vec<_> = inputs
            .into_iter()
            .map(|i| self.request_tx(task, i))
            .collect();
        let ids = txs.iter().map(|t| t.hash()).collect();
        let outcome = self.chain.block(txs);
        assert!(
            outcome
                .receipts
                .iter()
                .all(|r| r.outcome == Outcome::Success),
            "{:?}",
            outcome.receipts
        );
        self.chain.block(vec![]);
        ids
    }

    fn request(&mut self, task: &str, inputs: Vec<u8>) -> Hash {
        self.request_many(task, vec![inputs])[0]
    }

    fn execution(&self, id: &Hash) -> Execution {
        self.chain.exec.execution(id).unwrap().expect("execution")
    }

    fn owner_index(&self, address: Address) -> usize {
        (0..10).find(|i| addr(*i) == address).expect("known")
    }

    fn assigned(&self, id: &Hash) -> usize {
        let e = self.execution(id);
        assert_eq!(e.status, ExecutionStatus::Assigned, "{e:?}");
        self.owner_index(e.runner_owner.unwrap())
    }

    fn stake(&self, owner: usize) -> u64 {
        self.chain
            .exec
            .runner(&self.runner(owner))
            .unwrap()
            .unwrap()
            .stake
    }

    fn balance(&self, owner: usize) -> u64 {
        self.chain.balance(&addr(owner))
    }

    fn send(&mut self, who: usize, payload: Payload) -> Receipt {
        self.chain.run(who, payload)
    }

    fn commit_result(&mut self, id: &Hash, who: usize, result: &TaskResult) -> Hash {
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

    fn reveal_result(&mut self, id: &Hash, who: usize, result: TaskResult, salt: Hash) -> Receipt {
        self.send(
            who,
            Payload::RevealResult {
                execution: *id,
                result,
                salt,
            },
        )
    }

    fn verifiers(&self, id: &Hash) -> Vec<usize> {
        self.execution(id)
            .verifiers
            .iter()
            .map(|v| self.owner_index(v.owner))
            .collect()
    }

    /// Each verifier with a verdict commits it, all in one block; returns their salts.
    fn commit_verdicts(
        &mut self,
        id: &Hash,
        verdicts: &[(usize, Verdict)],
    ) -> Vec<(usize, Verdict, Hash)> {
        let mut txs = Vec::new();
        let mut kept = Vec::new();
        for (v, verdict) in verdicts {
            let salt = Hash::digest(&[*v as u8, 2]);
            let commitment = verdict_commitment(verdict, &salt, &addr(*v));
            txs.push(self.chain.tx(
                *v,
                Payload::CommitVerdict {
                    execution: *id,
                    commitment,
                },
            ));
            kept.push((*v, verdict.clone(), salt));
        }
        let outcome = self.chain.block(txs);
        assert!(
            outcome
                .receipts
                .iter()
                .all(|r| r.outcome == Outcome::Success),
            "{:?}",
            outcome.receipts
        );
        kept
    }

    fn reveal_verdicts(&mut self, id: &Hash, kept: &[(usize, Verdict, Hash)]) -> Vec<Receipt> {
        let txs = kept
            .iter()
            .map(|(v, verdict, salt)| {
                self.chain.tx(
                    *v,
                    Payload::RevealVerdict {
                        execution: *id,
                        verdict: verdict.clone(),
                        salt: *salt,
                    },
                )
            })
            .collect();
        self.chain.block(txs).receipts
    }

    fn until_final(&mut self, id: &Hash) -> Execution {
        for _ in 0..50 {
            let e = self.execution(id);
            if e.status.is_final() {
                return e;
            }
            self.chain.block(vec![]);
        }
        panic!("never settled: {:?}", self.execution(id));
    }
}

// ---- finding 9: price counts ----------------------------------------------------------------

/// A cheap runner with little stake against a dear one with much: the draw is among runners
/// priced within `price_band_bps` of the cheapest, so the dear one (10 times the price) never
/// wins, and one within the band still does.
#[test]
fn the_runner_draw_is_among_runners_priced_near_the_cheapest() {
    let runners = [
        (10_000, 1_000, 100),     // 1: cheapest, little stake
        (1_000_000, 10_000, 100), // 2: ten times the price, a hundred times the stake
        (90_000, 1_400, 100),     // 3: within 150% of the cheapest
    ];
    let mut m = Market::new("arith", params(), &runners);
    let ids = m.request_many("add", (0..40).map(|i| ints(i, 1)).collect());
    let mut wins = [0usize; 4];
    for id in &ids {
        wins[m.assigned(id)] += 1;
    }
    assert_eq!(
        wins[2], 0,
        "the runner at ten times the price won: {wins:?}"
    );
    assert!(wins[1] > 0 && wins[3] > 0, "{wins:?}");
    // Stake still weighs within the band: 3 holds nine times the stake of 1.
    assert!(wins[3] > wins[1], "{wins:?}");
}

// ---- finding 6: verification cannot be switched off ------------------------------------------

/// Every runner busy with its one execution (`max_open` 1) can still verify the others': verifier
/// eligibility ignores execution capacity.
#[test]
fn runners_at_execution_capacity_are_still_drawn_to_verify() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 1); 4]);
    let ids = m.request_many("add", (0..4).map(|i| ints(i, 1)).collect());
    let commits: Vec<_> = ids
        .iter()
        .map(|id| {
            let who = m.assigned(id);
            let salt = Hash::digest(&[who as u8, 1]);
            let commitment = result_commitment(&out(0), &salt, &addr(who));
            m.chain.tx(
                who,
                Payload::CommitResult {
                    execution: *id,
                    commitment,
                },
            )
        })
        .collect();
    m.chain.block(commits);
    m.chain.block(vec![]);
    for id in &ids {
        let e = m.execution(id);
        assert_eq!(e.status, ExecutionStatus::Verifying, "{e:?}");
        assert_eq!(e.verifiers.len(), 3);
    }
}

/// A separate bound caps verifying duties: with `max_open_verifications` 1, no runner verifies
/// two executions at once.
#[test]
fn verifying_duties_are_bounded_by_max_open_verifications() {
    let params = Params {
        max_open_verifications: 1,
        ..params()
    };
    let mut m = Market::new("arith", params, &[(STAKE, 1_000, 4); 4]);
    let ids = m.request_many("add", (0..4).map(|i| ints(i, 1)).collect());
    let commits: Vec<_> = ids
        .iter()
        .map(|id| {
            let who = m.assigned(id);
            let salt = Hash::digest(&[who as u8, 1]);
            let commitment = result_commitment(&out(0), &salt, &addr(who));
            m.chain.tx(
                who,
                Payload::CommitResult {
                    execution: *id,
                    commitment,
                },
            )
        })
        .collect();
    m.chain.block(commits);
    m.chain.block(vec![]);
    let drawn: usize = ids.iter().map(|id| m.execution(id).verifiers.len()).sum();
    assert!(drawn > 0);
    for i in 1..=4 {
        let r = m.chain.exec.runner(&m.runner(i)).unwrap().unwrap();
        assert!(
            r.open_duties - r.open_executions <= 1,
            "runner {i} verifies {} executions",
            r.open_duties - r.open_executions
        );
    }
}

/// An execution nobody verified pays the runner only `unverified_share` of its price; the rest
/// goes back to the payer.
#[test]
fn an_unverified_execution_pays_only_part_of_the_price() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 1)]);
    let payer_before = m.balance(PAYER);
    let developer_before = m.balance(0);
    let tx = m.request_tx("add", ints(2, 2));
    let id = tx.hash();
    let request_fee = m.chain.block(vec![tx]).receipts[0].fee;
    m.chain.block(vec![]);
    let salt = m.commit_result(&id, 1, &out(4));
    while m.execution(&id).result.is_none() {
        let e = m.execution(&id);
        if e.verifiers.is_empty() && e.status != ExecutionStatus::Committed {
            let r = m.reveal_result(&id, 1, out(4), salt);
            assert_eq!(r.outcome, Outcome::Success, "{r:?}");
        } else {
            m.chain.block(vec![]);
        }
    }
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::CompletedUnverified);
    let share = m.chain.exec.params().unverified_share;
    let paid = 1_000 * share / 10_000;
    assert!(paid < 1_000);
    assert_eq!(m.balance(0) - developer_before, paid * 2_000 / 10_000);
    assert_eq!(payer_before - m.balance(PAYER), request_fee + paid);
}

// ---- findings 4 and 5: the runner reveals first; withholding is never cheaper ----------------

/// Commits `result` for the execution's runner and lets the verifiers be drawn (deterministic
/// tasks); returns (runner, salt, verifiers).
fn committed(m: &mut Market, id: &Hash, result: &TaskResult) -> (usize, Hash, Vec<usize>) {
    let runner = m.assigned(id);
    let salt = m.commit_result(id, runner, result);
    m.chain.block(vec![]);
    let verifiers = m.verifiers(id);
    (runner, salt, verifiers)
}

fn rerun_verdicts(verifiers: &[usize], result: &TaskResult) -> Vec<(usize, Verdict)> {
    verifiers
        .iter()
        .map(|v| (*v, Verdict::Rerun(result.clone())))
        .collect()
}

/// The runner's reveal window comes first: verifiers cannot reveal before the runner has. A
/// runner that withholds its reveal once verifiers committed learned nothing from them; it misses
/// its duty and pays the committed verifiers' fees out of its stake (not the payer's escrow, and
/// not `wrong_result_slash`: docs/economy.md, "Downtime"), and the payer gets everything back.
#[test]
fn a_runner_withholding_its_reveal_pays_the_verifiers() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 4); 4]);
    let payer_before = m.balance(PAYER);
    let tx = m.request_tx("add", ints(2, 40));
    let id = tx.hash();
    let request_fee = m.chain.block(vec![tx]).receipts[0].fee;
    m.chain.block(vec![]);
    let (runner, _, verifiers) = committed(&mut m, &id, &out(41));
    assert_eq!(verifiers.len(), 3);
    let kept = m.commit_verdicts(&id, &rerun_verdicts(&verifiers, &out(42)));
    let before: Vec<u64> = verifiers.iter().map(|v| m.balance(*v)).collect();
    // The verifiers try to reveal first: refused, it is the runner's turn.
    for r in m.reveal_verdicts(&id, &kept) {
        assert_failed(&r, runnet_state::ErrorCode::WrongPhase);
    }
    let fees: Vec<u64> = verifiers
        .iter()
        .zip(&before)
        .map(|(v, b)| b - m.balance(*v))
        .collect();
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Expired);
    let fee = m.chain.exec.params().verifier_fee;
    assert_eq!(
        m.stake(runner),
        STAKE - 3 * fee,
        "withholding costs the committed verifiers' fees"
    );
    for ((v, b), spent) in verifiers.iter().zip(&before).zip(&fees) {
        assert_eq!(
            m.balance(*v),
            b - spent + fee,
            "verifier {v} paid from the slash"
        );
        assert_eq!(
            m.stake(*v),
            STAKE,
            "a verifier who committed is not slashed"
        );
    }
    assert_eq!(
        m.balance(PAYER),
        payer_before - request_fee,
        "the payer gets the whole escrow back"
    );
}

/// With no verifier committed there is nothing to hide from and nobody to pay: a withheld reveal
/// is a missed duty, and so is each drawn verifier's that never committed; nobody loses stake.
#[test]
fn a_runner_withholding_before_anyone_committed_misses_its_deadline() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 4); 4]);
    let id = m.request("add", ints(1, 1));
    let (runner, _, verifiers) = committed(&mut m, &id, &out(2));
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Expired);
    assert_eq!(m.stake(runner), STAKE);
    for v in verifiers {
        assert_eq!(m.stake(v), STAKE);
    }
    let r = m.chain.exec.runner(&m.runner(runner)).unwrap().unwrap();
    assert_eq!((r.duties, r.missed), (1, 1));
}

/// A verifier that committed and then withholds its reveal (having seen the runner's result)
/// loses `verifier_fault_slash`, as for a wrong verdict, not the smaller absent slash.
#[test]
fn a_verifier_withholding_after_committing_is_slashed_as_for_a_wrong_verdict() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 4); 4]);
    let id = m.request("add", ints(3, 4));
    let (runner, salt, verifiers) = committed(&mut m, &id, &out(7));
    // One verifier guessed wrong, and withholds once the runner's result shows it.
    let mut verdicts = rerun_verdicts(&verifiers, &out(7));
    verdicts[0].1 = Verdict::Rerun(out(8));
    let kept = m.commit_verdicts(&id, &verdicts);
    ok(&m.reveal_result(&id, runner, out(7), salt));
    for r in m.reveal_verdicts(&id, &kept[1..]) {
        ok(&r);
    }
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Completed);
    assert_eq!(m.stake(verifiers[0]), STAKE - STAKE * 2_000 / 10_000);
    for v in &verifiers[1..] {
        assert_eq!(m.stake(*v), STAKE);
    }
    assert_eq!(m.stake(runner), STAKE);
}

/// public_effect: the runner reveals right after its commitment, verifiers are drawn only then
/// and judge its revealed outputs; outputs the check refuses are rejected.
#[test]
fn public_effect_verifiers_are_drawn_after_the_runner_reveals() {
    let mut m = Market::new("factor", params(), &[(STAKE, 1_000, 4); 4]);
    let id = m.request("factor", 77i64.to_le_bytes().to_vec());
    let runner = m.assigned(&id);
    let bogus = TaskResult::Output([1i64.to_le_bytes(), 1i64.to_le_bytes()].concat());
    let salt = m.commit_result(&id, runner, &bogus);
    let e = m.execution(&id);
    assert!(e.verifiers.is_empty(), "nobody is drawn before the reveal");
    ok(&m.reveal_result(&id, runner, bogus.clone(), salt));
    m.chain.block(vec![]);
    let e = m.execution(&id);
    assert_eq!(e.status, ExecutionStatus::Verifying);
    assert_eq!(e.result, Some(bogus), "the verifiers see what they judge");
    let verifiers = m.verifiers(&id);
    assert_eq!(verifiers.len(), 3);
    let verdicts: Vec<_> = verifiers
        .iter()
        .map(|v| (*v, Verdict::Check { valid: false }))
        .collect();
    let kept = m.commit_verdicts(&id, &verdicts);
    for r in m.reveal_verdicts(&id, &kept) {
        ok(&r);
    }
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Rejected);
    assert_eq!(m.stake(runner), STAKE / 2);
}

// ---- finding 7: verifying is the best response ------------------------------------------------

/// (receipt gas of its CommitVerdict, of its RevealVerdict) for each verifier, and the execution.
fn verified_round(
    m: &mut Market,
    id: &Hash,
    result: &TaskResult,
    verdict_of: impl Fn(usize) -> Option<Verdict>,
) -> Vec<(usize, u64, u64)> {
    let runner = m.assigned(id);
    let salt = m.commit_result(id, runner, result);
    let public = m.execution(id).status == ExecutionStatus::RunnerRevealing;
    if public {
        ok(&m.reveal_result(id, runner, result.clone(), salt));
    }
    m.chain.block(vec![]);
    let verifiers = m.verifiers(id);
    let verdicts: Vec<(usize, Verdict)> = verifiers
        .iter()
        .filter_map(|v| verdict_of(*v).map(|d| (*v, d)))
        .collect();
    let mut commit_txs = Vec::new();
    let mut kept = Vec::new();
    for (v, verdict) in &verdicts {
        let salt = Hash::digest(&[*v as u8, 2]);
        commit_txs.push(m.chain.tx(
            *v,
            Payload::CommitVerdict {
                execution: *id,
                commitment: verdict_commitment(verdict, &salt, &addr(*v)),
            },
        ));
        kept.push((*v, verdict.clone(), salt));
    }
    let commits = m.chain.block(commit_txs).receipts;
    while m.execution(id).status == ExecutionStatus::Verifying {
        m.chain.block(vec![]);
    }
    if !public {
        ok(&m.reveal_result(id, runner, result.clone(), salt));
    }
    let reveals = m.reveal_verdicts(id, &kept);
    commits
        .iter()
        .zip(&reveals)
        .zip(&kept)
        .map(|((c, r), (v, _, _))| {
            ok(c);
            ok(r);
            (*v, c.gas_used, r.gas_used)
        })
        .collect()
}

/// With the default gas schedule and fee, an honest verifier's duty pays: its fee covers the
/// gas of its commit and its reveal. (Version 1: a fee of 1,000 against about 14,400 gas.)
#[test]
fn an_honest_verifier_is_paid_more_than_its_gas() {
    let mut m = Market::new("arith", params(), &[(STAKE, 1_000, 4); 4]);
    let id = m.request("add", ints(2, 40));
    let before: Vec<u64> = (0..10).map(|i| m.balance(i)).collect();
    let gas = verified_round(&mut m, &id, &out(42), |_| Some(Verdict::Rerun(out(42))));
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Completed);
    assert_eq!(gas.len(), 3);
    let params = m.chain.exec.params().clone();
    for (v, commit, reveal) in gas {
        eprintln!("verifier gas: commit {commit}, reveal of an 8-byte re-run {reveal}");
        assert!(
            m.balance(v) > before[v],
            "verifier {v} lost money verifying"
        );
        // The gas floor genesis validation holds the fee to, plus the re-run's result bytes.
        assert!(
            u128::from(commit + reveal)
                <= params.verifier_gas() + u128::from(params.gas.per_byte) * 8,
            "measured {} over the floor {}",
            commit + reveal,
            params.verifier_gas()
        );
    }
}

fn factor_result(p: i64, q: i64) -> TaskResult {
    TaskResult::Output([p.to_le_bytes(), q.to_le_bytes()].concat())
}

/// A runner named for a factor task, three verifiers of stakes 100,000, 100,000 and 10,000.
fn factor_market() -> (Market, Hash) {
    let runners = [
        (STAKE, 1_000, 4),
        (STAKE, 1_000, 4),
        (STAKE, 1_000, 4),
        (10_000, 1_000, 4),
    ];
    let mut m = Market::new("factor", params(), &runners);
    let named = m.runner(1);
    let tx = m.chain.tx(
        PAYER,
        Payload::RequestExecution {
            service: m.service,
            task: "factor".into(),
            inputs: 77i64.to_le_bytes().to_vec(),
            max_fee: MAX_FEE,
            runner: Some(named),
        },
    );
    let id = tx.hash();
    ok(&m.chain.block(vec![tx]).receipts[0]);
    m.chain.block(vec![]);
    (m, id)
}

/// A verdict carries with more than two thirds of the *revealed* stake: two verifiers saying
/// invalid reject a bogus result though the third never answered. (Version 1 needed three
/// invalid votes and two thirds of the drawn stake: one absent verifier let the cheat through.)
#[test]
fn two_thirds_of_the_revealed_stake_rejects_without_a_fixed_count() {
    let (mut m, id) = factor_market();
    let small = 4;
    verified_round(&mut m, &id, &factor_result(1, 1), |v| {
        (v != small).then_some(Verdict::Check { valid: false })
    });
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Rejected);
    assert_eq!(m.stake(1), STAKE / 2);
    assert_eq!(m.stake(small), 10_000, "absent: a missed duty, no stake");
}

/// Every revealed verifier is paid its fee whatever its verdict; the one against the outcome is
/// still slashed for it. (Version 1 paid only those who agreed: herding toward "valid".)
#[test]
fn every_revealed_verifier_is_paid_whatever_its_verdict() {
    let (mut m, id) = factor_market();
    let small = 4;
    let before = m.balance(small);
    let gas = verified_round(&mut m, &id, &factor_result(7, 11), |v| {
        Some(Verdict::Check { valid: v != small })
    });
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Completed, "200,000 of 210,000");
    let (_, commit, reveal) = gas.iter().find(|(v, _, _)| *v == small).copied().unwrap();
    let fee = m.chain.exec.params().verifier_fee;
    assert_eq!(m.balance(small), before - commit - reveal + fee);
    assert_eq!(m.stake(small), 10_000 - 10_000 * 2_000 / 10_000);
}
