//! Epochs last a span of chain time, not a count of blocks (issue 15, finding 1): whether blocks
//! come 10 or 100 a second, an epoch ends with its first block stamped at or after its end, and
//! the next one ends `epoch_ms` after that block.

mod common;

use common::{genesis, test_params};
use runnet_state::store::MemStore;
use runnet_state::{BlockContext, Executor, Signatures};
use runnet_types::genesis::Params;
use runnet_types::{Address, Hash};
use std::sync::Arc;

/// Runs empty blocks `ms_per_block` apart from a genesis at `genesis_time_ms` until `until_ms`;
/// returns the heights whose execution chose a new set, with their timestamps.
fn epoch_changes(genesis_time_ms: u64, ms_per_block: u64, until_ms: u64) -> Vec<(u64, u64)> {
    let params = Params {
        epoch_ms: 1_000,
        ..test_params()
    };
    let mut g = genesis(1, params);
    g.genesis_time_ms = genesis_time_ms;
    let exec = Executor::open(Arc::new(MemStore::new()), &g).expect("open");
    let mut changes = Vec::new();
    let mut timestamp_ms = genesis_time_ms;
    while timestamp_ms < until_ms {
        timestamp_ms += ms_per_block;
        let height = exec.height() + 1;
        let ctx = BlockContext {
            height,
            proposer: Address([0xEE; 20]),
            vrf_output: Hash::digest(&height.to_le_bytes()),
            timestamp_ms,
        };
        let outcome = exec
            .execute_block(&ctx, &[], Signatures::Verify)
            .expect("block executes");
        if let Some(set) = outcome.new_validator_set {
            assert_eq!(set.start_height, height + 1);
            changes.push((height, timestamp_ms));
        }
    }
    changes
}

#[test]
fn an_epoch_lasts_the_same_chain_time_whatever_the_block_rate() {
    // Ten blocks a second and a hundred: epochs end at 1 s, 2 s, 3 s of chain time either way.
    let slow = epoch_changes(0, 100, 3_500);
    let fast = epoch_changes(0, 10, 3_500);
    let times = |c: &[(u64, u64)]| c.iter().map(|(_, t)| *t).collect::<Vec<_>>();
    assert_eq!(times(&slow), vec![1_000, 2_000, 3_000]);
    assert_eq!(times(&fast), vec![1_000, 2_000, 3_000]);
    assert_eq!(slow[0].0, 10);
    assert_eq!(fast[0].0, 100);
}

#[test]
fn the_next_epoch_counts_from_the_block_that_ended_the_last_one() {
    // Blocks 300 ms apart: epoch 0 should end at 1,000 ms; its last block is stamped 1,200
    // (the first at or after), so epoch 1 ends at 2,200 and is closed by the block at 2,400.
    let changes = epoch_changes(0, 300, 4_000);
    assert_eq!(changes, vec![(4, 1_200), (8, 2_400), (12, 3_600)]);
}

#[test]
fn epoch_zero_counts_from_the_genesis_time() {
    // A genesis at 10 s: its first epoch ends at 11 s, not 1 s after the Unix epoch.
    let changes = epoch_changes(10_000, 100, 12_500);
    let times: Vec<u64> = changes.iter().map(|(_, t)| *t).collect();
    assert_eq!(times, vec![11_000, 12_000]);
}

#[test]
fn the_committee_carries_its_end_in_chain_time() {
    let g = genesis(
        1,
        Params {
            epoch_ms: 1_000,
            ..test_params()
        },
    );
    let exec = Executor::open(Arc::new(MemStore::new()), &g).expect("open");
    let committee = exec.committee(0).unwrap().unwrap();
    assert_eq!(committee.end_ms(), 1_000);
    assert!(!committee.ends_at(999) && committee.ends_at(1_000));
}
