//! The publish check refuses, with an error naming the cause, everything that could make nodes
//! disagree or that the ABI cannot call.

mod common;
use common::*;
use runnet_vm_exec::{Vm, VmError, VmLimits, check_module};

fn check(wasm: &[u8]) -> Result<runnet_vm_exec::ModuleInfo, VmError> {
    check_module(wasm, &["t"], &VmLimits::default())
}

/// The check refuses it, and so does a run (which checks on a cache miss).
fn refused(wasm: &[u8]) -> VmError {
    let error = match check(wasm) {
        Err(error) => error,
        Ok(info) => panic!("expected a refusal, got {info:?}"),
    };
    let vm = Vm::new(VmLimits::default());
    assert_eq!(vm.run(wasm, "t", b"", FUEL, 64).err(), Some(error.clone()));
    assert_eq!(vm.check(wasm, &["t"]).err(), Some(error.clone()));
    assert!(error.is_deterministic());
    error
}

fn forbidden_instruction(fields: &str) -> (u32, String, String) {
    match refused(&abi_module(fields)) {
        e @ VmError::ForbiddenInstruction { .. } => {
            let message = e.to_string();
            let VmError::ForbiddenInstruction {
                func, instruction, ..
            } = e
            else {
                unreachable!()
            };
            (func, instruction, message)
        }
        other => panic!("expected a forbidden instruction, got {other:?}"),
    }
}

fn task(body: &str) -> String {
    format!(r#"(func (export "t") (param i32 i32) {body})"#)
}

#[test]
fn a_plain_module_passes() {
    let info = check(&abi_module(&task(
        "(call $output (i32.const 0) (i32.const 0))",
    )))
    .expect("ok");
    assert_eq!(info.memory_pages, 1);
    assert_eq!(info.functions, 2);
    assert_eq!(info.imports, ["env.output", "env.error"]);
    assert_eq!(info.task_exports, ["t"]);
}

#[test]
fn float_instructions_are_refused_with_their_name_and_function() {
    // Function 0 and 1 are the imports, 2 is alloc, 3 is the task.
    let (func, instruction, message) =
        forbidden_instruction(&task("(drop (f32.add (f32.const 1) (f32.const 2)))"));
    assert_eq!(func, 3);
    assert_eq!(instruction, "f32.const");
    assert!(message.contains("floating point"), "{message}");
    assert!(message.contains("function 3"), "{message}");

    let (_, instruction, _) = forbidden_instruction(&task(
        "(drop (i64.reinterpret_f64 (f64.load (i32.const 0))))",
    ));
    assert_eq!(instruction, "f64.load");
    let (_, instruction, _) =
        forbidden_instruction(&task("(drop (i32.trunc_sat_f32_s (f32.const 1)))"));
    assert_eq!(instruction, "f32.const");
    // Float bits reached from integers only are still refused.
    let (_, instruction, _) = forbidden_instruction(&task(
        "(drop (i64.reinterpret_f64 (f64.reinterpret_i64 (i64.const 1))))",
    ));
    assert_eq!(instruction, "f64.reinterpret_i64");
}

#[test]
fn the_function_name_is_shown_when_the_module_has_one() {
    let (func, _, message) = forbidden_instruction(
        r#"(func $helper (result i32) (i32.trunc_f64_s (f64.const 1)))
           (func (export "t") (param i32 i32))"#,
    );
    assert_eq!(func, 3);
    assert!(message.contains("$helper"), "{message}");
}

#[test]
fn float_types_are_refused() {
    let cases = [
        (
            r#"(func (export "t") (param i32 i32) (local f64))"#,
            "f64",
            "locals",
        ),
        (
            r#"(func $f (param f32)) (func (export "t") (param i32 i32))"#,
            "f32",
            "params",
        ),
        (
            r#"(func $f (result f64) unreachable) (func (export "t") (param i32 i32))"#,
            "f64",
            "results",
        ),
        (
            r#"(global $g (mut f64) (f64.const 0)) (func (export "t") (param i32 i32))"#,
            "f64",
            "global",
        ),
    ];
    for (fields, ty, place) in cases {
        match refused(&abi_module(fields)) {
            VmError::ForbiddenType {
                ty: found,
                place: found_place,
                reason,
            } => {
                assert_eq!(found, ty, "{fields}");
                assert!(found_place.contains(place), "{found_place} for {fields}");
                assert!(reason.contains("floating point"));
            }
            other => panic!("{fields}: expected a forbidden type, got {other:?}"),
        }
    }
}

#[test]
fn simd_is_refused() {
    let (_, instruction, message) = forbidden_instruction(&task(
        "(drop (i32x4.extract_lane 0 (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 2 3 4))))",
    ));
    assert_eq!(instruction, "v128.const");
    assert!(message.contains("SIMD"), "{message}");
    let error = refused(&abi_module(
        r#"(func (export "t") (param i32 i32) (local v128))"#,
    ));
    assert!(error.to_string().contains("v128"), "{error}");
    assert!(error.to_string().contains("SIMD"), "{error}");
}

#[test]
fn threads_and_atomics_are_refused() {
    let (_, instruction, message) =
        forbidden_instruction(&task("(drop (i32.atomic.load (i32.const 0)))"));
    assert!(instruction.contains("atomic"), "{instruction}");
    assert!(message.contains("atomics"), "{message}");
    let shared = wat(r#"(module (memory (export "memory") 1 1 shared)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(
        refused(&shared),
        VmError::ForbiddenFeature {
            feature: "shared memory",
            ..
        }
    ));
}

