//! Peers' batches: verified once, refused whole on any fault, hostile bytes never panic.

use super::*;
use crate::{BatchRejected, Received, Screened, Source, verify_batch_bytes};
use proptest::prelude::*;
use runnet_types::batch::{BatchError, MAX_BATCH_BYTES, MAX_RAW_PAYLOAD_BYTES};
use std::collections::BTreeSet;

#[test]
fn a_peers_batch_is_verified_and_stored() {
    let mut pool = new_pool(config());
    let (batch, bytes) = peer_batch(3, 10);
    let digest = batch.digest();
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Ok(Received::New(digest))
    );
    assert_eq!(pool.batch(&digest).as_deref(), Some(&batch));
    assert_eq!(pool.batch_bytes(&digest).as_deref(), Some(&bytes));
    assert!(batch.txs.iter().all(|tx| pool.is_pending(&tx.hash())));
    assert_eq!(pool.next_nonce(&address(&key(3)), 0), 10);
    let stats = pool.stats();
    assert_eq!(stats.batches_received, 1);
    assert_eq!(stats.stored_batches, 1);
    assert_eq!(stats.stored_batch_bytes, bytes.len());
    // Peers' transactions are not this node's pending ones.
    assert_eq!(stats.pending_txs, 0);
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Ok(Received::Known(digest))
    );
    assert_eq!(
        pool.receive_batch(&bytes, Source::Fetched(digest), &funded, 0),
        Ok(Received::Known(digest))
    );
    assert_eq!(pool.stats().batches_received, 1);
    assert_eq!(
        pool.next_payload(&BTreeSet::new(), 10, 10_000, usize::MAX),
        vec![digest]
    );
}

#[test]
fn one_bad_signature_refuses_the_whole_batch() {
    let mut pool = new_pool(config());
    let (mut batch, _) = peer_batch(3, 6);
    batch.txs[2].signature.0[9] ^= 1;
    batch.txs[4].body.gas_price = 2;
    // The author signs what it carries, bad transactions and all.
    batch.sign(CHAIN, &peer_key());
    let error = pool
        .receive_batch(&batch.encode(), PEER, &funded, 0)
        .unwrap_err();
    assert_eq!(error, BatchRejected::BadSignatures(vec![2, 4]));
    assert_eq!(error.kind(), "bad_signatures");
    assert!(error.is_peer_fault() && !error.is_busy());
    assert_eq!(pool.batch(&batch.digest()), None);
    assert!(batch.txs.iter().all(|tx| !pool.is_pending(&tx.hash())));
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
    assert_eq!(
        pool.stats().batches_rejected.get("bad_signatures"),
        Some(&1)
    );
}

#[test]
fn a_fetched_batch_with_the_wrong_digest_is_refused() {
    let mut pool = new_pool(config());
    let (batch, bytes) = peer_batch(3, 2);
    let asked = Hash([7; 32]);
    assert_eq!(
        pool.receive_batch(&bytes, Source::Fetched(asked), &funded, 0),
        Err(BatchRejected::DigestMismatch {
            expected: asked,
            got: batch.digest()
        })
    );
    assert_eq!(pool.stats().stored_batches, 0);
    assert_eq!(
        pool.receive_batch(&bytes, Source::Fetched(batch.digest()), &funded, 0),
        Ok(Received::New(batch.digest()))
    );
}

#[test]
fn wrong_chain_id_empty_and_raw_refused() {
    let mut pool = new_pool(config());
    let k = key(3);
    let mut stray = transfer(&k, 1, 1, 1).body;
    stray.chain_id = "other".into();
    let batch = signed_batch(vec![transfer(&k, 0, 1, 1), stray.sign(&k)], vec![]);
    assert_eq!(
        pool.receive_batch(&batch.encode(), PEER, &funded, 0),
        Err(BatchRejected::WrongChainId {
            position: 1,
            got: "other".into()
        })
    );
    assert_eq!(
        pool.receive_batch(&Batch::default().encode(), PEER, &funded, 0),
        Err(BatchRejected::Empty)
    );
    let raw = signed_batch(vec![], vec![vec![1; 32]]);
    assert_eq!(
        pool.receive_batch(&raw.encode(), PEER, &funded, 0),
        Err(BatchRejected::RawDisabled)
    );
    assert_eq!(pool.stats().stored_batches, 0);
    let mut raw_pool = new_pool(MempoolConfig {
        allow_raw: true,
        ..config()
    });
    assert_eq!(
        raw_pool.receive_batch(&raw.encode(), PEER, &funded, 0),
        Ok(Received::New(raw.digest()))
    );
    assert!(raw_pool.is_pending(&Hash([1; 32])));
}

