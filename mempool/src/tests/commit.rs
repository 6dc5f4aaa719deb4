//! The proposer's payload and what a commit forgets.

use super::*;
use crate::{AdmitError, BatchRejected, Received};
use std::collections::BTreeSet;

/// Three stored batches in arrival order: own (2 txs), a peer's (5 txs), own (1 tx).
fn three_batches() -> (Mempool, View, Vec<Hash>) {
    let mut pool = new_pool(config());
    let view = rich([1, 2]);
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&key(1), 1, 1, 1), &view, 0);
    let first = pool.seal_due(100)[0].digest;
    let (batch, bytes) = peer_batch(3, 5);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Ok(Received::New(batch.digest()))
    );
    admit_ok(&mut pool, &transfer(&key(2), 0, 1, 1), &view, 200);
    let third = pool.seal_due(300)[0].digest;
    (pool, view, vec![first, batch.digest(), third])
}

#[test]
fn payload_is_oldest_first_within_the_limits() {
    let (mut pool, _, digests) = three_batches();
    let none = BTreeSet::new();
    assert_eq!(pool.next_payload(&none, 10, 100, usize::MAX), digests);
    assert_eq!(
        pool.next_payload(&none, 2, 100, usize::MAX),
        digests[..2].to_vec()
    );
    assert_eq!(
        pool.next_payload(&none, 0, 100, usize::MAX),
        Vec::<Hash>::new()
    );
    // Seven transactions: the peer's five do not fit after the first two, the last one does.
    assert_eq!(
        pool.next_payload(&none, 10, 4, usize::MAX),
        vec![digests[0], digests[2]]
    );
    assert_eq!(
        pool.next_payload(&none, 10, 0, usize::MAX),
        Vec::<Hash>::new()
    );
    // Proposing does not remove anything.
    assert_eq!(pool.next_payload(&none, 10, 100, usize::MAX), digests);
}

#[test]
fn payload_skips_batches_in_flight() {
    let (mut pool, _, digests) = three_batches();
    let in_flight: BTreeSet<Hash> = [digests[0], digests[2]].into();
    assert_eq!(
        pool.next_payload(&in_flight, 10, 100, usize::MAX),
        vec![digests[1]]
    );
    let all: BTreeSet<Hash> = digests.iter().copied().collect();
    assert!(pool.next_payload(&all, 10, 100, usize::MAX).is_empty());
}

#[test]
fn commit_forgets_batches_and_their_transactions() {
    let (mut pool, mut view, digests) = three_batches();
    assert_eq!(pool.stats().pending_txs, 3);
    view.insert(address(&key(1)), (1_000_000_000, 2));
    commit_executed(&mut pool, &digests[..1], &view);
    assert_eq!(pool.batch(&digests[0]), None);
    assert_eq!(pool.payload_size(&digests).missing, vec![digests[0]]);
    assert!(pool.is_committed(&digests[0]));
    assert!(!pool.is_pending(&transfer(&key(1), 0, 1, 1).hash()));
    assert_eq!(
        pool.next_payload(&BTreeSet::new(), 10, 100, usize::MAX),
        digests[1..].to_vec()
    );
    let stats = pool.stats();
    assert_eq!(stats.pending_txs, 1);
    assert_eq!(stats.stored_batches, 2);
    assert_eq!(stats.batches_committed, 1);
    // Committing the rest, and a digest never held, empties the store.
    commit_executed(&mut pool, &[digests[1], digests[2], Hash([9; 32])], &view);
    let stats = pool.stats();
    assert_eq!((stats.pending_txs, stats.pending_bytes), (0, 0));
    assert_eq!((stats.stored_batches, stats.stored_batch_bytes), (0, 0));
    assert_eq!(pool.index.len(), 0);
    assert!(pool.is_committed(&Hash([9; 32])));
}

#[test]
fn commit_drops_waiting_transactions_made_stale() {
    let mut pool = new_pool(config());
    let view = rich([3]);
    let k = key(3);
    // This node holds its own nonces 0, 1 and 5 of the sender, waiting.
    let mine: Vec<Hash> = [0, 1, 5]
        .iter()
        .map(|n| admit_ok(&mut pool, &transfer(&k, *n, 1, 100), &view, 0))
        .collect();
    // A peer's batch holds other transactions for nonces 2 and 3; they commit after ones for
    // nonces 0 and 1 that this node never saw, so the committed nonce is now 4.
    let batch = signed_batch(vec![transfer(&k, 2, 1, 1), transfer(&k, 3, 1, 1)], vec![]);
    assert!(
        pool.receive_batch(&batch.encode(), PEER, &funded, 0)
            .is_ok()
    );
    let mut view = view;
    view.insert(address(&k), (1_000_000_000, 4));
    commit_executed(&mut pool, &[batch.digest()], &view);
    assert!(!pool.is_pending(&mine[0]));
    assert!(!pool.is_pending(&mine[1]));
    assert!(pool.is_pending(&mine[2]));
    let stats = pool.stats();
    assert_eq!(stats.stale_dropped, 2);
    assert_eq!(stats.pending_txs, 1);
    assert_eq!(pool.next_nonce(&address(&k), 4), 4);
    assert_eq!(pool.next_nonce(&address(&k), 5), 6);
}

