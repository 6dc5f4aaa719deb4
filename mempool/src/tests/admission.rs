//! Admission: every refusal and its message, the success paths, eviction and busy.

use super::*;
use crate::AdmitError;
use runnet_types::batch::{MAX_RAW_PAYLOAD_BYTES, MIN_RAW_PAYLOAD_BYTES, raw_payload_id};
use runnet_types::tx::MAX_TX_BYTES;

#[test]
fn admits_a_valid_transfer() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let tx = transfer(&key(1), 0, 1, 5);
    let id = admit_ok(&mut pool, &tx, &view, 0);
    assert!(pool.is_pending(&id));
    let stats = pool.stats();
    assert_eq!(stats.admitted, 1);
    assert_eq!(stats.pending_txs, 1);
    assert_eq!(stats.waiting_txs, 1);
    assert_eq!(stats.pending_bytes, tx.encode().len());
    assert_eq!(pool.next_nonce(&address(&key(1)), 0), 1);
    assert!(stats.refused.is_empty());
}

#[test]
fn oversized_transaction_refused_before_decoding() {
    let mut pool = new_pool(config());
    let bytes = vec![0u8; MAX_TX_BYTES + 1];
    let error = pool.admit(&bytes, &rich([1]), 0).unwrap_err();
    assert_eq!(
        error,
        AdmitError::Oversized {
            len: MAX_TX_BYTES + 1,
            limit: MAX_TX_BYTES
        }
    );
    assert_eq!(error.kind(), "oversized");
    assert!(!error.is_busy());
    assert_eq!(pool.stats().refused.get("oversized"), Some(&1));
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
}

#[test]
fn hostile_bytes_refused_as_decode_errors() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let good = transfer(&key(1), 0, 1, 5).encode();
    let mut trailing = good.clone();
    trailing.push(0);
    // The chain id's length prefix claims 2^40 bytes.
    let mut huge_prefix = good.clone();
    huge_prefix[..8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    let cases: Vec<Vec<u8>> = vec![
        vec![],
        vec![0xff; 64],
        good[..good.len() - 1].to_vec(),
        good[..good.len() / 2].to_vec(),
        trailing,
        huge_prefix,
    ];
    for bytes in &cases {
        let error = pool.admit(bytes, &view, 0).unwrap_err();
        assert!(matches!(error, AdmitError::Decode(_)), "{error:?}");
        assert_eq!(error.kind(), "decode");
    }
    assert_eq!(
        pool.stats().refused.get("decode"),
        Some(&(cases.len() as u64))
    );
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
}

#[test]
fn wrong_chain_id_refused() {
    let mut pool = new_pool(config());
    let k = key(1);
    let mut body = transfer(&k, 0, 1, 5).body;
    body.chain_id = "other-chain".into();
    let tx = body.sign(&k);
    let error = pool.admit(&tx.encode(), &rich([1]), 0).unwrap_err();
    assert_eq!(
        error,
        AdmitError::WrongChainId {
            expected: CHAIN.into(),
            got: "other-chain".into()
        }
    );
    assert!(error.to_string().contains("other-chain"));
    assert!(!pool.is_pending(&tx.hash()));
}

#[test]
fn wrong_chain_id_quotes_at_most_64_characters() {
    let mut pool = new_pool(config());
    let k = key(1);
    let mut body = transfer(&k, 0, 1, 5).body;
    body.chain_id = "x".repeat(10_000);
    let error = pool
        .admit(&body.sign(&k).encode(), &rich([1]), 0)
        .unwrap_err();
    let AdmitError::WrongChainId { got, .. } = error else {
        panic!("{error:?}");
    };
    assert_eq!(got.len(), 64);
}

#[test]
fn bad_signature_refused() {
    let mut pool = new_pool(config());
    let mut tx = transfer(&key(1), 0, 1, 5);
    tx.signature.0[5] ^= 1;
    let error = pool.admit(&tx.encode(), &rich([1]), 0).unwrap_err();
    assert_eq!(error, AdmitError::BadSignature);
    assert_eq!(error.kind(), "bad_signature");
    // Signed by another key.
    let mut forged = transfer(&key(2), 0, 1, 5);
    forged.body.sender = key(1).public();
    assert_eq!(
        pool.admit(&forged.encode(), &rich([1]), 0),
        Err(AdmitError::BadSignature)
    );
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));
    assert_eq!(pool.next_nonce(&address(&key(1)), 0), 0);
}

