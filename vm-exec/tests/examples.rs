//! Every example service passes the publish check for exactly the task keys its definition
//! names, and every task gives the expected bytes.

mod common;
use common::*;
use runnet_vm_exec::{Vm, VmError, VmLimits, check_module};

const EXAMPLES: &[&str] = &["arith", "text", "mixer", "factor"];

fn task_keys(definition: &serde_json::Value) -> Vec<String> {
    definition["tasks"]
        .as_array()
        .expect("tasks is a list")
        .iter()
        .map(|t| t["key"].as_str().expect("key is a string").to_owned())
        .collect()
}

fn max_output(definition: &serde_json::Value, key: &str) -> usize {
    definition["tasks"]
        .as_array()
        .and_then(|tasks| tasks.iter().find(|t| t["key"] == key))
        .and_then(|t| t["max_output_bytes"].as_u64())
        .expect("task has max_output_bytes") as usize
}

#[test]
fn every_example_passes_the_publish_check_for_its_definition() {
    let vm = Vm::new(VmLimits::default());
    for name in EXAMPLES {
        let wasm = example_wasm(name);
        let definition = example_definition(name);
        let keys = task_keys(&definition);
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let info = check_module(&wasm, &keys, &VmLimits::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        // The module exports no task the definition forgets.
        let mut exported = info.task_exports.clone();
        exported.sort();
        let mut declared: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        declared.sort();
        assert_eq!(exported, declared, "{name}");
        assert_eq!(vm.check(&wasm, &keys), Ok(info), "{name}");
        // An unknown key is refused.
        assert!(matches!(
            check_module(&wasm, &["nope"], &VmLimits::default()),
            Err(VmError::MissingExport { .. })
        ));
    }
}

#[test]
fn public_effect_check_task_is_declared_and_shaped() {
    let definition = example_definition("factor");
    let tasks = definition["tasks"].as_array().expect("tasks");
    let factor = tasks.iter().find(|t| t["key"] == "factor").expect("factor");
    let check = factor["verification"]["public_effect"]["check"]
        .as_str()
        .expect("public_effect names a check");
    let check = tasks
        .iter()
        .find(|t| t["key"] == check)
        .expect("check task");
    assert_eq!(check["inputs"]["inputs"]["record"], factor["inputs"]);
    assert_eq!(check["inputs"]["outputs"]["record"], factor["outputs"]);
    assert_eq!(check["outputs"], serde_json::json!({"valid": "bool"}));
}

#[test]
fn arith() {
    let vm = Vm::new(VmLimits::default());
    let wasm = example_wasm("arith");
    let def = example_definition("arith");
    let run = |task: &str, a: i64, b: i64| {
        vm.run(&wasm, task, &ints(&[a, b]), FUEL, max_output(&def, task))
    };
    assert_eq!(output(run("add", 2, 3)), ints(&[5]));
    assert_eq!(output(run("add", -7, 3)), ints(&[-4]));
    assert_eq!(output(run("add", i64::MAX, i64::MIN)), ints(&[-1]));
    assert_eq!(task_error(run("add", i64::MAX, 1)), b"overflow");
    assert_eq!(task_error(run("add", i64::MIN, -1)), b"overflow");
    assert_eq!(output(run("mul", -4, 5)), ints(&[-20]));
    assert_eq!(output(run("mul", 0, i64::MIN)), ints(&[0]));
    assert_eq!(output(run("mul", -1, i64::MAX)), ints(&[-i64::MAX]));
    assert_eq!(task_error(run("mul", -1, i64::MIN)), b"overflow");
    assert_eq!(task_error(run("mul", i64::MIN, -1)), b"overflow");
    assert_eq!(task_error(run("mul", 1 << 32, 1 << 31)), b"overflow");
    let short = vm.run(&wasm, "add", &[1, 2, 3], FUEL, 64);
    assert_eq!(task_error(short), b"input must be 16 bytes");
}

#[test]
fn text() {
    let vm = Vm::new(VmLimits::default());
    let wasm = example_wasm("text");
    let upper =
        |s: &str| output(vm.run(&wasm, "upper", &length_prefixed(s.as_bytes()), FUEL, 4096));
    assert_eq!(
        upper("Hello, wörld!"),
        length_prefixed("HELLO, WöRLD!".as_bytes())
    );
    assert_eq!(upper(""), length_prefixed(b""));
    let reverse = |b: &[u8]| output(vm.run(&wasm, "reverse", &length_prefixed(b), FUEL, 4096));
    assert_eq!(reverse(&[1, 2, 3, 255]), length_prefixed(&[255, 3, 2, 1]));
    assert_eq!(reverse(&[9]), length_prefixed(&[9]));
    // Inputs past the first page make alloc grow memory.
    let long: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
    let reversed: Vec<u8> = long.iter().rev().copied().collect();
    let out = output(vm.run(
        &wasm,
        "reverse",
        &length_prefixed(&long),
        100_000_000,
        200_000,
    ));
    assert_eq!(out, length_prefixed(&reversed));
    // A length prefix that disagrees with the input size is the task's own error.
    let mut bad = length_prefixed(b"abc");
    bad.push(0);
    assert_eq!(
        task_error(vm.run(&wasm, "upper", &bad, FUEL, 4096)),
        b"malformed input record"
    );
}

#[test]
fn mixer_matches_a_reference_and_costs_fuel_in_proportion() {
    let vm = Vm::new(VmLimits::default());
    let wasm = example_wasm("mixer");
    let mut expected = 42u64;
    for _ in 0..1000 {
        expected = splitmix(expected);
    }
    let small = vm
        .run(&wasm, "mix", &ints(&[1000, 42]), FUEL, 64)
        .expect("runs");
    assert_eq!(output(Ok(small.clone())), expected.to_le_bytes());
    let large = vm
        .run(&wasm, "mix", &ints(&[2000, 42]), FUEL, 64)
        .expect("runs");
    // Same fixed part, twice the loop: the difference is one more thousand rounds.
    let per_thousand = large.fuel_used - small.fuel_used;
    assert!(per_thousand > 1000, "a round costs fuel: {per_thousand}");
    assert!(
        small.fuel_used > per_thousand,
        "{} vs {per_thousand}",
        small.fuel_used
    );
    // A million rounds does not fit in a small budget.
    let starved = vm.run(&wasm, "mix", &ints(&[1_000_000, 42]), 50_000, 64);
    assert_eq!(starved, Err(VmError::OutOfFuel { fuel_used: 50_000 }));
    assert_eq!(
        task_error(vm.run(&wasm, "mix", &ints(&[-1, 0]), FUEL, 64)),
        b"rounds must not be negative"
    );
}

#[test]
fn factor_and_its_check() {
    let vm = Vm::new(VmLimits::default());
    let wasm = example_wasm("factor");
    assert_eq!(
        output(vm.run(&wasm, "factor", &ints(&[91]), FUEL, 64)),
        ints(&[7, 13])
    );
    assert_eq!(
        output(vm.run(&wasm, "factor", &ints(&[4]), FUEL, 64)),
        ints(&[2, 2])
    );
    assert_eq!(
        task_error(vm.run(&wasm, "factor", &ints(&[97]), FUEL, 64)),
        b"no factors: n is below 4 or prime"
    );
    assert!(!task_error(vm.run(&wasm, "factor", &ints(&[1]), FUEL, 64)).is_empty());

    // The check's input is the inputs record followed by the outputs record.
    let check =
        |n: i64, p: i64, q: i64| output(vm.run(&wasm, "check_factor", &ints(&[n, p, q]), FUEL, 16));
    assert_eq!(check(91, 7, 13), [1]);
    assert_eq!(check(91, 13, 7), [1], "any factorisation is valid");
    assert_eq!(check(91, 1, 91), [0], "trivial factors are not");
    assert_eq!(check(91, 7, 12), [0]);
    assert_eq!(check(-91, -7, 13), [0]);
    assert_eq!(check(i64::MAX, i64::MAX, 2), [0], "no overflow to fool it");
    // The runner's own answer always passes the check.
    for n in [4i64, 6, 15, 91, 1001, 65_536, 999_983 * 3] {
        let answer = output(vm.run(&wasm, "factor", &ints(&[n]), FUEL, 64));
        let mut record = ints(&[n]);
        record.extend_from_slice(&answer);
        assert_eq!(
            output(vm.run(&wasm, "check_factor", &record, FUEL, 16)),
            [1],
            "n = {n}"
        );
    }
}