#[test]
fn next_nonce_counts_consecutive_pending_nonces() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let k = key(1);
    for n in [0, 1, 2, 4] {
        admit_ok(&mut pool, &transfer(&k, n, 1, 1), &view, 0);
    }
    assert_eq!(pool.next_nonce(&address(&k), 0), 3);
    assert_eq!(pool.next_nonce(&address(&k), 3), 3);
    assert_eq!(pool.next_nonce(&address(&k), 4), 5);
    assert_eq!(pool.next_nonce(&address(&key(2)), 7), 7);
}

#[test]
fn recently_committed_set_is_bounded() {
    let mut pool = new_pool(MempoolConfig {
        max_recent_committed: 3,
        ..config()
    });
    let digests: Vec<Hash> = (0..5).map(|n| Hash([n; 32])).collect();
    commit_executed(&mut pool, &digests, &View::new());
    assert_eq!(pool.recent.len(), 3);
    assert!(!pool.is_committed(&digests[1]));
    assert!(pool.is_committed(&digests[4]));
}

/// A stranger's flood carried a copy of a transaction this node had batched: between the block
/// committing it and its execution, the executed state still shows the old nonce, and the copy
/// was admitted and relayed a second time (hostile_peers.rs saw two relays for one).
#[test]
fn a_committed_transaction_stays_a_duplicate_until_its_block_is_executed() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let tx = transfer(&key(1), 0, 1, 1);
    admit_ok(&mut pool, &tx, &view, 0);
    let sealed = pool.seal_due(1_000);
    pool.on_commit(&[sealed[0].digest], 5);
    let refused = |pool: &mut Mempool, view: &View| pool.admit(&tx.encode(), view, 2_000);
    assert_eq!(
        refused(&mut pool, &view),
        Err(AdmitError::Duplicate(tx.hash()))
    );
    assert!(!pool.is_pending(&tx.hash()));
    assert_eq!(pool.stats().pending_txs, 0);
    // The next nonce counts the committed one.
    assert_eq!(pool.next_nonce(&address(&key(1)), 0), 1);
    // Another validator's batch repeating it is mostly dead.
    let copy = Batch::signed(vec![tx.clone()], vec![], CHAIN, &other_key()).encode();
    assert!(matches!(
        pool.receive_batch(&copy, OTHER, &view, 2_000),
        Err(BatchRejected::Junk { .. })
    ));
    // An earlier block's execution releases nothing.
    pool.on_executed(4, &view);
    assert_eq!(
        refused(&mut pool, &view),
        Err(AdmitError::Duplicate(tx.hash()))
    );
    let mut executed = view.clone();
    executed.insert(address(&key(1)), (1_000_000_000, 1));
    pool.on_executed(5, &executed);
    assert!(matches!(
        refused(&mut pool, &executed),
        Err(AdmitError::NonceTooLow { .. })
    ));
    assert_eq!(pool.index.len(), 0);
}

#[test]
fn committed_transactions_are_remembered_within_a_bound() {
    let mut pool = new_pool(MempoolConfig {
        max_unexecuted_txs: 1,
        ..config()
    });
    let view = rich([1, 2]);
    let first = transfer(&key(1), 0, 1, 1);
    let second = transfer(&key(2), 0, 1, 1);
    admit_ok(&mut pool, &first, &view, 0);
    let a = pool.seal_due(1_000);
    admit_ok(&mut pool, &second, &view, 1_000);
    let b = pool.seal_due(2_000);
    pool.on_commit(&[a[0].digest], 1);
    pool.on_commit(&[b[0].digest], 2);
    // The older one was let go to keep the bound; the newer one is still a duplicate.
    assert_eq!(pool.index.len(), 1);
    assert_eq!(
        pool.admit(&second.encode(), &view, 3_000),
        Err(AdmitError::Duplicate(second.hash()))
    );
}
