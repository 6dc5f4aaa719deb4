//! `economy_apply`: blocks of the execution lifecycle in steady state, executed on the RocksDB
//! store with the state root computed every block. A WebAssembly service (`arith`) has 20
//! runners; each block carries `n` new requests and, for the requests of earlier blocks, the
//! runners' commitments, the drawn verifiers' commitments (3 per execution) and everyone's
//! reveals: about 9n transactions, and n settlements (with payouts) at the end of the block, all
//! parties honest so no re-run is needed. Throughput is in transactions. Only the execution of a
//! block is timed; the agents that read the state and sign the next block's transactions run
//! outside the measurement, and signatures are not checked again (batches are verified on
//! arrival).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runnet_state::objects::{ExecutionStatus, service_id};
use runnet_state::store::{RocksStore, Store};
use runnet_state::{BlockContext, Executor, Signatures};
use runnet_types::execution::{TaskResult, Verdict, result_commitment, verdict_commitment};
use runnet_types::genesis::{Genesis, GenesisAccount, GenesisValidator, Params};
use runnet_types::record::{FieldType, Schema};
use runnet_types::service::{Bundle, ServiceDefinition, TaskDefinition, Verification};
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody, VrfSecretKey};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const CHAIN_ID: &str = "runnet-bench";
const RUNNERS: usize = 20;
const PAYERS: usize = 8;
const DEVELOPER: usize = RUNNERS + PAYERS;

fn key(i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SecretKey::from_seed(seed)
}

/// The tasks of examples/services/arith.json, and its module.
fn arith() -> (Vec<u8>, Vec<u8>) {
    let task = |key: &str, output: &'static str| TaskDefinition {
        key: key.into(),
        inputs: Schema::new([("a", FieldType::Int), ("b", FieldType::Int)]),
        outputs: Schema::new([(output, FieldType::Int)]),
        max_output_bytes: 64,
        verification: Verification::Deterministic,
        timeout_ms: 10_000,
    };
    let definition = ServiceDefinition {
        name: "arith".into(),
        description: String::new(),
        tasks: vec![task("add", "sum"), task("mul", "product")],
        events: Vec::new(),
    };
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/services");
    let wat = std::fs::read_to_string(dir.join("arith.wat")).expect("arith.wat");
    (
        definition.to_canonical_bytes(),
        runnet_vm_exec::wat_to_wasm(&wat).expect("wat"),
    )
}

fn salt(id: &Hash, who: usize) -> Hash {
    runnet_types::encoding::hash_of(&(id, who as u64))
}

struct Bench {
    _dir: tempfile::TempDir,
    executor: Executor,
    keys: Vec<SecretKey>,
    index: BTreeMap<Address, usize>,
    nonces: Vec<u64>,
    service: Hash,
    live: Vec<Hash>,
    next_payer: usize,
    counter: i64,
}

