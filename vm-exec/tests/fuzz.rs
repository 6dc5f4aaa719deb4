//! Random bytes as a module and as input never panic, and what runs, runs the same twice.

mod common;
use common::*;
use proptest::prelude::*;
use runnet_vm_exec::{Vm, VmLimits, check_module};
use std::sync::LazyLock;

static VM: LazyLock<Vm> = LazyLock::new(|| Vm::new(VmLimits::default()));

static EXAMPLES: LazyLock<Vec<(Vec<u8>, Vec<&'static str>)>> = LazyLock::new(|| {
    vec![
        (example_wasm("arith"), vec!["add", "mul"]),
        (example_wasm("text"), vec!["upper", "reverse"]),
        (example_wasm("mixer"), vec!["mix"]),
        (example_wasm("factor"), vec!["factor", "check_factor"]),
    ]
});

/// Small fuel keeps mutated modules that loop forever cheap.
const FUZZ_FUEL: u64 = 20_000;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn random_bytes_as_a_module(bytes in proptest::collection::vec(any::<u8>(), 0..512), input in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = check_module(&bytes, &["t"], &VmLimits::default());
        let _ = VM.run(&bytes, "t", &input, FUZZ_FUEL, 64);
    }

    #[test]
    fn random_bytes_behind_a_valid_header(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut bytes = b"\0asm\x01\0\0\0".to_vec();
        bytes.extend_from_slice(&tail);
        let _ = check_module(&bytes, &["t"], &VmLimits::default());
        let _ = VM.run(&bytes, "t", b"", FUZZ_FUEL, 64);
    }

    #[test]
    fn mutated_example_modules(
        which in 0usize..4,
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        task in any::<prop::sample::Index>(),
        input in proptest::collection::vec(any::<u8>(), 0..40),
    ) {
        let (wasm, keys) = &EXAMPLES[which];
        let mut bytes = wasm.clone();
        for (at, value) in edits {
            let at = at.index(bytes.len());
            bytes[at] = value;
        }
        let key = keys[task.index(keys.len())];
        let _ = check_module(&bytes, keys, &VmLimits::default());
        let first = VM.run(&bytes, key, &input, FUZZ_FUEL, 64);
        // A second run (now from the cache) agrees, fuel included.
        let second = VM.run(&bytes, key, &input, FUZZ_FUEL, 64);
        prop_assert_eq!(first, second);
    }

    #[test]
    fn random_inputs_to_every_example_task(
        which in 0usize..4,
        task in any::<prop::sample::Index>(),
        input in proptest::collection::vec(any::<u8>(), 0..64),
        max_output in 0usize..32,
    ) {
        let (wasm, keys) = &EXAMPLES[which];
        let key = keys[task.index(keys.len())];
        let first = VM.run(wasm, key, &input, 1_000_000, max_output);
        let second = VM.run(wasm, key, &input, 1_000_000, max_output);
        if let Err(error) = &first {
            prop_assert!(error.is_deterministic(), "{error}");
        }
        prop_assert_eq!(first, second);
    }
}
