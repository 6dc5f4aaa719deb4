//! Helpers shared by the integration tests.
#![allow(dead_code)]

use runnet_vm_exec::{RunOutcome, TaskResult, VmError, wat_to_wasm};

pub const FUEL: u64 = 10_000_000;

/// A module with the two ABI imports, one page of memory exported, a fixed `alloc` at 1024, and
/// the given extra fields.
pub fn abi_module(fields: &str) -> Vec<u8> {
    wat(&format!(
        r#"(module
            (import "env" "output" (func $output (param i32 i32)))
            (import "env" "error" (func $error (param i32 i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 1024))
            {fields})"#
    ))
}

pub fn wat(text: &str) -> Vec<u8> {
    match wat_to_wasm(text) {
        Ok(bytes) => bytes,
        Err(e) => panic!("test WAT does not parse: {e}\n{text}"),
    }
}

pub fn example_wasm(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../examples/services/{name}.wat",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    wat(&text)
}

pub fn example_definition(name: &str) -> serde_json::Value {
    let path = format!(
        "{}/../examples/services/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn output(result: Result<RunOutcome, VmError>) -> Vec<u8> {
    match result {
        Ok(RunOutcome {
            result: TaskResult::Output(bytes),
            ..
        }) => bytes,
        other => panic!("expected an output, got {other:?}"),
    }
}

pub fn task_error(result: Result<RunOutcome, VmError>) -> Vec<u8> {
    match result {
        Ok(RunOutcome {
            result: TaskResult::TaskError(bytes),
            ..
        }) => bytes,
        other => panic!("expected a task error, got {other:?}"),
    }
}

pub fn ints(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

pub fn length_prefixed(bytes: &[u8]) -> Vec<u8> {
    let mut out = (bytes.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

/// The mixer example's round, in Rust.
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
