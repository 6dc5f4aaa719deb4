//! Property tests over random sequences of valid and invalid transactions: the supply is
//! conserved (checked by the harness after every block), nothing panics or wraps, and the same
//! blocks give the same roots on the in-memory store, a fresh RocksDB store and a RocksDB store
//! closed and reopened in the middle of the run.

mod common;

use common::*;
use proptest::prelude::*;
use runnet_state::objects::service_id;
use runnet_state::store::{MemStore, RocksStore, Store};
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
        1 => who.prop_map(|who| Op::HugeGasLimit { who }),
    ]
}

fn definition(variant: u64) -> Vec<u8> {
    let definition: ServiceDefinition = serde_json::from_value(serde_json::json!({
        "name": "arithmetic",
        "tasks": [{"key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
                   "max_output_bytes": 64, "verification": "deterministic",
                   "timeout_blocks": 10 + variant}]
    }))
    .unwrap();
    definition.to_canonical_bytes()
}

const BUNDLE_DIGEST: Hash = Hash([7; 32]);

fn service(owner: usize, variant: u64) -> Hash {
    service_id(&addr(owner), &definition(variant), &BUNDLE_DIGEST)
}

/// Builds a block's transactions from ops, with nonces read from the chain's state.
fn build_block(chain: &Chain, ops: &[Op]) -> Vec<SignedTx> {
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
        };
        let mut body = chain.body(who, payload);
        body.nonce = next_nonce[who];
        next_nonce[who] += 1;
        txs.push(body.sign(&key(who)));
    }
    txs
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
        for (i, ops) in blocks.iter().enumerate() {
            let txs = build_block(&memory, ops);
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
