//! Publish-time checks of a service's bundle.

use crate::executor::ApplyError;
use crate::receipt::{ErrorCode, TxFailure};
use runnet_types::genesis::Params;
use runnet_types::service::{Bundle, ServiceDefinition};

/// A WebAssembly bundle must be a module the deterministic VM accepts, exporting every task.
/// External bundles are named by digest only: runners fetch and run them themselves.
pub(crate) fn check_bundle(
    bundle: &Bundle,
    _definition: &ServiceDefinition,
    _params: &Params,
) -> Result<(), ApplyError> {
    match bundle {
        Bundle::External { .. } => Ok(()),
        Bundle::Wasm(bytes) => {
            // The full check (instructions, imports, exports, limits) comes with vm-exec; until
            // then only the module header is checked.
            if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
                return Err(
                    TxFailure::new(ErrorCode::InvalidModule, "not a WebAssembly module").into(),
                );
            }
            Ok(())
        }
    }
}
