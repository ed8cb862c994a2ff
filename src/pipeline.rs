//! The kernel registry and the per-device pipeline cache.
//!
//! Every kernel this crate dispatches is a [`Kernel`]: its WGSL file, its entry
//! point and its bindings. Shader modules and pipelines are built on first use
//! and kept for the life of the [`Gpu`](crate::Gpu).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::activation::Kind;
use crate::error::{Error, Result};

/// Threads per workgroup of the bias-gradient kernels, whose summation order
/// (and so [`bias_gradient_error_bound`](crate::bias_gradient_error_bound))
/// depends on it. The element-wise kernels follow a [`KernelShape`] instead.
pub const WORKGROUP_SIZE: u32 = 256;

/// Elements of one chunk of an element-wise kernel: eight `vec4` loads and
/// one mask word (`CHUNK_ELEMENTS` in shaders/common.wgsl).
pub(crate) const CHUNK_ELEMENTS: u64 = 32;

/// The largest workgroup the shaders' workgroup arrays allow
/// (`MAX_WORKGROUP_SIZE` in shaders/common.wgsl).
const MAX_WORKGROUP_SIZE: u32 = 256;

/// How the element-wise kernels spread their work: threads per workgroup and
/// 32-element chunks per thread, both WGSL `override` constants set when the
/// pipelines are built.
///
/// [`KernelShape::for_device_type`] picks the shape that measured best on each
/// kind of adapter (benches/README.md has the figures); set another with
/// [`GpuOptions::kernel_shape`](crate::GpuOptions::kernel_shape) or the
/// `WGPU_ACTIVATIONS_KERNEL_SHAPE` variable (`"64x2"`: 64 threads, 2 chunks
/// each). Results are the same bits with every shape.
///
/// ```
/// use wgpu_activations::KernelShape;
/// let shape: KernelShape = "64x2".parse()?;
/// assert_eq!(shape.elements_per_workgroup(), 64 * 2 * 32);
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelShape {
    /// Threads per workgroup, 1 to 256.
    pub workgroup_size: u32,
    /// 32-element chunks each thread handles, at least 1.
    pub chunks_per_invocation: u32,
}

impl KernelShape {
    /// For GPUs: wide workgroups, one chunk per thread, so many workgroups
    /// are in flight to hide memory latency.
    pub const GPU: KernelShape = KernelShape {
        workgroup_size: 256,
        chunks_per_invocation: 1,
    };

    /// For CPU adapters (lavapipe, llvmpipe), which run a workgroup's threads
    /// a SIMD register at a time.
    pub const CPU: KernelShape = KernelShape {
        workgroup_size: 64,
        chunks_per_invocation: 1,
    };

    /// The shape for a kind of device: [`CPU`](Self::CPU) for a CPU
    /// device, [`GPU`](Self::GPU) otherwise.
    pub fn for_device_type(device_type: wgpu::DeviceType) -> Self {
        if device_type == wgpu::DeviceType::Cpu {
            Self::CPU
        } else {
            Self::GPU
        }
    }

    /// Chunks one workgroup covers.
    pub fn chunks_per_workgroup(self) -> u64 {
        u64::from(self.workgroup_size) * u64::from(self.chunks_per_invocation)
    }

    /// Elements one workgroup covers.
    pub fn elements_per_workgroup(self) -> u64 {
        self.chunks_per_workgroup() * CHUNK_ELEMENTS
    }

    /// Errors with [`Error::InvalidParameter`] unless the shape fits the
    /// shaders and `limits`.
    pub fn validate(self, limits: &wgpu::Limits) -> Result<()> {
        let max = MAX_WORKGROUP_SIZE
            .min(limits.max_compute_invocations_per_workgroup)
            .min(limits.max_compute_workgroup_size_x);
        if self.workgroup_size == 0 || self.workgroup_size > max {
            return Err(Error::InvalidParameter {
                name: "kernel shape's workgroup size",
                value: self.workgroup_size as f32,
                requirement: "between 1 and 256 and within the device's workgroup limits",
            });
        }
        if self.chunks_per_invocation == 0 {
            return Err(Error::InvalidParameter {
                name: "kernel shape's chunks per invocation",
                value: 0.0,
                requirement: "at least 1",
            });
        }
        Ok(())
    }
}

impl std::fmt::Display for KernelShape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}x{}", self.workgroup_size, self.chunks_per_invocation)
    }
}

impl std::str::FromStr for KernelShape {
    type Err = Error;

