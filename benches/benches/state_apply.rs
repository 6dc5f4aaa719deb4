//! `state_apply`: blocks of signed transfers executed on the RocksDB store, the state root
//! computed every block. Signature checks are excluded (as for batches verified on arrival) in
//! `transfers_1000` and `transfers_10000`, and included in `transfers_10000_with_sigs`.
//! Throughput is in transactions. Only the execution of a block is timed; building and signing
//! its transactions happens outside the measurement.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runnet_state::store::{RocksStore, Store};
use runnet_state::{BlockContext, Executor, Outcome, Signatures};
use runnet_types::genesis::{Genesis, GenesisAccount, GenesisValidator, Params};
use runnet_types::{Address, Hash, Payload, SecretKey, SignedTx, TxBody, VrfSecretKey};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ACCOUNTS: usize = 10_000;
const CHAIN_ID: &str = "runnet-bench";

fn key(i: usize) -> SecretKey {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    SecretKey::from_seed(seed)
}

struct Bench {
    _dir: tempfile::TempDir,
    executor: Executor,
    keys: Vec<SecretKey>,
    addresses: Vec<Address>,
    nonces: Vec<u64>,
    next_sender: usize,
}

impl Bench {
    fn new() -> Bench {
        let keys: Vec<SecretKey> = (0..ACCOUNTS).map(key).collect();
        let addresses: Vec<Address> = keys.iter().map(|k| k.public().address()).collect();
        let validator = key(ACCOUNTS + 1);
        let genesis = Genesis {
            chain_id: CHAIN_ID.into(),
            genesis_time_ms: 0,
            accounts: addresses
                .iter()
                .map(|a| GenesisAccount {
                    address: *a,
                    balance: 1 << 40,
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
        Bench {
            _dir: dir,
            executor,
            keys,
            addresses,
            nonces: vec![0; ACCOUNTS],
            next_sender: 0,
        }
    }

    /// `n` transfers from distinct senders to other accounts, signed.
    fn block(&mut self, n: usize) -> Vec<SignedTx> {
        (0..n)
            .map(|_| {
                let from = self.next_sender;
                self.next_sender = (self.next_sender + 1) % ACCOUNTS;
                let to = (from * 7 + 1) % ACCOUNTS;
                let body = TxBody {
                    chain_id: CHAIN_ID.into(),
                    sender: self.keys[from].public(),
                    nonce: self.nonces[from],
                    gas_limit: 10_000,
                    gas_price: 1,
                    payload: Payload::Transfer {
                        to: self.addresses[to],
                        amount: 1,
                    },
                };
                self.nonces[from] += 1;
                body.sign(&self.keys[from])
            })
            .collect()
    }

    fn execute(&mut self, txs: &[SignedTx], signatures: Signatures) -> Duration {
        let ctx = BlockContext {
            height: self.executor.height() + 1,
            proposer: self.addresses[0],
            vrf_output: Hash::ZERO,
            timestamp_ms: (self.executor.height() + 1) * 100,
        };
        let start = Instant::now();
        let outcome = self
            .executor
            .execute_block(&ctx, txs, signatures)
            .expect("block");
        let elapsed = start.elapsed();
        assert!(
            outcome
                .receipts
                .iter()
                .all(|r| r.outcome == Outcome::Success)
        );
        elapsed
    }
}

fn state_apply(c: &mut Criterion) {
    let mut group = c.benchmark_group("state_apply");
    group.sample_size(10);
    let mut bench = Bench::new();
    // Warm the state once so every account exists in the tree and caches as in a running node.
    let warm = bench.block(ACCOUNTS);
    bench.execute(&warm, Signatures::AlreadyVerified);
    for (id, n, signatures) in [
        ("transfers_1000", 1_000, Signatures::AlreadyVerified),
        ("transfers_10000", 10_000, Signatures::AlreadyVerified),
        ("transfers_10000_with_sigs", 10_000, Signatures::Verify),
    ] {
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(id, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let txs = bench.block(n);
                    total += bench.execute(&txs, signatures);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, state_apply);
criterion_main!(benches);
