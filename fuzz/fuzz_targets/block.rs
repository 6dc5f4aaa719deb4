//! Blocks, headers and proposed blocks, as they arrive inside proposals and sync responses and
//! come back from the block store: each input is tried as all three.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::{validator_key, validator_vrf};
use runnet_types::block::genesis_seed;
use runnet_types::consensus::{MAX_CONSENSUS_MESSAGE_BYTES, ProposedBlock, proposal_signing_bytes};
use runnet_types::encoding::{decode_with_limit, encode};
use runnet_types::{Block, BlockHeader, Domain, Hash};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Decodes `data` as a `T` and checks it is the one encoding of what it decoded to.
fn canonical<T: Serialize + DeserializeOwned>(data: &[u8]) -> Option<T> {
    let value: T = decode_with_limit(data, MAX_CONSENSUS_MESSAGE_BYTES).ok()?;
    assert_eq!(encode(&value), data, "decoded bytes re-encode differently");
    Some(value)
}

/// What consensus checks on a proposer's header: the VRF proof over the seed (curve points from
/// the wire) and the proposer's signature over the header hash.
fn check_header(header: &BlockHeader, signature: Option<&runnet_types::Signature>) {
    let seed = genesis_seed(&header.chain_id, &Hash::ZERO);
    let _ = validator_vrf(0).public().verify(&seed.0, &header.vrf);
    if let Some(signature) = signature {
        let message = proposal_signing_bytes(&header.hash());
        let _ = validator_key(0)
            .public()
            .verify(Domain::Proposal, &message, signature);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Some(header) = canonical::<BlockHeader>(data) {
        check_header(&header, None);
    }
    if let Some(block) = canonical::<Block>(data) {
        assert_eq!(block.hash(), block.header.hash());
        let _ = block.batches_match_header();
        check_header(&block.header, None);
    }
    if let Some(proposed) = canonical::<ProposedBlock>(data) {
        assert_eq!(proposed.hash(), proposed.block.header.hash());
        let _ = (proposed.round(), proposed.epoch(), proposed.height());
        check_header(proposed.header(), Some(&proposed.signature));
    }
});
