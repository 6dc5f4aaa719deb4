//! Batches as peers push and fetch them: `Batch::decode`, and the mempool's one acceptance rule
//! `verify_batch_bytes`, which must agree with each other.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::CHAIN_ID;
use runnet_mempool::verify_batch_bytes;
use runnet_types::batch::{MAX_BATCH_BYTES, MAX_RAW_PAYLOAD_BYTES, MIN_RAW_PAYLOAD_BYTES};
use runnet_types::Batch;

fuzz_target!(|data: &[u8]| {
    let decoded = Batch::decode(data);
    for allow_raw in [false, true] {
        let Ok(verified) = verify_batch_bytes(data, CHAIN_ID, allow_raw) else {
            continue;
        };
        let batch = decoded.as_ref().expect("a verified batch decodes");
        assert_eq!(&verified.batch, batch);
        assert_eq!(verified.digest, batch.digest());
        assert!(!batch.is_empty());
        assert!(allow_raw || batch.raw.is_empty());
        assert!(
            batch.verify_author(CHAIN_ID).is_ok(),
            "a verified batch's author signature does not verify"
        );
        for tx in &batch.txs {
            assert_eq!(tx.body.chain_id, CHAIN_ID);
            assert!(
                tx.verify().is_ok(),
                "a verified batch holds a badly signed transaction"
            );
        }
    }
    let Ok(batch) = decoded else {
        return;
    };
    assert!(data.len() <= MAX_BATCH_BYTES);
    assert_eq!(batch.encode(), data, "decoded bytes re-encode differently");
    // The mempool names a batch by the hash of its bytes' head before decoding it: only
    // canonical decoding makes that the batch's digest.
    assert_eq!(batch.digest(), Batch::digest_of_encoded(data));
    for raw in &batch.raw {
        assert!((MIN_RAW_PAYLOAD_BYTES..=MAX_RAW_PAYLOAD_BYTES).contains(&raw.len()));
    }
    // And the converse: a decodable, non-empty batch of this chain's well-signed transactions is
    // accepted where raw payloads are.
    let acceptable = !batch.is_empty()
        && batch.txs.iter().all(|tx| tx.body.chain_id == CHAIN_ID)
        && batch.verify_author(CHAIN_ID).is_ok()
        && batch.verify_signatures().is_ok();
    assert_eq!(acceptable, verify_batch_bytes(data, CHAIN_ID, true).is_ok());
});
