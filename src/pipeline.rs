//! The per-device pipeline cache, and the shape of the element-wise kernels.
//!
//! Every kernel of the [table](crate::kernels) is compiled on first use (or
//! all at once by [`Gpu::precompile`](crate::Gpu::precompile)), once per
//! activation kind, and kept for the life of the [`Gpu`](crate::Gpu). Bind
//! group layouts come from the shaders themselves (wgpu's automatic layout),
//! so no table of binding types is kept by hand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::kernels::prelude::{self, CHUNK_ELEMENTS, MAX_WORKGROUP_SIZE};
use crate::kernels::{ElementTypes, KERNELS, Kernel, Kind};

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

/// Which invocation takes which vector in the element-wise kernels. Results
/// are the same bits in both layouts.
///
/// [`KernelLayout::for_device_type`] picks it from the adapter's type; set
/// another with [`GpuOptions::kernel_layout`](crate::GpuOptions::kernel_layout)
/// or the `WGPU_ACTIVATIONS_LAYOUT` variable (`chunked` or `coalesced`).
///
/// ```
/// use wgpu_activations::KernelLayout;
/// assert_eq!(KernelLayout::from_name("coalesced"), Some(KernelLayout::Coalesced));
/// assert_eq!(KernelLayout::for_device_type(wgpu::DeviceType::Cpu), KernelLayout::Chunked);
/// assert_eq!(KernelLayout::Coalesced.to_string(), "coalesced");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KernelLayout {
    /// Each invocation walks whole 32-element chunks (eight 16-byte vectors
    /// of f32 or four of a 16-bit type, and their mask word) on its own (`shaders/chunk_loop.wgsl`): for CPU
    /// adapters, which run invocations as SIMD lanes and gain nothing from
    /// neighbouring invocations reading neighbouring addresses, while a
    /// chunk's mask word needs no exchange between invocations.
    Chunked,
    /// Consecutive invocations take consecutive vectors
    /// (`shaders/coalesced_loop.wgsl`), so a subgroup's load is one
    /// contiguous run of memory: for GPUs. A chunk's mask word is assembled
    /// from its vectors' invocations (eight for f32, four for a 16-bit
    /// type), with subgroup shuffles or in workgroup memory
    /// ([`MaskWords`]).
    Coalesced,
}

impl KernelLayout {
    /// Every layout.
    pub const ALL: [KernelLayout; 2] = [KernelLayout::Chunked, KernelLayout::Coalesced];

    /// The layout for a kind of device: [`Chunked`](Self::Chunked) for a CPU
    /// device, [`Coalesced`](Self::Coalesced) for GPUs (discrete,
    /// integrated, virtual, other).
    pub fn for_device_type(device_type: wgpu::DeviceType) -> Self {
        if device_type == wgpu::DeviceType::Cpu {
            Self::Chunked
        } else {
            Self::Coalesced
        }
    }

    /// The layout named `name` (`chunked` or `coalesced`, any case), as
    /// `WGPU_ACTIVATIONS_LAYOUT` takes it.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.trim().to_lowercase().as_str() {
            "chunked" => Some(Self::Chunked),
            "coalesced" => Some(Self::Coalesced),
            _ => None,
        }
    }
}

impl std::fmt::Display for KernelLayout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Chunked => "chunked",
            Self::Coalesced => "coalesced",
        })
    }
}

/// How the coalesced kernels that save a mask assemble each mask word from
/// the bits of the invocations that share it (one per 16-byte vector: eight
/// for f32, four for a 16-bit type).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MaskWords {
    /// In workgroup memory, two barriers per round of the workgroup's chunks
    /// (`shaders/mask_words_workgroup.wgsl`): any device.
    Workgroup,
    /// With subgroup shuffles, no barrier (`shaders/mask_words_subgroup.wgsl`):
    /// devices with [`wgpu::Features::SUBGROUP`].
    Subgroup,
}