    /// `"WORKGROUP_SIZExCHUNKS"`, e.g. `"256x1"`.
    fn from_str(text: &str) -> Result<Self> {
        let parsed = text.split_once('x').and_then(|(size, chunks)| {
            Some(KernelShape {
                workgroup_size: size.trim().parse().ok()?,
                chunks_per_invocation: chunks.trim().parse().ok()?,
            })
        });
        parsed.ok_or_else(|| Error::InvalidKernelShape(text.to_string()))
    }
}

/// A WGSL source file under `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Shader {
    pub name: &'static str,
    pub source: &'static str,
    /// Declarations placed between common.wgsl and the file: how the bias
    /// kernels bind their bias (empty for the other files).
    pub binding_source: &'static str,
}

impl Shader {
    /// The text wgpu compiles: [`COMMON_SHADER`] (constants, the activation
    /// functions, indexing), the binding declarations, then the file itself.
    fn module_source(self) -> String {
        format!(
            "{}\n{}\n{}",
            COMMON_SHADER.source, self.binding_source, self.source
        )
    }
}

/// The prelude of every other shader; it has no entry points of its own.
pub(crate) const COMMON_SHADER: Shader = Shader {
    name: "common.wgsl",
    source: include_str!("../shaders/common.wgsl"),
    binding_source: "",
};

pub(crate) const RELU_SHADER: Shader = Shader {
    name: "relu.wgsl",
    source: include_str!("../shaders/relu.wgsl"),
    binding_source: "",
};

pub(crate) const ACTIVATION_SHADER: Shader = Shader {
    name: "activation.wgsl",
    source: include_str!("../shaders/activation.wgsl"),
    binding_source: "",
};

/// The bias binding of GPUs (storage buffer).
pub(crate) const BIAS_STORAGE_SOURCE: (&str, &str) = (
    "bias_storage.wgsl",
    include_str!("../shaders/bias_storage.wgsl"),
);

/// The bias binding of CPU adapters (uniform buffer, at most
/// [`UNIFORM_BIAS_COLUMNS`] columns).
pub(crate) const BIAS_UNIFORM_SOURCE: (&str, &str) = (
    "bias_uniform.wgsl",
    include_str!("../shaders/bias_uniform.wgsl"),
);

/// Columns the uniform bias array holds (`UNIFORM_BIAS_VECTORS * 4` in
/// shaders/bias_uniform.wgsl).
pub(crate) const UNIFORM_BIAS_COLUMNS: usize = 16384;

pub(crate) const BIAS_SHADER: Shader = Shader {
    name: "bias.wgsl",
    source: include_str!("../shaders/bias.wgsl"),
    binding_source: BIAS_STORAGE_SOURCE.1,
};

pub(crate) const BIAS_UNIFORM_SHADER: Shader = Shader {
    name: "bias.wgsl (uniform bias)",
    source: include_str!("../shaders/bias.wgsl"),
    binding_source: BIAS_UNIFORM_SOURCE.1,
};

/// How a kernel reads a binding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    ReadWrite,
    /// The activation's [`Params`](crate::activation::Params).
    Uniform,
}

/// Every kernel the crate dispatches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    ReluForward,
    ReluForwardInPlace,
    ActivationForward,
    ActivationForwardMask,
    ActivationBackwardFromMask,
    ActivationBackwardFromInput,
    BiasActivationForward,
    BiasActivationForwardMask,
    /// [`BiasActivationForward`](Kernel::BiasActivationForward) reading the
    /// bias from a uniform buffer.
    BiasActivationForwardUniformBias,
    /// [`BiasActivationForwardMask`](Kernel::BiasActivationForwardMask)
    /// reading the bias from a uniform buffer.
    BiasActivationForwardMaskUniformBias,
    BiasActivationBackward,
    BiasGradientSum,
}

