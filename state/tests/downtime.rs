//! Downtime apart from cheating (issue 15, finding 3; docs/economy.md, "Downtime"): a missed duty
//! forfeits its fee and is recorded, not slashed; missing more than `max_missed_duties` of the last
//! `duty_window` duties jails a runner with one `downtime_slash`, until UnjailRunner; an honest
//! runner cut off between its commitment and its reveal pays the committed verifiers' fees, not
//! half its stake. Hard slashes stay for what the chain can attribute.

mod common;

use common::*;
use runnet_state::objects::{Execution, runner_id};
use runnet_state::{ExecutionStatus, Outcome, Receipt, ValidatorStatus};
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

impl Market {
    /// `runners` runners (accounts 1..) of `arith`, each with `stake`, price 1,000, max_open 64.
    fn new(params: Params, runners: usize, stake: u64) -> Market {
        let (definition, module) = example("arith");
        let mut chain = Chain::with_params(10, params);
        let digest = Bundle::Wasm(module.clone()).digest();
        ok(&chain.run(
            0,
            Payload::PublishService {
                definition: definition.clone(),
                bundle: Bundle::Wasm(module),
            },
        ));
        let service = runnet_state::objects::service_id(&addr(0), &definition, &digest);
        let txs = (1..=runners)
            .map(|i| {
                chain.tx(
                    i,
                    Payload::RegisterRunner {
                        service,
                        stake,
                        price_per_call: 1_000,
                        price_per_kib: 0,
                        max_open: 64,
                    },
                )
            })
            .collect();
        for r in chain.block(txs).receipts {
            ok(&r);
        }
        Market { chain, service }
    }

    fn runner(&self, owner: usize) -> Hash {
        runner_id(&self.service, &addr(owner))
    }

    fn record(&self, owner: usize) -> runnet_state::Runner {
        self.chain
            .exec
            .runner(&self.runner(owner))
            .unwrap()
            .unwrap()
    }

    fn stake(&self, owner: usize) -> u64 {
        self.record(owner).stake
    }

    fn balance(&self, owner: usize) -> u64 {
        self.chain.balance(&addr(owner))
    }

    fn execution(&self, id: &Hash) -> Execution {
        self.chain.exec.execution(id).unwrap().expect("execution")
    }

    fn owner_index(&self, address: Address) -> usize {
        (0..10).find(|i| addr(*i) == address).expect("known")
    }

    fn request_tx(&mut self, inputs: Vec<u8>, runner: Option<usize>) -> runnet_types::SignedTx {
        let runner = runner.map(|r| self.runner(r));
        self.chain.tx(
            PAYER,
            Payload::RequestExecution {
                service: self.service,
                task: "add".into(),
                inputs,
                max_fee: MAX_FEE,
                runner,
            },
        )
    }

    /// A request naming `runner` (or a draw), assigned at the end of the next block.
    fn request(&mut self, inputs: Vec<u8>, runner: Option<usize>) -> Hash {
        let tx = self.request_tx(inputs, runner);
        let id = tx.hash();
        ok(&self.chain.block(vec![tx]).receipts[0]);
        self.chain.block(vec![]);
        id
    }

    fn assigned(&self, id: &Hash) -> usize {
        let e = self.execution(id);
        assert_eq!(e.status, ExecutionStatus::Assigned, "{e:?}");
        self.owner_index(e.runner_owner.unwrap())
    }

    fn commit_result(&mut self, id: &Hash, who: usize, result: &TaskResult) -> Hash {
        let salt = Hash::digest(&[who as u8, 1]);
        let commitment = result_commitment(result, &salt, &addr(who));
        ok(&self.chain.run(
            who,
            Payload::CommitResult {
                execution: *id,
                commitment,
            },
        ));
        salt
    }

