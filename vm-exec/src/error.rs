//! Every way a module can be refused or a run can fail, each a distinct variant so the chain can
//! tell them apart and name them in receipts.

use crate::ModuleHash;
use std::fmt;

/// Why a module was refused or why a run did not produce a task result.
///
/// Run-time variants that are the module's own doing carry `fuel_used`: the fuel burnt before the
/// failure, identical on every node (see [`VmError::fuel_used`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VmError {
    /// The bytes do not start with the WebAssembly binary header.
    #[error(
        "not a WebAssembly binary (it must start with \"\\0asm\"); WebAssembly text must be \
         converted with wat_to_wasm first"
    )]
    NotBinary,
    /// WebAssembly text that does not parse (from [`crate::wat_to_wasm`]).
    #[error("WebAssembly text does not parse: {0}")]
    InvalidText(String),
    /// The binary is larger than [`crate::VmLimits::max_module_bytes`].
    #[error("module is {len} bytes, over the limit of {max}")]
    ModuleTooLarge { len: usize, max: usize },
    /// Malformed or invalid WebAssembly.
    #[error("invalid WebAssembly module: {0}")]
    InvalidModule(String),
    /// An instruction outside the allowed set.
    #[error("forbidden instruction `{instruction}` in {}: {reason}", FuncName(.func, .name.as_deref()))]
    ForbiddenInstruction {
        /// Index in the module's function index space (imports first), as tools show it.
        func: u32,
        /// The function's name from the name section, when present.
        name: Option<String>,
        instruction: String,
        reason: &'static str,
    },
    /// A value type other than i32 or i64 in a signature, global or local.
    #[error("forbidden type `{ty}` in {place}: {reason}")]
    ForbiddenType {
        place: String,
        ty: String,
        reason: &'static str,
    },
    /// An import other than the two ABI functions.
    #[error("forbidden import `{module}.{name}`: {reason}")]
    ForbiddenImport {
        module: String,
        name: String,
        reason: &'static str,
    },
    /// A module-level feature the VM does not offer (start function, memory64, ...).
    #[error("forbidden feature, {feature}: {reason}")]
    ForbiddenFeature {
        feature: &'static str,
        reason: &'static str,
    },
    /// A required export is absent.
    #[error("missing export `{name}` ({what})")]
    MissingExport { name: String, what: &'static str },
    /// An export or import with the wrong type.
    #[error("`{name}` has the wrong type: expected {expected}, found {found}")]
    WrongSignature {
        name: String,
        expected: &'static str,
        found: String,
    },
    /// The module's memory starts larger than [`crate::VmLimits::max_memory_pages`].
    #[error("memory of {pages} pages is over the limit of {max} pages")]
    MemoryTooLarge { pages: u64, max: u32 },
    /// The module's table starts larger than [`crate::VmLimits::max_table_elements`].
    #[error("table of {elements} elements is over the limit of {max}")]
    TableTooLarge { elements: u64, max: u32 },
    /// Too many functions, globals, segments or locals.
    #[error("too many {what}: {count}, the limit is {max}")]
    TooMany {
        what: &'static str,
        count: u64,
        max: u64,
    },
    /// A task key that collides with a name the ABI reserves.
    #[error("task key `{0}` is reserved by the ABI")]
    ReservedTaskKey(String),

    /// The input is larger than [`crate::VmLimits::max_input_bytes`].
    #[error("input is {len} bytes, over the limit of {max}")]
    InputTooLarge { len: usize, max: usize },
    /// [`crate::Vm::run`] was given a hash the cache does not hold.
    #[error("module {0} is not in the cache; load it from its bytes first")]
    ModuleNotCached(ModuleHash),
    /// Instantiating the module failed other than by a trap (segments out of bounds trap).
    #[error("instantiation failed: {reason}")]
    Instantiation { reason: String, fuel_used: u64 },
    /// `alloc` returned a region that does not fit in memory.
    #[error("alloc returned {ptr} for {len} input bytes, which is outside memory")]
    BadAlloc { ptr: u32, len: u32, fuel_used: u64 },
    /// The fuel limit was reached; all of it counts as used.
    #[error("out of fuel after {fuel_used}")]
    OutOfFuel { fuel_used: u64 },
    /// The module trapped.
    #[error("trap: {trap}")]
    Trap { trap: TrapKind, fuel_used: u64 },
    /// `env.output` or `env.error` was called a second time.
    #[error("the task reported a result twice (env.output or env.error called again)")]
    DoubleOutput { fuel_used: u64 },
    /// The task returned without calling `env.output` or `env.error`.
    #[error("the task returned without calling env.output or env.error")]
    MissingOutput { fuel_used: u64 },
    /// The reported output or error is over the caller's `max_output_bytes`.
    #[error("the task reported {len} bytes, over the limit of {max}")]
    OutputTooLarge {
        len: u32,
        max: usize,
        fuel_used: u64,
    },
    /// `env.output` or `env.error` pointed outside memory.
    #[error("the task reported bytes {ptr}..+{len}, outside memory")]
    OutputOutOfBounds { ptr: u32, len: u32, fuel_used: u64 },
    /// This machine could not provide the memory the run needed. Not a result of the module:
    /// another machine may succeed, so this must never be committed or judged.
    #[error("host out of resources: {0}")]
    HostResources(String),
    /// A failure inside the VM that no module should be able to cause. Not a result either.
    #[error("internal VM error: {0}")]
    Internal(String),
}

