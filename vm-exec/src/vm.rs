//! Running a task: one fresh store and instance per call, fuel metered, memory capped, the
//! result collected through the two ABI imports.

use crate::check::{
    self, EXPORT_ALLOC, EXPORT_MEMORY, IMPORT_ERROR, IMPORT_MODULE, IMPORT_OUTPUT, ModuleInfo,
    TASK_SIGNATURE,
};
use crate::limits::{PAGE_BYTES, VmLimits};
use crate::{ModuleHash, TrapKind, VmError};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use wasmi::TrapCode;
use wasmi::{
    Caller, CompilationMode, Config, Engine, Extern, ExternType, Func, Instance, Module, Store,
    StoreLimits, StoreLimitsBuilder, TypedFunc, ValType,
};

/// Where the module of a run comes from.
#[derive(Debug, Clone, Copy)]
pub enum ModuleSource<'a> {
    /// The module binary; checked and compiled on a cache miss.
    Bytes(&'a [u8]),
    /// A module already in the cache (from [`Vm::load`], [`Vm::check`] or an earlier run).
    Hash(ModuleHash),
}

impl<'a> From<&'a [u8]> for ModuleSource<'a> {
    fn from(bytes: &'a [u8]) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a> From<&'a Vec<u8>> for ModuleSource<'a> {
    fn from(bytes: &'a Vec<u8>) -> Self {
        Self::Bytes(bytes)
    }
}

impl<'a, const N: usize> From<&'a [u8; N]> for ModuleSource<'a> {
    fn from(bytes: &'a [u8; N]) -> Self {
        Self::Bytes(bytes)
    }
}

impl From<ModuleHash> for ModuleSource<'_> {
    fn from(hash: ModuleHash) -> Self {
        Self::Hash(hash)
    }
}

/// What the task reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskResult {
    /// Bytes passed to `env.output`: the encoded output record.
    Output(Vec<u8>),
    /// Bytes passed to `env.error`: the task's own error message.
    TaskError(Vec<u8>),
}

/// A run that ended with the task reporting a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub result: TaskResult,
    /// Fuel burnt by instantiation, `alloc` and the task together.
    pub fuel_used: u64,
}

/// The deterministic VM: a wasmi engine configured for the chain's rules plus a cache of
/// compiled modules. Cheap to share: every method takes `&self`.
pub struct Vm {
    limits: VmLimits,
    engine: Engine,
    cache: Mutex<Cache>,
}

impl fmt::Debug for Vm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vm")
            .field("limits", &self.limits)
            .field("cached_modules", &self.cached_modules())
            .finish_non_exhaustive()
    }
}

/// Compiled modules by hash, least recently used dropped first. Only a time saver: a miss
/// compiles the same bytes to the same code, so no result depends on what is cached.
struct Cache {
    entries: HashMap<ModuleHash, (Module, u64)>,
    clock: u64,
}

impl Cache {
    fn get(&mut self, hash: &ModuleHash) -> Option<Module> {
        self.clock += 1;
        let clock = self.clock;
        self.entries.get_mut(hash).map(|(module, used)| {
            *used = clock;
            module.clone()
        })
    }

    fn insert(&mut self, hash: ModuleHash, module: Module, capacity: usize) {
        if capacity == 0 {
            return;
        }
        self.clock += 1;
        if !self.entries.contains_key(&hash) && self.entries.len() >= capacity {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(hash, _)| *hash);
            if let Some(oldest) = oldest {
                self.entries.remove(&oldest);
            }
        }
        self.entries.insert(hash, (module, self.clock));
    }
}

/// Per-run host state, owned by the store.
struct HostState {
    limits: StoreLimits,
    max_output_bytes: usize,
    report: Option<TaskResult>,
}

/// Why a host import stopped the run. Raised as a wasmi host error, which unwinds the whole
/// call: there is no way for the module to catch it.
#[derive(Debug, thiserror::Error)]
enum AbiFault {
    #[error("reported twice")]
    DoubleOutput,
    #[error("output of {len} bytes is over {max}")]
    OutputTooLarge { len: u32, max: usize },
    #[error("output {ptr}..+{len} is outside memory")]
    OutputOutOfBounds { ptr: u32, len: u32 },
}

impl wasmi::errors::HostError for AbiFault {}

impl Vm {
    /// A VM enforcing `limits`.
    pub fn new(limits: VmLimits) -> Self {
        let engine = Engine::new(&engine_config(&limits));
        Self {
            limits,
            engine,
            cache: Mutex::new(Cache {
                entries: HashMap::new(),
                clock: 0,
            }),
        }
    }

    /// The limits this VM enforces.
    pub fn limits(&self) -> &VmLimits {
        &self.limits
    }