    fn reveal_result(&mut self, id: &Hash, who: usize, result: TaskResult, salt: Hash) -> Receipt {
        self.chain.run(
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
        for r in self.chain.block(txs).receipts {
            ok(&r);
        }
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

// ---- a missed duty forfeits its fee, not stake ------------------------------------------------

/// A runner that never commits: the execution expires, the payer gets everything back, the
/// runner earns nothing and keeps its whole stake.
#[test]
fn a_missed_deadline_forfeits_the_fee_and_no_stake() {
    let mut m = Market::new(params(), 1, STAKE);
    let payer_before = m.balance(PAYER);
    let runner_before = m.balance(1);
    let tx = m.request_tx(ints(2, 40), None);
    let id = tx.hash();
    let fee = m.chain.block(vec![tx]).receipts[0].fee;
    m.chain.block(vec![]);
    assert_eq!(m.assigned(&id), 1);
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Expired);
    assert_eq!(m.stake(1), STAKE, "a missed deadline costs no stake");
    assert_eq!(m.balance(1), runner_before, "and earns nothing");
    assert_eq!(
        m.balance(PAYER),
        payer_before - fee,
        "the payer is refunded"
    );
}

/// The censorship case: a proposer keeps the runner's commitment out of the chain until its
/// deadline passed. The runner loses the fee and gets a missed-duty mark, not stake.
#[test]
fn a_commitment_censored_past_the_deadline_costs_no_stake() {
    let mut m = Market::new(params(), 1, STAKE);
    let id = m.request(ints(1, 2), Some(1));
    let deadline = m.execution(&id).deadline.unwrap();
    while m.chain.now_ms() < deadline {
        m.chain.block(vec![]);
    }
    // The commitment lands one block late: refused, the execution expires.
    let commitment = result_commitment(&out(3), &Hash::digest(b"s"), &addr(1));
    let r = m.chain.run(
        1,
        Payload::CommitResult {
            execution: id,
            commitment,
        },
    );
    assert_ne!(r.outcome, Outcome::Success);
    assert_eq!(m.until_final(&id).status, ExecutionStatus::Expired);
    assert_eq!(m.stake(1), STAKE);
}

/// Drawn verifiers who never commit lose no stake: they forfeit the fee.
#[test]
fn absent_verifiers_forfeit_their_fee_and_no_stake() {
    let mut m = Market::new(params(), 4, STAKE);
    let id = m.request(ints(1, 1), None);
    let runner = m.assigned(&id);
    let salt = m.commit_result(&id, runner, &out(2));
    m.chain.block(vec![]);
    let verifiers = m.verifiers(&id);
    assert_eq!(verifiers.len(), 3);
    let before: Vec<u64> = verifiers.iter().map(|v| m.balance(*v)).collect();
    while m.execution(&id).status != ExecutionStatus::RunnerRevealing {
        m.chain.block(vec![]);
    }
    ok(&m.reveal_result(&id, runner, out(2), salt));
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::CompletedUnverified);
    for (v, b) in verifiers.iter().zip(before) {
        assert_eq!(m.stake(*v), STAKE, "absent verifier {v} keeps its stake");
        assert_eq!(m.balance(*v), b, "and is paid nothing");
    }
    assert_eq!(m.stake(runner), STAKE);
}

/// An honest runner cut off between its commitment and its reveal (the verifiers committed, but
/// nothing of theirs was revealed, so withholding taught it nothing): it pays each committed
/// verifier its `verifier_fee` out of its stake, nothing is burned, the payer gets everything
/// back. Not `wrong_result_slash`.
#[test]
fn a_runner_cut_off_after_committing_pays_the_verifiers_and_keeps_the_rest() {
    let mut m = Market::new(params(), 4, STAKE);
    let payer_before = m.balance(PAYER);
    let tx = m.request_tx(ints(2, 40), None);
    let id = tx.hash();
    let request_fee = m.chain.block(vec![tx]).receipts[0].fee;
    m.chain.block(vec![]);
    let runner = m.assigned(&id);
    m.commit_result(&id, runner, &out(42));
    m.chain.block(vec![]);
    let verifiers = m.verifiers(&id);
    assert_eq!(verifiers.len(), 3);
    let verdicts: Vec<_> = verifiers
        .iter()
        .map(|v| (*v, Verdict::Rerun(out(42))))
        .collect();
    let before: Vec<u64> = verifiers.iter().map(|v| m.balance(*v)).collect();
    m.commit_verdicts(&id, &verdicts);
    let spent: Vec<u64> = verifiers
        .iter()
        .zip(&before)
        .map(|(v, b)| b - m.balance(*v))
        .collect();
    let burned = m.chain.exec.burned().unwrap();
    let e = m.until_final(&id);
    assert_eq!(e.status, ExecutionStatus::Expired);
    let fee = m.chain.exec.params().verifier_fee;
    assert_eq!(
        m.stake(runner),
        STAKE - 3 * fee,
        "it pays the verifiers' fees, no more"
    );
    assert_eq!(m.chain.exec.burned().unwrap(), burned, "nothing is burned");
    for ((v, b), s) in verifiers.iter().zip(&before).zip(&spent) {
        assert_eq!(m.balance(*v), b - s + fee, "verifier {v} paid its fee");
        assert_eq!(m.stake(*v), STAKE);
    }
    assert_eq!(m.balance(PAYER), payer_before - request_fee);
}

/// Withholding never pays: a runner that committed a wrong result and withholds loses more than
/// one that never committed (it pays the verifiers' fees), and revealing the wrong result costs
/// `wrong_result_slash`, more than either.
#[test]
fn withholding_is_never_better_than_staying_offline_and_cheating_is_worse() {
    let mut m = Market::new(params(), 4, STAKE);
    // Offline: never commits.
    let offline = m.request(ints(1, 1), None);
    let a = m.assigned(&offline);
    m.until_final(&offline);
    let offline_cost = STAKE - m.stake(a);
    // Commits a wrong result, then withholds.
    let withheld = m.request(ints(1, 2), None);
    let b = m.assigned(&withheld);
    let b_before = m.stake(b);
    m.commit_result(&withheld, b, &out(99));
    m.chain.block(vec![]);
    let verdicts: Vec<_> = m
        .verifiers(&withheld)
        .iter()
        .map(|v| (*v, Verdict::Rerun(out(3))))
        .collect();
    m.commit_verdicts(&withheld, &verdicts);
    m.until_final(&withheld);
    let withheld_cost = b_before - m.stake(b);
    // Commits a wrong result and reveals it.
    let cheat = m.request(ints(2, 2), None);
    let c = m.assigned(&cheat);
    let c_before = m.stake(c);
    let salt = m.commit_result(&cheat, c, &out(99));
    m.chain.block(vec![]);
    let verdicts: Vec<_> = m
        .verifiers(&cheat)
        .iter()
        .map(|v| (*v, Verdict::Rerun(out(4))))
        .collect();
    let kept = m.commit_verdicts(&cheat, &verdicts);
    ok(&m.reveal_result(&cheat, c, out(99), salt));
    for r in m.reveal_verdicts(&cheat, &kept) {
        ok(&r);
    }
    assert_eq!(m.until_final(&cheat).status, ExecutionStatus::Rejected);
    let cheat_cost = c_before - m.stake(c);
    assert_eq!(offline_cost, 0);
    assert!(
        withheld_cost > offline_cost,
        "{withheld_cost} vs {offline_cost}"
    );
    assert!(
        cheat_cost > withheld_cost,
        "{cheat_cost} vs {withheld_cost}"
    );
}

// ---- missing many duties jails -----------------------------------------------------------------

/// A runner that misses more than `max_missed_duties` of its last `duty_window` duties gets no
/// more work: requests naming it are refused and draws pass it by, while a runner that missed
/// `max_missed_duties` still works.
#[test]
fn a_runner_missing_more_than_its_share_of_duties_gets_no_more_work() {
    let p = Params {
        duty_window: 8,
        max_missed_duties: 4,
        ..params()
    };
    let mut m = Market::new(p, 2, STAKE);
    // Runner 1 misses five duties, runner 2 four, each named so the draw plays no part.
    let mut ids = Vec::new();
    let mut txs: Vec<_> = (0..5).map(|i| m.request_tx(ints(i, 1), Some(1))).collect();
    txs.extend((0..4).map(|i| m.request_tx(ints(i, 2), Some(2))));
    ids.extend(txs.iter().map(|t| t.hash()));
    for r in m.chain.block(txs).receipts {
        ok(&r);
    }
    for id in &ids {
        m.until_final(id);
    }
    let named_1 = m.request_tx(ints(9, 9), Some(1));
    assert_failed(
        &m.chain.block(vec![named_1]).receipts[0],
        runnet_state::ErrorCode::RunnerIneligible,
    );
    let named_2 = m.request_tx(ints(9, 9), Some(2));
    ok(&m.chain.block(vec![named_2]).receipts[0]);
    // Drawn: only runner 2 is ever assigned.
    let txs: Vec<_> = (0..10).map(|i| m.request_tx(ints(i, 7), None)).collect();
    let drawn: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
    m.chain.block(txs);
    m.chain.block(vec![]);
    for id in &drawn {
        assert_eq!(m.assigned(id), 2);
    }
}

/// The jail itself: one `downtime_slash`, status `jailed` for `downtime_jail_blocks`, no verifier
/// draws meanwhile; UnjailRunner refused before the end (`jail_not_over`), from another account
/// (`not_runner_owner`) and for a runner that is not jailed (`not_jailed`); after it the runner
/// works again with a fresh record.
#[test]
fn a_jailed_runner_pays_one_small_slash_and_returns_with_unjail_runner() {
    let p = Params {
        duty_window: 8,
        max_missed_duties: 4,
        downtime_jail_ms: 30 * BLOCK_MS,
        ..params()
    };
    let slash = p.downtime_slash;
    let mut m = Market::new(p, 4, STAKE);
    let txs: Vec<_> = (0..5).map(|i| m.request_tx(ints(i, 1), Some(1))).collect();
    let ids: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
    m.chain.block(txs);
    for id in &ids {
        m.until_final(id);
    }
    let r = m.record(1);
    let jailed_at = m.execution(&ids[4]).settled_at.unwrap();
    assert_eq!(
        r.status,
        runnet_state::RunnerStatus::Jailed {
            until: (jailed_at + 30) * BLOCK_MS
        }
    );
    assert_eq!(
        r.stake,
        STAKE - STAKE * slash / 10_000,
        "one slash, not five"
    );
    assert_eq!((r.duties, r.missed, r.missed_log), (5, 5, 0));
    // Verifier draws pass it by.
    for i in 0..6 {
        let id = m.request(ints(i, 5), Some(2));
        m.commit_result(&id, 2, &out(i + 5));
        m.chain.block(vec![]);
        assert!(!m.verifiers(&id).contains(&1), "a jailed runner was drawn");
    }
    let unjail = |m: &Market, stake| Payload::UnjailRunner {
        runner: m.runner(1),
        stake,
    };
    let p = unjail(&m, 0);
    assert_failed(
        &m.chain.run(1, p.clone()),
        runnet_state::ErrorCode::JailNotOver,
    );
    while m.chain.exec.height() < jailed_at + 30 {
        m.chain.block(vec![]);
    }
    assert_failed(
        &m.chain.run(2, p.clone()),
        runnet_state::ErrorCode::NotRunnerOwner,
    );
    ok(&m.chain.run(1, p.clone()));
    assert_failed(&m.chain.run(1, p), runnet_state::ErrorCode::NotJailed);
    let r = m.record(1);
    assert_eq!(r.status, runnet_state::RunnerStatus::Active);
    assert_eq!(r.missed_in_window(8), 0);
    let id = m.request(ints(1, 1), Some(1));
    assert_eq!(m.assigned(&id), 1);
}

/// A runner at the minimum stake is not expelled by a downtime slash: jailed below the minimum,
/// it comes back by topping up with UnjailRunner (`stake_below_minimum` without it). A jailed
/// runner may also leave.
#[test]
fn a_runner_at_the_minimum_stake_tops_up_to_unjail() {
    let p = Params {
        duty_window: 8,
        max_missed_duties: 1,
        downtime_jail_ms: 5 * BLOCK_MS,
        ..params()
    };
    let min = p.min_runner_stake;
    let mut m = Market::new(p, 2, min);
    let mut txs: Vec<_> = (0..2).map(|i| m.request_tx(ints(i, 1), Some(1))).collect();
    txs.push(m.request_tx(ints(0, 2), Some(2)));
    let ids: Vec<Hash> = txs.iter().map(|t| t.hash()).collect();
    m.chain.block(txs);
    for id in &ids {
        m.until_final(id);
    }
    let r = m.record(1);
    assert!(matches!(
        r.status,
        runnet_state::RunnerStatus::Jailed { .. }
    ));
    assert!(r.stake < min);
    m.chain.empty_blocks(6);
    let short = min - r.stake;
    let unjail = |m: &Market, stake| Payload::UnjailRunner {
        runner: m.runner(1),
        stake,
    };
    let p = unjail(&m, short - 1);
    assert_failed(
        &m.chain.run(1, p),
        runnet_state::ErrorCode::StakeBelowMinimum,
    );
    let before = m.balance(1);
    let p = unjail(&m, short);
    let receipt = m.chain.run(1, p);
    ok(&receipt);
    assert_eq!(m.balance(1), before - short - receipt.fee);
    assert_eq!(m.stake(1), min);
    // Runner 2 missed one duty, not more than max_missed_duties: still active.
    assert_eq!(m.record(2).status, runnet_state::RunnerStatus::Active);
    // Jail it too and let it leave from the jail.
    let id = m.request(ints(5, 5), Some(2));
    m.until_final(&id);
    assert!(matches!(
        m.record(2).status,
        runnet_state::RunnerStatus::Jailed { .. }
    ));
    let runner = m.runner(2);
    ok(&m.chain.run(2, Payload::UnregisterRunner { runner }));
    assert_eq!(m.record(2).status, runnet_state::RunnerStatus::Leaving);
}

// ---- validators: downtime from the certificates' signers --------------------------------------

/// Genesis validator (index 0 of the set, the larger stake) and account 0's validator (index 1),
/// both in the set from epoch 1 on; returns the chain at the first block of epoch 1.
fn two_validators(p: Params) -> Chain {
    let mut chain = Chain::with_params(10, p);
    assert!(
        chain
            .run(0, bond_payload(0, 0, "peer-a", 500_000))
            .is_success()
    );
    while chain.exec.committee(1).unwrap().is_none() {
        chain.block(vec![]);
    }
    assert_eq!(chain.exec.committee(1).unwrap().unwrap().len(), 2);
    let epoch_blocks = chain.exec.params().epoch_ms / 100;
    while chain.exec.height() < epoch_blocks + 1 {
        chain.block(vec![]);
    }
    chain
}

fn validator_params() -> Params {
    Params {
        epoch_ms: 2_000,
        max_evidence_age_ms: 500,
        signed_blocks_window: 10,
        max_missed_blocks: 5,
        downtime_jail_ms: 25 * BLOCK_MS,
        ..test_params()
    }
}

/// A validator missing from more than `max_missed_blocks` of the last `signed_blocks_window`
/// certificates is jailed once with one `downtime_slash` (burned) and is not in the next
/// committee; Unjail is refused until the jail is over, and then it returns with a fresh record.
#[test]
fn a_validator_missing_from_certificates_is_jailed_and_leaves_the_next_committee() {
    let p = validator_params();
    let slash = p.downtime_slash;
    let mut chain = two_validators(p);
    let b = addr(0);
    let burned = chain.exec.burned().unwrap();
    // Only the genesis validator signs; the proposer is nobody's validator.
    chain.signers = Some(vec![0]);
    for _ in 0..5 {
        chain.block(vec![]);
    }
    assert_eq!(
        chain.exec.validator_liveness(&b).unwrap().unwrap().missed,
        5
    );
    assert_eq!(
        chain.exec.validator(&b).unwrap().unwrap().status,
        ValidatorStatus::Active,
        "five of ten missed: not more than max_missed_blocks"
    );
    chain.block(vec![]);
    let jailed_at = chain.exec.height();
    let v = chain.exec.validator(&b).unwrap().unwrap();
    assert_eq!(
        v.status,
        ValidatorStatus::Jailed {
            until: (jailed_at + 25) * BLOCK_MS
        }
    );
    let taken = 500_000 * slash / 10_000;
    assert_eq!(v.stake, 500_000 - taken);
    assert_eq!(chain.exec.burned().unwrap(), burned + taken);
    assert_eq!(chain.exec.validator_liveness(&b).unwrap(), None);
    // Still missing while jailed: no second slash.
    for _ in 0..8 {
        chain.block(vec![]);
    }
    assert_eq!(
        chain.exec.validator(&b).unwrap().unwrap().stake,
        500_000 - taken
    );
    // The next committee leaves it out.
    while chain.exec.committee(2).unwrap().is_none() {
        chain.block(vec![]);
    }
    let next = chain.exec.committee(2).unwrap().unwrap();
    assert_eq!(next.len(), 1);
    assert_ne!(next.validators()[0].address, b);
    assert_failed(
        &chain.run(0, Payload::Unjail),
        runnet_state::ErrorCode::JailNotOver,
    );
    while chain.exec.height() < jailed_at + 25 {
        chain.block(vec![]);
    }
    assert!(chain.run(0, Payload::Unjail).is_success());
    assert_eq!(
        chain.exec.validator(&b).unwrap().unwrap().status,
        ValidatorStatus::Active
    );
    assert_eq!(chain.exec.validator_liveness(&b).unwrap(), None);
}

/// Heights count as signed for the block's proposer, for blocks that name no signers (the first
/// of an epoch) and when the executing node passes none; a validator in half of the
/// certificates is never jailed, and its record follows the window.
#[test]
fn proposers_unsigned_blocks_and_half_the_certificates_never_jail() {
    let mut chain = two_validators(validator_params());
    let b = addr(0);
    for i in 0..30 {
        chain.signers = Some(if i % 2 == 0 { vec![0] } else { vec![0, 1] });
        chain.block(vec![]);
    }
    let v = chain.exec.validator(&b).unwrap().unwrap();
    assert_eq!(v.status, ValidatorStatus::Active);
    assert_eq!(
        chain.exec.validator_liveness(&b).unwrap().unwrap().missed,
        5
    );
    // Ten blocks it proposed, unnamed by their certificates: the record empties.
    chain.proposer = b;
    chain.signers = Some(vec![0]);
    for _ in 0..10 {
        chain.block(vec![]);
    }
    assert_eq!(
        chain.exec.validator_liveness(&b).unwrap().unwrap().missed,
        0
    );
    chain.proposer = Address([0xEE; 20]);
    for signers in [Some(vec![]), None] {
        chain.signers = signers;
        for _ in 0..10 {
            chain.block(vec![]);
        }
        assert_eq!(
            chain.exec.validator_liveness(&b).unwrap().unwrap().missed,
            0
        );
    }
}
