//! Property test over random economy workloads: runners and verifiers that are honest, cheat,
//! stay silent or lie, on a WebAssembly service. After every block the supply is conserved (the
//! harness checks it); at the end every execution has ended exactly once with its escrow fully
//! paid out, no honest party was ever slashed, nothing panicked, and the in-memory and RocksDB
//! stores agree on every root.

mod common;

use common::*;
use proptest::prelude::*;
use runnet_state::bundle::result_of_run;
use runnet_state::objects::{runner_id, service_id};
use runnet_state::store::{MemStore, RocksStore, Store};
use runnet_state::{ExecutionStatus, Outcome};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::Params;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Hash, Payload, SignedTx};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Behaviour {
    Honest,
    /// Reports a wrong result as runner; verifies honestly.
    Cheat,
    /// Never commits anything.
    Silent,
    /// Honest runner, lying verifier.
    Liar,
}

const RUNNERS: usize = 5;
const PAYER: usize = 9;
const STAKE: u64 = 100_000;

fn params() -> Params {
    Params {
        verifiers_per_execution: 3,
        verifier_fee: 100,
        commit_window: 2,
        reveal_window: 2,
        min_runner_stake: 10_000,
        ..test_params()
    }
}

fn arith() -> (Vec<u8>, Vec<u8>) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
    let definition: ServiceDefinition =
        serde_json::from_str(&std::fs::read_to_string(dir.join("arith.json")).unwrap()).unwrap();
    let wat = std::fs::read_to_string(dir.join("arith.wat")).unwrap();
    (
        definition.to_canonical_bytes(),
        runnet_vm_exec::wat_to_wasm(&wat).unwrap(),
    )
}

fn salt(id: &Hash, who: usize) -> Hash {
    runnet_types::encoding::hash_of(&(id, who as u64))
}

fn signed(chain: &Chain, nonces: &mut [u64], who: usize, payload: Payload) -> SignedTx {
    let mut body = chain.body(who, payload);
    body.nonce = nonces[who];
    nonces[who] += 1;
    body.sign(&key(who))
}

/// What every agent does after a block, as transactions for the next one.
fn agents(chain: &Chain, module: &[u8], ids: &[Hash], behaviours: &[Behaviour]) -> Vec<SignedTx> {
    let mut nonces: Vec<u64> = (0..10)
        .map(|i| chain.exec.account(&addr(i)).unwrap().nonce)
        .collect();
    let mut txs = Vec::new();
    let index = |address| (0..10).find(|i| addr(*i) == address).unwrap();
    for id in ids {
        let Some(e) = chain.exec.execution(id).unwrap() else {
            continue;
        };
        let honest = result_of_run(
            chain
                .exec
                .vm()
                .run(module, &e.task, &e.inputs, 10_000_000, 64),
        )
        .unwrap()
        .0;
        let lie = TaskResult::Output(vec![0xAB; 8]);
        let runner = e.runner_owner.map(index);
        let runner_result = |who: usize| {
            if behaviours[who] == Behaviour::Cheat {
                lie.clone()
            } else {
                honest.clone()
            }
        };
        match e.status {
            ExecutionStatus::Assigned => {
                let who = runner.unwrap();
                if behaviours[who] != Behaviour::Silent {
                    let commitment =
                        result_commitment(&runner_result(who), &salt(id, who), &addr(who));
                    txs.push(signed(
                        chain,
                        &mut nonces,
                        who,
                        Payload::CommitResult {
                            execution: *id,
                            commitment,
                        },
                    ));
                }
            }
            ExecutionStatus::Verifying | ExecutionStatus::Revealing => {
                for slot in &e.verifiers {
                    let who = index(slot.owner);
                    let verdict = Verdict::Rerun(if behaviours[who] == Behaviour::Liar {
                        lie.clone()
                    } else {
                        honest.clone()
                    });
                    if behaviours[who] == Behaviour::Silent {
                        continue;
                    }
                    if e.status == ExecutionStatus::Verifying && slot.commitment.is_none() {
                        let commitment = verdict_commitment(&verdict, &salt(id, who), &addr(who));
                        txs.push(signed(
                            chain,
                            &mut nonces,
                            who,
                            Payload::CommitVerdict {
                                execution: *id,
                                commitment,
                            },
                        ));
                    } else if e.status == ExecutionStatus::Revealing
                        && slot.commitment.is_some()
                        && slot.verdict.is_none()
                    {
                        txs.push(signed(
                            chain,
                            &mut nonces,
                            who,
                            Payload::RevealVerdict {
                                execution: *id,
                                verdict,
                                salt: salt(id, who),
                            },
                        ));
                    }
                }
                if e.status == ExecutionStatus::Revealing && e.result.is_none() {
                    let who = runner.unwrap();
                    txs.push(signed(
                        chain,
                        &mut nonces,
                        who,
                        Payload::RevealResult {
                            execution: *id,
                            result: runner_result(who),
                            salt: salt(id, who),
                        },
                    ));
                }
            }
            _ => {}
        }
    }
    txs
}