    /// The publish check ([`crate::check_module`]) plus compilation by this VM's engine, which
    /// catches the few things only the engine refuses. The compiled module is cached.
    pub fn check(&self, bytes: &[u8], task_keys: &[&str]) -> Result<ModuleInfo, VmError> {
        let info = check::inspect(bytes, &self.limits, task_keys)?;
        let module = self.compile(bytes)?;
        self.lock()
            .insert(info.hash, module, self.limits.max_cached_modules);
        Ok(info)
    }

    /// Checks (without task keys), compiles and caches a module; returns its hash for
    /// [`ModuleSource::Hash`].
    pub fn load(&self, bytes: &[u8]) -> Result<ModuleHash, VmError> {
        let hash = ModuleHash::of(bytes);
        self.module(ModuleSource::Bytes(bytes))?;
        Ok(hash)
    }

    /// Whether a module is in the cache now.
    pub fn is_cached(&self, hash: &ModuleHash) -> bool {
        self.lock().entries.contains_key(hash)
    }

    /// Number of modules in the cache.
    pub fn cached_modules(&self) -> usize {
        self.lock().entries.len()
    }

    /// Runs task `task_key` on `input` with at most `fuel_limit` fuel, accepting at most
    /// `max_output_bytes` of output (or error message).
    ///
    /// `Ok` means the task reported through `env.output` or `env.error`. `Err` is every other
    /// end; when [`VmError::is_deterministic`] holds it is the same on every node, fuel included.
    pub fn run<'a>(
        &self,
        module: impl Into<ModuleSource<'a>>,
        task_key: &str,
        input: &[u8],
        fuel_limit: u64,
        max_output_bytes: usize,
    ) -> Result<RunOutcome, VmError> {
        if input.len() > self.limits.max_input_bytes {
            return Err(VmError::InputTooLarge {
                len: input.len(),
                max: self.limits.max_input_bytes,
            });
        }
        let module = self.module(module.into())?;
        // Refused before any fuel is spent, so the answer does not depend on the fuel limit.
        check_task_export(&module, task_key)?;
        let input_len = u32::try_from(input.len()).map_err(|_| VmError::InputTooLarge {
            len: input.len(),
            max: self.limits.max_input_bytes,
        })?;

        let memory_bytes = (self.limits.max_memory_pages as usize).saturating_mul(PAGE_BYTES);
        let state = HostState {
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .table_elements(self.limits.max_table_elements as usize)
                .instances(1)
                .tables(1)
                .memories(1)
                .build(),
            max_output_bytes,
            report: None,
        };
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        store
            .set_fuel(fuel_limit)
            .map_err(|e| VmError::Internal(e.to_string()))?;

        let instance = instantiate(&mut store, &module).map_err(|error| {
            let fuel_used = fuel_used(&store, fuel_limit);
            match run_error(&error, fuel_used, fuel_limit) {
                // Traps while initialising keep their own name; the rest is "instantiation".
                e @ (VmError::Trap { .. }
                | VmError::OutOfFuel { .. }
                | VmError::HostResources(_)) => e,
                _ => VmError::Instantiation {
                    reason: error.to_string(),
                    fuel_used,
                },
            }
        })?;

        let memory =
            instance
                .get_memory(&store, EXPORT_MEMORY)
                .ok_or_else(|| VmError::MissingExport {
                    name: EXPORT_MEMORY.into(),
                    what: "the module's memory",
                })?;
        let alloc: TypedFunc<i32, i32> =
            instance
                .get_typed_func(&store, EXPORT_ALLOC)
                .map_err(|_| VmError::MissingExport {
                    name: EXPORT_ALLOC.into(),
                    what: "a function (param i32) (result i32)",
                })?;
        let task: TypedFunc<(i32, i32), ()> =
            instance
                .get_typed_func(&store, task_key)
                .map_err(|_| VmError::MissingExport {
                    name: task_key.into(),
                    what: "the task's function, (param i32 i32)",
                })?;

        // The ABI passes addresses and lengths as i32 holding u32 bits.
        let ptr = alloc
            .call(&mut store, input_len as i32)
            .map_err(|e| run_error(&e, fuel_used(&store, fuel_limit), fuel_limit))?
            as u32;
        let start = ptr as usize;
        let region = start
            .checked_add(input.len())
            .and_then(|end| memory.data_mut(&mut store).get_mut(start..end));
        match region {
            Some(region) => region.copy_from_slice(input),
            None => {
                return Err(VmError::BadAlloc {
                    ptr,
                    len: input_len,
                    fuel_used: fuel_used(&store, fuel_limit),
                });
            }
        }

        let called = task.call(&mut store, (ptr as i32, input_len as i32));
        let fuel_used = fuel_used(&store, fuel_limit);
        if let Err(error) = called {
            return Err(run_error(&error, fuel_used, fuel_limit));
        }
        match store.into_data().report {
            Some(result) => Ok(RunOutcome { result, fuel_used }),
            None => Err(VmError::MissingOutput { fuel_used }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The cache is only a cache: a thread that panicked holding it cannot leave it wrong in
        // a way that changes results, so carry on with it.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn module(&self, source: ModuleSource<'_>) -> Result<Module, VmError> {
        match source {
            ModuleSource::Hash(hash) => {
                self.lock().get(&hash).ok_or(VmError::ModuleNotCached(hash))
            }
            ModuleSource::Bytes(bytes) => {
                let hash = ModuleHash::of(bytes);
                if let Some(module) = self.lock().get(&hash) {
                    return Ok(module);
                }
                check::inspect(bytes, &self.limits, &[])?;
                // Compiled outside the lock: a slow compile must not stall other runs.
                let module = self.compile(bytes)?;
                self.lock()
                    .insert(hash, module.clone(), self.limits.max_cached_modules);
                Ok(module)
            }
        }
    }

    fn compile(&self, bytes: &[u8]) -> Result<Module, VmError> {
        // Only called on bytes that passed `inspect`, which requires the binary header, so
        // wasmi's text parser never sees them.
        Module::new(&self.engine, bytes).map_err(|e| VmError::InvalidModule(e.to_string()))
    }
}

/// The engine settings that make runs deterministic and bounded.
fn engine_config(limits: &VmLimits) -> Config {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        // Lazy translation would charge fuel for compiling a function on its first call, so a
        // cold module would cost more than a cached one. Eager compilation charges nothing.
        .compilation_mode(CompilationMode::Eager)
        .allow_start_fn(false)
        .set_max_recursion_depth(limits.max_recursion_depth)
        // Second line of defence behind the publish check: the engine refuses the same
        // proposals, so a module that slipped past the walk still cannot use them.
        .floats(false)
        .wasm_saturating_float_to_int(false)
        .wasm_multi_memory(false)
        .wasm_memory64(false)
        .wasm_tail_call(false)
        .wasm_reference_types(false)
        .wasm_extended_const(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .wasm_mutable_global(true)
        .wasm_sign_extension(true)
        .wasm_multi_value(true)
        .wasm_bulk_memory(true);
    // wasmi panics if the maximum value stack is below the minimum: lower the minimum first.
    let height = limits.max_stack_height;
    config.set_min_stack_height(height.min(1_000));
    config.set_max_stack_height(height);
    config
}

/// Builds the two host imports for this store and instantiates.
fn instantiate(store: &mut Store<HostState>, module: &Module) -> Result<Instance, wasmi::Error> {
    let mut imports = Vec::new();
    for import in module.imports() {
        let is_error = match (import.module(), import.name()) {
            (IMPORT_MODULE, IMPORT_OUTPUT) => false,
            (IMPORT_MODULE, IMPORT_ERROR) => true,
            // The publish check refuses every other import; wasmi reports the count mismatch.
            _ => break,
        };
        let func = Func::wrap(
            &mut *store,
            move |caller: Caller<'_, HostState>, ptr: i32, len: i32| {
                report(caller, ptr, len, is_error)
            },
        );
        imports.push(Extern::Func(func));
    }
    Instance::new(store, module, &imports)
}

/// The body of `env.output` / `env.error`. Checks run in a fixed order (twice, size, bounds) so
/// every node names the same fault.
fn report(
    mut caller: Caller<'_, HostState>,
    ptr: i32,
    len: i32,
    is_error: bool,
) -> Result<(), wasmi::Error> {
    let (ptr, len) = (ptr as u32, len as u32);
    if caller.data().report.is_some() {
        return Err(wasmi::Error::host(AbiFault::DoubleOutput));
    }
    if len as usize > caller.data().max_output_bytes {
        let max = caller.data().max_output_bytes;
        return Err(wasmi::Error::host(AbiFault::OutputTooLarge { len, max }));
    }
    let out_of_bounds = || wasmi::Error::host(AbiFault::OutputOutOfBounds { ptr, len });
    let Some(Extern::Memory(memory)) = caller.get_export(EXPORT_MEMORY) else {
        return Err(out_of_bounds());
    };
    let start = ptr as usize;
    let bytes = start
        .checked_add(len as usize)
        .and_then(|end| memory.data(&caller).get(start..end))
        .ok_or_else(out_of_bounds)?
        .to_vec();
    caller.data_mut().report = Some(if is_error {
        TaskResult::TaskError(bytes)
    } else {
        TaskResult::Output(bytes)
    });
    Ok(())
}

fn check_task_export(module: &Module, task_key: &str) -> Result<(), VmError> {
    if task_key == EXPORT_ALLOC || task_key == EXPORT_MEMORY {
        return Err(VmError::ReservedTaskKey(task_key.to_owned()));
    }
    match module.get_export(task_key) {
        Some(ExternType::Func(ty)) => {
            if ty.params() == [ValType::I32, ValType::I32] && ty.results().is_empty() {
                Ok(())
            } else {
                Err(VmError::WrongSignature {
                    name: task_key.to_owned(),
                    expected: TASK_SIGNATURE,
                    found: {
                        let words = |types: &[ValType]| {
                            types
                                .iter()
                                .map(|t| format!("{t:?}").to_lowercase())
                                .collect::<Vec<_>>()
                        };
                        check::signature_words(&words(ty.params()), &words(ty.results()))
                    },
                })
            }
        }
        _ => Err(VmError::MissingExport {
            name: task_key.to_owned(),
            what: "the task's function, (param i32 i32)",
        }),
    }
}

fn fuel_used(store: &Store<HostState>, fuel_limit: u64) -> u64 {
    // get_fuel only fails when metering is off, which this engine never is.
    fuel_limit.saturating_sub(store.get_fuel().unwrap_or(0))
}

/// Maps a wasmi error raised while the module runs to our stable names.
fn run_error(error: &wasmi::Error, fuel_used: u64, fuel_limit: u64) -> VmError {
    if let Some(fault) = error.downcast_ref::<AbiFault>() {
        return match *fault {
            AbiFault::DoubleOutput => VmError::DoubleOutput { fuel_used },
            AbiFault::OutputTooLarge { len, max } => VmError::OutputTooLarge {
                len,
                max,
                fuel_used,
            },
            AbiFault::OutputOutOfBounds { ptr, len } => VmError::OutputOutOfBounds {
                ptr,
                len,
                fuel_used,
            },
        };
    }
    let Some(code) = error.as_trap_code() else {
        return VmError::Internal(error.to_string());
    };
    let trap = match code {
        // The engine may stop a little short of the limit when the next block costs more than
        // what is left; either way all of it is forfeit, which keeps the rule simple.
        TrapCode::OutOfFuel => {
            return VmError::OutOfFuel {
                fuel_used: fuel_limit,
            };
        }
        TrapCode::OutOfSystemMemory => return VmError::HostResources(error.to_string()),
        TrapCode::UnreachableCodeReached => TrapKind::Unreachable,
        TrapCode::MemoryOutOfBounds => TrapKind::MemoryOutOfBounds,
        TrapCode::TableOutOfBounds => TrapKind::TableOutOfBounds,
        TrapCode::IndirectCallToNull => TrapKind::IndirectCallToNull,
        TrapCode::IntegerDivisionByZero => TrapKind::IntegerDivisionByZero,
        TrapCode::IntegerOverflow => TrapKind::IntegerOverflow,
        TrapCode::BadConversionToInteger => TrapKind::BadConversionToInteger,
        TrapCode::StackOverflow => TrapKind::StackOverflow,
        TrapCode::BadSignature => TrapKind::BadSignature,
        TrapCode::GrowthOperationLimited => TrapKind::GrowthOperationLimited,
    };
    VmError::Trap { trap, fuel_used }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine alone, without the publish check in front of it, refuses the same proposals.
    #[test]
    fn engine_refuses_forbidden_proposals_on_its_own() {
        let vm = Vm::new(VmLimits::default());
        let refused = [
            "(func (result f32) (f32.const 1))",
            "(func (param f64))",
            "(func (result i32) (i32.trunc_sat_f32_s (f32.const 1)))",
            "(func (result i32) (ref.is_null (ref.null func)))",
            "(func $f (return_call $f))",
            "(memory i64 1)",
            "(memory 1) (memory 1)",
            "(func $s) (start $s)",
            "(global i64 (i64.add (i64.const 1) (i64.const 2)))",
            "(func (result i32) (i32x4.extract_lane 0 (v128.const i32x4 0 0 0 0)))",
            "(memory 1 1 shared) (func (result i32) (i32.atomic.load (i32.const 0)))",
        ];
        for fields in refused {
            let wasm = crate::wat_to_wasm(&format!("(module {fields})")).expect("parses");
            assert!(vm.compile(&wasm).is_err(), "engine accepted {fields}");
        }
        let allowed = "(memory 1) (table 1 funcref) (func (result i64) \
                       (memory.fill (i32.const 0) (i32.const 0) (i32.const 1)) \
                       (i64.extend32_s (i64.const 1)))";
        let wasm = crate::wat_to_wasm(&format!("(module {allowed})")).expect("parses");
        assert!(vm.compile(&wasm).is_ok());
    }
}