#[test]
fn nonce_window_is_enforced() {
    let mut pool = new_pool(config());
    let k = key(1);
    let mut view = rich([1]);
    view.insert(address(&k), (1_000_000_000, 5));
    let low = pool.admit(&transfer(&k, 4, 1, 1).encode(), &view, 0);
    assert_eq!(
        low,
        Err(AdmitError::NonceTooLow {
            committed: 5,
            got: 4
        })
    );
    assert!(low.unwrap_err().to_string().contains("next nonce is 5"));
    let high = pool.admit(&transfer(&k, 5 + 1_000, 1, 1).encode(), &view, 0);
    assert_eq!(
        high,
        Err(AdmitError::NonceTooHigh {
            committed: 5,
            window: 1_000,
            got: 1_005
        })
    );
    assert_eq!(high.unwrap_err().kind(), "nonce_too_high");
    // Both ends of the window are accepted.
    admit_ok(&mut pool, &transfer(&k, 5, 1, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&k, 5 + 999, 1, 1), &view, 0);
    // A huge nonce does not overflow the window arithmetic.
    assert!(matches!(
        pool.admit(&transfer(&k, u64::MAX, 1, 1).encode(), &view, 0),
        Err(AdmitError::NonceTooHigh { .. })
    ));
}

#[test]
fn duplicates_refused() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let tx = transfer(&key(1), 0, 1, 5);
    let id = admit_ok(&mut pool, &tx, &view, 0);
    let again = pool.admit(&tx.encode(), &view, 0).unwrap_err();
    assert_eq!(again, AdmitError::Duplicate(id));
    assert_eq!(again.kind(), "duplicate");
    // Same sender and nonce, other content.
    let rival = transfer(&key(1), 0, 2, 6);
    let taken = pool.admit(&rival.encode(), &view, 0).unwrap_err();
    assert_eq!(
        taken,
        AdmitError::NonceTaken {
            nonce: 0,
            pending: id
        }
    );
    assert_eq!(taken.kind(), "nonce_taken");
    assert_eq!(pool.stats().pending_txs, 1);
    // Still a duplicate once sealed into a batch.
    assert_eq!(pool.seal_due(1_000).len(), 1);
    assert_eq!(
        pool.admit(&tx.encode(), &view, 0),
        Err(AdmitError::Duplicate(id))
    );
}

#[test]
fn balance_must_cover_maximum_gas_of_pending_transactions() {
    let mut pool = new_pool(config());
    let k = key(1);
    let mut view = View::new();
    view.insert(address(&k), (GAS_LIMIT - 1, 0));
    let error = pool
        .admit(&transfer(&k, 0, 1, 1).encode(), &view, 0)
        .unwrap_err();
    assert_eq!(
        error,
        AdmitError::InsufficientBalance {
            needed: u128::from(GAS_LIMIT),
            balance: GAS_LIMIT - 1
        }
    );
    assert!(error.to_string().contains("balance 9999"));
    // Enough for one at price 1, not for a second: the first is reserved.
    view.insert(address(&k), (GAS_LIMIT + GAS_LIMIT / 2, 0));
    admit_ok(&mut pool, &transfer(&k, 0, 1, 1), &view, 0);
    assert_eq!(
        pool.admit(&transfer(&k, 1, 1, 1).encode(), &view, 0),
        Err(AdmitError::InsufficientBalance {
            needed: u128::from(2 * GAS_LIMIT),
            balance: GAS_LIMIT + GAS_LIMIT / 2
        })
    );
    // An absent account has nothing.
    let stranger = key(9);
    assert!(matches!(
        pool.admit(&transfer(&stranger, 0, 1, 1).encode(), &view, 0),
        Err(AdmitError::InsufficientBalance { balance: 0, .. })
    ));
}

