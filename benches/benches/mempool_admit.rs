//! Mempool admission throughput, in transactions per second: 4,000 signed transfers admitted one
//! by one (a single signature check each), the same 4,000 in one `admit_many` (one batch
//! verification), and a peer's 4,000-transaction batch through `receive_batch` (bounded decode,
//! digest, one batch verification, indexing). Each iteration starts from an empty mempool;
//! signing and encoding happen once, outside the measurement.
//!
//! cargo bench -p runnet-benches --bench mempool_admit

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use runnet_mempool::{Mempool, MempoolConfig, Received, Source};
use runnet_types::{Address, Amount, Batch, Payload, SecretKey, SignedTx, TxBody};
use std::collections::BTreeMap;
use std::time::Duration;

const CHAIN: &str = "runnet-bench";
const TXS: usize = 4_000;
/// 1,000 senders with four transactions each: nonces 0 to 3.
const NONCES: u64 = 4;

fn transfers() -> Vec<SignedTx> {
    let senders = TXS as u64 / NONCES;
    (0..senders)
        .flat_map(|s| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&s.to_le_bytes());
            let key = SecretKey::from_seed(seed);
            (0..NONCES).map(move |nonce| {
                TxBody {
                    chain_id: CHAIN.into(),
                    sender: key.public(),
                    nonce,
                    gas_limit: 10_000,
                    gas_price: 1,
                    payload: Payload::Transfer {
                        to: Address([7; 20]),
                        amount: 1,
                    },
                }
                .sign(&key)
            })
        })
        .collect()
}

/// The validator that pushes the peer's batch, and signs it.
const PEER: Address = Address([0xAA; 20]);

fn peer_key() -> SecretKey {
    SecretKey::from_seed([0xAA; 32])
}

/// A mempool that seals with its own key and knows the peer as a batch author.
fn pool() -> Mempool {
    let mut pool = Mempool::new(config(), SecretKey::from_seed([0xA0; 32]));
    pool.set_authors(BTreeMap::from([(peer_key().public(), PEER)]));
    pool
}

fn config() -> MempoolConfig {
    MempoolConfig {
        chain_id: CHAIN.into(),
        ..MempoolConfig::default()
    }
}

/// Every account funded, no transaction committed yet.
fn view(_: &Address) -> (Amount, u64) {
    (1_000_000_000_000, 0)
}

fn mempool_admit(c: &mut Criterion) {
    let txs = transfers();
    let encoded: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
    let refs: Vec<&[u8]> = encoded.iter().map(Vec::as_slice).collect();
    let batch = Batch::signed(txs.clone(), vec![], CHAIN, &peer_key());
    let batch_bytes = batch.encode();

    // Check once that each path admits everything it is timed on.
    let mut probe = pool();
    assert!(refs.iter().all(|tx| probe.admit(tx, &view, 0).is_ok()));
    let mut probe = pool();
    assert!(probe.admit_many(&refs, &view, 0).iter().all(Result::is_ok));
    let mut probe = pool();
    assert_eq!(
        probe.receive_batch(&batch_bytes, Source::Pushed(PEER), &view, 0),
        Ok(Received::New(batch.digest()))
    );

    let mut group = c.benchmark_group("mempool_admit");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(15));
    group.throughput(Throughput::Elements(TXS as u64));
    group.bench_function(format!("admit_one_by_one/{TXS}"), |b| {
        b.iter_batched(
            pool,
            |mut pool| {
                for tx in &refs {
                    let _ = pool.admit(tx, &view, 0);
                }
                pool
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(format!("admit_many/{TXS}"), |b| {
        b.iter_batched(
            pool,
            |mut pool| {
                let _ = pool.admit_many(&refs, &view, 0);
                pool
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function(format!("receive_batch/{TXS}"), |b| {
        b.iter_batched(
            pool,
            |mut pool| {
                let _ = pool.receive_batch(&batch_bytes, Source::Pushed(PEER), &view, 0);
                pool
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, mempool_admit);
criterion_main!(benches);
