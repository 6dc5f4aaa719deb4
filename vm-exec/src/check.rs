//! The publish-time check: one pass over the binary that refuses, with a precise reason, anything
//! that could make two nodes disagree (floats, SIMD, threads, host access) or that the ABI cannot
//! call, before wasmparser's full validation confirms the rest.
//!
//! Our own rules run on each section before the validator sees it, so a float instruction is
//! reported as "forbidden instruction f64.add in function 2" rather than as the validator's
//! generic feature error.

use crate::limits::VmLimits;
use crate::{ModuleHash, VmError};
use wasmparser::{
    CompositeInnerType, Encoding, ExternalKind, FuncType, FuncValidatorAllocations, KnownCustom,
    Name, Operator, Parser, Payload, TypeRef, ValType, ValidPayload, Validator, WasmFeatures,
};

/// The import module name of the ABI's host functions.
pub const IMPORT_MODULE: &str = "env";
/// Host import a task calls once with its output record.
pub const IMPORT_OUTPUT: &str = "output";
/// Host import a task calls once with its error message.
pub const IMPORT_ERROR: &str = "error";
/// Export name of the module's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// Export name of the function the host calls to place the input.
pub const EXPORT_ALLOC: &str = "alloc";

const FLOAT_REASON: &str =
    "floating point is refused: NaN bit patterns can differ between machines and engines";
const SIMD_REASON: &str = "SIMD is refused: unneeded, and relaxed SIMD is non-deterministic";
const THREADS_REASON: &str =
    "threads and atomics are refused: a task is single-threaded and shares nothing";
const OTHER_OP_REASON: &str = "only the integer instructions of WebAssembly 1.0, sign extension \
     and bulk memory are allowed";
pub(crate) const TASK_SIGNATURE: &str = "(param i32 i32)";
const TYPE_REASON: &str = "only i32 and i64 values are allowed";

/// What the publish check learnt about an accepted module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    /// blake3 of the module bytes.
    pub hash: ModuleHash,
    /// Size of the binary in bytes.
    pub size: usize,
    /// Initial size of the linear memory, in 64 KiB pages.
    pub memory_pages: u32,
    /// Functions defined in the module (imports not counted).
    pub functions: u32,
    /// The ABI imports the module uses, as `env.output` / `env.error`.
    pub imports: Vec<String>,
    /// Every exported function with the task signature `(i32, i32) -> ()`, in export order: the
    /// task keys a service definition could name.
    pub task_exports: Vec<String>,
}

/// Checks a module at publish time: valid WebAssembly within `limits`, only allowed
/// instructions and types, only the ABI imports, and the exports the ABI needs (`memory`,
/// `alloc`, and one function per task key with signature `(i32, i32) -> ()`).
///
/// This does not compile the module with the engine; [`crate::Vm::check`] does both.
pub fn check_module(
    bytes: &[u8],
    task_keys: &[&str],
    limits: &VmLimits,
) -> Result<ModuleInfo, VmError> {
    inspect(bytes, limits, task_keys)
}

/// The features the validator accepts: WebAssembly 1.0 plus the deterministic, useful
/// additions. Floats stay off here too so a slip in our own walk is still caught.
pub(crate) fn allowed_features() -> WasmFeatures {
    WasmFeatures::GC_TYPES // despite the name, what wasmparser needs for 1.0's funcref tables
        | WasmFeatures::MUTABLE_GLOBAL
        | WasmFeatures::SIGN_EXTENSION
        | WasmFeatures::MULTI_VALUE
        | WasmFeatures::BULK_MEMORY
}

/// The checks that do not depend on the service's task keys.
pub(crate) fn inspect(
    bytes: &[u8],
    limits: &VmLimits,
    task_keys: &[&str],
) -> Result<ModuleInfo, VmError> {
    if bytes.len() > limits.max_module_bytes {
        return Err(VmError::ModuleTooLarge {
            len: bytes.len(),
            max: limits.max_module_bytes,
        });
    }
    if !bytes.starts_with(b"\0asm") {
        return Err(VmError::NotBinary);
    }
    let mut walk = Walk::new(bytes, limits);
    let mut validator = Validator::new_with_features(allowed_features());
    let mut allocations = FuncValidatorAllocations::default();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(invalid)?;
        walk.payload(&payload)?;
        match validator.payload(&payload).map_err(invalid)? {
            ValidPayload::Func(func, body) => {
                let mut func = func.into_validator(allocations);
                func.validate(&body).map_err(invalid)?;
                allocations = func.into_allocations();
            }
            ValidPayload::End(_) => return walk.finish(bytes, task_keys),
            ValidPayload::Ok | ValidPayload::Parser(_) => {}
        }
    }
    // parse_all always ends with End or an error, so this is only reached on a truncated walk.
    Err(VmError::InvalidModule("unexpected end of module".into()))
}

