//! Service bundles and the deterministic VM: the publish-time module check and the chain's own
//! run of a task when a dispute needs a judge.

use crate::executor::{ApplyError, ExecError};
use crate::receipt::{ErrorCode, TxFailure};
use crate::store::StoreError;
use runnet_types::execution::TaskResult;
use runnet_types::genesis::Params;
use runnet_types::service::{Bundle, ServiceDefinition};
use runnet_vm_exec::{Vm, VmError};

/// A WebAssembly bundle must be a module the deterministic VM accepts (no floats, SIMD or
/// threads; only the ABI's imports; limits), exporting every task of the definition. External
/// bundles are named by digest only: runners fetch and run them themselves.
pub(crate) fn check_bundle(
    vm: &Vm,
    bundle: &Bundle,
    definition: &ServiceDefinition,
    _params: &Params,
) -> Result<(), ApplyError> {
    match bundle {
        Bundle::External { .. } => Ok(()),
        Bundle::Wasm(bytes) => {
            let tasks: Vec<&str> = definition.tasks.iter().map(|t| t.key.as_str()).collect();
            vm.check(bytes, &tasks).map(|_| ()).map_err(|e| {
                TxFailure::new(ErrorCode::InvalidModule, format!("{}: {e}", e.code())).into()
            })
        }
    }
}

/// Runs a task as the chain's judge. The VM's deterministic failures become the error result
/// every honest runner reports too (`vm:<code>`); a failure that says something about this node
/// rather than the module stops execution instead of deciding a dispute.
pub(crate) fn run_task(
    vm: &Vm,
    module: &[u8],
    task: &str,
    inputs: &[u8],
    fuel: u64,
    max_output_bytes: usize,
) -> Result<(TaskResult, u64), ApplyError> {
    match vm.run(module, task, inputs, fuel, max_output_bytes) {
        Ok(outcome) => Ok((from_vm(outcome.result), outcome.fuel_used)),
        Err(e) if e.is_deterministic() => {
            Ok((TaskResult::vm_failure(e.code()), e.fuel_used().unwrap_or(0)))
        }
        Err(e) => Err(ApplyError::Fatal(ExecError::Store(StoreError::Io(
            format!("the VM failed on this node: {e}"),
        )))),
    }
}

/// The same mapping runners and verifiers use, so their results compare equal to the chain's.
pub fn result_of_run(
    outcome: Result<runnet_vm_exec::RunOutcome, VmError>,
) -> Option<(TaskResult, u64)> {
    match outcome {
        Ok(outcome) => Some((from_vm(outcome.result), outcome.fuel_used)),
        Err(e) if e.is_deterministic() => {
            Some((TaskResult::vm_failure(e.code()), e.fuel_used().unwrap_or(0)))
        }
        Err(_) => None,
    }
}

fn from_vm(result: runnet_vm_exec::TaskResult) -> TaskResult {
    match result {
        runnet_vm_exec::TaskResult::Output(bytes) => TaskResult::Output(bytes),
        runnet_vm_exec::TaskResult::TaskError(bytes) => TaskResult::Error(bytes),
    }
}
