//! A validator's safety data (`validator_state.json`), as the node loads it at start from a
//! path. What loads must store and load back unchanged: a restart must never forget a vote.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_consensus::SafetyData;
use runnet_fuzz::{scratch_file, through_file};

fuzz_target!(|data: &[u8]| {
    let loaded = through_file("safety.json", data, SafetyData::load);
    let Ok(Some(safety)) = loaded else {
        // `Ok(None)` is for a missing file only, and the file is there.
        assert!(loaded.is_err(), "an existing file read as absent");
        return;
    };
    let saved = scratch_file("safety-saved.json");
    safety
        .store(&saved)
        .expect("the scratch folder is writable");
    let back = SafetyData::load(&saved).expect("stored safety data loads");
    assert_eq!(back, Some(safety));
});
