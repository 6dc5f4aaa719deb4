//! Batches a hostile validator pushes: stuffed, dead, over the limits or over its quota. Each
//! of these was stored, and kept for ever, before the screen against committed state, the
//! per-author quota and the age limit existed (issue 14, finding 1).

use super::*;
use crate::{BatchRejected, Received, Source};
use std::collections::BTreeSet;

fn batch_of(txs: Vec<SignedTx>) -> (Batch, Vec<u8>) {
    let batch = signed_batch(txs, vec![]);
    let bytes = batch.encode();
    (batch, bytes)
}

#[test]
fn a_batch_repeating_one_paid_transaction_is_refused_whole() {
    let mut pool = new_pool(config());
    let tx = transfer(&key(3), 0, 1, 1);
    let (batch, bytes) = batch_of(vec![tx.clone(); 50]);
    let error = pool.receive_batch(&bytes, PEER, &funded, 0).unwrap_err();
    assert_eq!(error, BatchRejected::Duplicate { position: 1 });
    assert!(error.is_peer_fault());
    assert_eq!(pool.batch(&batch.digest()), None);
    assert!(!pool.is_pending(&tx.hash()));
    assert_eq!(pool.stats().batches_rejected.get("duplicate"), Some(&1));
}

/// Repeats of batched transactions in new batches are kept, not refused or scored (an honest
/// validator may have batched the same ones), and never proposed here: the first batch orders them.
#[test]
fn copies_of_batched_transactions_in_new_batches_are_kept_but_not_proposed() {
    let mut pool = new_pool(config());
    let (first, bytes) = peer_batch(3, 4);
    assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_ok());
    // The same transactions again, one at a time in distinct batches: every digest is new.
    for tx in &first.txs {
        let (copy, copy_bytes) = batch_of(vec![tx.clone()]);
        assert_eq!(
            pool.receive_batch(&copy_bytes, PEER, &funded, 0),
            Ok(Received::New(copy.digest()))
        );
    }
    assert_eq!(pool.stats().stored_batches, 5);
    assert!(pool.stats().batches_rejected.is_empty());
    let payload = pool.next_payload(&BTreeSet::new(), 4096, 20_000, usize::MAX);
    assert_eq!(payload, vec![first.digest()]);
}

/// Two honest validators seal what one client sent to both: each stores the other's batch,
/// neither refuses or scores it, and each proposes its own (before, each found the other's
/// batch junk, scored it and banned it, and a two-validator chain stopped).
#[test]
fn honest_validators_batching_the_same_transactions_keep_each_other() {
    let view = rich([3]);
    let txs: Vec<SignedTx> = (0..50).map(|n| transfer(&key(3), n, 1, 1)).collect();
    let seal = |txs: &[SignedTx], signer: SecretKey| {
        let mut pool = pool_signed_by(config(), signer);
        for tx in txs {
            admit_ok(&mut pool, tx, &view, 0);
        }
        let sealed = pool.seal_due(1_000_000);
        assert_eq!(sealed.len(), 1);
        let own = sealed[0].digest;
        (pool, own, sealed[0].batch.encode())
    };
    let (mut a, own_a, bytes_a) = seal(&txs, peer_key());
    let (mut b, own_b, bytes_b) = seal(&txs[..40], other_key());
    assert!(matches!(
        a.receive_batch(&bytes_b, OTHER, &funded, 0),
        Ok(Received::New(_))
    ));
    assert!(matches!(
        b.receive_batch(&bytes_a, PEER, &funded, 0),
        Ok(Received::New(_))
    ));
    for pool in [&a, &b] {
        assert!(pool.stats().batches_rejected.is_empty());
        assert_eq!(pool.stats().stored_batches, 2);
    }
    let none = BTreeSet::new();
    assert_eq!(a.next_payload(&none, 4096, 20_000, usize::MAX), vec![own_a]);
    assert_eq!(b.next_payload(&none, 4096, 20_000, usize::MAX), vec![own_b]);
}

#[test]
fn transactions_that_cannot_execute_make_a_batch_junk() {
    let mut pool = new_pool(config());
    let k = key(3);
    // Committed state: nonce 10, and only enough balance for two transactions' gas.
    let view = |_: &Address| (2 * GAS_LIMIT, 10);
    let stale: Vec<SignedTx> = (0..4).map(|n| transfer(&k, n, 1, 1)).collect();
    let (_, bytes) = batch_of(stale);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &view, 0),
        Err(BatchRejected::Junk { dead: 4, items: 4 })
    );
    let ahead: Vec<SignedTx> = (0..3).map(|n| transfer(&k, 10 + n * 5_000, 1, 1)).collect();
    let (_, bytes) = batch_of(ahead);
    assert!(matches!(
        pool.receive_batch(&bytes, PEER, &view, 0),
        Err(BatchRejected::Junk { dead: 2, .. })
    ));
    // Four live nonces, but the balance covers the gas of two: half dead is still accepted.
    let unaffordable: Vec<SignedTx> = (10..14).map(|n| transfer(&k, n, 1, 1)).collect();
    let (batch, bytes) = batch_of(unaffordable);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &view, 0),
        Ok(Received::New(batch.digest()))
    );
    // A sender that cannot pay for one transaction's gas.
    let poor = |_: &Address| (GAS_LIMIT - 1, 10);
    let costly: Vec<SignedTx> = (10..13).map(|n| transfer(&k, n, 1, 2)).collect();
    let (_, bytes) = batch_of(costly);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &poor, 0),
        Err(BatchRejected::Junk { dead: 3, items: 3 })
    );
}

