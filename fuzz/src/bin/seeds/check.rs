//! The seeds must get past the first checks of their target, or they teach the fuzzer nothing:
//! a change to an encoding or a rule that breaks one stops the writer here, by name, instead
//! of leaving a corpus that quietly fails at the first byte.

use crate::Seeds;
use runnet_consensus::Ed25519Crypto;
use runnet_consensus::certificates::{verify_qc, verify_tc};
use runnet_fuzz::{CHAIN_ID, committee, services, split_once, validator_key, validator_vrf};
use runnet_mempool::verify_batch_bytes;
use runnet_types::consensus::{ConsensusMessage, QuorumCert};
use runnet_types::encoding::decode;
use runnet_types::genesis::Params;
use runnet_types::process::ProcessDefinition;
use runnet_types::record::Schema;
use runnet_types::service::ServiceDefinition;
use runnet_types::{Genesis, SignedTx};
use runnet_vm_exec::{VmLimits, check_module};

/// Panics, naming the seed, when a seed of `target` would stop at its target's first checks.
pub fn passes(target: &str, seeds: &Seeds) {
    for (name, bytes) in seeds {
        let ok = match target {
            "tx" => SignedTx::decode(bytes).is_ok_and(|tx| tx.verify().is_ok()),
            "batch" => *name == "empty" || verify_batch_bytes(bytes, CHAIN_ID, true).is_ok(),
            "consensus_message" => ConsensusMessage::decode(bytes).is_ok_and(|m| certified(&m)),
            "genesis" => std::str::from_utf8(bytes).is_ok_and(|t| Genesis::from_json(t).is_ok()),
            "service_definition" => {
                let limits = Params::default().definition_limits();
                serde_json::from_slice::<ServiceDefinition>(bytes)
                    .is_ok_and(|d| d.validate(&limits).is_ok())
            }
            "process_definition" => {
                let definition = decode::<ProcessDefinition>(bytes)
                    .or_else(|_| serde_json::from_slice::<ProcessDefinition>(bytes).map_err(drop));
                definition.is_ok_and(|d| d.compile(32, |id| services().get(id)).is_ok())
            }
            "record" => {
                let (schema, record) = split_once(bytes);
                let schema: Schema = serde_json::from_slice(schema).expect("a seed schema parses");
                let json = serde_json::from_slice(record).ok();
                schema.decode(record).is_ok()
                    || json.is_some_and(|j| schema.value_from_json(&j).is_ok())
            }
            "wasm_module" => {
                *name == "float" || check_module(bytes, &[], &VmLimits::default()).is_ok()
            }
            _ => true,
        };
        assert!(
            ok,
            "seed {target}/{name} does not pass its target's first checks"
        );
    }
}

/// Whether a message's highest certificates verify against the fuzz committee.
fn certified(message: &ConsensusMessage) -> bool {
    let crypto = Ed25519Crypto::new(validator_key(0), validator_vrf(0));
    let committee = committee(0);
    let root = QuorumCert::root(0, message.sync.highest_qc.block(), 1);
    let qc = verify_qc(&message.sync.highest_qc, &committee, &root, &crypto).is_ok();
    let tc = message.sync.highest_tc.as_ref();
    qc && tc.is_some_and(|tc| verify_tc(tc, &committee, &crypto).is_ok())
}