#[test]
fn gas_price_and_limit_are_checked() {
    let mut pool = new_pool(MempoolConfig {
        min_gas_price: 5,
        max_gas_limit: 50_000,
        ..config()
    });
    let view = rich([1]);
    let k = key(1);
    let error = pool
        .admit(&transfer(&k, 0, 0, 1).encode(), &view, 0)
        .unwrap_err();
    assert_eq!(error, AdmitError::GasPriceTooLow { min: 5, got: 0 });
    assert_eq!(error.kind(), "gas_price_too_low");
    assert_eq!(
        pool.admit(&transfer(&k, 0, 4, 1).encode(), &view, 0),
        Err(AdmitError::GasPriceTooLow { min: 5, got: 4 })
    );
    let mut body = transfer(&k, 0, 5, 1).body;
    body.gas_limit = 50_001;
    let error = pool.admit(&body.sign(&k).encode(), &view, 0).unwrap_err();
    assert_eq!(
        error,
        AdmitError::GasLimitTooHigh {
            max: 50_000,
            got: 50_001
        }
    );
    assert_eq!(error.kind(), "gas_limit_too_high");
    admit_ok(&mut pool, &transfer(&k, 0, 5, 1), &view, 0);

    // A configured minimum of zero still refuses a zero price.
    let mut pool = new_pool(MempoolConfig {
        min_gas_price: 0,
        ..config()
    });
    assert_eq!(
        pool.admit(&transfer(&k, 0, 0, 1).encode(), &view, 0),
        Err(AdmitError::GasPriceTooLow { min: 1, got: 0 })
    );
}

#[test]
fn raw_payloads_only_when_enabled() {
    let mut pool = new_pool(config());
    let payload: Vec<u8> = (0..40).collect();
    let error = pool.admit_raw(payload.clone(), 0).unwrap_err();
    assert_eq!(error, AdmitError::RawDisabled);
    assert_eq!(error.kind(), "raw_disabled");
    assert_eq!(sizes(&pool), (0, 0, 0, 0, 0, 0));

    let mut pool = new_pool(MempoolConfig {
        allow_raw: true,
        ..config()
    });
    let id = pool.admit_raw(payload.clone(), 0).unwrap();
    assert_eq!(Some(id), raw_payload_id(&payload));
    assert!(pool.is_pending(&id));
    assert_eq!(pool.stats().pending_bytes, 40 + 8);
    assert_eq!(
        pool.admit_raw(payload.clone(), 0),
        Err(AdmitError::Duplicate(id))
    );
    // The same first 32 bytes are the same id, whatever follows.
    let mut same_head = payload.clone();
    same_head[39] = 0xff;
    assert_eq!(pool.admit_raw(same_head, 0), Err(AdmitError::Duplicate(id)));
    assert_eq!(
        pool.admit_raw(vec![1; MIN_RAW_PAYLOAD_BYTES - 1], 0),
        Err(AdmitError::RawTooSmall {
            len: MIN_RAW_PAYLOAD_BYTES - 1,
            min: MIN_RAW_PAYLOAD_BYTES
        })
    );
    assert_eq!(
        pool.admit_raw(vec![0; MAX_RAW_PAYLOAD_BYTES + 1], 0),
        Err(AdmitError::Oversized {
            len: MAX_RAW_PAYLOAD_BYTES + 1,
            limit: MAX_RAW_PAYLOAD_BYTES
        })
    );
    assert_eq!(pool.stats().pending_txs, 1);
}

#[test]
fn full_pool_is_busy_unless_the_newcomer_pays_more() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 3,
        ..config()
    });
    let view = rich([1, 2]);
    let k = key(1);
    for nonce in 0..3 {
        admit_ok(&mut pool, &transfer(&k, nonce, 5, 1), &view, 0);
    }
    let before = sizes(&pool);
    for price in [4, 5] {
        let error = pool
            .admit(&transfer(&key(2), 0, price, 1).encode(), &view, 0)
            .unwrap_err();
        assert!(error.is_busy(), "{error:?}");
        assert_eq!(
            error,
            AdmitError::Busy {
                pending_txs: 3,
                pending_bytes: before.1
            }
        );
    }
    assert_eq!(sizes(&pool), before);
    assert_eq!(pool.stats().refused.get("busy"), Some(&2));
    // A better price evicts the newest of the cheapest.
    admit_ok(&mut pool, &transfer(&key(2), 0, 6, 1), &view, 0);
    assert_eq!(pool.stats().pending_txs, 3);
    assert_eq!(pool.stats().evicted, 1);
    assert!(!pool.is_pending(&transfer(&k, 2, 5, 1).hash()));
    assert!(pool.is_pending(&transfer(&k, 1, 5, 1).hash()));
    // The evicted nonce is free again.
    assert_eq!(pool.next_nonce(&address(&k), 0), 2);
}

