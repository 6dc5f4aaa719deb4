//! The deterministic WebAssembly VM of runnet: bytes in, bytes out.
//!
//! A service's bundle is a WebAssembly module; a runner runs a task in it, verifiers re-run it,
//! and in a dispute the chain re-runs it as final judge. All of them must get the same bytes and
//! burn the same fuel, so this crate refuses at publish time everything that could differ
//! between machines (floats, SIMD, threads, host access beyond two imports), runs each call in a
//! fresh wasmi instance with fuel metering and memory caps, and reports every failure as a
//! named, deterministic [`VmError`]. It knows nothing of the chain's types: inputs and outputs are
//! the encoded records the caller hands it. The ABI and the record encoding are in `docs/vm.md`.

mod check;
mod error;
mod hash;
mod limits;
mod vm;

pub use check::{
    EXPORT_ALLOC, EXPORT_MEMORY, IMPORT_ERROR, IMPORT_MODULE, IMPORT_OUTPUT, ModuleInfo,
    check_module,
};
pub use error::{TrapKind, VmError};
pub use hash::ModuleHash;
pub use limits::{PAGE_BYTES, VmLimits};
pub use vm::{ModuleSource, RunOutcome, TaskResult, Vm};

/// Converts WebAssembly text to the binary the chain stores and runs.
///
/// The VM itself accepts only binaries: the bytes that are hashed and judged must be the bytes
/// that run, not a text whose meaning depends on a parser's version.
pub fn wat_to_wasm(text: &str) -> Result<Vec<u8>, VmError> {
    wat::parse_str(text).map_err(|e| VmError::InvalidText(e.to_string()))
}