fn behaviour() -> impl Strategy<Value = Behaviour> {
    prop_oneof![
        4 => Just(Behaviour::Honest),
        1 => Just(Behaviour::Cheat),
        1 => Just(Behaviour::Silent),
        1 => Just(Behaviour::Liar),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn random_economies_settle_every_escrow_and_never_slash_the_honest(
        behaviours in proptest::collection::vec(behaviour(), RUNNERS),
        requests in proptest::collection::vec((any::<i32>(), any::<i32>(), any::<bool>(), 0usize..4), 1..8),
    ) {
        let mut behaviours = behaviours;
        behaviours.insert(0, Behaviour::Honest); // account 0 is the developer, not a runner
        behaviours.resize(10, Behaviour::Honest);
        let (definition, module) = arith();
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Chain::with(Arc::new(MemStore::new()), genesis(10, params()));
        let rocks: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).unwrap());
        let mut disk = Chain::with(rocks, genesis(10, params()));
        fn both_(memory: &mut Chain, disk: &mut Chain, txs: Vec<SignedTx>) -> runnet_state::BlockOutcome {
            let a = memory.block(txs.clone());
            let b = disk.block(txs);
            assert_eq!(a, b, "stores disagree");
            a
        }
        macro_rules! both {
            ($txs:expr) => {{
                let txs = $txs;
                both_(&mut memory, &mut disk, txs)
            }};
        }
        let mut nonces = vec![0u64; 10];
        let publish = signed(&memory, &mut nonces, 0, Payload::PublishService {
            definition: definition.clone(),
            bundle: Bundle::Wasm(module.clone()),
        });
        prop_assert_eq!(&both!(vec![publish]).receipts[0].outcome, &Outcome::Success);
        let service = service_id(&addr(0), &definition, &Hash::digest(&module));
        let registrations = (1..=RUNNERS)
            .map(|i| signed(&memory, &mut nonces, i, Payload::RegisterRunner {
                service, stake: STAKE, price_per_call: 1_000, price_per_kib: 10, max_open: 2,
            }))
            .collect();
        both!(registrations);
        let mut ids = Vec::new();
        for (a, b, mul, gap) in requests {
            let mut inputs = (a as i64).to_le_bytes().to_vec();
            inputs.extend_from_slice(&(b as i64).to_le_bytes());
            let mut txs = agents(&memory, &module, &ids, &behaviours);
            let mut payer_nonce = vec![0u64; 10];
            payer_nonce[PAYER] = memory.exec.account(&addr(PAYER)).unwrap().nonce;
            let request = signed(&memory, &mut payer_nonce, PAYER, Payload::RequestExecution {
                service,
                task: if mul { "mul" } else { "add" }.into(),
                inputs,
                max_fee: 100_000,
                runner: None,
            });
            ids.push(request.hash());
            txs.push(request);
            both!(txs);
            for _ in 0..gap {
                let txs = agents(&memory, &module, &ids, &behaviours);
                both!(txs);
            }
        }
        // Let everything run to its end.
        for _ in 0..60 {
            let txs = agents(&memory, &module, &ids, &behaviours);
            both!(txs);
        }
        for id in &ids {
            let e = memory.exec.execution(id).unwrap().unwrap();
            prop_assert!(e.status.is_final(), "{:?} did not end", e.status);
            prop_assert_eq!(e.escrow, 0);
            prop_assert!(e.settled_at.is_some());
        }
        // With nobody misbehaving, every request completes (so the workload really runs).
        if behaviours[1..=RUNNERS].iter().all(|b| *b == Behaviour::Honest) {
            for id in &ids {
                let status = memory.exec.execution(id).unwrap().unwrap().status;
                prop_assert!(
                    matches!(status, ExecutionStatus::Completed | ExecutionStatus::Cancelled),
                    "an all-honest market ended {:?}", status
                );
            }
        }
        for (i, behaviour) in behaviours.iter().enumerate().take(RUNNERS + 1).skip(1) {
            let runner = memory.exec.runner(&runner_id(&service, &addr(i))).unwrap().unwrap();
            if *behaviour == Behaviour::Honest {
                prop_assert_eq!(runner.stake, STAKE, "honest runner {} was slashed", i);
            }
            prop_assert_eq!(runner.open_duties, 0);
        }
        prop_assert_eq!(memory.exec.state_root(), disk.exec.state_root());
    }
}