#[test]
fn eviction_order_is_cheapest_first_then_newest() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 4,
        ..config()
    });
    let view = rich(1..=9);
    // Arrival order: prices 3, 1, 2, 1, each from its own sender.
    let waiting: Vec<Hash> = [3u64, 1, 2, 1]
        .iter()
        .enumerate()
        .map(|(i, price)| {
            admit_ok(
                &mut pool,
                &transfer(&key(i as u8 + 1), 0, *price, 1),
                &view,
                0,
            )
        })
        .collect();
    let expected_victims = [waiting[3], waiting[1], waiting[2], waiting[0]];
    for (round, victim) in expected_victims.iter().enumerate() {
        admit_ok(
            &mut pool,
            &transfer(&key(5 + round as u8), 0, 10, 1),
            &view,
            0,
        );
        assert!(!pool.is_pending(victim), "round {round}");
        assert_eq!(pool.stats().evicted, round as u64 + 1);
        assert_eq!(pool.stats().pending_txs, 4);
    }
}

#[test]
fn full_by_bytes_is_busy_too() {
    let tx_size = transfer(&key(1), 0, 1, 1).encode().len();
    let mut pool = new_pool(MempoolConfig {
        max_pending_bytes: 2 * tx_size + tx_size / 2,
        ..config()
    });
    let view = rich([1]);
    let k = key(1);
    admit_ok(&mut pool, &transfer(&k, 0, 1, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&k, 1, 1, 1), &view, 0);
    assert!(
        pool.admit(&transfer(&k, 2, 1, 1).encode(), &view, 0)
            .unwrap_err()
            .is_busy()
    );
    assert!(pool.stats().pending_bytes <= 2 * tx_size + tx_size / 2);
}

#[test]
fn batched_transactions_are_never_evicted() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 2,
        ..config()
    });
    let view = rich([1, 2]);
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&key(1), 1, 1, 1), &view, 0);
    assert_eq!(pool.seal_due(1_000).len(), 1);
    let error = pool
        .admit(&transfer(&key(2), 0, 100, 1).encode(), &view, 1_000)
        .unwrap_err();
    assert!(error.is_busy());
    assert_eq!(pool.stats().evicted, 0);
    assert_eq!(pool.stats().pending_txs, 2);
}

#[test]
fn raw_payloads_never_evict() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 1,
        allow_raw: true,
        ..config()
    });
    pool.admit_raw(vec![1; 32], 0).unwrap();
    assert!(pool.admit_raw(vec![2; 32], 0).unwrap_err().is_busy());
    // A paying transaction pushes the raw payload out.
    admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &rich([1]), 0);
    assert!(!pool.is_pending(&Hash([1; 32])));
}

#[test]
fn admit_many_reports_each_transaction() {
    let mut pool = new_pool(config());
    let view = rich([1, 2]);
    let k = key(1);
    let good: Vec<SignedTx> = (0..5).map(|n| transfer(&k, n, 1, 1)).collect();
    let mut bad_sig = transfer(&key(2), 0, 1, 1);
    bad_sig.signature.0[0] ^= 1;
    let mut other_chain = transfer(&key(2), 1, 1, 1).body;
    other_chain.chain_id = "elsewhere".into();
    let other_chain = other_chain.sign(&key(2));
    let mut inputs: Vec<Vec<u8>> = good.iter().map(SignedTx::encode).collect();
    inputs.insert(2, bad_sig.encode());
    inputs.push(good[0].encode()); // the same transaction twice in one call
    inputs.push(other_chain.encode());
    inputs.push(vec![1, 2, 3]);
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let results = pool.admit_many(&refs, &view, 0);
    assert_eq!(results.len(), inputs.len());
    assert_eq!(results[0], Ok(good[0].hash()));
    assert_eq!(results[1], Ok(good[1].hash()));
    assert_eq!(results[2], Err(AdmitError::BadSignature));
    for i in 2..5 {
        assert_eq!(results[i + 1], Ok(good[i].hash()));
    }
    assert_eq!(results[6], Err(AdmitError::Duplicate(good[0].hash())));
    assert!(matches!(results[7], Err(AdmitError::WrongChainId { .. })));
    assert!(matches!(results[8], Err(AdmitError::Decode(_))));
    let stats = pool.stats();
    assert_eq!(stats.admitted, 5);
    assert_eq!(stats.pending_txs, 5);
    assert_eq!(stats.refused.values().sum::<u64>(), 4);
    assert!(!pool.is_pending(&bad_sig.hash()));
    assert_eq!(pool.next_nonce(&address(&k), 0), 5);
}

