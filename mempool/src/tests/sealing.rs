//! Sealing this node's batches by count, by bytes and by delay.

use super::*;
use runnet_types::Batch;

fn seal_config(max_batch_txs: usize, max_batch_bytes: usize) -> MempoolConfig {
    MempoolConfig {
        max_batch_txs,
        max_batch_bytes,
        max_batch_delay_ms: 50,
        ..config()
    }
}

#[test]
fn seals_by_count_then_by_delay() {
    let mut pool = new_pool(seal_config(3, 1 << 20));
    let view = rich([1]);
    let txs: Vec<SignedTx> = (0..7).map(|n| transfer(&key(1), n, 1, 1)).collect();
    for tx in &txs {
        admit_ok(&mut pool, tx, &view, 10);
    }
    assert_eq!(pool.next_seal_at(), Some(10), "a full batch is due at once");
    let sealed = pool.seal_due(10);
    assert_eq!(sealed.len(), 2);
    for (i, batch) in sealed.iter().enumerate() {
        assert_eq!(batch.batch.txs, txs[3 * i..3 * i + 3].to_vec());
        assert_eq!(batch.digest, batch.batch.digest());
        assert_eq!(Batch::decode(&batch.bytes).unwrap(), *batch.batch);
        assert_eq!(pool.batch(&batch.digest), Some(batch.batch.clone()));
        assert_eq!(pool.batch_bytes(&batch.digest), Some(batch.bytes.clone()));
    }
    // The seventh waits for its delay.
    assert_eq!(pool.next_seal_at(), Some(60));
    assert!(pool.seal_due(59).is_empty());
    let last = pool.seal_due(60);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].batch.txs, vec![txs[6].clone()]);
    assert_eq!(pool.next_seal_at(), None);
    let stats = pool.stats();
    assert_eq!(stats.batches_sealed, 3);
    assert_eq!(stats.stored_batches, 3);
    assert_eq!(stats.waiting_txs, 0);
    // Sealed transactions stay pending until committed.
    assert_eq!(stats.pending_txs, 7);
    assert!(txs.iter().all(|tx| pool.is_pending(&tx.hash())));
    assert_eq!(
        stats.stored_batch_bytes,
        sealed
            .iter()
            .chain(&last)
            .map(|b| b.bytes.len())
            .sum::<usize>()
    );
}

#[test]
fn seals_by_bytes() {
    let size = transfer(&key(1), 0, 1, 1).encode().len();
    // Room for two transactions and the batch's two length prefixes, author and signature,
    // not three.
    let mut pool = new_pool(seal_config(4_000, 112 + 2 * size + size / 2));
    let view = rich([1]);
    for n in 0..5 {
        admit_ok(&mut pool, &transfer(&key(1), n, 1, 1), &view, 0);
    }
    let sealed = pool.seal_due(0);
    assert_eq!(sealed.len(), 2);
    for batch in &sealed {
        assert_eq!(batch.batch.txs.len(), 2);
        assert_eq!(
            batch.bytes.len(),
            112 + 2 * size,
            "the size estimate is exact"
        );
    }
    assert_eq!(pool.stats().waiting_txs, 1);
    assert_eq!(pool.next_seal_at(), Some(50));
}

#[test]
fn an_item_larger_than_a_batch_gets_a_batch_of_its_own() {
    let mut pool = new_pool(seal_config(4_000, 50));
    let view = rich([1]);
    for n in 0..2 {
        admit_ok(&mut pool, &transfer(&key(1), n, 1, 1), &view, 0);
    }
    let sealed = pool.seal_due(0);
    assert_eq!(sealed.len(), 2);
    assert!(sealed.iter().all(|b| b.batch.txs.len() == 1));
}

#[test]
fn seals_by_delay_from_the_oldest() {
    let mut pool = new_pool(seal_config(100, 1 << 20));
    let view = rich([1]);
    assert_eq!(pool.next_seal_at(), None);
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &view, 10);
    admit_ok(&mut pool, &transfer(&key(1), 1, 1, 1), &view, 30);
    assert_eq!(pool.next_seal_at(), Some(60));
    assert!(pool.seal_due(59).is_empty());
    let sealed = pool.seal_due(60);
    assert_eq!(sealed.len(), 1);
    assert_eq!(sealed[0].batch.txs.len(), 2);
}

#[test]
fn each_senders_nonces_are_in_order_within_a_batch() {
    let mut pool = new_pool(seal_config(100, 1 << 20));
    let view = rich([1, 2]);
    let (a, b) = (key(1), key(2));
    let arrivals = [
        transfer(&a, 2, 1, 1),
        transfer(&b, 1, 1, 1),
        transfer(&a, 0, 1, 1),
        transfer(&b, 0, 1, 1),
        transfer(&a, 1, 1, 1),
    ];
    for tx in &arrivals {
        admit_ok(&mut pool, tx, &view, 0);
    }
    let sealed = pool.seal_due(50);
    let order: Vec<(u8, u64)> = sealed[0]
        .batch
        .txs
        .iter()
        .map(|tx| (u8::from(tx.body.sender != a.public()), tx.body.nonce))
        .collect();
    // a keeps positions 0, 2, 4 and b keeps 1, 3.
    assert_eq!(order, vec![(0, 0), (1, 0), (0, 1), (1, 1), (0, 2)]);
}

#[test]
fn a_full_store_stops_sealing_until_a_commit() {
    let mut pool = new_pool(MempoolConfig {
        max_batch_txs: 1,
        max_stored_batches: 1,
        ..config()
    });
    let view = rich([1]);
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&key(1), 1, 1, 1), &view, 0);
    let first = pool.seal_due(0);
    assert_eq!(first.len(), 1);
    assert_eq!(pool.next_seal_at(), None);
    assert!(pool.seal_due(1_000).is_empty());
    let mut view = view;
    view.insert(address(&key(1)), (1_000_000_000, 1));
    commit_executed(&mut pool, &[first[0].digest], &view);
    assert_eq!(pool.next_seal_at(), Some(0));
    assert_eq!(pool.seal_due(1_000).len(), 1);
}

#[test]
fn raw_payloads_are_sealed_into_raw() {
    let mut pool = new_pool(MempoolConfig {
        allow_raw: true,
        ..seal_config(100, 1 << 20)
    });
    pool.admit_raw(vec![1; 100], 0).unwrap();
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &rich([1]), 0);
    pool.admit_raw(vec![2; 32], 0).unwrap();
    let sealed = pool.seal_due(50);
    assert_eq!(sealed.len(), 1);
    assert_eq!(sealed[0].batch.raw, vec![vec![1; 100], vec![2; 32]]);
    assert_eq!(sealed[0].batch.txs.len(), 1);
    assert_eq!(sealed[0].bytes.len(), 112 + pool.stats().pending_bytes);
}

#[test]
fn a_raw_batch_identical_to_a_committed_one_is_not_sealed_again() {
    let mut pool = new_pool(MempoolConfig {
        allow_raw: true,
        ..config()
    });
    let view = View::new();
    pool.admit_raw(vec![1; 32], 0).unwrap();
    let sealed = pool.seal_due(50);
    commit_executed(&mut pool, &[sealed[0].digest], &view);
    pool.admit_raw(vec![1; 32], 100).unwrap();
    assert!(pool.seal_due(150).is_empty());
    let stats = pool.stats();
    assert_eq!(stats.stale_dropped, 1);
    assert_eq!(stats.pending_txs, 0);
    assert_eq!(stats.stored_batches, 0);
}