#[test]
fn a_batch_over_the_blocks_item_limit_is_refused() {
    let mut pool = new_pool(MempoolConfig {
        max_block_items: 5,
        ..config()
    });
    let (_, bytes) = peer_batch(3, 6);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Err(BatchRejected::TooManyItems { items: 6, limit: 5 })
    );
    let (batch, bytes) = peer_batch(3, 5);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Ok(Received::New(batch.digest()))
    );
}

#[test]
fn each_author_lives_under_its_quota_and_room_stays_for_own_batches() {
    let (_, probe) = peer_batch(3, 2);
    let len = probe.len();
    let mut pool = new_pool(MempoolConfig {
        max_author_batch_bytes: 2 * len,
        max_stored_batch_bytes: 5 * len,
        reserved_own_batch_bytes: 2 * len,
        ..config()
    });
    for seed in [3, 4] {
        let (_, bytes) = peer_batch(seed, 2);
        assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_ok());
    }
    let (_, third) = peer_batch(5, 2);
    let error = pool.receive_batch(&third, PEER, &funded, 0).unwrap_err();
    assert_eq!(
        error,
        BatchRejected::AuthorQuota {
            bytes: 2 * len,
            quota: 2 * len
        }
    );
    assert!(
        error.is_busy(),
        "an author over its quota may just be ahead"
    );
    // Another validator has its own quota, up to the room pushed batches may take (3 of 5).
    let other_batch = |seed: u8| {
        let txs = (0..2).map(|n| transfer(&key(seed), n, 1, 1)).collect();
        Batch::signed(txs, vec![], CHAIN, &other_key()).encode()
    };
    let third = other_batch(5);
    assert!(pool.receive_batch(&third, OTHER, &funded, 0).is_ok());
    let fourth = other_batch(6);
    assert!(matches!(
        pool.receive_batch(&fourth, OTHER, &funded, 0),
        Err(BatchRejected::StoreFull { .. })
    ));
    // This node still seals its own.
    let view = rich([7]);
    admit_ok(&mut pool, &transfer(&key(7), 0, 1, 1), &view, 0);
    assert_eq!(pool.seal_due(10_000).len(), 1);
}

#[test]
fn fetched_batches_may_pass_the_bound_only_by_the_overflow() {
    let (_, probe) = peer_batch(3, 2);
    let len = probe.len();
    let mut pool = new_pool(MempoolConfig {
        max_stored_batch_bytes: len,
        reserved_own_batch_bytes: 0,
        max_fetched_overflow_bytes: len,
        ..config()
    });
    let fetch = |seed: u8| {
        let (batch, bytes) = peer_batch(seed, 2);
        (Source::Fetched(batch.digest()), bytes)
    };
    for seed in [3, 4] {
        let (source, bytes) = fetch(seed);
        assert!(pool.receive_batch(&bytes, source, &funded, 0).is_ok());
    }
    let (source, bytes) = fetch(5);
    assert!(matches!(
        pool.receive_batch(&bytes, source, &funded, 0),
        Err(BatchRejected::StoreFull { .. })
    ));
}

#[test]
fn batches_no_block_names_age_out_with_their_transactions() {
    let mut pool = new_pool(MempoolConfig {
        max_batch_age_ms: 1_000,
        ..config()
    });
    let view = rich([3, 4]);
    let (peer, bytes) = peer_batch(3, 3);
    assert!(pool.receive_batch(&bytes, PEER, &funded, 100).is_ok());
    let own_tx = transfer(&key(4), 0, 1, 1);
    admit_ok(&mut pool, &own_tx, &view, 500);
    let own = pool.seal_due(600);
    assert_eq!(own.len(), 1);
    assert_eq!(pool.stats().pending_txs, 1);
    assert_eq!(pool.expire(1_099), 0);
    assert_eq!(pool.expire(1_100), 1, "the peer's batch, stored at 100");
    assert_eq!(pool.batch(&peer.digest()), None);
    assert!(peer.txs.iter().all(|tx| !pool.is_pending(&tx.hash())));
    assert!(pool.is_pending(&own_tx.hash()));
    assert_eq!(pool.expire(1_600), 1, "this node's own, sealed at 600");
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 1));
    assert_eq!(pool.stats().batches_expired, 2);
    assert!(
        pool.next_payload(&BTreeSet::new(), 10, 100, usize::MAX)
            .is_empty()
    );
}

#[test]
fn the_payload_respects_the_byte_limit_and_its_size_is_known() {
    let mut pool = new_pool(config());
    let mut digests = Vec::new();
    let mut lens = Vec::new();
    for seed in [3, 4, 5] {
        let (batch, bytes) = peer_batch(seed, 2);
        assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_ok());
        digests.push(batch.digest());
        lens.push(bytes.len());
    }
    let none = BTreeSet::new();
    let two = lens[0] + lens[1];
    assert_eq!(
        pool.next_payload(&none, 10, 100, two),
        digests[..2].to_vec()
    );
    let size = pool.payload_size(&digests);
    assert_eq!(
        (size.items, size.bytes, size.missing),
        (6, two + lens[2], vec![])
    );
    let unknown = Hash([9; 32]);
    assert_eq!(
        pool.payload_size(&[digests[0], unknown]).missing,
        vec![unknown]
    );
}
