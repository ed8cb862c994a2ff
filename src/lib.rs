//! Neural-network activations as WGSL compute shaders on any GPU wgpu
//! drives (Vulkan, Metal, DX12, OpenGL), checked against a CPU reference.
//!
//! - [`Gpu`] picks an adapter (honouring `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`,
//!   `WGPU_POWER_PREF`) or wraps a device you already own.
//! - [`Tensor`] is an f32 buffer on the GPU with a shape; ops take and return
//!   tensors, so chains stay on the GPU.
//! - Each op has a convenience form (`gpu.relu(&x)`) and a `record_*` form
//!   that records into your own `wgpu::CommandEncoder` with no submit.
//! - [`cpu`] is the reference that defines each op's semantics; [`check`]
//!   compares GPU results with it.
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
//! Recording into an encoder you own:
//!
//! ```no_run
//! use wgpu_activations::{Gpu, Tensor};
//!
//! # fn main() -> wgpu_activations::Result<()> {
//! let gpu = Gpu::new()?;
//! let x = Tensor::from_slice(&gpu, &[1.0, -1.0])?;
//! let y = Tensor::uninit(&gpu, x.shape())?;
//! let mut encoder = gpu.device().create_command_encoder(&Default::default());
//! gpu.record_relu(&mut encoder, &x, &y)?;
//! // ... record more work of your own ...
//! gpu.queue().submit([encoder.finish()]);
//! assert_eq!(y.download()?, vec![1.0, 0.0]);
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod activation;
mod batch;
pub mod bench;
mod buffer;
pub mod check;
pub mod cpu;
pub mod cpu_parallel;
mod error;
mod gpu;
mod mask;
mod ops;
mod pipeline;
pub mod sample;
mod tensor;

pub use activation::Activation;
pub use batch::Batch;
pub use error::{Error, Result};
pub use gpu::{Gpu, GpuInfo, GpuOptions, parse_backends};
pub use mask::Mask;
pub use ops::bias_gradient_error_bound;
pub use pipeline::{KernelShape, WORKGROUP_SIZE};
pub use tensor::Tensor;

/// The WGSL sources of every kernel, by file name under `shaders/`.
///
/// `common.wgsl` is the prelude the crate puts in front of each of the others
/// before compiling it; `bias.wgsl` is compiled twice, after
/// `bias_storage.wgsl` (GPUs) and after `bias_uniform.wgsl` (CPU adapters),
/// which declare how its kernels read the bias.
pub const SHADERS: &[(&str, &str)] = &[
    (pipeline::COMMON_SHADER.name, pipeline::COMMON_SHADER.source),
    (pipeline::RELU_SHADER.name, pipeline::RELU_SHADER.source),
    (
        pipeline::ACTIVATION_SHADER.name,
        pipeline::ACTIVATION_SHADER.source,
    ),
    (pipeline::BIAS_SHADER.name, pipeline::BIAS_SHADER.source),
    pipeline::BIAS_STORAGE_SOURCE,
    pipeline::BIAS_UNIFORM_SOURCE,
];

// Keeps README.md's example compiling: `cargo test` builds it as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