#[test]
fn hostile_bytes_are_refused() {
    let mut pool = new_pool(config());
    let (_, good) = peer_batch(3, 3);
    let mut trailing = good.clone();
    trailing.push(0);
    // The transaction count claims 2^62 entries.
    let mut huge_count = good.clone();
    huge_count[..8].copy_from_slice(&(1u64 << 62).to_le_bytes());
    // A raw payload whose length prefix claims more than the input holds.
    let mut huge_raw = 0u64.to_le_bytes().to_vec();
    huge_raw.extend_from_slice(&1u64.to_le_bytes());
    huge_raw.extend_from_slice(&((MAX_RAW_PAYLOAD_BYTES as u64) * 4).to_le_bytes());
    huge_raw.extend_from_slice(&[0; 32]);
    for bytes in [
        vec![],
        vec![0xff; 100],
        good[..good.len() - 1].to_vec(),
        good[..good.len() / 3].to_vec(),
        trailing,
        huge_count,
        huge_raw,
    ] {
        let error = pool.receive_batch(&bytes, PEER, &funded, 0).unwrap_err();
        assert!(matches!(error, BatchRejected::Decode(_)), "{error:?}");
        assert!(error.is_peer_fault());
    }
    let oversized = vec![0u8; MAX_BATCH_BYTES + 1];
    assert_eq!(
        pool.receive_batch(&oversized, PEER, &funded, 0),
        Err(BatchRejected::Oversized {
            len: MAX_BATCH_BYTES + 1,
            limit: MAX_BATCH_BYTES
        })
    );
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
    assert_eq!(pool.stats().batches_rejected.values().sum::<u64>(), 8);
}

fn storing_one_batch() -> Mempool {
    new_pool(MempoolConfig {
        max_stored_batches: 1,
        ..config()
    })
}

#[test]
fn a_full_store_is_busy_except_for_fetched_batches() {
    let mut pool = storing_one_batch();
    let (_, first) = peer_batch(3, 2);
    let (second_batch, second) = peer_batch(4, 2);
    assert!(matches!(
        pool.receive_batch(&first, PEER, &funded, 0),
        Ok(Received::New(_))
    ));
    let error = pool.receive_batch(&second, PEER, &funded, 0).unwrap_err();
    assert_eq!(
        error,
        BatchRejected::StoreFull {
            batches: 1,
            bytes: first.len()
        }
    );
    assert!(error.is_busy() && !error.is_peer_fault());
    // A proposal names it: the vote needs it, so it is held anyway.
    assert_eq!(
        pool.receive_batch(&second, Source::Fetched(second_batch.digest()), &funded, 0),
        Ok(Received::New(second_batch.digest()))
    );
    assert_eq!(pool.stats().stored_batches, 2);
}

#[test]
fn full_by_bytes_is_busy_too() {
    let (_, first) = peer_batch(3, 2);
    let mut pool = new_pool(MempoolConfig {
        max_stored_batch_bytes: first.len() + 10,
        reserved_own_batch_bytes: 0,
        ..config()
    });
    assert!(pool.receive_batch(&first, PEER, &funded, 0).is_ok());
    let (_, second) = peer_batch(4, 2);
    assert!(
        pool.receive_batch(&second, PEER, &funded, 0)
            .unwrap_err()
            .is_busy()
    );
}

#[test]
fn a_committed_batch_is_not_stored_again() {
    let mut pool = new_pool(config());
    let (batch, bytes) = peer_batch(3, 2);
    commit_executed(&mut pool, &[batch.digest()], &View::new());
    assert_eq!(
        pool.receive_batch(&bytes, PEER, &funded, 0),
        Ok(Received::AlreadyCommitted(batch.digest()))
    );
    assert_eq!(pool.stats().stored_batches, 0);
    assert!(pool.is_committed(&batch.digest()));
}

#[test]
fn a_peer_batch_carrying_a_waiting_transaction_takes_it_over() {
    let mut pool = new_pool(config());
    let view = rich([3]);
    let (batch, bytes) = peer_batch(3, 2);
    let id = admit_ok(&mut pool, &batch.txs[0], &view, 0);
    assert_eq!(pool.stats().waiting_txs, 1);
    assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_ok());
    let stats = pool.stats();
    assert_eq!((stats.waiting_txs, stats.pending_txs), (0, 0));
    assert!(pool.is_pending(&id));
    assert!(pool.seal_due(10_000).is_empty(), "never batched twice");
    let mut view = view;
    view.insert(address(&key(3)), (1_000_000_000, 2));
    commit_executed(&mut pool, &[batch.digest()], &view);
    assert!(!pool.is_pending(&id));
    assert_eq!(pool.index.len(), 0);
}

