//! Property tests over random sequences of valid and invalid transactions (transfers, staking,
//! services, runners, processes and their events, equivocation evidence): the supply is
//! conserved (checked by the harness after every block, process balances included), nothing
//! panics or wraps, and the same blocks give the same roots on the in-memory store, a fresh
//! RocksDB store and a RocksDB store closed and reopened in the middle of the run.

mod common;

use common::*;
use proptest::prelude::*;
use runnet_state::objects::service_id;
use runnet_state::store::{MemStore, RocksStore, Store};
use runnet_types::consensus::{Evidence, SignedVote, VoteData};
use runnet_types::crypto::Domain;
use runnet_types::process::{Edge, Node, ProcessDefinition};
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_types::{Hash, Payload, SignedTx};
use std::sync::Arc;

const ACCOUNTS: usize = 6;

#[derive(Clone, Debug)]
enum Op {
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Bond {
        who: usize,
        amount: u64,
    },
    Unbond {
        who: usize,
        amount: u64,
    },
    Unjail {
        who: usize,
    },
    Publish {
        who: usize,
        variant: u64,
    },
    Register {
        who: usize,
        owner: usize,
        variant: u64,
        stake: u64,
        max_open: u32,
    },
    Unregister {
        who: usize,
        owner: usize,
        variant: u64,
    },
    WrongNonce {
        who: usize,
    },
    BadSignature {
        who: usize,
    },
    TinyGasLimit {
        who: usize,
    },
    HugeGasLimit {
        who: usize,
    },
    CreateProcess {
        who: usize,
        owner: usize,
        variant: u64,
        balance: u64,
        max_fee: u64,
        spend_cap: u64,
    },
    FundProcess {
        who: usize,
        index: usize,
        amount: u64,
    },
    CloseProcess {
        who: usize,
        index: usize,
    },
    Emit {
        who: usize,
        owner: usize,
        variant: u64,
        a: i64,
    },
    /// Equivocation of the genesis validator, at a height that may be fresh, old or ahead.
    Evidence {
        who: usize,
        round: u64,
        height: u64,
    },
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0u64..20_000,
        2 => 900_000u64..2_000_000,
        1 => Just(BALANCE),
        1 => Just(u64::MAX),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let who = 0..ACCOUNTS;
    prop_oneof![
        8 => (who.clone(), 0..ACCOUNTS + 2, amount())
            .prop_map(|(from, to, amount)| Op::Transfer { from, to, amount }),
        2 => (who.clone(), amount()).prop_map(|(who, amount)| Op::Bond { who, amount }),
        2 => (who.clone(), amount()).prop_map(|(who, amount)| Op::Unbond { who, amount }),
        1 => who.clone().prop_map(|who| Op::Unjail { who }),
        2 => (who.clone(), 0u64..3).prop_map(|(who, variant)| Op::Publish { who, variant }),
        3 => (who.clone(), 0..ACCOUNTS, 0u64..3, amount(), 0u32..3).prop_map(
            |(who, owner, variant, stake, max_open)| Op::Register { who, owner, variant, stake, max_open }
        ),
        2 => (who.clone(), 0..ACCOUNTS, 0u64..3)
            .prop_map(|(who, owner, variant)| Op::Unregister { who, owner, variant }),
        1 => who.clone().prop_map(|who| Op::WrongNonce { who }),
        1 => who.clone().prop_map(|who| Op::BadSignature { who }),
        1 => who.clone().prop_map(|who| Op::TinyGasLimit { who }),
        1 => who.clone().prop_map(|who| Op::HugeGasLimit { who }),
        2 => (who.clone(), 0..ACCOUNTS, 0u64..3, amount(), amount(), amount()).prop_map(
            |(who, owner, variant, balance, max_fee, spend_cap)| Op::CreateProcess {
                who, owner, variant, balance, max_fee, spend_cap,
            }
        ),
        1 => (who.clone(), 0usize..4, amount())
            .prop_map(|(who, index, amount)| Op::FundProcess { who, index, amount }),
        1 => (who.clone(), 0usize..4).prop_map(|(who, index)| Op::CloseProcess { who, index }),
        // Mostly events of the service the setup block publishes (owner 0, variant 0).
        8 => (prop_oneof![3 => 1usize..4, 1 => 0..ACCOUNTS],
              prop_oneof![3 => Just(0usize), 1 => 0..ACCOUNTS],
              prop_oneof![3 => Just(0u64), 1 => 0u64..3], 0i64..2)
            .prop_map(|(who, owner, variant, a)| Op::Emit { who, owner, variant, a }),
        1 => (who, 1u64..4, 1u64..30)
            .prop_map(|(who, round, height)| Op::Evidence { who, round, height }),
    ]
}

