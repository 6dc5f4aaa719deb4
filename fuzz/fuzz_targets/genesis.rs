//! The genesis file as a node loads it (`Genesis::load`: JSON, then `validate`). A genesis that
//! loads must survive its own round trip with the same hash: every node hashes it to seed the
//! randomness beacon, so two readings of one file must agree.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_types::Genesis;

fuzz_target!(|data: &[u8]| {
    // `load` reads the file as UTF-8 text first; bytes that are not text never reach the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(genesis) = Genesis::from_json(text) else {
        return;
    };
    assert!(
        genesis.total_supply().is_some(),
        "validate lets the supply overflow"
    );
    let limits = genesis.params.definition_limits();
    assert!(limits.min_task_timeout_ms <= limits.max_task_timeout_ms);
    let again = Genesis::from_json(&genesis.to_json()).expect("a valid genesis reloads");
    assert_eq!(again, genesis);
    assert_eq!(again.hash(), genesis.hash());
});
