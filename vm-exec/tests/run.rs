//! The run-time ABI: fuel, caps, every failure with its own error, caching and threads.

mod common;
use common::*;
use runnet_vm_exec::{
    ModuleHash, ModuleSource, RunOutcome, TaskResult, TrapKind, Vm, VmError, VmLimits,
};
use std::sync::Arc;

fn vm() -> Vm {
    Vm::new(VmLimits::default())
}

/// Runs the single task `t` of `fields` with a 16-byte input.
fn run_task(fields: &str, max_output: usize) -> Result<RunOutcome, VmError> {
    vm().run(&abi_module(fields), "t", &[7; 16], FUEL, max_output)
}

#[test]
fn endless_loop_runs_out_of_fuel_and_uses_exactly_the_limit() {
    let wasm = abi_module(r#"(func (export "t") (param i32 i32) (loop $l (br $l)))"#);
    for limit in [0, 1, 1_000, 123_457, 5_000_000] {
        assert_eq!(
            vm().run(&wasm, "t", b"", limit, 64),
            Err(VmError::OutOfFuel { fuel_used: limit }),
            "limit {limit}"
        );
    }
    let error = VmError::OutOfFuel { fuel_used: 9 };
    assert_eq!(error.fuel_used(), Some(9));
    assert_eq!(error.code(), "out_of_fuel");
    assert!(error.is_deterministic());
}

#[test]
fn fuel_is_reported_on_success_and_the_exact_amount_is_enough() {
    let wasm = example_wasm("mixer");
    let input = ints(&[500, 1]);
    let outcome = vm().run(&wasm, "mix", &input, FUEL, 64).expect("runs");
    assert!(outcome.fuel_used > 500, "{}", outcome.fuel_used);
    let exact = vm()
        .run(&wasm, "mix", &input, outcome.fuel_used, 64)
        .expect("exact fuel is enough");
    assert_eq!(exact, outcome);
    assert_eq!(
        vm().run(&wasm, "mix", &input, outcome.fuel_used - 1, 64),
        Err(VmError::OutOfFuel {
            fuel_used: outcome.fuel_used - 1
        })
    );
}

#[test]
fn fuel_is_identical_across_repeats_cold_and_cached_modules() {
    let wasm = example_wasm("mixer");
    let input = ints(&[777, 3]);
    let vm = vm();
    let cold = vm.run(&wasm, "mix", &input, FUEL, 64).expect("cold run");
    let cached = vm.run(&wasm, "mix", &input, FUEL, 64).expect("cached run");
    let by_hash = vm
        .run(ModuleHash::of(&wasm), "mix", &input, FUEL, 64)
        .expect("run by hash");
    assert_eq!(cold, cached);
    assert_eq!(cold, by_hash);
    // A VM that never caches compiles every time and still agrees.
    let uncached = Vm::new(VmLimits {
        max_cached_modules: 0,
        ..VmLimits::default()
    });
    for _ in 0..3 {
        assert_eq!(
            uncached.run(&wasm, "mix", &input, FUEL, 64),
            Ok(cold.clone())
        );
    }
    assert_eq!(uncached.cached_modules(), 0);
    // Failures burn the same fuel every time too.
    let trap = abi_module(
        r#"(func (export "t") (param i32 i32) (local $i i32)
            (loop $l (local.set $i (i32.add (local.get $i) (i32.const 1)))
              (br_if $l (i32.lt_u (local.get $i) (i32.const 100))))
            unreachable)"#,
    );
    let first = vm.run(&trap, "t", b"", FUEL, 64);
    assert!(
        matches!(first, Err(VmError::Trap { trap: TrapKind::Unreachable, fuel_used }) if fuel_used > 100)
    );
    assert_eq!(uncached.run(&trap, "t", b"", FUEL, 64), first);
    assert_eq!(vm.run(&trap, "t", b"", FUEL, 64), first);
}

#[test]
fn task_error_comes_back_as_task_error() {
    let result = run_task(
        r#"(data (i32.const 0) "nope")
           (func (export "t") (param i32 i32) (call $error (i32.const 0) (i32.const 4)))"#,
        64,
    )
    .expect("reports");
    assert_eq!(result.result, TaskResult::TaskError(b"nope".to_vec()));
    assert!(result.fuel_used > 0);
}