impl VmError {
    /// Fuel burnt before the failure, for failures that happen while the module runs.
    pub fn fuel_used(&self) -> Option<u64> {
        match self {
            Self::Instantiation { fuel_used, .. }
            | Self::BadAlloc { fuel_used, .. }
            | Self::OutOfFuel { fuel_used }
            | Self::Trap { fuel_used, .. }
            | Self::DoubleOutput { fuel_used }
            | Self::MissingOutput { fuel_used }
            | Self::OutputTooLarge { fuel_used, .. }
            | Self::OutputOutOfBounds { fuel_used, .. } => Some(*fuel_used),
            _ => None,
        }
    }

    /// True when the error is a deterministic verdict on the module, input and limits: every
    /// honest node gets the same one, so it can be committed, compared and judged like an output.
    /// False for [`VmError::ModuleNotCached`], [`VmError::HostResources`] and
    /// [`VmError::Internal`], which say something about this node instead.
    pub fn is_deterministic(&self) -> bool {
        !matches!(
            self,
            Self::ModuleNotCached(_) | Self::HostResources(_) | Self::Internal(_)
        )
    }

    /// A short, stable name for receipts and logs; the message text may change, this does not.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotBinary => "not_binary",
            Self::InvalidText(_) => "invalid_text",
            Self::ModuleTooLarge { .. } => "module_too_large",
            Self::InvalidModule(_) => "invalid_module",
            Self::ForbiddenInstruction { .. } => "forbidden_instruction",
            Self::ForbiddenType { .. } => "forbidden_type",
            Self::ForbiddenImport { .. } => "forbidden_import",
            Self::ForbiddenFeature { .. } => "forbidden_feature",
            Self::MissingExport { .. } => "missing_export",
            Self::WrongSignature { .. } => "wrong_signature",
            Self::MemoryTooLarge { .. } => "memory_too_large",
            Self::TableTooLarge { .. } => "table_too_large",
            Self::TooMany { .. } => "too_many",
            Self::ReservedTaskKey(_) => "reserved_task_key",
            Self::InputTooLarge { .. } => "input_too_large",
            Self::ModuleNotCached(_) => "module_not_cached",
            Self::Instantiation { .. } => "instantiation_failed",
            Self::BadAlloc { .. } => "bad_alloc",
            Self::OutOfFuel { .. } => "out_of_fuel",
            Self::Trap { trap, .. } => trap.code(),
            Self::DoubleOutput { .. } => "double_output",
            Self::MissingOutput { .. } => "missing_output",
            Self::OutputTooLarge { .. } => "output_too_large",
            Self::OutputOutOfBounds { .. } => "output_out_of_bounds",
            Self::HostResources(_) => "host_resources",
            Self::Internal(_) => "internal",
        }
    }
}

/// The WebAssembly traps a task can hit, named independently of wasmi's types so the names stay
/// stable across wasmi releases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TrapKind {
    /// `unreachable` executed.
    Unreachable,
    /// A load, store or bulk-memory access outside memory.
    MemoryOutOfBounds,
    /// A table access outside the table.
    TableOutOfBounds,
    /// `call_indirect` to an empty table slot.
    IndirectCallToNull,
    /// Integer division or remainder by zero.
    IntegerDivisionByZero,
    /// Signed division overflow (`i32.div_s` of MIN by -1).
    IntegerOverflow,
    /// A float-to-int conversion out of range (unreachable once floats are refused).
    BadConversionToInteger,
    /// Calls nested deeper than the recursion limit, or the value stack full.
    StackOverflow,
    /// `call_indirect` whose function has another type.
    BadSignature,
    /// A growth denied by the limiter (only when growth is set to trap).
    GrowthOperationLimited,
}

impl TrapKind {
    /// Stable name, as [`VmError::code`] reports it.
    pub fn code(self) -> &'static str {
        match self {
            Self::Unreachable => "trap_unreachable",
            Self::MemoryOutOfBounds => "trap_memory_out_of_bounds",
            Self::TableOutOfBounds => "trap_table_out_of_bounds",
            Self::IndirectCallToNull => "trap_indirect_call_to_null",
            Self::IntegerDivisionByZero => "trap_integer_division_by_zero",
            Self::IntegerOverflow => "trap_integer_overflow",
            Self::BadConversionToInteger => "trap_bad_conversion_to_integer",
            Self::StackOverflow => "trap_stack_overflow",
            Self::BadSignature => "trap_bad_signature",
            Self::GrowthOperationLimited => "trap_growth_limited",
        }
    }
}

impl fmt::Display for TrapKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Unreachable => "unreachable executed",
            Self::MemoryOutOfBounds => "memory access out of bounds",
            Self::TableOutOfBounds => "table access out of bounds",
            Self::IndirectCallToNull => "indirect call to a null table entry",
            Self::IntegerDivisionByZero => "integer division by zero",
            Self::IntegerOverflow => "integer overflow",
            Self::BadConversionToInteger => "bad conversion to integer",
            Self::StackOverflow => "call stack exhausted",
            Self::BadSignature => "indirect call with a wrong signature",
            Self::GrowthOperationLimited => "growth denied by the limiter",
        };
        f.write_str(text)
    }
}

/// Shows a function as `function 3` or `function 3 ($add)`.
struct FuncName<'a>(&'a u32, Option<&'a str>);

impl fmt::Display for FuncName<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(name) => write!(f, "function {} (${name})", self.0),
            None => write!(f, "function {}", self.0),
        }
    }
}
