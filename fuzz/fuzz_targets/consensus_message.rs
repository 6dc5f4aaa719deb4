//! Consensus messages from peers: `ConsensusMessage::decode`, then the certificate checks every
//! message's sync info and body go through before the core trusts a round number in them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_consensus::Ed25519Crypto;
use runnet_consensus::certificates::{verify_qc, verify_tc};
use runnet_fuzz::{committee, validator_key, validator_vrf};
use runnet_types::consensus::{
    ConsensusMessage, MAX_CONSENSUS_MESSAGE_BYTES, MessageBody, QuorumCert, TimeoutCert,
};
use runnet_types::encoding::DecodeError;

/// Every certificate a message carries.
fn certificates(message: &ConsensusMessage) -> (Vec<&QuorumCert>, Vec<&TimeoutCert>) {
    let sync = &message.sync;
    let mut qcs = vec![&sync.highest_qc, &sync.highest_commit];
    let mut tcs: Vec<&TimeoutCert> = sync.highest_tc.iter().collect();
    match &message.body {
        MessageBody::Proposal(proposal) => {
            qcs.push(&proposal.block.justify);
            tcs.extend(&proposal.tc);
        }
        MessageBody::Timeout(timeout) => qcs.push(&timeout.highest_qc),
        MessageBody::SyncResponse(response) => {
            qcs.extend(&response.certs);
            qcs.extend(response.blocks.iter().map(|b| &b.justify));
        }
        MessageBody::Vote(_) | MessageBody::SyncRequest(_) | MessageBody::Status => {}
    }
    (qcs, tcs)
}

fuzz_target!(|data: &[u8]| {
    let message = match ConsensusMessage::decode(data) {
        Ok(message) => message,
        Err(error) => {
            if data.len() > MAX_CONSENSUS_MESSAGE_BYTES {
                assert!(matches!(error, DecodeError::TooLarge { .. }));
            }
            return;
        }
    };
    assert_eq!(
        message.encode(),
        data,
        "decoded bytes re-encode differently"
    );
    let _ = message.body_epoch();
    // Checked against a committee of the certificate's own epoch, so the fuzzer gets past the
    // epoch check to the signer, stake and signature checks.
    let crypto = Ed25519Crypto::new(validator_key(0), validator_vrf(0));
    let (qcs, tcs) = certificates(&message);
    for qc in qcs {
        let committee = committee(qc.epoch());
        let root = QuorumCert::root(qc.epoch(), qc.block(), qc.data.height);
        if verify_qc(qc, &committee, &root, &crypto).is_ok() && qc.round() > 0 {
            assert!(committee.is_quorum(committee.stake_of(&qc.signers)));
        }
    }
    for tc in tcs {
        let committee = committee(tc.epoch);
        if verify_tc(tc, &committee, &crypto).is_ok() {
            assert!(tc.max_hqc_round() < tc.round);
            assert!(committee.is_quorum(committee.stake_of(&tc.signers)));
        }
    }
});
