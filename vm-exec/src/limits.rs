//! The caps every node must share: they decide where a module traps, so they are part of the
//! chain's rules (genesis), not a node's local tuning.

/// Caps on what a module may declare and what a run may use.
///
/// Every field changes results (a module refused at publish, `memory.grow` returning -1, a stack
/// overflow at a given depth), so all nodes of one chain must use the same values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmLimits {
    /// Largest module binary accepted, in bytes.
    pub max_module_bytes: usize,
    /// Largest linear memory, in 64 KiB pages: the initial size a module declares must fit, and
    /// `memory.grow` past it returns -1.
    pub max_memory_pages: u32,
    /// Largest table, in elements (declared initial size, and growth).
    pub max_table_elements: u32,
    /// Most functions a module may define or import.
    pub max_functions: u32,
    /// Most globals a module may define.
    pub max_globals: u32,
    /// Most data segments plus element segments.
    pub max_segments: u32,
    /// Most locals (parameters included) in one function.
    pub max_locals: u32,
    /// Deepest call nesting; one deeper traps with `stack_overflow`.
    pub max_recursion_depth: usize,
    /// Largest value stack, in wasmi's units (bytes of its value stack).
    pub max_stack_height: usize,
    /// Largest task input, in bytes.
    pub max_input_bytes: usize,
    /// Compiled modules kept in a [`crate::Vm`]'s cache before the least recently used is dropped.
    /// Local tuning only: results never depend on it.
    pub max_cached_modules: usize,
}

impl Default for VmLimits {
    fn default() -> Self {
        Self {
            max_module_bytes: 1024 * 1024,
            max_memory_pages: 256,
            max_table_elements: 4096,
            max_functions: 10_000,
            max_globals: 1_000,
            max_segments: 1_000,
            max_locals: 4_096,
            max_recursion_depth: 1_000,
            max_stack_height: 1_000_000,
            max_input_bytes: 1024 * 1024,
            max_cached_modules: 64,
        }
    }
}

/// Bytes in one WebAssembly page.
pub const PAGE_BYTES: usize = 64 * 1024;
