//! Transactions through the mempool's admission, as `POST /v1/txs` hands them over (binary
//! frames: a 4-byte little-endian length, then the transaction) and `POST /v1/tx` one by one,
//! and raw payloads as `POST /v1/raw` does. Whatever is admitted must be a well-signed
//! transaction of this chain, and what the mempool seals must pass the rule peers apply to it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::CHAIN_ID;
use runnet_mempool::{Mempool, MempoolConfig, verify_batch_bytes};
use runnet_types::batch::raw_payload_id;
use runnet_types::{Address, Amount, Hash, SignedTx};

/// The node splits binary bodies with its own `split_frames` (node-private); this is the same
/// format, so the fuzzer's frames reach the mempool as the API's do.
fn frames(mut rest: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, tail)) = rest.split_first_chunk::<4>() {
        let len = (u32::from_le_bytes(*len) as usize).min(tail.len());
        let (frame, tail) = tail.split_at(len);
        out.push(frame);
        rest = tail;
    }
    out
}

/// Small limits, so a few kilobytes of input reach the full-mempool and eviction paths.
fn mempool(allow_raw: bool) -> Mempool {
    Mempool::new(
        MempoolConfig {
            chain_id: CHAIN_ID.into(),
            max_pending_txs: 4,
            max_pending_bytes: 4_096,
            max_batch_txs: 3,
            max_batch_bytes: 2_048,
            nonce_window: 8,
            max_recent_committed: 16,
            allow_raw,
            ..MempoolConfig::default()
        },
        runnet_types::SecretKey::from_seed([0xA0; 32]),
    )
}

/// Every account holds plenty and expects nonce 0.
fn view(_: &Address) -> (Amount, u64) {
    (1 << 40, 0)
}

/// What an admitted frame must be.
fn check_admitted(frame: &[u8], hash: Hash) {
    let tx = SignedTx::decode(frame).expect("an admitted transaction decodes");
    assert_eq!(tx.hash(), hash);
    assert_eq!(tx.body.chain_id, CHAIN_ID);
    assert!(
        tx.verify().is_ok(),
        "an admitted transaction is badly signed"
    );
}

/// Every batch the mempool seals must be accepted by a peer with the same chain.
fn check_sealed(pool: &mut Mempool, allow_raw: bool) {
    for sealed in pool.seal_due(u64::MAX / 2) {
        let verified = verify_batch_bytes(&sealed.bytes, CHAIN_ID, allow_raw)
            .expect("a sealed batch passes the peers' rule");
        assert_eq!(verified.digest, sealed.digest);
    }
}

fuzz_target!(|data: &[u8]| {
    let frames = frames(data);

    let mut many = mempool(false);
    let results = many.admit_many(&frames, &view, 0);
    assert_eq!(results.len(), frames.len());
    // A later transaction of the same call may evict an earlier one, so pending is not checked.
    for (frame, result) in frames.iter().zip(&results) {
        if let Ok(hash) = result {
            check_admitted(frame, *hash);
        }
    }
    check_sealed(&mut many, false);

    let mut single = mempool(false);
    for (now, frame) in frames.iter().enumerate() {
        if let Ok(hash) = single.admit(frame, &view, now as u64) {
            check_admitted(frame, hash);
            assert!(single.is_pending(&hash));
        }
    }
    check_sealed(&mut single, false);

    let mut raw = mempool(true);
    for frame in &frames {
        if let Ok(id) = raw.admit_raw(frame.to_vec(), 0) {
            assert_eq!(Some(id), raw_payload_id(frame));
        }
    }
    check_sealed(&mut raw, true);
});