fn invalid(error: wasmparser::BinaryReaderError) -> VmError {
    VmError::InvalidModule(error.to_string())
}

/// State gathered while walking the sections in order.
struct Walk<'a> {
    bytes: &'a [u8],
    limits: &'a VmLimits,
    types: Vec<Option<FuncType>>,
    /// Type index of every function, imports first.
    func_types: Vec<u32>,
    imported_funcs: u32,
    imports: Vec<String>,
    memory_pages: Option<u64>,
    tables: u32,
    segments: u64,
    exports: Vec<(String, ExternalKind, u32)>,
    next_body: u32,
}

impl<'a> Walk<'a> {
    fn new(bytes: &'a [u8], limits: &'a VmLimits) -> Self {
        Self {
            bytes,
            limits,
            types: Vec::new(),
            func_types: Vec::new(),
            imported_funcs: 0,
            imports: Vec::new(),
            memory_pages: None,
            tables: 0,
            segments: 0,
            exports: Vec::new(),
            next_body: 0,
        }
    }

    fn payload(&mut self, payload: &Payload<'_>) -> Result<(), VmError> {
        match payload {
            Payload::Version { encoding, .. } if *encoding != Encoding::Module => {
                return Err(forbidden_feature(
                    "component",
                    "only core WebAssembly modules are accepted",
                ));
            }
            Payload::TypeSection(reader) => {
                for (index, group) in reader.clone().into_iter().enumerate() {
                    let group = group.map_err(invalid)?;
                    for sub in group.types() {
                        match &sub.composite_type.inner {
                            CompositeInnerType::Func(ty) => {
                                check_value_types(ty.params(), || format!("type {index} params"))?;
                                check_value_types(ty.results(), || {
                                    format!("type {index} results")
                                })?;
                                self.types.push(Some(ty.clone()));
                            }
                            _ => {
                                return Err(forbidden_feature(
                                    "garbage-collected types",
                                    "only function types are accepted",
                                ));
                            }
                        }
                    }
                }
            }
            Payload::ImportSection(reader) => {
                for import in reader.clone() {
                    let import = import.map_err(invalid)?;
                    self.import(import.module, import.name, import.ty)?;
                }
            }
            Payload::FunctionSection(reader) => {
                for type_index in reader.clone() {
                    self.func_types.push(type_index.map_err(invalid)?);
                }
                self.check_count(
                    "functions",
                    self.func_types.len() as u64,
                    self.limits.max_functions,
                )?;
            }
            Payload::TableSection(reader) => {
                for table in reader.clone() {
                    let table = table.map_err(invalid)?;
                    self.tables += 1;
                    if table.ty.initial > u64::from(self.limits.max_table_elements) {
                        return Err(VmError::TableTooLarge {
                            elements: table.ty.initial,
                            max: self.limits.max_table_elements,
                        });
                    }
                }
            }
            Payload::MemorySection(reader) => {
                for memory in reader.clone() {
                    let memory = memory.map_err(invalid)?;
                    self.memory(memory)?;
                }
            }
            Payload::TagSection(_) => {
                return Err(forbidden_feature(
                    "exception handling",
                    "a task reports failure with env.error or a trap",
                ));
            }
            Payload::GlobalSection(reader) => {
                let mut count = 0u64;
                for (index, global) in reader.clone().into_iter().enumerate() {
                    let global = global.map_err(invalid)?;
                    check_value_types(&[global.ty.content_type], || format!("global {index}"))?;
                    count += 1;
                }
                self.check_count("globals", count, self.limits.max_globals)?;
            }
            Payload::ExportSection(reader) => {
                for export in reader.clone() {
                    let export = export.map_err(invalid)?;
                    self.exports
                        .push((export.name.to_owned(), export.kind, export.index));
                }
            }
            Payload::StartSection { .. } => {
                return Err(forbidden_feature(
                    "start function",
                    "it would run before the input exists; put set-up in alloc or the task",
                ));
            }
            Payload::ElementSection(reader) => {
                self.segments += u64::from(reader.count());
                self.check_count(
                    "data and element segments",
                    self.segments,
                    self.limits.max_segments,
                )?;
            }
            Payload::DataSection(reader) => {
                self.segments += u64::from(reader.count());
                self.check_count(
                    "data and element segments",
                    self.segments,
                    self.limits.max_segments,
                )?;
            }
            Payload::CodeSectionEntry(body) => {
                let func = self.imported_funcs.saturating_add(self.next_body);
                self.next_body = self.next_body.saturating_add(1);
                self.body(func, body)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn import(&mut self, module: &str, name: &str, ty: TypeRef) -> Result<(), VmError> {
        let refuse = |reason| VmError::ForbiddenImport {
            module: module.to_owned(),
            name: name.to_owned(),
            reason,
        };
        let is_abi_name =
            module == IMPORT_MODULE && (name == IMPORT_OUTPUT || name == IMPORT_ERROR);
        if !is_abi_name {
            return Err(refuse(
                "a task may import only env.output and env.error: it has no other host access",
            ));
        }
        let TypeRef::Func(type_index) = ty else {
            return Err(refuse("env.output and env.error are functions"));
        };
        if let Some(Some(func_type)) = self.types.get(type_index as usize)
            && !is_signature(func_type, &[ValType::I32, ValType::I32], &[])
        {
            return Err(VmError::WrongSignature {
                name: format!("{module}.{name}"),
                expected: "(param i32 i32)",
                found: signature_text(func_type),
            });
        }
        self.func_types.push(type_index);
        self.imported_funcs = self.imported_funcs.saturating_add(1);
        let full = format!("{module}.{name}");
        if !self.imports.contains(&full) {
            self.imports.push(full);
        }
        Ok(())
    }

    fn memory(&mut self, memory: wasmparser::MemoryType) -> Result<(), VmError> {
        if self.memory_pages.is_some() {
            return Err(forbidden_feature(
                "multiple memories",
                "a module has exactly one memory",
            ));
        }
        if memory.memory64 {
            return Err(forbidden_feature("memory64", "memory is 32-bit"));
        }
        if memory.shared {
            return Err(forbidden_feature("shared memory", THREADS_REASON));
        }
        if memory.page_size_log2.is_some() {
            return Err(forbidden_feature("custom page sizes", "pages are 64 KiB"));
        }
        if memory.initial > u64::from(self.limits.max_memory_pages) {
            return Err(VmError::MemoryTooLarge {
                pages: memory.initial,
                max: self.limits.max_memory_pages,
            });
        }
        self.memory_pages = Some(memory.initial);
        Ok(())
    }

    fn body(&self, func: u32, body: &wasmparser::FunctionBody<'_>) -> Result<(), VmError> {
        let mut locals = self
            .func_types
            .get(func as usize)
            .and_then(|t| self.types.get(*t as usize))
            .and_then(Option::as_ref)
            .map_or(0u64, |t| t.params().len() as u64);
        for local in body.get_locals_reader().map_err(invalid)? {
            let (count, ty) = local.map_err(invalid)?;
            check_value_types(&[ty], || format!("the locals of function {func}"))?;
            locals = locals.saturating_add(u64::from(count));
            self.check_count("locals in one function", locals, self.limits.max_locals)?;
        }
        let mut reader = body.get_operators_reader().map_err(invalid)?;
        while !reader.eof() {
            let op = reader.read().map_err(invalid)?;
            let (proposal, visit) = classify(&op);
            if let Some(reason) = forbidden_reason(proposal, visit) {
                return Err(VmError::ForbiddenInstruction {
                    func,
                    name: function_name(self.bytes, func),
                    instruction: mnemonic(visit),
                    reason,
                });
            }
        }
        Ok(())
    }

    fn check_count(&self, what: &'static str, count: u64, max: u32) -> Result<(), VmError> {
        if count > u64::from(max) {
            return Err(VmError::TooMany {
                what,
                count,
                max: u64::from(max),
            });
        }
        Ok(())
    }

    /// The whole-module rules, once every section is seen and validated.
    fn finish(self, bytes: &[u8], task_keys: &[&str]) -> Result<ModuleInfo, VmError> {
        self.check_count("tables", u64::from(self.tables), 1)?;
        let memory_pages = self.memory_pages.ok_or_else(|| {
            forbidden_feature(
                "no memory",
                "the module must define its own memory and export it as `memory`",
            )
        })?;
        let exported = |name: &str| {
            self.exports
                .iter()
                .find(|(export, _, _)| export == name)
                .map(|(_, kind, index)| (*kind, *index))
        };
        match exported(EXPORT_MEMORY) {
            Some((ExternalKind::Memory, _)) => {}
            Some(_) | None => {
                return Err(VmError::MissingExport {
                    name: EXPORT_MEMORY.into(),
                    what: "the module's memory",
                });
            }
        }
        let func_type = |index: u32| {
            self.func_types
                .get(index as usize)
                .and_then(|t| self.types.get(*t as usize))
                .and_then(Option::as_ref)
        };
        match exported(EXPORT_ALLOC) {
            Some((ExternalKind::Func, index)) => {
                let ty = func_type(index).ok_or_else(|| {
                    VmError::InvalidModule("alloc names an unknown function".into())
                })?;
                if !is_signature(ty, &[ValType::I32], &[ValType::I32]) {
                    return Err(VmError::WrongSignature {
                        name: EXPORT_ALLOC.into(),
                        expected: "(param i32) (result i32)",
                        found: signature_text(ty),
                    });
                }
            }
            Some(_) | None => {
                return Err(VmError::MissingExport {
                    name: EXPORT_ALLOC.into(),
                    what: "a function (param i32) (result i32) that returns where the input goes",
                });
            }
        }
        for key in task_keys {
            if *key == EXPORT_ALLOC || *key == EXPORT_MEMORY {
                return Err(VmError::ReservedTaskKey((*key).to_owned()));
            }
            match exported(key) {
                Some((ExternalKind::Func, index)) => {
                    let ty = func_type(index).ok_or_else(|| {
                        VmError::InvalidModule(format!("{key} names an unknown function"))
                    })?;
                    if !is_signature(ty, &[ValType::I32, ValType::I32], &[]) {
                        return Err(VmError::WrongSignature {
                            name: (*key).to_owned(),
                            expected: TASK_SIGNATURE,
                            found: signature_text(ty),
                        });
                    }
                }
                Some(_) | None => {
                    return Err(VmError::MissingExport {
                        name: (*key).to_owned(),
                        what: "the task's function, (param i32 i32)",
                    });
                }
            }
        }
        let task_exports = self
            .exports
            .iter()
            .filter(|(name, kind, index)| {
                *kind == ExternalKind::Func
                    && name != EXPORT_ALLOC
                    && func_type(*index)
                        .is_some_and(|ty| is_signature(ty, &[ValType::I32, ValType::I32], &[]))
            })
            .map(|(name, _, _)| name.clone())
            .collect();
        let functions = (self.func_types.len() as u32).saturating_sub(self.imported_funcs);
        Ok(ModuleInfo {
            hash: ModuleHash::of(bytes),
            size: bytes.len(),
            // At most max_memory_pages, itself a u32: checked in `memory`.
            memory_pages: u32::try_from(memory_pages).unwrap_or(u32::MAX),
            functions,
            imports: self.imports,
            task_exports,
        })
    }
}

fn forbidden_feature(feature: &'static str, reason: &'static str) -> VmError {
    VmError::ForbiddenFeature { feature, reason }
}

fn check_value_types(types: &[ValType], place: impl FnOnce() -> String) -> Result<(), VmError> {
    let Some(bad) = types
        .iter()
        .find(|ty| !matches!(ty, ValType::I32 | ValType::I64))
    else {
        return Ok(());
    };
    let reason = match bad {
        ValType::F32 | ValType::F64 => FLOAT_REASON,
        ValType::V128 => SIMD_REASON,
        _ => TYPE_REASON,
    };
    Err(VmError::ForbiddenType {
        place: place(),
        ty: bad.to_string(),
        reason,
    })
}

fn is_signature(ty: &FuncType, params: &[ValType], results: &[ValType]) -> bool {
    ty.params() == params && ty.results() == results
}

fn signature_text(ty: &FuncType) -> String {
    let params: Vec<String> = ty.params().iter().map(ToString::to_string).collect();
    let results: Vec<String> = ty.results().iter().map(ToString::to_string).collect();
    signature_words(&params, &results)
}

/// Spells a signature the way the text format writes it: `(param i32 i32) (result i32)`.
pub(crate) fn signature_words(params: &[String], results: &[String]) -> String {
    let mut parts = Vec::new();
    if !params.is_empty() {
        parts.push(format!("(param {})", params.join(" ")));
    }
    if !results.is_empty() {
        parts.push(format!("(result {})", results.join(" ")));
    }
    if parts.is_empty() {
        "no params and no results".to_owned()
    } else {
        parts.join(" ")
    }
}

/// The proposal an operator comes from and its `visit_*` name, straight from wasmparser's own
/// operator table so no operator can be missed.
fn classify(op: &Operator<'_>) -> (&'static str, &'static str) {
    macro_rules! define_classify {
        ($( @$proposal:ident $op:ident $({ $($arg:ident: $argty:ty),* })? => $visit:ident ($($ann:tt)*))*) => {
            match op {
                $( Operator::$op { .. } => (stringify!($proposal), stringify!($visit)), )*
                _ => ("unknown", "visit_unknown"),
            }
        };
    }
    wasmparser::for_each_operator!(define_classify)
}

/// Allow-list: anything not named here is refused, so a future wasmparser operator is refused
/// by default.
fn forbidden_reason(proposal: &str, visit: &str) -> Option<&'static str> {
    match proposal {
        "simd" | "relaxed_simd" => Some(SIMD_REASON),
        "threads" | "shared_everything_threads" => Some(THREADS_REASON),
        "mvp" | "sign_extension" | "bulk_memory" | "saturating_float_to_int" => {
            if visit.contains("f32") || visit.contains("f64") {
                Some(FLOAT_REASON)
            } else if proposal == "saturating_float_to_int" {
                Some(OTHER_OP_REASON)
            } else {
                None
            }
        }
        _ => Some(OTHER_OP_REASON),
    }
}

/// `visit_i32_trunc_f32_s` -> `i32.trunc_f32_s`, close to the text format's spelling.
fn mnemonic(visit: &str) -> String {
    const NAMESPACES: &[&str] = &[
        "i32", "i64", "f32", "f64", "v128", "i8x16", "i16x8", "i32x4", "i64x2", "f32x4", "f64x2",
        "memory", "table", "local", "global", "ref", "data", "elem", "struct", "array", "any",
        "extern", "i31",
    ];
    let name = visit.strip_prefix("visit_").unwrap_or(visit);
    match name.split_once('_') {
        Some((head, rest)) if NAMESPACES.contains(&head) => format!("{head}.{rest}"),
        _ => name.to_owned(),
    }
}

/// The function's name from the name section, if the module carries one.
fn function_name(bytes: &[u8], func: u32) -> Option<String> {
    for payload in Parser::new(0).parse_all(bytes) {
        let Ok(Payload::CustomSection(custom)) = payload else {
            continue;
        };
        let KnownCustom::Name(names) = custom.as_known() else {
            continue;
        };
        for name in names.into_iter().map_while(Result::ok) {
            if let Name::Function(map) = name {
                return map
                    .into_iter()
                    .map_while(Result::ok)
                    .find(|naming| naming.index == func)
                    .map(|naming| naming.name.to_owned());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mnemonics_follow_the_text_format() {
        assert_eq!(mnemonic("visit_f64_add"), "f64.add");
        assert_eq!(mnemonic("visit_i32_trunc_f32_s"), "i32.trunc_f32_s");
        assert_eq!(mnemonic("visit_call_indirect"), "call_indirect");
        assert_eq!(mnemonic("visit_memory_grow"), "memory.grow");
    }

    #[test]
    fn allow_list_by_proposal() {
        assert_eq!(forbidden_reason("mvp", "visit_i64_add"), None);
        assert_eq!(forbidden_reason("bulk_memory", "visit_memory_copy"), None);
        assert_eq!(
            forbidden_reason("mvp", "visit_f32_load"),
            Some(FLOAT_REASON)
        );
        assert_eq!(
            forbidden_reason("mvp", "visit_i64_reinterpret_f64"),
            Some(FLOAT_REASON)
        );
        assert_eq!(
            forbidden_reason("simd", "visit_i8x16_add"),
            Some(SIMD_REASON)
        );
        assert_eq!(
            forbidden_reason("threads", "visit_atomic_fence"),
            Some(THREADS_REASON)
        );
        assert_eq!(
            forbidden_reason("tail_call", "visit_return_call"),
            Some(OTHER_OP_REASON)
        );
        assert_eq!(
            forbidden_reason("unknown", "visit_unknown"),
            Some(OTHER_OP_REASON)
        );
    }
}