#[test]
fn admit_many_sees_its_own_earlier_transactions() {
    let mut pool = new_pool(config());
    let k = key(1);
    let mut view = View::new();
    // Enough balance for two transactions, not three.
    view.insert(address(&k), (2 * GAS_LIMIT, 0));
    let txs = [
        transfer(&k, 0, 1, 1),
        transfer(&k, 0, 1, 2),
        transfer(&k, 1, 1, 1),
        transfer(&k, 2, 1, 1),
    ];
    let inputs: Vec<Vec<u8>> = txs.iter().map(SignedTx::encode).collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let results = pool.admit_many(&refs, &view, 0);
    assert_eq!(results[0], Ok(txs[0].hash()));
    assert_eq!(
        results[1],
        Err(AdmitError::NonceTaken {
            nonce: 0,
            pending: txs[0].hash()
        })
    );
    assert_eq!(results[2], Ok(txs[2].hash()));
    assert!(matches!(
        results[3],
        Err(AdmitError::InsufficientBalance { .. })
    ));
}

#[test]
fn admit_many_keeps_the_bounds_and_evicts_for_better_prices() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 3,
        ..config()
    });
    let view = rich([1, 2, 3]);
    let cheap: Vec<SignedTx> = (0..3).map(|n| transfer(&key(1), n, 1, 1)).collect();
    let inputs: Vec<Vec<u8>> = cheap.iter().map(SignedTx::encode).collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    assert!(pool.admit_many(&refs, &view, 0).iter().all(Result::is_ok));
    // Four better-paying ones: three evict the cheap ones, the fourth finds nothing cheaper.
    let dear: Vec<SignedTx> = (0..4).map(|n| transfer(&key(2), n, 5, 1)).collect();
    let inputs: Vec<Vec<u8>> = dear.iter().map(SignedTx::encode).collect();
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let results = pool.admit_many(&refs, &view, 0);
    assert!(results[..3].iter().all(Result::is_ok), "{results:?}");
    assert!(results[3].as_ref().unwrap_err().is_busy());
    assert_eq!(pool.stats().pending_txs, 3);
    assert_eq!(pool.stats().evicted, 3);
    assert!(cheap.iter().all(|tx| !pool.is_pending(&tx.hash())));
}

#[test]
fn admit_many_with_a_bad_signature_evicts_nothing_for_it() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 1,
        ..config()
    });
    let view = rich([1, 2]);
    let cheap = admit_ok(&mut pool, &transfer(&key(1), 0, 1, 1), &view, 0);
    let mut forged = transfer(&key(2), 0, 9, 1);
    forged.signature.0[1] ^= 1;
    let bytes = forged.encode();
    let results = pool.admit_many(&[&bytes], &view, 0);
    assert_eq!(results, vec![Err(AdmitError::BadSignature)]);
    assert!(pool.is_pending(&cheap));
    assert_eq!(pool.stats().evicted, 0);
}

#[test]
fn messages_and_kinds_are_distinct() {
    let errors = [
        AdmitError::Oversized { len: 2, limit: 1 },
        AdmitError::Decode(runnet_types::encoding::DecodeError::NotCanonical),
        AdmitError::WrongChainId {
            expected: "a".into(),
            got: "b".into(),
        },
        AdmitError::BadSignature,
        AdmitError::NonceTooLow {
            committed: 1,
            got: 0,
        },
        AdmitError::NonceTooHigh {
            committed: 0,
            window: 1,
            got: 1,
        },
        AdmitError::Duplicate(Hash::ZERO),
        AdmitError::NonceTaken {
            nonce: 0,
            pending: Hash::ZERO,
        },
        AdmitError::InsufficientBalance {
            needed: 2,
            balance: 1,
        },
        AdmitError::GasPriceTooLow { min: 1, got: 0 },
        AdmitError::GasLimitTooHigh { max: 1, got: 2 },
        AdmitError::Busy {
            pending_txs: 1,
            pending_bytes: 1,
        },
        AdmitError::RawDisabled,
    ];
    let kinds: std::collections::BTreeSet<&str> = errors.iter().map(AdmitError::kind).collect();
    assert_eq!(kinds.len(), errors.len());
    assert_eq!(errors.iter().filter(|e| e.is_busy()).count(), 1);
    assert!(errors.iter().all(|e| !e.to_string().is_empty()));
}

