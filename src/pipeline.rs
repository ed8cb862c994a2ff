//! The kernel registry and the per-device pipeline cache.
//!
//! Every kernel this crate dispatches is a [`Kernel`]: its WGSL file, its entry
//! point and its bindings. Shader modules and pipelines are built on first use
//! and kept for the life of the [`Gpu`](crate::Gpu).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};

/// Threads per workgroup for the element-wise kernels, passed to the WGSL
/// `override WORKGROUP_SIZE` at pipeline creation.
pub const WORKGROUP_SIZE: u32 = 256;

/// Elements one workgroup of an element-wise kernel covers.
pub const ELEMENTS_PER_WORKGROUP: u64 = WORKGROUP_SIZE as u64;

/// A WGSL source file under `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

impl Shader {
    /// The text wgpu compiles: [`COMMON_SHADER`] (constants, the activation
    /// functions, indexing) followed by the file itself.
    fn module_source(self) -> String {
        format!("{}\n{}", COMMON_SHADER.source, self.source)
    }
}

/// The prelude of every other shader; it has no entry points of its own.
pub(crate) const COMMON_SHADER: Shader = Shader {
    name: "common.wgsl",
    source: include_str!("../shaders/common.wgsl"),
};

pub(crate) const RELU_SHADER: Shader = Shader {
    name: "relu.wgsl",
    source: include_str!("../shaders/relu.wgsl"),
};

pub(crate) const ACTIVATION_SHADER: Shader = Shader {
    name: "activation.wgsl",
    source: include_str!("../shaders/activation.wgsl"),
};

pub(crate) const BIAS_SHADER: Shader = Shader {
    name: "bias.wgsl",
    source: include_str!("../shaders/bias.wgsl"),
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
            Kernel::BiasActivationForward => "bias_activation_forward",
            Kernel::BiasActivationForwardMask => "bias_activation_forward_mask",
            Kernel::BiasActivationBackward => "bias_activation_backward",
            Kernel::BiasGradientSum => "bias_gradient_sum",
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
            Kernel::BiasActivationBackward => &[Read, Read, ReadWrite, ReadWrite, Uniform],
            Kernel::BiasGradientSum => &[Read, ReadWrite],
        }
    }
}

/// A compiled kernel: its pipeline and the layout its bind groups follow.
pub(crate) struct CompiledKernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// Modules and pipelines of one device, built once each.
pub(crate) struct Pipelines {
    device: wgpu::Device,
    modules: Mutex<HashMap<Shader, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<Kernel, Arc<CompiledKernel>>>,
}

impl Pipelines {
    pub fn new(device: wgpu::Device) -> Self {
        Self {
            device,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// Compiles every kernel now rather than on first use.
    pub fn compile_all(&self) -> Result<()> {
        for &kernel in Kernel::ALL {
            self.get(kernel)?;
        }
        Ok(())
    }

    /// The kernel's pipeline, compiling it on first use.
    pub fn get(&self, kernel: Kernel) -> Result<Arc<CompiledKernel>> {
        // Held across compilation so two threads never build the same kernel twice.
        let mut kernels = self.kernels.lock().map_err(|_| poisoned(kernel))?;
        if let Some(compiled) = kernels.get(&kernel) {
            return Ok(Arc::clone(compiled));
        }
        let compiled = Arc::new(self.compile(kernel)?);
        kernels.insert(kernel, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn compile(&self, kernel: Kernel) -> Result<CompiledKernel> {
        self.build(kernel.shader(), kernel.entry_point(), kernel.bindings())
    }

    /// Builds one entry point of `shader` with storage bindings `bindings`;
    /// any wgpu error on the way (WGSL, validation) becomes
    /// [`Error::ShaderCompilation`].
    fn build(
        &self,
        shader: Shader,
        entry_point: &'static str,
        bindings: &[Access],
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
                constants: &[("WORKGROUP_SIZE", f64::from(WORKGROUP_SIZE))],
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
        Ok(CompiledKernel { pipeline, layout })
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
        let pipelines = Pipelines::new(device);
        let broken = Shader {
            name: "broken.wgsl",
            source: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
        };
        let error = pipelines
            .build(broken, "main", &[])
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
        let pipelines = Pipelines::new(device);
        for &kernel in Kernel::ALL {
            let first = pipelines.get(kernel).unwrap();
            let second = pipelines.get(kernel).unwrap();
            assert!(Arc::ptr_eq(&first, &second), "{kernel:?} compiled twice");
        }
    }
}