impl std::fmt::Display for MaskWords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Workgroup => "workgroup memory",
            Self::Subgroup => "subgroup shuffles",
        })
    }
}

/// Which modules the element-wise kernels are composed of: the layout and,
/// for the coalesced one, how mask words are assembled (ignored by the
/// chunked layout, whose invocations own whole words).
///
/// ```
/// use wgpu_activations::{KernelLayout, KernelVariant, MaskWords};
/// let variant = KernelVariant { layout: KernelLayout::Coalesced, mask_words: MaskWords::Workgroup };
/// assert!(KernelVariant::all().contains(&variant));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KernelVariant {
    /// Which invocation takes which vector.
    pub layout: KernelLayout,
    /// How the coalesced layout assembles mask words.
    pub mask_words: MaskWords,
}

impl KernelVariant {
    /// The chunked layout (mask words need no assembly).
    pub const CHUNKED: KernelVariant = KernelVariant {
        layout: KernelLayout::Chunked,
        mask_words: MaskWords::Workgroup,
    };

    /// Every distinct variant: chunked, and coalesced with each way of
    /// assembling mask words.
    pub fn all() -> [KernelVariant; 3] {
        [
            Self::CHUNKED,
            KernelVariant {
                layout: KernelLayout::Coalesced,
                mask_words: MaskWords::Workgroup,
            },
            KernelVariant {
                layout: KernelLayout::Coalesced,
                mask_words: MaskWords::Subgroup,
            },
        ]
    }

    /// Whether the masked kernels' modules use subgroup operations (and so
    /// need [`wgpu::Features::SUBGROUP`]).
    pub fn uses_subgroups(self) -> bool {
        self.layout == KernelLayout::Coalesced && self.mask_words == MaskWords::Subgroup
    }
}

impl std::fmt::Display for KernelVariant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.layout {
            KernelLayout::Chunked => write!(f, "{}", self.layout),
            KernelLayout::Coalesced => {
                write!(f, "{} (mask words in {})", self.layout, self.mask_words)
            }
        }
    }
}

/// A compiled kernel: its pipeline, the layout its bind groups follow and
/// the shape it was built with.
#[derive(Debug)]
pub(crate) struct CompiledKernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub shape: KernelShape,
}