#[test]
fn the_input_arrives_where_alloc_said() {
    // Echoes its input: the bytes at ptr..ptr+len.
    let echo = r#"(func (export "t") (param $p i32) (param $n i32) (call $output (local.get $p) (local.get $n)))"#;
    let input: Vec<u8> = (0..=255).collect();
    let out = vm().run(&abi_module(echo), "t", &input, FUEL, 1024);
    assert_eq!(output(out), input);
    let empty = vm().run(&abi_module(echo), "t", b"", FUEL, 1024);
    assert_eq!(output(empty), b"");
}

#[test]
fn output_too_large() {
    let fields =
        r#"(func (export "t") (param i32 i32) (call $output (i32.const 0) (i32.const 8)))"#;
    assert!(run_task(fields, 8).is_ok());
    assert!(matches!(
        run_task(fields, 7),
        Err(VmError::OutputTooLarge { len: 8, max: 7, fuel_used }) if fuel_used > 0
    ));
    // The cap holds for error messages too, and for "negative" lengths.
    let error =
        r#"(func (export "t") (param i32 i32) (call $error (i32.const 0) (i32.const 100)))"#;
    assert!(matches!(
        run_task(error, 99),
        Err(VmError::OutputTooLarge { len: 100, .. })
    ));
    let huge = r#"(func (export "t") (param i32 i32) (call $output (i32.const 0) (i32.const -1)))"#;
    assert!(matches!(
        run_task(huge, 1 << 20),
        Err(VmError::OutputTooLarge { len: u32::MAX, .. })
    ));
}

#[test]
fn output_outside_memory() {
    let fields =
        r#"(func (export "t") (param i32 i32) (call $output (i32.const 65530) (i32.const 7)))"#;
    assert!(matches!(
        run_task(fields, 64),
        Err(VmError::OutputOutOfBounds {
            ptr: 65530,
            len: 7,
            ..
        })
    ));
    let fits =
        r#"(func (export "t") (param i32 i32) (call $output (i32.const 65530) (i32.const 6)))"#;
    assert!(run_task(fits, 64).is_ok());
    let wraps =
        r#"(func (export "t") (param i32 i32) (call $output (i32.const -1) (i32.const 2)))"#;
    assert!(matches!(
        run_task(wraps, 64),
        Err(VmError::OutputOutOfBounds { .. })
    ));
}

#[test]
fn double_output() {
    let twice = r#"(func (export "t") (param i32 i32)
        (call $output (i32.const 0) (i32.const 1))
        (call $output (i32.const 0) (i32.const 1)))"#;
    assert!(
        matches!(run_task(twice, 64), Err(VmError::DoubleOutput { fuel_used }) if fuel_used > 0)
    );
    let mixed = r#"(func (export "t") (param i32 i32)
        (call $output (i32.const 0) (i32.const 1))
        (call $error (i32.const 0) (i32.const 1)))"#;
    assert!(matches!(
        run_task(mixed, 64),
        Err(VmError::DoubleOutput { .. })
    ));
    // The second call stops the task on the spot: the trap after it is never reached.
    let stop = r#"(func (export "t") (param i32 i32)
        (call $error (i32.const 0) (i32.const 1))
        (call $error (i32.const 0) (i32.const 1))
        unreachable)"#;
    assert_eq!(
        run_task(stop, 64).map_err(|e| e.code()),
        Err("double_output")
    );
}

#[test]
fn missing_output() {
    let silent = r#"(func (export "t") (param i32 i32))"#;
    assert!(matches!(
        run_task(silent, 64),
        Err(VmError::MissingOutput { .. })
    ));
}

#[test]
fn traps_are_named() {
    let cases = [
        ("unreachable", TrapKind::Unreachable),
        (
            "(drop (i32.div_u (i32.const 1) (i32.const 0)))",
            TrapKind::IntegerDivisionByZero,
        ),
        (
            "(drop (i64.rem_s (i64.const 1) (i64.const 0)))",
            TrapKind::IntegerDivisionByZero,
        ),
        (
            "(drop (i32.div_s (i32.const 0x80000000) (i32.const -1)))",
            TrapKind::IntegerOverflow,
        ),
        (
            "(drop (i32.load (i32.const 65534)))",
            TrapKind::MemoryOutOfBounds,
        ),
        (
            "(memory.fill (i32.const 65000) (i32.const 0) (i32.const 1000))",
            TrapKind::MemoryOutOfBounds,
        ),
    ];
    for (body, expected) in cases {
        let fields = format!(
            r#"(func (export "t") (param i32 i32) {body} (call $output (i32.const 0) (i32.const 0)))"#
        );
        match run_task(&fields, 64) {
            Err(VmError::Trap { trap, fuel_used }) => {
                assert_eq!(trap, expected, "{body}");
                assert!(fuel_used > 0);
            }
            other => panic!("{body}: expected a trap, got {other:?}"),
        }
    }
}