impl Kernel {
    pub const ALL: &'static [Kernel] = &[
        Kernel::ReluForward,
        Kernel::ReluForwardInPlace,
        Kernel::ActivationForward,
        Kernel::ActivationForwardMask,
        Kernel::ActivationBackwardFromMask,
        Kernel::ActivationBackwardFromInput,
        Kernel::BiasActivationForward,
        Kernel::BiasActivationForwardMask,
        Kernel::BiasActivationForwardUniformBias,
        Kernel::BiasActivationForwardMaskUniformBias,
        Kernel::BiasActivationBackward,
        Kernel::BiasGradientSum,
    ];

    pub fn shader(self) -> Shader {
        match self {
            Kernel::ReluForward | Kernel::ReluForwardInPlace => RELU_SHADER,
            Kernel::ActivationForward
            | Kernel::ActivationForwardMask
            | Kernel::ActivationBackwardFromMask
            | Kernel::ActivationBackwardFromInput => ACTIVATION_SHADER,
            Kernel::BiasActivationForward
            | Kernel::BiasActivationForwardMask
            | Kernel::BiasActivationBackward
            | Kernel::BiasGradientSum => BIAS_SHADER,
            Kernel::BiasActivationForwardUniformBias
            | Kernel::BiasActivationForwardMaskUniformBias => BIAS_UNIFORM_SHADER,
        }
    }

    pub fn entry_point(self) -> &'static str {
        match self {
            Kernel::ReluForward => "relu_forward",
            Kernel::ReluForwardInPlace => "relu_forward_in_place",
            Kernel::ActivationForward => "activation_forward",
            Kernel::ActivationForwardMask => "activation_forward_mask",
            Kernel::ActivationBackwardFromMask => "activation_backward_from_mask",
            Kernel::ActivationBackwardFromInput => "activation_backward_from_input",
            Kernel::BiasActivationForward | Kernel::BiasActivationForwardUniformBias => {
                "bias_activation_forward"
            }
            Kernel::BiasActivationForwardMask | Kernel::BiasActivationForwardMaskUniformBias => {
                "bias_activation_forward_mask"
            }
            Kernel::BiasActivationBackward => "bias_activation_backward",
            Kernel::BiasGradientSum => "bias_gradient_sum",
        }
    }

    /// Whether the kernel works in 32-element chunks and follows the
    /// [`KernelShape`] (every kernel but the bias-gradient pair).
    pub fn is_chunked(self) -> bool {
        !matches!(
            self,
            Kernel::BiasActivationBackward | Kernel::BiasGradientSum
        )
    }

    /// The activation kinds the kernel is compiled for.
    pub fn kinds(self) -> &'static [Kind] {
        use Kind::{ClippedRelu, Identity, LeakyRelu, Relu};
        match self {
            Kernel::ReluForward | Kernel::ReluForwardInPlace | Kernel::BiasGradientSum => &[Relu],
            Kernel::BiasActivationForward | Kernel::BiasActivationForwardUniformBias => {
                &[Relu, LeakyRelu, ClippedRelu, Identity]
            }
            _ => &[Relu, LeakyRelu, ClippedRelu],
        }
    }

    /// Bindings of group 0, in binding-index order, as the WGSL declares them.
    pub fn bindings(self) -> &'static [Access] {
        use Access::{Read, ReadWrite, Uniform};
        match self {
            Kernel::ReluForward => &[Read, ReadWrite],
            Kernel::ReluForwardInPlace => &[ReadWrite],
            Kernel::ActivationForward => &[Read, ReadWrite, Uniform],
            Kernel::ActivationForwardMask => &[Read, ReadWrite, Uniform, ReadWrite],
            Kernel::ActivationBackwardFromMask | Kernel::ActivationBackwardFromInput => {
                &[Read, Read, ReadWrite, Uniform]
            }
            Kernel::BiasActivationForward => &[Read, Read, ReadWrite, Uniform],
            Kernel::BiasActivationForwardMask => &[Read, Read, ReadWrite, Uniform, ReadWrite],
            Kernel::BiasActivationForwardUniformBias => &[Read, Uniform, ReadWrite, Uniform],
            Kernel::BiasActivationForwardMaskUniformBias => {
                &[Read, Uniform, ReadWrite, Uniform, ReadWrite]
            }
            Kernel::BiasActivationBackward => &[Read, Read, ReadWrite, ReadWrite, Uniform],
            Kernel::BiasGradientSum => &[Read, ReadWrite],
        }
    }
}

/// A compiled kernel: its pipeline, the layout its bind groups follow and
/// the shape it was built with.
pub(crate) struct CompiledKernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub shape: KernelShape,
}

/// Modules and pipelines of one device, built once each.
pub(crate) struct Pipelines {
    device: wgpu::Device,
    shape: KernelShape,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<(Kernel, Kind), Arc<CompiledKernel>>>,
}