fn definition(variant: u64) -> Vec<u8> {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "arithmetic",
        "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                   "max_output_bytes": 64, "verification": "deterministic",
                   "timeout_ms": 10000 + variant}],
        "events": [{"key": "tick", "data": {"a": "int", "b": "int"}}]
    }))
    .unwrap();
    definition.to_canonical_bytes()
}

const BUNDLE_DIGEST: Hash = Hash([7; 32]);

fn service(owner: usize, variant: u64) -> Hash {
    service_id(&addr(owner), &definition(variant), &BUNDLE_DIGEST)
}

fn double_vote(epoch: u64, round: u64, height: u64) -> Evidence {
    let signer = key(VALIDATOR_KEY);
    let vote = |block: u8| {
        let data = VoteData {
            epoch,
            round,
            height,
            block: Hash([block; 32]),
            parent: Hash::ZERO,
            parent_round: round - 1,
        };
        let signature = signer.sign(Domain::Vote, &data.signing_bytes(CHAIN_ID));
        SignedVote { data, signature }
    };
    Evidence::Votes {
        signer: signer.public(),
        first: vote(1),
        second: vote(2),
    }
}

/// Builds a block's transactions from ops, with nonces read from the chain's state. Processes
/// created are appended to `processes` (their ids are their transactions' hashes).
fn build_block(chain: &Chain, ops: &[Op], processes: &mut Vec<Hash>) -> Vec<SignedTx> {
    let mut next_nonce: Vec<u64> = (0..ACCOUNTS)
        .map(|i| chain.exec.account(&addr(i)).unwrap().nonce)
        .collect();
    let mut txs = Vec::new();
    for op in ops {
        let (who, payload) = match op.clone() {
            Op::Transfer { from, to, amount } => (
                from,
                Payload::Transfer {
                    to: addr(to),
                    amount,
                },
            ),
            Op::Bond { who, amount } => (who, bond_payload(who, who, "peer", amount)),
            Op::Unbond { who, amount } => (who, Payload::UnbondValidator { amount }),
            Op::Unjail { who } => (who, Payload::Unjail),
            Op::Publish { who, variant } => (
                who,
                Payload::PublishService {
                    definition: definition(variant),
                    bundle: Bundle::External {
                        digest: BUNDLE_DIGEST,
                    },
                },
            ),
            Op::Register {
                who,
                owner,
                variant,
                stake,
                max_open,
            } => (
                who,
                Payload::RegisterRunner {
                    service: service(owner, variant),
                    stake,
                    price_per_call: 10,
                    price_per_kib: 1,
                    max_open,
                },
            ),
            Op::Unregister {
                who,
                owner,
                variant,
            } => (
                who,
                Payload::UnregisterRunner {
                    runner: runnet_state::objects::runner_id(
                        &service(owner, variant),
                        &addr(who.max(owner) % ACCOUNTS),
                    ),
                },
            ),
            Op::WrongNonce { who } => {
                let mut body = chain.body(
                    who,
                    Payload::Transfer {
                        to: addr(0),
                        amount: 1,
                    },
                );
                body.nonce = next_nonce[who] + 3;
                txs.push(body.sign(&key(who)));
                continue;
            }
            Op::BadSignature { who } => {
                let mut body = chain.body(
                    who,
                    Payload::Transfer {
                        to: addr(0),
                        amount: 1,
                    },
                );
                body.nonce = next_nonce[who];
                let mut tx = body.sign(&key(who));
                tx.signature.0[1] ^= 0x40;
                txs.push(tx);
                continue;
            }
            Op::TinyGasLimit { who } | Op::HugeGasLimit { who } => {
                let mut body = chain.body(
                    who,
                    Payload::Transfer {
                        to: addr(1),
                        amount: 1,
                    },
                );
                body.nonce = next_nonce[who];
                body.gas_limit = if matches!(op, Op::TinyGasLimit { .. }) {
                    10
                } else {
                    u64::MAX / 2
                };
                next_nonce[who] += 1;
                txs.push(body.sign(&key(who)));
                continue;
            }
            Op::CreateProcess {
                who,
                owner,
                variant,
                balance,
                max_fee,
                spend_cap,
            } => {
                let service = service(owner, variant);
                let definition = ProcessDefinition {
                    nodes: vec![
                        Node::Trigger {
                            service,
                            event: "tick".into(),
                        },
                        Node::Task {
                            service,
                            task: "add".into(),
                            max_fee,
                        },
                    ],
                    edges: vec![Edge { from: 0, to: 1 }],
                };
                let mut body = chain.body(
                    who,
                    Payload::CreateProcess {
                        definition,
                        balance,
                        spend_cap,
                    },
                );
                body.nonce = next_nonce[who];
                next_nonce[who] += 1;
                let tx = body.sign(&key(who));
                processes.push(tx.hash());
                txs.push(tx);
                continue;
            }
            Op::FundProcess { who, index, amount } => (
                who,
                Payload::FundProcess {
                    process: processes.get(index).copied().unwrap_or(Hash([9; 32])),
                    amount,
                },
            ),
            Op::CloseProcess { who, index } => (
                who,
                Payload::CloseProcess {
                    process: processes.get(index).copied().unwrap_or(Hash([9; 32])),
                },
            ),
            Op::Emit {
                who,
                owner,
                variant,
                a,
            } => (
                who,
                Payload::EmitEvent {
                    service: service(owner, variant),
                    event: "tick".into(),
                    data: [a.to_le_bytes(), 1i64.to_le_bytes()].concat(),
                },
            ),
            Op::Evidence { who, round, height } => (
                who,
                Payload::Evidence(Box::new(double_vote(
                    (height - 1) / (test_params().epoch_ms / 100),
                    round,
                    height,
                ))),
            ),
        };
        let mut body = chain.body(who, payload);
        body.nonce = next_nonce[who];
        next_nonce[who] += 1;
        txs.push(body.sign(&key(who)));
    }
    txs
}