#[test]
fn the_same_transaction_in_two_batches_leaves_with_the_last() {
    let mut pool = new_pool(config());
    let view = rich([3]);
    let (batch, bytes) = peer_batch(3, 2);
    admit_ok(&mut pool, &batch.txs[1], &view, 0);
    let own = pool.seal_due(1_000);
    assert_eq!(own.len(), 1);
    assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_ok());
    commit_executed(&mut pool, &[own[0].digest], &view);
    assert!(
        pool.is_pending(&batch.txs[1].hash()),
        "still in the peer's batch"
    );
    assert_eq!(pool.stats().pending_txs, 0);
    commit_executed(&mut pool, &[batch.digest()], &view);
    assert!(!pool.is_pending(&batch.txs[1].hash()));
    assert_eq!(pool.index.len(), 0);
}

#[test]
fn verify_batch_bytes_applies_the_same_rule() {
    let (batch, bytes) = peer_batch(3, 3);
    let verified = verify_batch_bytes(&bytes, CHAIN, false).unwrap();
    assert_eq!(verified.digest, batch.digest());
    assert_eq!(verified.batch, batch);
    assert!(matches!(
        verify_batch_bytes(&bytes, "other", false),
        Err(BatchRejected::WrongChainId { position: 0, .. })
    ));
    assert!(matches!(
        verify_batch_bytes(&bytes[1..], CHAIN, false),
        Err(BatchRejected::Decode(BatchError::Decode(_)))
    ));
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut pool = new_pool(config());
        prop_assert!(pool.receive_batch(&bytes, PEER, &funded, 0).is_err());
        prop_assert!(pool.admit(&bytes, &rich([1]), 0).is_err());
        prop_assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
    }

    #[test]
    fn mutated_batches_never_panic(pos in 0usize..1_000, byte in any::<u8>(), cut in 0usize..1_000) {
        let (batch, mut bytes) = peer_batch(3, 3);
        let i = pos % bytes.len();
        let changed = bytes[i] != byte;
        bytes[i] = byte;
        bytes.truncate(bytes.len() - cut % 8);
        let mut pool = new_pool(config());
        match pool.receive_batch(&bytes, PEER, &funded, 0) {
            // Only the unchanged batch can get through: every byte is signed or structural.
            Ok(received) => {
                prop_assert!(!changed && cut % 8 == 0);
                prop_assert_eq!(received, Received::New(batch.digest()));
            }
            Err(_) => prop_assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0)),
        }
    }
}

#[test]
fn a_batch_verified_outside_is_checked_again_when_stored() {
    let mut pool = storing_one_batch();
    let (first, first_bytes) = peer_batch(3, 4);
    let (second, second_bytes) = peer_batch(4, 4);
    // Both pass the screen while the store is empty...
    assert_eq!(
        pool.screen_batch(&first_bytes, PEER),
        Ok(Screened::Verify(first.digest()))
    );
    assert_eq!(
        pool.screen_batch(&second_bytes, PEER),
        Ok(Screened::Verify(second.digest()))
    );
    let verified_first = verify_batch_bytes(&first_bytes, CHAIN, false).unwrap();
    let verified_second = verify_batch_bytes(&second_bytes, CHAIN, false).unwrap();
    let fetched = Source::Fetched(second.digest());
    assert_eq!(
        pool.store_verified(
            first_bytes.clone(),
            verified_first.clone(),
            PEER,
            &funded,
            0
        ),
        Ok(Received::New(first.digest()))
    );
    // ...but the first filled it meanwhile: the second is refused, unless a proposal needs it.
    assert!(matches!(
        pool.store_verified(
            second_bytes.clone(),
            verified_second.clone(),
            PEER,
            &funded,
            0
        ),
        Err(BatchRejected::StoreFull { .. })
    ));
    assert_eq!(pool.stats().batches_rejected.get("store_full"), Some(&1));
    assert_eq!(
        pool.store_verified(second_bytes, verified_second, fetched, &funded, 0),
        Ok(Received::New(second.digest()))
    );
    // A second copy verified in parallel is known, not stored twice.
    assert_eq!(
        pool.store_verified(first_bytes, verified_first, PEER, &funded, 0),
        Ok(Received::Known(first.digest()))
    );
    assert_eq!(pool.stats().batches_received, 2);
    assert_eq!(pool.stats().stored_batches, 2);
    // Once held, the screen needs no verification.
    let (_, again) = peer_batch(3, 4);
    assert_eq!(
        pool.screen_batch(&again, PEER),
        Ok(Screened::Done(Received::Known(first.digest())))
    );
}

#[test]
fn the_screen_refuses_what_needs_no_signature_check() {
    let mut pool = new_pool(config());
    let (batch, bytes) = peer_batch(3, 4);
    let other = Hash::digest(b"another batch");
    assert!(matches!(
        pool.screen_batch(&bytes, Source::Fetched(other)),
        Err(BatchRejected::DigestMismatch { .. })
    ));
    assert!(matches!(
        pool.screen_batch(&vec![0u8; MAX_BATCH_BYTES + 1], PEER),
        Err(BatchRejected::Oversized { .. })
    ));
    pool.receive_batch(&bytes, PEER, &funded, 0).unwrap();
    commit_executed(&mut pool, &[batch.digest()], &rich([3]));
    assert_eq!(
        pool.screen_batch(&bytes, PEER),
        Ok(Screened::Done(Received::AlreadyCommitted(batch.digest())))
    );
    assert_eq!(pool.stats().batches_rejected.len(), 2);
}