#[test]
fn other_proposals_are_refused() {
    let (_, instruction, _) = forbidden_instruction(
        r#"(func $f (param i32 i32)) (func (export "t") (param i32 i32) (return_call $f (i32.const 0) (i32.const 0)))"#,
    );
    assert_eq!(instruction, "return_call");
    let (_, instruction, _) = forbidden_instruction(&task("(drop (ref.is_null (ref.null func)))"));
    assert_eq!(instruction, "ref.null");
    let memory64 = wat(r#"(module (memory (export "memory") i64 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(
        refused(&memory64),
        VmError::ForbiddenFeature {
            feature: "memory64",
            ..
        }
    ));
    let start = abi_module(r#"(func $s) (start $s) (func (export "t") (param i32 i32))"#);
    assert!(matches!(
        refused(&start),
        VmError::ForbiddenFeature {
            feature: "start function",
            ..
        }
    ));
    let two = abi_module(r#"(memory 1) (func (export "t") (param i32 i32))"#);
    assert!(matches!(
        refused(&two),
        VmError::ForbiddenFeature {
            feature: "multiple memories",
            ..
        }
    ));
}

#[test]
fn only_the_two_abi_imports_are_allowed() {
    let wasi = wat(r#"(module
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    match refused(&wasi) {
        VmError::ForbiddenImport { module, name, .. } => {
            assert_eq!(
                (module.as_str(), name.as_str()),
                ("wasi_snapshot_preview1", "fd_write")
            );
        }
        other => panic!("expected a forbidden import, got {other:?}"),
    }
    let env_other = wat(r#"(module (import "env" "time" (func (result i64)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(refused(&env_other).to_string().contains("env.time"));
    let imported_memory = wat(r#"(module (import "env" "memory" (memory 1))
            (export "memory" (memory 0))
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(
        refused(&imported_memory),
        VmError::ForbiddenImport { .. }
    ));
    let global = wat(r#"(module (import "env" "output" (global i32))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(refused(&global), VmError::ForbiddenImport { .. }));
    let wrong_type = wat(r#"(module (import "env" "output" (func (param i32)))
            (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(
        matches!(refused(&wrong_type), VmError::WrongSignature { name, .. } if name == "env.output")
    );
    // Importing neither is fine (a task that only ever traps is still a valid module).
    let none = wat(r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(check(&none).is_ok());
}

#[test]
fn required_exports_and_signatures() {
    let no_memory_export = wat(r#"(module (memory 1)
            (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(
        matches!(refused(&no_memory_export), VmError::MissingExport { name, .. } if name == "memory")
    );
    let no_memory = wat(
        r#"(module (func (export "alloc") (param i32) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#,
    );
    assert!(matches!(
        refused(&no_memory),
        VmError::ForbiddenFeature {
            feature: "no memory",
            ..
        }
    ));
    let no_alloc =
        wat(r#"(module (memory (export "memory") 1) (func (export "t") (param i32 i32)))"#);
    assert!(matches!(refused(&no_alloc), VmError::MissingExport { name, .. } if name == "alloc"));
    let bad_alloc = wat(r#"(module (memory (export "memory") 1)
            (func (export "alloc") (param i64) (result i32) (i32.const 0))
            (func (export "t") (param i32 i32)))"#);
    assert!(matches!(refused(&bad_alloc), VmError::WrongSignature { name, .. } if name == "alloc"));

    let module =
        abi_module(r#"(func (export "t") (param i32 i32)) (func (export "u") (param i32) )"#);
    let limits = VmLimits::default();
    assert!(check_module(&module, &["t"], &limits).is_ok());
    assert!(matches!(
        check_module(&module, &["t", "missing"], &limits),
        Err(VmError::MissingExport { name, .. }) if name == "missing"
    ));
    let wrong = check_module(&module, &["u"], &limits);
    assert!(
        matches!(&wrong, Err(VmError::WrongSignature { name, .. }) if name == "u"),
        "{wrong:?}"
    );
    assert!(wrong.is_err_and(|e| e.to_string().contains("(param i32 i32)")));
    assert_eq!(
        check_module(&module, &["alloc"], &limits),
        Err(VmError::ReservedTaskKey("alloc".into()))
    );
    assert_eq!(
        check_module(&module, &["memory"], &limits),
        Err(VmError::ReservedTaskKey("memory".into()))
    );
}

#[test]
fn size_and_count_limits() {
    let module = abi_module(&task(""));
    let tight = VmLimits {
        max_module_bytes: module.len() - 1,
        ..VmLimits::default()
    };
    assert_eq!(
        check_module(&module, &["t"], &tight),
        Err(VmError::ModuleTooLarge {
            len: module.len(),
            max: module.len() - 1
        })
    );
    let few = VmLimits {
        max_functions: 2,
        ..VmLimits::default()
    };
    assert!(matches!(
        check_module(&module, &["t"], &few),
        Err(VmError::TooMany {
            what: "functions",
            ..
        })
    ));
    let many_locals = abi_module(r#"(func (export "t") (param i32 i32) (local i64 i64 i64 i64))"#);
    let locals = VmLimits {
        max_locals: 5,
        ..VmLimits::default()
    };
    assert!(matches!(
        check_module(&many_locals, &["t"], &locals),
        Err(VmError::TooMany {
            what: "locals in one function",
            count: 6,
            max: 5
        })
    ));
    let table = abi_module(r#"(table 5000 funcref) (func (export "t") (param i32 i32))"#);
    assert_eq!(
        check(&table),
        Err(VmError::TableTooLarge {
            elements: 5000,
            max: 4096
        })
    );
    let globals = abi_module(
        r#"(global i32 (i32.const 1)) (global i64 (i64.const 2)) (func (export "t") (param i32 i32))"#,
    );
    let one_global = VmLimits {
        max_globals: 1,
        ..VmLimits::default()
    };
    assert!(matches!(
        check_module(&globals, &["t"], &one_global),
        Err(VmError::TooMany {
            what: "globals",
            ..
        })
    ));
}

#[test]
fn call_indirect_through_a_table_works() {
    // WebAssembly 1.0 tables stay usable: the funcref table is allowed, not reference types.
    let fields = r#"
        (type $task (func (param i32 i32)))
        (table 2 funcref)
        (elem (i32.const 0) $a $b)
        (func $a (param i32 i32) (call $output (i32.const 0) (i32.const 1)))
        (func $b (param i32 i32) (call $output (i32.const 0) (i32.const 2)))
        (func (export "t") (param $p i32) (param $n i32)
            (call_indirect (type $task) (local.get $p) (local.get $n) (i32.load8_u (local.get $p))))"#;
    let wasm = abi_module(fields);
    let vm = Vm::new(VmLimits::default());
    assert_eq!(output(vm.run(&wasm, "t", &[1], FUEL, 64)).len(), 2);
    assert_eq!(output(vm.run(&wasm, "t", &[0], FUEL, 64)).len(), 1);
    assert!(matches!(
        vm.run(&wasm, "t", &[2], FUEL, 64),
        Err(VmError::Trap {
            trap: runnet_vm_exec::TrapKind::TableOutOfBounds,
            ..
        })
    ));
}

#[test]
fn garbage_is_refused() {
    assert_eq!(check(b""), Err(VmError::NotBinary));
    assert_eq!(check(b"hello world"), Err(VmError::NotBinary));
    assert_eq!(check(b"(module)"), Err(VmError::NotBinary));
    assert!(matches!(check(b"\0asm"), Err(VmError::InvalidModule(_))));
    assert!(matches!(
        check(b"\0asm\x01\0\0\0\x05\x03\x01\x00"),
        Err(VmError::InvalidModule(_))
    ));
    // A component is not a module.
    assert!(matches!(
        check(b"\0asm\x0d\0\x01\0"),
        Err(VmError::ForbiddenFeature { .. } | VmError::InvalidModule(_))
    ));
    // Valid but empty: no memory.
    assert!(matches!(
        check(b"\0asm\x01\0\0\0"),
        Err(VmError::ForbiddenFeature { .. })
    ));
}
