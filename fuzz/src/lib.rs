//! What the fuzz targets and the seed writer share: the fixed context each decoder is fuzzed in
//! (a chain id, a committee, the services a process may name) and a scratch file for the decoders
//! that only read from a path. The seeds are built from the same context, so they get the fuzzer
//! past the first checks (chain id, known services) instead of stopping every input there.

use runnet_types::consensus::{Committee, ValidatorInfo};
use runnet_types::service::ServiceDefinition;
use runnet_types::vrf::VrfSecretKey;
use runnet_types::{Hash, SecretKey};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The chain every fuzzed transaction, batch and vote is checked against.
pub const CHAIN_ID: &str = "runnet-fuzz";

/// Validators in [`committee`]: enough for a quorum to be more than one signer.
pub const VALIDATORS: u8 = 4;

/// The key of validator `i` (also the sender keys of the seed transactions).
pub fn validator_key(i: u8) -> SecretKey {
    SecretKey::from_seed([i + 1; 32])
}

pub fn validator_vrf(i: u8) -> VrfSecretKey {
    VrfSecretKey::from_seed([i + 101; 32])
}

/// The committee of `epoch`, with real ed25519 keys so certificates go through the production
/// signature checks.
pub fn committee(epoch: u64) -> Committee {
    let validators = (0..VALIDATORS)
        .map(|i| ValidatorInfo {
            address: validator_key(i).public().address(),
            consensus_key: validator_key(i).public(),
            vrf_key: validator_vrf(i).public(),
            stake: 100,
        })
        .collect();
    // Four distinct keys with stake: always a valid committee.
    Committee::new(epoch, CHAIN_ID, validators, u64::MAX).expect("the fuzz committee is valid")
}

/// The id of the service with an event of every field type and a task on two ints.
pub const TICKER: Hash = Hash([1; 32]);
/// The id of the service with a public-effect task and its check task.
pub const DOUBLER: Hash = Hash([2; 32]);

/// The canonical JSON of the services a fuzzed process may name, by id.
pub fn service_texts() -> Vec<(Hash, Vec<u8>)> {
    let ticker = json!({
        "name": "ticker",
        "description": "emits ticks and adds",
        "tasks": [{
            "key": "add", "inputs": {"a": "int", "b": "int"}, "outputs": {"sum": "int"},
            "max_output_bytes": 64, "verification": "deterministic", "timeout_ms": 10000
        }],
        "events": [{"key": "tick", "data": {
            "seq": "int", "up": "bool", "note": "string", "blob": "bytes",
            "tags": {"list": "string"}, "maybe": {"optional": "int"},
            "inner": {"record": {"a": "int", "b": "int"}}
        }}]
    });
    let doubler = json!({
        "name": "doubler",
        "tasks": [
            {"key": "double", "inputs": {"x": "int"}, "outputs": {"y": "int"},
             "max_output_bytes": 16, "verification": {"public_effect": {"check": "check_double"}},
             "timeout_ms": 20000},
            {"key": "check_double",
             "inputs": {"inputs": {"record": {"x": "int"}}, "outputs": {"record": {"y": "int"}}},
             "outputs": {"valid": "bool"}, "max_output_bytes": 1, "verification": "trusted",
             "timeout_ms": 20000}
        ]
    });
    [(TICKER, ticker), (DOUBLER, doubler)]
        .into_iter()
        .map(|(id, value)| {
            let definition: ServiceDefinition =
                serde_json::from_value(value).expect("the fuzz services parse");
            (id, definition.to_canonical_bytes())
        })
        .collect()
}

/// The services a fuzzed process may name, parsed once.
pub fn services() -> &'static BTreeMap<Hash, ServiceDefinition> {
    static SERVICES: OnceLock<BTreeMap<Hash, ServiceDefinition>> = OnceLock::new();
    SERVICES.get_or_init(|| {
        service_texts()
            .into_iter()
            .map(|(id, bytes)| {
                let definition = serde_json::from_slice(&bytes).expect("the fuzz services parse");
                (id, definition)
            })
            .collect()
    })
}

/// A file only this process writes, in the temporary folder (which `.ci/fuzz` points at a folder
/// it removes afterwards). The process id keeps parallel fuzzing jobs apart.
pub fn scratch_file(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("runnet-fuzz-{}-{name}", std::process::id()))
}

/// Writes `data` to the scratch file `name` and hands its path to `load`: key files and safety
/// data are only ever read from a path, so that is how they are fuzzed.
pub fn through_file<T>(name: &str, data: &[u8], load: impl FnOnce(&Path) -> T) -> T {
    let path = scratch_file(name);
    // A harness that cannot write its scratch file must stop, not report every input as fine.
    std::fs::write(&path, data).expect("the scratch file is writable");
    load(&path)
}

/// Splits `data` at the first `0xff` byte: two inputs for targets that need a context and a
/// payload (a schema and a record, a module and a task input). `0xff` never occurs in UTF-8 text,
/// so a JSON head cannot contain it by accident.
pub fn split_once(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|b| *b == 0xff) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}
