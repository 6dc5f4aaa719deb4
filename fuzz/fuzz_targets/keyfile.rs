//! Key files (`account.key`, `node.key`, `validator.key`) as a node home loads them, from a path.
//! A file that loads must hold consistent public parts, and saving the key must give a file that
//! loads back to the same key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_fuzz::{scratch_file, through_file};
use runnet_types::keyfile::{
    KeyKind, load_key, load_validator_keys, save_key, save_validator_keys,
};

fuzz_target!(|data: &[u8]| {
    for kind in [KeyKind::Account, KeyKind::Node] {
        if let Ok(key) = through_file("key", data, |path| load_key(path, kind)) {
            let saved = scratch_file("key-saved");
            save_key(&saved, kind, &key).expect("the scratch folder is writable");
            let back = load_key(&saved, kind).expect("a saved key loads");
            assert_eq!(back.public(), key.public());
        }
    }
    if let Ok(keys) = through_file("key", data, load_validator_keys) {
        let saved = scratch_file("key-saved");
        save_validator_keys(&saved, &keys).expect("the scratch folder is writable");
        let back = load_validator_keys(&saved).expect("saved validator keys load");
        assert_eq!(back.consensus.public(), keys.consensus.public());
        assert_eq!(back.vrf_public(), keys.vrf_public());
    }
});