impl Pipelines {
    /// Pipelines whose element-wise kernels follow `shape` (validated by the caller).
    pub fn new(device: wgpu::Device, shape: KernelShape) -> Self {
        Self {
            device,
            shape,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// Compiles every kernel for every kind it serves now rather than on
    /// first use.
    pub fn compile_all(&self) -> Result<()> {
        for &kernel in Kernel::ALL {
            for &kind in kernel.kinds() {
                self.get(kernel, kind)?;
            }
        }
        Ok(())
    }

    /// The kernel's pipeline for `kind`, compiling it on first use.
    pub fn get(&self, kernel: Kernel, kind: Kind) -> Result<Arc<CompiledKernel>> {
        // Held across compilation so two threads never build the same kernel twice.
        let mut kernels = self.kernels.lock().map_err(|_| poisoned(kernel))?;
        if let Some(compiled) = kernels.get(&(kernel, kind)) {
            return Ok(Arc::clone(compiled));
        }
        let compiled = Arc::new(self.compile(kernel, kind)?);
        kernels.insert((kernel, kind), Arc::clone(&compiled));
        Ok(compiled)
    }

    fn compile(&self, kernel: Kernel, kind: Kind) -> Result<CompiledKernel> {
        // The bias-gradient kernels keep their own fixed workgroup: their
        // summation order, and so the published error bound, depends on it.
        let shape = if kernel.is_chunked() {
            self.shape
        } else {
            KernelShape {
                workgroup_size: WORKGROUP_SIZE,
                chunks_per_invocation: 1,
            }
        };
        self.build(
            kernel.shader(),
            kernel.entry_point(),
            kernel.bindings(),
            shape,
            kind,
        )
    }

    /// Builds one entry point of `shader` with storage bindings `bindings`;
    /// any wgpu error on the way (WGSL, validation) becomes
    /// [`Error::ShaderCompilation`].
    fn build(
        &self,
        shader: Shader,
        entry_point: &'static str,
        bindings: &[Access],
        shape: KernelShape,
        kind: Kind,
    ) -> Result<CompiledKernel> {
        let device = &self.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.module(shader)?;
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(index, access)| wgpu::BindGroupLayoutEntry {
                binding: index as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match access {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        _ => wgpu::BufferBindingType::Storage {
                            read_only: *access == Access::Read,
                        },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(entry_point),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(entry_point),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry_point),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &[
                    ("WORKGROUP_SIZE", f64::from(shape.workgroup_size)),
                    (
                        "CHUNKS_PER_INVOCATION",
                        f64::from(shape.chunks_per_invocation),
                    ),
                    ("KIND", f64::from(kind as u32)),
                ],
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(Error::ShaderCompilation {
                kernel: entry_point,
                message: error.to_string(),
            });
        }
        Ok(CompiledKernel {
            pipeline,
            layout,
            shape,
        })
    }

    fn module(&self, shader: Shader) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().map_err(|_| Error::ShaderCompilation {
            kernel: shader.name,
            message: "module cache poisoned by a panic on another thread".to_string(),
        })?;
        let module = modules.entry(shader).or_insert_with(|| {
            self.device
                .create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(shader.name),
                    source: wgpu::ShaderSource::Wgsl(shader.module_source().into()),
                })
        });
        Ok(module.clone())
    }
}

fn poisoned(kernel: Kernel) -> Error {
    Error::ShaderCompilation {
        kernel: kernel.entry_point(),
        message: "pipeline cache poisoned by a panic on another thread".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device() -> Option<wgpu::Device> {
        match crate::Gpu::new() {
            Ok(gpu) => Some(gpu.device().clone()),
            Err(e) if std::env::var_os("CI").is_some() => panic!("CI is set and no adapter: {e}"),
            Err(e) => {
                eprintln!("SKIPPED: no GPU adapter ({e})");
                None
            }
        }
    }

    #[test]
    fn broken_wgsl_is_a_shader_compilation_error_not_a_panic() {
        let Some(device) = device() else { return };
        let pipelines = Pipelines::new(device, KernelShape::GPU);
        let broken = Shader {
            name: "broken.wgsl",
            source: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
            binding_source: "",
        };
        let error = pipelines
            .build(broken, "main", &[], KernelShape::GPU, Kind::Relu)
            .err()
            .expect("a type error must not compile");
        assert!(
            matches!(error, Error::ShaderCompilation { kernel: "main", .. }),
            "{error:?}"
        );
    }

    #[test]
    fn every_kernel_compiles_and_is_cached() {
        let Some(device) = device() else { return };
        let pipelines = Pipelines::new(device, KernelShape::CPU);
        for &kernel in Kernel::ALL {
            for &kind in kernel.kinds() {
                let first = pipelines.get(kernel, kind).unwrap();
                let second = pipelines.get(kernel, kind).unwrap();
                assert!(
                    Arc::ptr_eq(&first, &second),
                    "{kernel:?} {kind:?} compiled twice"
                );
            }
        }
    }
}
