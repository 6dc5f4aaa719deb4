//! Consensus core throughput: committed blocks per second of CPU when 4, 16 and 64 validators run
//! the real core in the simulator (one thread, every validator on it), with real ed25519
//! signatures and schnorrkel VRF proofs, a fault-free network and a mempool that always has a
//! batch to propose. The network's delays are virtual, so this measures the core's own cost:
//! signing, checking certificates and VRFs, and the state machine around them.
//!
//! cargo bench -p runnet-benches --bench consensus_core

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use runnet_consensus::sim::{SimConfig, run_seed};
use std::time::Duration;

fn consensus_core(c: &mut Criterion) {
    let mut group = c.benchmark_group("consensus_core");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    for (validators, blocks) in [(4usize, 100u64), (16, 40), (64, 10)] {
        let config = SimConfig::benchmark(validators, blocks);
        // Check once that the run is what it claims to be.
        let probe = run_seed(&config, 1);
        assert!(probe.violations.is_empty(), "{:?}", probe.violations);
        assert!(probe.committed >= blocks && probe.real_crypto);
        group.throughput(Throughput::Elements(probe.committed));
        group.bench_function(format!("committed_blocks/{validators}_validators"), |b| {
            b.iter(|| run_seed(&config, 1).committed)
        });
    }
    group.finish();
}

criterion_group!(benches, consensus_core);
criterion_main!(benches);