impl Bench {
    fn new() -> Bench {
        let keys: Vec<SecretKey> = (0..=DEVELOPER).map(key).collect();
        let validator = key(DEVELOPER + 1);
        let genesis = Genesis {
            chain_id: CHAIN_ID.into(),
            genesis_time_ms: 0,
            accounts: keys
                .iter()
                .map(|k| GenesisAccount {
                    address: k.public().address(),
                    balance: 1 << 50,
                })
                .collect(),
            validators: vec![GenesisValidator {
                address: validator.public().address(),
                consensus_key: validator.public(),
                vrf_key: VrfSecretKey::from_seed([9; 32]).public(),
                peer_id: "bench".into(),
                stake: 1,
            }],
            params: Params::default(),
            consensus: Default::default(),
        };
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(RocksStore::open(dir.path()).expect("rocksdb"));
        let executor = Executor::open(store, &genesis).expect("genesis");
        let index = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.public().address(), i))
            .collect();
        let (definition, module) = arith();
        let service = service_id(
            &keys[DEVELOPER].public().address(),
            &definition,
            &Hash::digest(&module),
        );
        let mut bench = Bench {
            _dir: dir,
            executor,
            keys,
            index,
            nonces: vec![0; DEVELOPER + 1],
            service,
            live: Vec::new(),
            next_payer: 0,
            counter: 0,
        };
        let publish = bench.tx(
            DEVELOPER,
            Payload::PublishService {
                definition,
                bundle: Bundle::Wasm(module),
            },
            2_000_000,
        );
        bench.execute(&[publish]);
        let registrations: Vec<SignedTx> = (0..RUNNERS)
            .map(|i| {
                bench.tx(
                    i,
                    Payload::RegisterRunner {
                        service,
                        stake: 10_000_000,
                        price_per_call: 1_000,
                        price_per_kib: 10,
                        max_open: 100_000,
                    },
                    100_000,
                )
            })
            .collect();
        bench.execute(&registrations);
        bench
    }

    fn tx(&mut self, who: usize, payload: Payload, gas_limit: u64) -> SignedTx {
        let body = TxBody {
            chain_id: CHAIN_ID.into(),
            sender: self.keys[who].public(),
            nonce: self.nonces[who],
            gas_limit,
            gas_price: 1,
            payload,
        };
        self.nonces[who] += 1;
        body.sign(&self.keys[who])
    }

    fn who(&self, address: &Address) -> usize {
        self.index[address]
    }

    /// The next block: `n` new requests, and what every honest agent does about the live
    /// executions.
    fn block(&mut self, n: usize) -> Vec<SignedTx> {
        let mut txs = Vec::new();
        let mut still_live = Vec::new();
        for id in std::mem::take(&mut self.live) {
            let Some(e) = self.executor.execution(&id).expect("read") else {
                continue;
            };
            if e.status.is_final() {
                continue;
            }
            still_live.push(id);
            // The honest output of `add`.
            let a = i64::from_le_bytes(e.inputs[..8].try_into().expect("a"));
            let b = i64::from_le_bytes(e.inputs[8..16].try_into().expect("b"));
            let result = TaskResult::Output(a.wrapping_add(b).to_le_bytes().to_vec());
            let verdict = Verdict::Rerun(result.clone());
            match e.status {
                ExecutionStatus::Assigned => {
                    let who = self.who(&e.runner_owner.expect("runner"));
                    let commitment = result_commitment(
                        &result,
                        &salt(&id, who),
                        &self.keys[who].public().address(),
                    );
                    let tx = self.tx(
                        who,
                        Payload::CommitResult {
                            execution: id,
                            commitment,
                        },
                        100_000,
                    );
                    txs.push(tx);
                }
                ExecutionStatus::Verifying => {
                    for slot in e.verifiers.iter().filter(|s| s.commitment.is_none()) {
                        let who = self.who(&slot.owner);
                        let commitment = verdict_commitment(
                            &verdict,
                            &salt(&id, who),
                            &self.keys[who].public().address(),
                        );
                        let tx = self.tx(
                            who,
                            Payload::CommitVerdict {
                                execution: id,
                                commitment,
                            },
                            100_000,
                        );
                        txs.push(tx);
                    }
                }
                // The runner reveals in its window; its reveal opens the verifiers' one, so both
                // fit in one block.
                ExecutionStatus::RunnerRevealing | ExecutionStatus::Revealing => {
                    if e.result.is_none() {
                        let who = self.who(&e.runner_owner.expect("runner"));
                        let tx = self.tx(
                            who,
                            Payload::RevealResult {
                                execution: id,
                                result: result.clone(),
                                salt: salt(&id, who),
                            },
                            100_000,
                        );
                        txs.push(tx);
                    }
                    for slot in e.verifiers.iter().filter(|s| s.verdict.is_none()) {
                        let who = self.who(&slot.owner);
                        let tx = self.tx(
                            who,
                            Payload::RevealVerdict {
                                execution: id,
                                verdict: verdict.clone(),
                                salt: salt(&id, who),
                            },
                            100_000,
                        );
                        txs.push(tx);
                    }
                }
                _ => {}
            }
        }
        self.live = still_live;
        for _ in 0..n {
            let payer = RUNNERS + self.next_payer;
            self.next_payer = (self.next_payer + 1) % PAYERS;
            self.counter += 1;
            let inputs = [self.counter.to_le_bytes(), 7i64.to_le_bytes()].concat();
            let tx = self.tx(
                payer,
                Payload::RequestExecution {
                    service: self.service,
                    task: "add".into(),
                    inputs,
                    max_fee: 100_000,
                    runner: None,
                },
                100_000,
            );
            self.live.push(tx.hash());
            txs.push(tx);
        }
        txs
    }

    fn execute(&mut self, txs: &[SignedTx]) -> Duration {
        let height = self.executor.height() + 1;
        let ctx = BlockContext {
            height,
            proposer: self.keys[0].public().address(),
            vrf_output: Hash::digest(&height.to_le_bytes()),
            timestamp_ms: height * 100,
        };
        let start = Instant::now();
        let outcome = self
            .executor
            .execute_block(&ctx, txs, Signatures::AlreadyVerified)
            .expect("block");
        let elapsed = start.elapsed();
        if let Some(bad) = outcome.receipts.iter().find(|r| !r.is_success()) {
            panic!("a transaction failed: {bad:?}");
        }
        elapsed
    }
}

fn economy_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("economy_apply");
    group.sample_size(10);
    for n in [100usize, 1_000] {
        let mut bench = Bench::new();
        // Six blocks bring the pipeline to its steady state (request, assignment, commit,
        // draw, verdict commits, reveals and settlement).
        for _ in 0..6 {
            let txs = bench.block(n);
            bench.execute(&txs);
        }
        let probe = bench.block(n);
        let per_block = probe.len();
        bench.execute(&probe);
        println!("economy_apply/mixed_{n}: {per_block} transactions a block in steady state");
        group.throughput(Throughput::Elements(per_block as u64));
        group.bench_function(format!("mixed_{n}_requests"), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let txs = bench.block(n);
                    total += bench.execute(&txs);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, economy_apply);
criterion_main!(benches);