/// A first block that gives events somewhere to go: account 0 publishes variant 0, accounts 1 to
/// 3 run it, account 4 owns a process on its `tick`.
fn setup_ops() -> Vec<Op> {
    let mut ops = vec![Op::Publish { who: 0, variant: 0 }];
    for who in 1..=3 {
        ops.push(Op::Register {
            who,
            owner: 0,
            variant: 0,
            stake: 1_000_000,
            max_open: 2,
        });
    }
    ops.push(Op::CreateProcess {
        who: 4,
        owner: 0,
        variant: 0,
        balance: 1_000_000,
        max_fee: 10_000,
        spend_cap: 100_000,
    });
    ops
}

fn rocks_chain(path: &std::path::Path) -> Chain {
    let store: Arc<dyn Store> = Arc::new(RocksStore::open(path).expect("open rocksdb"));
    Chain::with(store, genesis(ACCOUNTS, test_params()))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_workloads_conserve_supply_and_agree_on_every_store(
        blocks in proptest::collection::vec(proptest::collection::vec(op(), 0..12), 1..10)
    ) {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Chain::with(Arc::new(MemStore::new()), genesis(ACCOUNTS, test_params()));
        let mut fresh = rocks_chain(&dir.path().join("fresh"));
        let reopened_path = dir.path().join("reopened");
        let mut reopened = Some(rocks_chain(&reopened_path));
        let reopen_at = blocks.len() / 2;
        prop_assert_eq!(memory.exec.state_root(), fresh.exec.state_root());
        let mut processes = Vec::new();
        let blocks: Vec<Vec<Op>> = std::iter::once(setup_ops()).chain(blocks).collect();
        for (i, ops) in blocks.iter().enumerate() {
            let txs = build_block(&memory, ops, &mut processes);
            let a = memory.block(txs.clone());
            let b = fresh.block(txs.clone());
            if i == reopen_at {
                // Close the store and open it again from disk.
                drop(reopened.take());
                reopened = Some(rocks_chain(&reopened_path));
            }
            let c = reopened.as_mut().unwrap().block(txs);
            prop_assert_eq!(&a, &b);
            prop_assert_eq!(&a, &c);
            prop_assert_eq!(a.state_root, memory.exec.state_root());
        }
        let audit = memory.exec.supply_audit().unwrap();
        prop_assert!(audit.balanced());
        prop_assert_eq!(audit.supply, memory.genesis.total_supply().unwrap());
    }
}