/// A batch names its author and carries the author's signature: a forged signature, an author
/// who is no validator of the current or previous epoch, or a pushed batch whose author is not
/// the validator that pushed it, is refused before it is stored, and the peer is at fault.
#[test]
fn a_batch_whose_author_is_forged_unknown_or_not_the_pusher_is_refused() {
    let k = key(3);
    let txs: Vec<SignedTx> = (0..3).map(|n| transfer(&k, n, 1, 1)).collect();
    let mut pool = new_pool(config());
    let before = sizes(&pool);

    // Forged: the peer's key named, its signature over other content.
    let mut forged = signed_batch(txs.clone(), vec![]);
    forged.signature = signed_batch(txs[..2].to_vec(), vec![]).signature;
    let error = pool
        .receive_batch(&forged.encode(), PEER, &funded, 0)
        .unwrap_err();
    assert_eq!(error, BatchRejected::BadAuthorSignature);
    assert!(error.is_peer_fault());
    // Unsigned: the zero key and signature (which ZIP-215 may accept) name nobody.
    let unsigned = Batch::unsigned(txs.clone(), vec![]);
    assert!(
        pool.receive_batch(&unsigned.encode(), PEER, &funded, 0)
            .is_err()
    );
    // Signed well, by a key no validator holds: refused pushed and fetched alike.
    let stranger = Batch::signed(txs.clone(), vec![], CHAIN, &key(0x77));
    let unknown = || BatchRejected::UnknownAuthor {
        author: key(0x77).public(),
    };
    assert_eq!(
        pool.receive_batch(&stranger.encode(), PEER, &funded, 0),
        Err(unknown())
    );
    let fetched = Source::Fetched(stranger.digest());
    let error = pool.receive_batch(&stranger.encode(), fetched, &funded, 0);
    assert_eq!(error, Err(unknown()));
    // The other validator's batch pushed by this peer: it answers for what it sends only.
    let others = Batch::signed(txs.clone(), vec![], CHAIN, &other_key());
    assert_eq!(
        pool.receive_batch(&others.encode(), PEER, &funded, 0),
        Err(BatchRejected::WrongAuthor {
            author: other_key().public()
        })
    );
    // Signed for another chain.
    let elsewhere = Batch::signed(txs.clone(), vec![], "other-chain", &peer_key());
    assert_eq!(
        pool.receive_batch(&elsewhere.encode(), PEER, &funded, 0),
        Err(BatchRejected::BadAuthorSignature)
    );
    assert_eq!(sizes(&pool), before, "nothing refused was stored");
    let rejected = pool.stats().batches_rejected;
    let unknown_then = rejected.get("unknown_author").copied().unwrap_or(0);
    assert!((2..=3).contains(&unknown_then));
    assert_eq!(rejected.get("wrong_author"), Some(&1));
    let bad = rejected.get("bad_author_signature").copied().unwrap_or(0);
    assert_eq!(bad + unknown_then, 5);

    // The same batch from its own author is stored; the other's, pushed by it, too.
    assert!(
        pool.receive_batch(&others.encode(), OTHER, &funded, 0)
            .is_ok()
    );
    let ours = signed_batch(txs, vec![]);
    assert!(matches!(
        pool.receive_batch(&ours.encode(), PEER, &funded, 0),
        Ok(Received::New(_))
    ));
    // An author who left both epochs' sets may author nothing more.
    pool.set_authors(BTreeMap::new());
    let later = signed_batch(vec![transfer(&k, 3, 1, 1)], vec![]);
    assert!(matches!(
        pool.receive_batch(&later.encode(), PEER, &funded, 0),
        Err(BatchRejected::UnknownAuthor { .. })
    ));
}

/// This node signs what it seals, with its key, for its chain.
#[test]
fn sealed_batches_are_signed_by_this_node() {
    let mut pool = pool_signed_by(config(), other_key());
    admit_ok(&mut pool, &transfer(&key(3), 0, 1, 1), &rich([3]), 0);
    let sealed = pool.seal_due(10_000);
    assert_eq!(sealed.len(), 1);
    assert_eq!(sealed[0].batch.author, other_key().public());
    assert_eq!(pool.author_key(), other_key().public());
    assert_eq!(sealed[0].batch.verify_author(CHAIN), Ok(()));
    assert_eq!(Batch::decode(&sealed[0].bytes).unwrap(), *sealed[0].batch);
}
