//! The cost of committing one block's writes, root included, to the state store.
//!
//! A block of 10,000 transfers touches about 20,000 keys. Each measured block here changes exactly
//! 20,000 keys of ~60 bytes: 10,000 existing accounts get new values, and 10,000 further keys are
//! created by one block and deleted by the next, so the state keeps its size while every block
//! exercises updates, inserts and deletes alike. Throughput is in keys.
//!
//! Group `state_root` (the figure that matters): the RocksDB store holding 10,000 and 1,000,000
//! accounts. Group `state_root_memstore`: the same blocks on the in-memory store, which runs the
//! same tree code without RocksDB, so the difference is what RocksDB costs.

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use runnet_state::store::{ChangeSet, MemStore, RocksStore, Store};
use runnet_types::Hash;
use std::hint::black_box;
use std::time::{Duration, Instant};

const KEYS_PER_BLOCK: usize = 20_000;
const VALUE_LEN: usize = 60;
/// Accounts written per commit while building the initial state.
const BUILD_BATCH: u64 = 50_000;

fn account(i: u64) -> Vec<u8> {
    // An account key as the state might lay it out: a tag and a 20-byte address.
    let mut key = b"acct/".to_vec();
    key.extend_from_slice(&Hash::digest(&i.to_le_bytes()).0[..20]);
    key
}

fn value(i: u64, block: u64) -> Vec<u8> {
    let mut value = vec![0u8; VALUE_LEN];
    value[..8].copy_from_slice(&i.to_le_bytes());
    value[8..16].copy_from_slice(&block.to_le_bytes());
    value
}

/// Builds a store of `accounts` accounts in batches of commits; returns the next version.
fn populate(store: &dyn Store, accounts: u64) -> u64 {
    let mut version = store.version();
    let mut start = 0;
    while start < accounts {
        let end = (start + BUILD_BATCH).min(accounts);
        let changes: ChangeSet = (start..end)
            .map(|i| (account(i), Some(value(i, 0))))
            .collect();
        version += 1;
        store.commit(version, &changes).expect("populate");
        start = end;
    }
    version + 1
}

/// Block `block` (counting from 1) of the measured sequence.
fn block_changes(accounts: u64, block: u64) -> ChangeSet {
    let half = (KEYS_PER_BLOCK / 2) as u64;
    let mut changes = ChangeSet::new();
    // 10,000 distinct accounts, a different window each block, spread over the whole state.
    let stride = (accounts / half).max(1);
    for j in 0..half {
        let i = (j * stride + block) % accounts;
        changes.insert(account(i), Some(value(i, block)));
    }
    // 10,000 keys created by odd blocks and deleted by even ones (the same keys both times).
    let round = block.div_ceil(2);
    for j in 0..half {
        let mut key = b"tmp/".to_vec();
        key.extend_from_slice(
            &Hash::digest(&[round.to_le_bytes(), j.to_le_bytes()].concat()).0[..20],
        );
        changes.insert(key, (block % 2 == 1).then(|| value(j, block)));
    }
    changes
}

fn bench_store(
    c: &mut Criterion,
    group_name: &str,
    open: &dyn Fn() -> (Box<dyn Store>, Option<tempfile::TempDir>),
) {
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(KEYS_PER_BLOCK as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(20));
    for accounts in [10_000u64, 1_000_000] {
        // Built on first use, so a filtered-out size costs nothing.
        let mut state: Option<(Box<dyn Store>, Option<tempfile::TempDir>, u64)> = None;
        let mut block = 0u64;
        let id = BenchmarkId::from_parameter(format!("accounts_{accounts}"));
        group.bench_function(id, |b| {
            let (store, _dir, version) = state.get_or_insert_with(|| {
                let (store, dir) = open();
                let started = Instant::now();
                let version = populate(&*store, accounts);
                eprintln!(
                    "{group_name}: built {accounts} accounts in {:.1} s",
                    started.elapsed().as_secs_f64()
                );
                (store, dir, version)
            });
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    block += 1;
                    let changes = block_changes(accounts, block);
                    let started = Instant::now();
                    black_box(store.commit(*version, &changes).expect("commit"));
                    total += started.elapsed();
                    *version += 1;
                }
                total
            })
        });
    }
    group.finish();
}

fn state_root(c: &mut Criterion) {
    bench_store(c, "state_root", &|| {
        let dir = tempfile::TempDir::new().expect("temp dir");
        let store = RocksStore::open(dir.path()).expect("open");
        (Box::new(store), Some(dir))
    });
    bench_store(c, "state_root_memstore", &|| {
        (Box::new(MemStore::new()), None)
    });
}

criterion_group!(benches, state_root);
criterion_main!(benches);
