//! Neural-network activations as WGSL compute shaders on any GPU wgpu
//! drives (Vulkan, Metal, DX12, OpenGL), checked against a CPU reference.
//!
//! - [`Gpu`] picks an adapter (honouring `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`,
//!   `WGPU_POWER_PREF`) or wraps a device you already own.
//! - [`Tensor`] is a buffer of f32, f16 or bf16 ([`DType`]) on the GPU with
//!   a shape; ops take and return tensors, so chains stay on the GPU. 16-bit
//!   data computes in f32 and rounds once to its type, bit-exact on every
//!   backend ([`dtype`] holds the conversions that define it).
//! - Each op has a convenience form (`gpu.relu(&x)`) and a `record_*` form
//!   that records into your own `wgpu::CommandEncoder` with no submit.
//! - [`cpu`] is the reference that defines each op's semantics; [`compare`]
//!   checks GPU results against it, and [`Op`] describes every op once (its
//!   reference, its operands, how it is recorded).
//!
//! ```no_run
//! use wgpu_activations::{cpu, Gpu, Tensor};
//!
//! # fn main() -> wgpu_activations::Result<()> {
//! let gpu = Gpu::new()?;
//! let data = vec![-2.0, -0.0, 0.5, f32::NAN, 3.0];
//! let x = Tensor::from_slice(&gpu, &data)?;
//! let y = gpu.relu(&x)?.download()?;
//!
//! let expected = cpu::relu_forward(&data);
//! assert!(y.iter().zip(&expected).all(|(a, b)| a.to_bits() == b.to_bits()));
//! # Ok(()) }
//! ```
//!
//! # Embedding in an engine
//!
//! A game or graphics engine keeps its device, its buffers and its submit:
//!
//! 1. [`Gpu::from_device`] wraps the engine's device and queue once (no
//!    second device, nothing submitted); [`Gpu::precompile`] builds every
//!    kernel at load time.
//! 2. [`Tensor::from_buffer`] and [`Mask::from_buffer`] view bytes of the
//!    engine's buffers at aligned offsets; ops read and write those bytes
//!    in place and nothing else of the buffer.
//! 3. [`Gpu::prepare`] binds an op to those views once; each frame,
//!    [`PreparedOp::record`] records it into the engine's
//!    `wgpu::CommandEncoder` (or [`PreparedOp::record_in_pass`] into an open
//!    compute pass), creating nothing, with no submit and no wait. The
//!    `record_*` ops do the same without preparing, checking and binding on
//!    every call.
//! 4. [`Tensor::record_download`] copies results out in the same encoder;
//!    [`PendingDownload::try_take`] fetches them without blocking once the
//!    engine's submit has run and its own `device.poll` has passed it.
//!
//! `examples/embed.rs` does all of it beside a render pass and checks the
//! results against [`cpu`].
//!
//! ```no_run
//! use wgpu_activations::{Gpu, Tensor};
//!
//! # fn main() -> wgpu_activations::Result<()> {
//! # let (device, queue) = { let gpu = Gpu::new()?; (gpu.device().clone(), gpu.queue().clone()) };
//! // The engine's device and buffers.
//! let usage = wgpu::BufferUsages::STORAGE
//!     | wgpu::BufferUsages::COPY_SRC
//!     | wgpu::BufferUsages::COPY_DST;
//! let buffer = |label| {
//!     device.create_buffer(&wgpu::BufferDescriptor {
//!         label: Some(label),
//!         size: 1 << 16,
//!         usage,
//!         mapped_at_creation: false,
//!     })
//! };
//! let (inputs, outputs) = (buffer("inputs"), buffer("outputs"));
//! queue.write_buffer(&inputs, 4096, bytemuck::cast_slice(&[-1.0f32, 2.0, -3.0]));
//!
//! let gpu = Gpu::from_device(device.clone(), queue.clone())?;
//! let x = Tensor::from_buffer(&gpu, &inputs, 4096, &[3])?;
//! let y = Tensor::from_buffer(&gpu, &outputs, 0, &[3])?;
//! let mut encoder = device.create_command_encoder(&Default::default());
//! // ... the engine's own passes ...
//! gpu.record_relu(&mut encoder, &x, &y)?;
//! let mut pending = y.record_download(&mut encoder)?;
//! queue.submit([encoder.finish()]);
//!
//! let y = loop {
//!     device.poll(wgpu::PollType::Poll).ok(); // once per frame in a render loop
//!     if let Some(data) = pending.try_take() {
//!         break data?;
//!     }
//! };
//! assert_eq!(y, vec![0.0, 2.0, 0.0]);
//! # Ok(()) }
//! ```
//!
//! # What a call costs
//!
//! - A convenience op (`gpu.relu(&x)`) allocates its outputs, builds its
//!   commands and submits; [`Tensor::download`] waits. Downloads take their
//!   staging buffers from a bounded pool on the [`Gpu`]; the fused
//!   backward's partial sums live in a scratch buffer the [`Gpu`] keeps
//!   (grown to the largest op's, up to 16 MiB).
//! - A `record_*` op (and [`Gpu::record_op`], [`Batch`]) checks its operands
//!   and creates its parameter blocks and bind groups (and, for a view whose
//!   length is not a multiple of 4 elements, small scratch buffers) on every
//!   call, inside error scopes: about 20 to 40 times the CPU time of a bare
//!   dispatch (`bench`'s targets block measures it).
//! - A [`PreparedOp`] does all of that once; recording it replays commands
//!   only, creating nothing, at about the CPU time of a bare dispatch.
//!
//! # Large tensors
//!
//! Every op takes tensors larger than one storage binding: it runs one
//! dispatch per aligned range that fits a binding. A tensor is refused
//! ([`Error::TooLarge`]) only past the device's `max_buffer_size`.
//!
//! # Errors
//!
//! Every call returns [`Result`]; the table of bad inputs and the error each
//! gets is on [`Error`].

#![warn(missing_docs)]

mod activation;
mod batch;
mod buffer;
pub mod compare;
pub mod cpu;
pub mod dtype;
mod error;
pub mod exact;
mod gpu;
mod kernels;
mod layout;
mod mask;
mod op;
mod ops;
mod pipeline;
mod prepared;
mod readback;
mod tensor;
mod upload;
pub mod verify;

pub use activation::{Activation, SINE_BOUNDED_RANGE, Saved};
pub use batch::Batch;
pub use dtype::{DType, Element};
pub use error::{Error, Result};
pub use gpu::{Gpu, GpuInfo, GpuOptions, parse_backends};
/// The `half` crate, whose `f16` and `bf16` hold 16-bit tensors' elements on
/// the host ([`Element`]), re-exported so that its version always matches.
pub use half;
pub use kernels::prelude::WORKGROUP_SIZE;
pub use kernels::{KernelModule, kernel_modules};
pub use layout::BufferLayout;
pub use mask::Mask;
pub use op::{Expected, HostInputs, Op, OpTensors};
pub use ops::bias_gradient_error_bound;
pub use pipeline::{KernelLayout, KernelShape, KernelVariant, MaskWords};
pub use prepared::{PreparedBatch, PreparedOp};
pub use readback::PendingDownload;
pub use tensor::Tensor;

// Keeps README.md's example compiling: `cargo test` builds it as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
