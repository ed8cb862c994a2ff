//! The crate's one error type.

/// Everything that can go wrong in this crate.
///
/// Every public call returns [`Result`]. wgpu's own validation and
/// out-of-memory errors are captured with error scopes and come back as
/// [`Error::Wgpu`] or [`Error::OutOfMemory`]: none of them panics in the
/// caller's process.
///
/// # Bad inputs and their errors
///
/// Each row is asserted by `tests/integration/bad_inputs/` (every public entry point),
/// `tests/integration/dtypes.rs` (element types), `tests/integration/errors.rs` (lost
/// devices) or `tests/out_of_memory.rs`. A refused op records and writes nothing.
///
/// | bad input | error | message, for example |
/// |---|---|---|
/// | output, mask, `dx` or saved input of another length | [`ShapeMismatch`](Error::ShapeMismatch) | shape mismatch for output: expected 10 elements, got 9 |
/// | bias length ≠ columns; `db` length ≠ columns | [`ShapeMismatch`](Error::ShapeMismatch) | shape mismatch for bias (one per column of the input): expected 4 elements, got 3 |
/// | `dy`'s row length ≠ the mask's | [`ShapeMismatch`](Error::ShapeMismatch) | shape mismatch for upstream gradient's row length (the mask's): expected 6 elements, got 4 |
/// | data that does not fill the shape | [`ShapeMismatch`](Error::ShapeMismatch) | shape mismatch for data for shape: expected 6 elements, got 5 |
/// | an operand of another element type than the op's data (`y`, `dy`, `dx` of `x`'s; a bias neither f32 nor `x`'s; written or downloaded as another type) | [`DTypeMismatch`](Error::DTypeMismatch) | element type mismatch for output: expected f16, got f32 |
/// | rows × cols overflows `usize` | [`ShapeOverflow`](Error::ShapeOverflow) | shape \[18446744073709551615, 2\] has more elements than usize can count |
/// | zero-sized shapes (`[0]`, `[0, n]`, `[n, 0]`) | none: legal, empty results (`[0, n]` backward: `db` = 0) | |
/// | tensor or mask of another [`Gpu`](crate::Gpu) | [`WrongDevice`](Error::WrongDevice) | input was created on a different device than this Gpu's |
/// | caller's buffer of another device (same `wgpu::Instance`) | [`WrongDevice`](Error::WrongDevice) | tensor view was created on a different device than this Gpu's |
/// | caller's buffer without `STORAGE`; a view downloaded without `COPY_SRC`, written without `COPY_DST` | [`MissingUsage`](Error::MissingUsage) | tensor view lacks buffer usage BufferUsages(STORAGE) (it has BufferUsages(COPY_SRC \| COPY_DST)) |
/// | a view whose length is not a multiple of 4, used by an op, without `COPY_SRC \| COPY_DST` | [`MissingUsage`](Error::MissingUsage) | a view whose length is not a multiple of 4 elements lacks buffer usage BufferUsages(COPY_SRC) (it has BufferUsages(STORAGE)) |
/// | view offset not a multiple of `min_storage_buffer_offset_alignment` | [`MisalignedOffset`](Error::MisalignedOffset) | tensor view starts at byte offset 4, not a multiple of the device's min_storage_buffer_offset_alignment (32 bytes) |
/// | view past its buffer's end | [`OutOfBounds`](Error::OutOfBounds) | tensor view needs bytes 0..516 of a buffer of 512 bytes |
/// | tensor over `max_buffer_size` | [`TooLarge`](Error::TooLarge) | tensor needs 2147483648 bytes, over the device's max_buffer_size of 2147483647 bytes |
/// | bias wider than one storage binding; fused backward rows that no aligned group fits | [`TooLarge`](Error::TooLarge) | the bias needs 134217732 bytes, over the device's max_storage_buffer_binding_size of 134217728 bytes |
/// | leaky slope not finite; cap not finite or ≤ 0 | [`InvalidParameter`](Error::InvalidParameter) | leaky relu slope is NaN, but must be finite |
/// | an output in an input's buffer (also two views of one buffer, or a mask), or outputs whose bytes overlap | [`Aliasing`](Error::Aliasing) | output and input share a buffer in one dispatch, one read-only and one writable, which wgpu refuses; use separate buffers |
/// | `dy` whose row length differs from its mask view's forward | [`ShapeMismatch`](Error::ShapeMismatch) | shape mismatch for upstream gradient's row length (the mask's): expected 256 elements, got 128 |
/// | an op's operand missing from [`OpTensors`](crate::OpTensors) | [`MissingOperand`](Error::MissingOperand) | relu (plain kernel) needs the operand y, which was not given |
/// | a prepared op that copies, recorded into a compute pass | [`NeedsEncoder`](Error::NeedsEncoder) | relu (plain kernel) copies as well as dispatches, so it records into an encoder, not into a compute pass |
/// | a prepared op given another activation variant | [`ActivationChanged`](Error::ActivationChanged) | leaky_relu(0.1) was prepared for another activation than relu: prepare it again |
/// | an operand whose buffer was destroyed | [`Wgpu`](Error::Wgpu) (before anything is recorded) | wgpu error while relu_forward: Validation Error ... |
/// | malformed kernel shape or option | [`InvalidKernelShape`](Error::InvalidKernelShape), [`InvalidOption`](Error::InvalidOption) | WGPU_ACTIVATIONS_UNIFORM_BIAS="yes": expected 1, true, 0 or false |
/// | unknown backend | [`UnsupportedBackend`](Error::UnsupportedBackend) | unsupported backend "bogus": expected one of vulkan, metal, dx12, gl |
/// | the device refuses an allocation (Vulkan) | [`OutOfMemory`](Error::OutOfMemory) | out of GPU memory while wgpu-activations tensor |
/// | device destroyed or lost (a device this crate opened) | [`DeviceLost`](Error::DeviceLost) | device lost: Destroyed: |
///
/// Limits of what can be checked, with wgpu 30:
/// - wgpu cannot tell which device an encoder belongs to; a `record_*` call
///   with another device's encoder is reported by wgpu when the encoder
///   finishes, to the encoder's owner.
/// - A buffer of another `wgpu::Instance` cannot be told from one of this
///   device's with the same id: it is refused when no id matches.
/// - wgpu's GL backend does not report running out of memory, and a device
///   the caller owns keeps the caller's device-lost callback: there the loss
///   shows as [`Error::BufferMap`] or [`Error::Wgpu`].
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

    /// An operand's element type is not the one the op needs.
    #[error("element type mismatch for {what}: expected {expected}, got {actual}")]
    DTypeMismatch {
        /// Which value is wrong (e.g. `"output"`).
        what: &'static str,
        /// The element type the op needs.
        expected: crate::DType,
        /// The element type it was given.
        actual: crate::DType,
    },

    /// A kernel asked for an element type it is not compiled for (the ops
    /// check their operands' types first, so this points at a kernel table
    /// that misses a type).
    #[error("{what} does not take {dtype} tensors")]
    UnsupportedDType {
        /// The op, kernel or operand.
        what: &'static str,
        /// The element type.
        dtype: crate::DType,
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
    /// [`Gpu::record_op`](crate::Gpu::record_op) was not given an operand
    /// the op needs.
    #[error("{op} needs the operand {operand}, which was not given")]
    MissingOperand {
        /// The op, as [`Op::name`](crate::Op::name) prints it.
        op: String,
        /// The missing role (`"x"`, `"dy"`, `"bias"`, `"mask"`, `"y"`, `"dx"` or `"db"`).
        operand: &'static str,
    },
    /// A prepared op recorded into a compute pass, where it needs the
    /// encoder: it copies as well as dispatches
    /// ([`PreparedOp::records_in_pass`](crate::PreparedOp::records_in_pass)).
    #[error(
        "{op} copies as well as dispatches, so it records into an encoder, not into a compute pass"
    )]
    NeedsEncoder {
        /// The op.
        op: String,
    },

    /// A prepared op given an activation of another variant than the one
    /// its kernels were prepared for.
    #[error("{op} was prepared for another activation than {activation}: prepare it again")]
    ActivationChanged {
        /// The prepared op.
        op: String,
        /// The activation given.
        activation: String,
    },

    /// An activation with no kernels: a variant missing from
    /// [`Activation::examples`](crate::Activation::examples), which gives
    /// every variant its kernel kind.
    #[error("activation {activation} has no kernels: it is missing from Activation::examples()")]
    UnsupportedActivation {
        /// The activation.
        activation: String,
    },

    /// A mask op (one that writes or reads a [`Mask`](crate::Mask)) was
    /// given a smooth activation, which saves its input or pre-activation
    /// instead ([`Activation::saves`](crate::Activation::saves)).
    #[error(
        "activation {activation} saves no mask: go backward from its input, or from the pre-activation a fused forward saves"
    )]
    NoMask {
        /// The activation.
        activation: String,
    },

    /// A backward from the forward's output was asked of an activation whose
    /// derivative is not a function of its output
    /// ([`Activation::has_backward_from_output`](crate::Activation::has_backward_from_output)).
    #[error("activation {activation} has no backward from its output: go backward from its input")]
    NoBackwardFromOutput {
        /// The activation.
        activation: String,
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

    /// A view's byte offset into a buffer is not a multiple of the alignment
    /// the device requires of storage bindings.
    #[error(
        "{what} starts at byte offset {offset}, not a multiple of the device's \
         min_storage_buffer_offset_alignment ({alignment} bytes)"
    )]
    MisalignedOffset {
        /// Which view.
        what: &'static str,
        /// The offset given.
        offset: u64,
        /// The device's `min_storage_buffer_offset_alignment`.
        alignment: u64,
    },

    /// A view reaches past the end of its buffer.
    #[error("{what} needs bytes {offset}..{end} of a buffer of {buffer_size} bytes")]
    OutOfBounds {
        /// Which view.
        what: &'static str,
        /// Its first byte.
        offset: u64,
        /// One past its last byte (saturating at `u64::MAX`).
        end: u64,
        /// The buffer's size.
        buffer_size: u64,
    },

    /// Operands live on different devices.
    #[error("{what} was created on a different device than this Gpu's")]
    WrongDevice {
        /// Which operand.
        what: &'static str,
    },

    /// Two operands of one op share a buffer in a way that cannot work:
    /// one read-only and one writable in the same dispatch (wgpu refuses
    /// it), or overlapping bytes where one is written. Disjoint writable
    /// views of one buffer (`y` and its mask, `dx` and `db`) are allowed.
    #[error("{what} and {other} {rule}")]
    Aliasing {
        /// The operand to move (the written one).
        what: &'static str,
        /// The operand it collides with.
        other: &'static str,
        /// The rule broken.
        rule: &'static str,
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