/// A request with `inputs` bytes of input: a transaction of adjustable size.
fn request(key: &SecretKey, nonce: u64, gas_price: u64, inputs: usize) -> SignedTx {
    TxBody {
        chain_id: CHAIN.into(),
        sender: key.public(),
        nonce,
        gas_limit: GAS_LIMIT,
        gas_price,
        payload: Payload::RequestExecution {
            service: Hash([1; 32]),
            task: "run".into(),
            inputs: vec![0; inputs],
            max_fee: 1,
            runner: None,
        },
    }
    .sign(key)
}

#[test]
fn admit_many_keeps_the_bounds_when_an_evicting_transaction_fails_its_signature() {
    let view = rich([1, 2, 3]);
    let waiting: Vec<SignedTx> = (0..4).map(|n| request(&key(1), n, 1, 150)).collect();
    let mut big = request(&key(2), 0, 5, 350);
    big.signature.0[3] ^= 1;
    let small = transfer(&key(3), 0, 5, 1);
    let (w, a, b) = (
        waiting[0].encode().len(),
        big.encode().len(),
        small.encode().len(),
    );
    // The big one would need two victims; once they are planned away the small one fits with
    // none, but the big one's signature fails and its victims stay.
    let max_pending_bytes = 2 * w + a + b;
    assert!(max_pending_bytes < 3 * w + a && 4 * w <= max_pending_bytes);
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 4,
        max_pending_bytes,
        ..config()
    });
    for tx in &waiting {
        admit_ok(&mut pool, tx, &view, 0);
    }
    let inputs = [big.encode(), small.encode()];
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let results = pool.admit_many(&refs, &view, 0);
    assert_eq!(results[0], Err(AdmitError::BadSignature));
    assert_eq!(results[1], Ok(small.hash()));
    let stats = pool.stats();
    assert!(stats.pending_txs <= 4, "{stats:?}");
    assert!(stats.pending_bytes <= max_pending_bytes);
    assert_eq!(stats.evicted, 1);
}

#[test]
fn admission_in_steps_checks_again_after_verification() {
    let mut pool = new_pool(config());
    let view = rich([1]);
    let k = key(1);
    let ours = transfer(&k, 0, 1, 1);
    let theirs = transfer(&k, 0, 1, 2);
    let later = transfer(&k, 1, 1, 1);
    let inputs = [ours.encode(), later.encode()];
    let refs: Vec<&[u8]> = inputs.iter().map(Vec::as_slice).collect();
    let prechecked = pool.precheck_many(&refs, &view);
    assert_eq!(prechecked.to_verify(), 2);
    let verified = prechecked.verify();
    // While the signatures were checked outside the lock, another request took nonce 0.
    admit_ok(&mut pool, &theirs, &view, 0);
    let results = pool.admit_verified(verified, &view, 0);
    assert_eq!(
        results[0],
        Err(AdmitError::NonceTaken {
            nonce: 0,
            pending: theirs.hash()
        })
    );
    assert_eq!(results[1], Ok(later.hash()));
    assert!(!pool.is_pending(&ours.hash()));
    assert_eq!(pool.stats().refused.get("nonce_taken"), Some(&1));
}

#[test]
fn a_full_mempool_refuses_before_looking_anything_up() {
    let mut pool = new_pool(MempoolConfig {
        max_pending_txs: 2,
        ..config()
    });
    let view = rich([1]);
    admit_ok(&mut pool, &transfer(&key(1), 0, 3, 1), &view, 0);
    admit_ok(&mut pool, &transfer(&key(1), 1, 3, 1), &view, 0);
    // An unfunded sender at the same price is told "busy", not "insufficient balance": the
    // account was never read. One that outbids a waiting item still gets checked.
    let stranger = transfer(&key(9), 0, 3, 1);
    let refused = pool.admit(&stranger.encode(), &view, 0).unwrap_err();
    assert!(refused.is_busy(), "{refused:?}");
    let bidder = transfer(&key(9), 0, 4, 1);
    assert!(matches!(
        pool.admit(&bidder.encode(), &view, 0),
        Err(AdmitError::InsufficientBalance { .. })
    ));
}
