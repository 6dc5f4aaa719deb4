//! vm-exec: calls per second of small tasks on a cached module, the interpreter's speed on a
//! costly one, and what the publish-time check costs on the example services.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use runnet_vm_exec::{ModuleHash, TaskResult, Vm, VmLimits, check_module, wat_to_wasm};
use std::hint::black_box;

const FUEL: u64 = 100_000_000;

const EXAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "arith",
        include_str!("../../examples/services/arith.wat"),
        &["add", "mul"],
    ),
    (
        "text",
        include_str!("../../examples/services/text.wat"),
        &["upper", "reverse"],
    ),
    (
        "mixer",
        include_str!("../../examples/services/mixer.wat"),
        &["mix"],
    ),
    (
        "factor",
        include_str!("../../examples/services/factor.wat"),
        &["factor", "check_factor"],
    ),
];

fn wasm(name: &str) -> Vec<u8> {
    let text = EXAMPLES
        .iter()
        .find(|(n, _, _)| *n == name)
        .map(|(_, text, _)| *text)
        .unwrap_or_else(|| panic!("no example {name}"));
    wat_to_wasm(text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn ints(values: &[i64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn calls(c: &mut Criterion) {
    let vm = Vm::new(VmLimits::default());
    let arith = vm.load(&wasm("arith")).expect("arith loads");
    let text = vm.load(&wasm("text")).expect("text loads");
    let mixer = vm.load(&wasm("mixer")).expect("mixer loads");
    let mut upper_input = 64u32.to_le_bytes().to_vec();
    upper_input.extend(std::iter::repeat_n(b'a', 64));

    let mut group = c.benchmark_group("vm_exec");
    group.throughput(Throughput::Elements(1));
    let cases: [(&str, ModuleHash, &str, Vec<u8>); 3] = [
        ("add", arith, "add", ints(&[2, 3])),
        ("upper_64_bytes", text, "upper", upper_input),
        ("mix_1000_rounds", mixer, "mix", ints(&[1000, 7])),
    ];
    for (name, module, task, input) in &cases {
        let outcome = vm.run(*module, task, input, FUEL, 4096).expect("runs");
        assert!(matches!(outcome.result, TaskResult::Output(_)));
        println!("vm_exec/call/{name}: {} fuel per call", outcome.fuel_used);
        group.bench_with_input(BenchmarkId::new("call", name), input, |b, input| {
            b.iter(|| vm.run(*module, task, black_box(input), FUEL, 4096))
        });
    }
    // The same small call, but handing the module bytes (hashed, then found in the cache).
    let arith_bytes = wasm("arith");
    let input = ints(&[2, 3]);
    group.bench_function("call/add_from_bytes", |b| {
        b.iter(|| vm.run(black_box(&arith_bytes), "add", &input, FUEL, 64))
    });
    group.finish();
}

fn publish(c: &mut Criterion) {
    let limits = VmLimits::default();
    let vm = Vm::new(limits.clone());
    let mut group = c.benchmark_group("vm_exec");
    for (name, _, keys) in EXAMPLES {
        let bytes = wasm(name);
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("check_module", name),
            &bytes,
            |b, bytes| b.iter(|| check_module(black_box(bytes), keys, &limits).expect("passes")),
        );
        // The check plus compilation by the engine, as a node does on publish.
        group.bench_with_input(
            BenchmarkId::new("check_and_compile", name),
            &bytes,
            |b, bytes| b.iter(|| vm.check(black_box(bytes), keys).expect("passes")),
        );
    }
    group.finish();
}

criterion_group!(benches, calls, publish);
criterion_main!(benches);