#[test]
fn deep_recursion_overflows_the_stack_cleanly() {
    let fields = r#"(func $f (export "t") (param i32 i32) (call $f (local.get 0) (local.get 1)))"#;
    assert!(matches!(
        run_task(fields, 64),
        Err(VmError::Trap {
            trap: TrapKind::StackOverflow,
            ..
        })
    ));
    // A shallower limit overflows sooner, and just as cleanly.
    let shallow = Vm::new(VmLimits {
        max_recursion_depth: 10,
        ..VmLimits::default()
    });
    let depth = |vm: &Vm, n: i32| {
        let fields = r#"(func $f (param $n i32)
                (if (i32.gt_s (local.get $n) (i32.const 0))
                  (then (call $f (i32.sub (local.get $n) (i32.const 1))))))
            (func (export "t") (param $p i32) (param i32)
                (call $f (i32.load (local.get $p)))
                (call $output (i32.const 0) (i32.const 0)))"#;
        vm.run(&abi_module(fields), "t", &n.to_le_bytes(), FUEL, 64)
    };
    assert!(depth(&shallow, 5).is_ok());
    assert!(matches!(
        depth(&shallow, 50),
        Err(VmError::Trap {
            trap: TrapKind::StackOverflow,
            ..
        })
    ));
    assert!(depth(&vm(), 50).is_ok());
}

#[test]
fn memory_cap() {
    let limits = VmLimits {
        max_memory_pages: 4,
        ..VmLimits::default()
    };
    // Reports memory.grow's answer as an i32.
    let grow = |pages: i32| {
        wat(&format!(
            r#"(module
                (import "env" "output" (func $output (param i32 i32)))
                (memory (export "memory") 2)
                (func (export "alloc") (param i32) (result i32) (i32.const 1024))
                (func (export "t") (param i32 i32)
                    (i32.store (i32.const 0) (memory.grow (i32.const {pages})))
                    (call $output (i32.const 0) (i32.const 4))))"#
        ))
    };
    let vm = Vm::new(limits.clone());
    assert_eq!(
        output(vm.run(&grow(2), "t", b"", FUEL, 4)),
        2i32.to_le_bytes()
    );
    assert_eq!(
        output(vm.run(&grow(3), "t", b"", FUEL, 4)),
        (-1i32).to_le_bytes()
    );
    assert_eq!(
        output(vm.run(&grow(65536), "t", b"", FUEL, 4)),
        (-1i32).to_le_bytes()
    );
    // A module that starts over the cap is refused before it runs.
    let big = wat(r#"(module (memory (export "memory") 5)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert_eq!(
        vm.run(&big, "t", b"", FUEL, 4),
        Err(VmError::MemoryTooLarge { pages: 5, max: 4 })
    );
    // Under the default cap, 256 pages, the same module is fine.
    assert!(matches!(
        Vm::new(VmLimits::default()).run(&big, "t", b"", FUEL, 4),
        Err(VmError::MissingOutput { .. })
    ));
}

#[test]
fn bad_alloc_and_oversized_input() {
    let outside = wat(r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 65530))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(
        vm().run(&outside, "t", &[0; 16], FUEL, 64),
        Err(VmError::BadAlloc {
            ptr: 65530,
            len: 16,
            ..
        })
    ));
    // Six bytes still fit.
    assert!(matches!(
        vm().run(&outside, "t", &[0; 6], FUEL, 64),
        Err(VmError::MissingOutput { .. })
    ));
    let negative = wat(r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const -8))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(
        vm().run(&negative, "t", &[0; 4], FUEL, 64),
        Err(VmError::BadAlloc { .. })
    ));
    let small = Vm::new(VmLimits {
        max_input_bytes: 8,
        ..VmLimits::default()
    });
    assert_eq!(
        small.run(&outside, "t", &[0; 9], FUEL, 64),
        Err(VmError::InputTooLarge { len: 9, max: 8 })
    );
}