/// A module: its parts' names and element types.
type ModuleKey = (Vec<&'static str>, ElementTypes);

/// A pipeline: its kernel's name, kind id and element types.
type PipelineKey = (&'static str, u32, ElementTypes);

/// Modules and pipelines of one device, built once each.
pub(crate) struct Pipelines {
    device: wgpu::Device,
    shape: KernelShape,
    variant: KernelVariant,
    modules: Mutex<HashMap<ModuleKey, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<PipelineKey, Arc<CompiledKernel>>>,
}

impl Pipelines {
    /// Pipelines whose element-wise kernels follow `shape` (validated by the
    /// caller) in `variant` (which the device supports). Both are fixed for
    /// the cache's life, so a kernel's name and kind identify its pipeline.
    pub fn new(device: wgpu::Device, shape: KernelShape, variant: KernelVariant) -> Self {
        Self {
            device,
            shape,
            variant,
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
        }
    }

    /// Compiles every kernel for every kind and element types it serves now
    /// rather than on first use.
    pub fn compile_all(&self) -> Result<()> {
        for &kernel in KERNELS {
            for types in kernel.element_types() {
                for kind in kernel.kinds() {
                    self.get(kernel, kind, types)?;
                }
            }
        }
        Ok(())
    }

    /// The kernel's pipeline for `kind` and `types`, compiling it on first
    /// use.
    pub fn get(
        &self,
        kernel: Kernel,
        kind: Kind,
        types: ElementTypes,
    ) -> Result<Arc<CompiledKernel>> {
        // Held across compilation so two threads never build the same kernel twice.
        let mut kernels = self.kernels.lock().map_err(|_| poisoned(kernel.name))?;
        if let Some(compiled) = kernels.get(&(kernel.name, kind.id, types)) {
            return Ok(Arc::clone(compiled));
        }
        kernel.check_types(types)?;
        if !kernel.kinds().contains(&kind) {
            return Err(Error::ShaderCompilation {
                kernel: kernel.name,
                message: format!("not compiled for the {} kind", kind.name),
            });
        }
        let compiled = Arc::new(self.build(kernel, kind, types)?);
        kernels.insert((kernel.name, kind.id, types), Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Builds `kernel`'s pipeline for `kind`; any wgpu error on the way
    /// (WGSL, validation) becomes [`Error::ShaderCompilation`].
    fn build(&self, kernel: Kernel, kind: Kind, types: ElementTypes) -> Result<CompiledKernel> {
        let device = &self.device;
        let shape = prelude::effective_shape(kernel, self.shape);
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.module(kernel, types)?;
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(kernel.name),
            // Derived from the shader: the bindings its entry point uses.
            layout: None,
            module: &module,
            entry_point: Some(kernel.entry_point),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: &prelude::pipeline_constants(kernel, self.shape, kind),
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        if let Some(error) = pollster::block_on(scope.pop()) {
            return Err(Error::ShaderCompilation {
                kernel: kernel.name,
                message: error.to_string(),
            });
        }
        Ok(CompiledKernel {
            pipeline,
            layout,
            shape,
        })
    }

    fn module(&self, kernel: Kernel, types: ElementTypes) -> Result<wgpu::ShaderModule> {
        let mut modules = self.modules.lock().map_err(|_| poisoned(kernel.name))?;
        let module = modules
            .entry(kernel.module_key(self.variant, types))
            .or_insert_with(|| {
                self.device
                    .create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(kernel.name),
                        source: wgpu::ShaderSource::Wgsl(
                            kernel.module_source(self.variant, types).into(),
                        ),
                    })
            });
        Ok(module.clone())
    }
}

fn poisoned(kernel: &'static str) -> Error {
    Error::ShaderCompilation {
        kernel,
        message: "pipeline cache poisoned by a panic on another thread".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtype::DType;
    use crate::kernels::{KernelSpec, Kinds, Layout, Types};

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

    static BROKEN: KernelSpec = KernelSpec {
        name: "broken",
        parts: &[crate::kernels::Part {
            name: "broken.wgsl",
            source: "@compute @workgroup_size(1) fn main() { let x: u32 = 1.5; }",
        }],
        entry_point: "main",
        bindings: &[],
        kinds: Kinds::Fixed,
        types: Types::F32,
        layout: Layout::Elementwise,
    };

    #[test]
    fn broken_wgsl_is_a_shader_compilation_error_not_a_panic() {
        let Some(device) = device() else { return };
        let pipelines = Pipelines::new(device, KernelShape::GPU, KernelVariant::CHUNKED);
        let error = pipelines
            .build(&BROKEN, Kind::fixed(), ElementTypes::of(DType::F32))
            .expect_err("a type error must not compile");
        assert!(
            matches!(
                error,
                Error::ShaderCompilation {
                    kernel: "broken",
                    ..
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn every_kernel_compiles_and_is_cached() {
        let Some(device) = device() else { return };
        let supported = device.features().contains(wgpu::Features::SUBGROUP);
        for variant in KernelVariant::all() {
            if variant.uses_subgroups() && !supported {
                eprintln!("{variant}: skipped, the device has no SUBGROUP feature");
                continue;
            }
            let pipelines = Pipelines::new(device.clone(), KernelShape::CPU, variant);
            for &kernel in KERNELS {
                for types in kernel.element_types() {
                    for kind in kernel.kinds() {
                        let first = pipelines.get(kernel, kind, types).unwrap();
                        let second = pipelines.get(kernel, kind, types).unwrap();
                        assert!(
                            Arc::ptr_eq(&first, &second),
                            "{} {kind:?} {types:?} ({variant}) compiled twice",
                            kernel.name
                        );
                    }
                }
            }
        }
    }
}
