//! The crate's one error type.

/// Everything that can go wrong in this crate.
///
/// Every public call returns [`Result`]. wgpu's own validation and
/// out-of-memory errors are captured with error scopes and come back as
/// [`Error::Wgpu`] or [`Error::OutOfMemory`]: none of them panics in the
/// caller's process.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No adapter matched the request (backends, name filter, compute support).
    #[error("no GPU adapter found: {0}")]
    NoAdapter(String),

    /// A backend name in `WGPU_BACKEND` (or the options) is not one wgpu knows.
    #[error("unsupported backend {name:?}: expected one of vulkan, metal, dx12, gl")]
    UnsupportedBackend {
        /// The name as given.
        name: String,
    },

    /// The adapter exists but cannot run compute shaders.
    #[error("adapter {adapter:?} does not support compute shaders")]
    NoCompute {
        /// The adapter's name.
        adapter: String,
    },

    /// The adapter refused to open a device.
    #[error("could not open a device on {adapter:?}: {message}")]
    RequestDevice {
        /// The adapter's name.
        adapter: String,
        /// wgpu's reason.
        message: String,
    },

    /// A shape's element count does not match the data or another operand.
    #[error("shape mismatch for {what}: expected {expected} elements, got {actual}")]
    ShapeMismatch {
        /// Which value is wrong (e.g. `"output"`).
        what: &'static str,
        /// The element count the operation needs.
        expected: usize,
        /// The element count it was given.
        actual: usize,
    },

    /// A shape's element count overflows `usize`.
    #[error("shape {shape:?} has more elements than usize can count")]
    ShapeOverflow {
        /// The shape as given.
        shape: Vec<usize>,
    },

    /// An activation's parameter is out of its legal range.
    #[error("{name} is {value}, but must be {requirement}")]
    InvalidParameter {
        /// Which parameter (e.g. `"leaky relu slope"`).
        name: &'static str,
        /// The value given.
        value: f32,
        /// What a legal value is.
        requirement: &'static str,
    },

    /// An option (an environment variable) with a value it does not take.
    #[error("{name}={value:?}: expected {expected}")]
    InvalidOption {
        /// The option.
        name: &'static str,
        /// The value given.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// A kernel shape that is not `"WORKGROUP_SIZExCHUNKS"` (e.g. `"64x2"`).
    #[error("kernel shape {0:?} is not WORKGROUP_SIZExCHUNKS, e.g. \"64x2\"")]
    InvalidKernelShape(String),
    /// A benchmarked kernel's output differed from the CPU reference.
    #[error(
        "benchmark of {op} at {elements} elements: {mismatches} outputs differ from the CPU reference"
    )]
    BenchmarkMismatch {
        /// The op.
        op: &'static str,
        /// Its size.
        elements: usize,
        /// Outputs that differ.
        mismatches: usize,
    },
    /// A dispatch needs more workgroups than two grid dimensions hold.
    #[error(
        "a dispatch needs {workgroups} workgroups, over the device's \
         max_compute_workgroups_per_dimension squared ({limit})"
    )]
    TooManyWorkgroups {
        /// Workgroups the dispatch needs.
        workgroups: u64,
        /// The most two dimensions hold on this device.
        limit: u64,
    },
    /// A buffer or binding is larger than the device allows.
    #[error("{what} needs {bytes} bytes, over the device's {limit_name} of {limit} bytes")]
    TooLarge {
        /// Which value is too large.
        what: &'static str,
        /// Bytes it needs.
        bytes: u64,
        /// The wgpu limit's name.
        limit_name: &'static str,
        /// The limit's value on this device.
        limit: u64,
    },

    /// Operands live on different devices.
    #[error("{what} was created on a different device than this Gpu's")]
    WrongDevice {
        /// Which operand.
        what: &'static str,
    },

    /// An out-of-place operation was given the same buffer as input and output.
    #[error("{what} aliases the input; use the in-place variant instead")]
    Aliasing {
        /// Which operand aliases.
        what: &'static str,
    },

    /// A caller's buffer lacks a usage flag the operation needs.
    #[error("{what} lacks buffer usage {missing:?} (it has {actual:?})")]
    MissingUsage {
        /// Which buffer.
        what: &'static str,
        /// The flags it lacks.
        missing: wgpu::BufferUsages,
        /// The flags it has.
        actual: wgpu::BufferUsages,
    },

    /// Mapping a buffer for readback failed.
    #[error("buffer map failed: {0}")]
    BufferMap(String),

    /// The device ran out of memory.
    #[error("out of GPU memory while {0}")]
    OutOfMemory(String),

    /// The device was lost (driver reset, device destroyed, ...).
    #[error("device lost: {0}")]
    DeviceLost(String),

    /// A shader failed to compile into a pipeline.
    #[error("kernel {kernel} failed to compile: {message}")]
    ShaderCompilation {
        /// The kernel's entry point.
        kernel: &'static str,
        /// The compiler's message.
        message: String,
    },

    /// Any other error wgpu reported (validation, internal).
    #[error("wgpu error while {context}: {message}")]
    Wgpu {
        /// What this crate was doing.
        context: String,
        /// wgpu's message.
        message: String,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