#[test]
fn instantiation_failure_is_an_error_not_a_panic() {
    // An active data segment past the end of memory fails when the instance is built.
    let wasm = wat(r#"(module (memory (export "memory") 1)
            (data (i32.const 65535) "xy")
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    let first = vm().run(&wasm, "t", b"", FUEL, 64);
    eprintln!("instantiation: {first:?}");
    assert!(first.is_err());
    assert!(
        first.as_ref().is_err_and(VmError::is_deterministic),
        "{first:?}"
    );
    assert_eq!(vm().run(&wasm, "t", b"", FUEL, 64), first);
}

#[test]
fn unknown_task_and_unknown_hash() {
    let wasm = example_wasm("arith");
    let vm = vm();
    assert!(matches!(
        vm.run(&wasm, "div", &ints(&[1, 1]), FUEL, 64),
        Err(VmError::MissingExport { .. })
    ));
    assert_eq!(
        vm.run(&wasm, "alloc", &ints(&[1, 1]), FUEL, 64),
        Err(VmError::ReservedTaskKey("alloc".into()))
    );
    let unknown = ModuleHash([7; 32]);
    assert_eq!(
        vm.run(unknown, "add", b"", FUEL, 64),
        Err(VmError::ModuleNotCached(unknown))
    );
    assert!(!VmError::ModuleNotCached(unknown).is_deterministic());
    // An exported function of another shape is not a task.
    let other = abi_module(r#"(func (export "t") (param i32)) "#);
    assert!(matches!(
        vm.run(&other, "t", b"", FUEL, 64),
        Err(VmError::WrongSignature { .. })
    ));
}

#[test]
fn cache_is_bounded_and_keyed_by_hash() {
    let vm = Vm::new(VmLimits {
        max_cached_modules: 2,
        ..VmLimits::default()
    });
    let a = vm.load(&example_wasm("arith")).expect("loads");
    let t = vm.load(&example_wasm("text")).expect("loads");
    assert_eq!(a, ModuleHash::of(&example_wasm("arith")));
    assert!(vm.is_cached(&a) && vm.is_cached(&t));
    // Touch a so that t is the least recently used, then load a third.
    assert!(vm.run(a, "add", &ints(&[1, 2]), FUEL, 64).is_ok());
    let m = vm.load(&example_wasm("mixer")).expect("loads");
    assert_eq!(vm.cached_modules(), 2);
    assert!(vm.is_cached(&a) && vm.is_cached(&m) && !vm.is_cached(&t));
    assert!(matches!(
        vm.run(t, "upper", b"", FUEL, 64),
        Err(VmError::ModuleNotCached(_))
    ));
    // From the bytes it comes back.
    let text = example_wasm("text");
    assert!(
        vm.run(
            ModuleSource::Bytes(&text),
            "upper",
            &length_prefixed(b"a"),
            FUEL,
            64
        )
        .is_ok()
    );
    assert!(vm.is_cached(&t));
}

#[test]
fn one_vm_serves_many_threads_with_identical_results() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Vm>();
    let vm = Arc::new(vm());
    let wasm = Arc::new(example_wasm("mixer"));
    let expected = vm
        .run(wasm.as_slice(), "mix", &ints(&[300, 9]), FUEL, 64)
        .expect("runs");
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (vm, wasm) = (Arc::clone(&vm), Arc::clone(&wasm));
            std::thread::spawn(move || {
                (0..25)
                    .map(|_| vm.run(wasm.as_slice(), "mix", &ints(&[300, 9]), FUEL, 64))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    for handle in handles {
        for result in handle.join().expect("thread finishes") {
            assert_eq!(result, Ok(expected.clone()));
        }
    }
}

#[test]
fn garbage_and_text_are_errors() {
    let vm = vm();
    assert_eq!(
        vm.run(b"garbage!", "t", b"", FUEL, 64),
        Err(VmError::NotBinary)
    );
    assert_eq!(
        vm.run(&b""[..], "t", b"", FUEL, 64),
        Err(VmError::NotBinary)
    );
    let text = b"(module)";
    assert_eq!(vm.run(text, "t", b"", FUEL, 64), Err(VmError::NotBinary));
    let broken = b"\0asm\x01\0\0\0\x01\xff\xff";
    assert!(matches!(
        vm.run(broken, "t", b"", FUEL, 64),
        Err(VmError::InvalidModule(_))
    ));
    assert!(matches!(
        runnet_vm_exec::wat_to_wasm("(module"),
        Err(VmError::InvalidText(_))
    ));
}

#[test]
fn extreme_fuel_and_output_limits() {
    let wasm = example_wasm("arith");
    let vm = vm();
    let max = vm
        .run(&wasm, "add", &ints(&[2, 3]), u64::MAX, usize::MAX)
        .expect("runs");
    let normal = vm
        .run(&wasm, "add", &ints(&[2, 3]), FUEL, 64)
        .expect("runs");
    assert_eq!(max, normal);
    assert!(matches!(
        vm.run(&wasm, "add", &ints(&[2, 3]), FUEL, 0),
        Err(VmError::OutputTooLarge { len: 8, max: 0, .. })
    ));
}
