//! WebAssembly modules through the publish check the chain runs on a `PublishService` bundle
//! (`Vm::check`: `check_module` and the engine's compilation). An accepted module is then run
//! on each task it exports, twice on two VMs: the chain judges disputes by re-running, so the
//! same module and input must give the same result and burn the same fuel.
#![no_main]

use libfuzzer_sys::fuzz_target;
use runnet_vm_exec::{Vm, VmLimits, check_module};
use std::sync::OnceLock;

/// Enough for loops and calls to run a while, little enough that each run is quick.
const FUEL: u64 = 200_000;
const INPUT: &[u8] = &[7; 16];
const MAX_OUTPUT: usize = 1_024;

/// The genesis defaults, as on a real chain. The VMs live across inputs: building an engine per
/// input would dominate, and results never depend on what a VM has cached.
fn vms() -> &'static (Vm, Vm) {
    static VMS: OnceLock<(Vm, Vm)> = OnceLock::new();
    VMS.get_or_init(|| (Vm::new(VmLimits::default()), Vm::new(VmLimits::default())))
}

fuzz_target!(|data: &[u8]| {
    let (vm, other) = vms();
    let limits = vm.limits();
    let checked = check_module(data, &[], limits);
    let Ok(info) = vm.check(data, &[]) else {
        return;
    };
    // The engine only adds refusals to the check.
    assert_eq!(checked.as_ref(), Ok(&info));
    assert_eq!(info.size, data.len());
    assert!(info.memory_pages <= limits.max_memory_pages);
    // Its task exports are task keys it satisfies.
    let keys: Vec<&str> = info.task_exports.iter().map(String::as_str).collect();
    assert!(check_module(data, &keys, limits).is_ok());
    for task in &keys {
        let first = vm.run(data, task, INPUT, FUEL, MAX_OUTPUT);
        let second = other.run(data, task, INPUT, FUEL, MAX_OUTPUT);
        let deterministic = match &first {
            Ok(_) => true,
            Err(error) => error.is_deterministic(),
        };
        if deterministic {
            assert_eq!(first, second, "task {task} ran two ways");
        }
        if let Ok(outcome) = &first {
            assert!(outcome.fuel_used <= FUEL);
        }
    }
});
