//! Transactions as clients (`POST /v1/tx`) and peers' batches hand them over: the bounded,
//! canonical decode, then the checks a node runs on what decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::CHAIN_ID;
use runnet_types::encoding::{DecodeError, hash_of};
use runnet_types::genesis::Params;
use runnet_types::service::ServiceDefinition;
use runnet_types::tx::{MAX_TX_BYTES, TxError, verify_txs};
use runnet_types::{Payload, SignedTx};

fuzz_target!(|data: &[u8]| {
    let tx = match SignedTx::decode(data) {
        Ok(tx) => tx,
        Err(error) => {
            if data.len() > MAX_TX_BYTES {
                assert!(matches!(
                    error,
                    TxError::Decode(DecodeError::TooLarge { .. })
                ));
            }
            return;
        }
    };
    // Canonical: one transaction, one encoding, so its hash and signature mean one thing.
    assert_eq!(tx.encode(), data, "decoded bytes re-encode differently");
    assert_eq!(tx.hash(), hash_of(&tx.body));
    // The batch path must accept exactly the signatures the single check accepts.
    let alone = tx.verify().is_ok();
    assert_eq!(verify_txs(std::slice::from_ref(&tx)), [alone]);
    // The payloads that carry their own decoders, checked as the state machine checks them.
    match &tx.body.payload {
        Payload::PublishService { definition, .. } => {
            let limits = Params::default().definition_limits();
            let _ = ServiceDefinition::from_canonical_bytes(definition, &limits);
        }
        Payload::Evidence(evidence) => {
            let _ = evidence.verify(CHAIN_ID, &[*evidence.signer()]);
        }
        _ => {}
    }
});
