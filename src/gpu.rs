//! The GPU context: adapter choice, device, limits, error capture, submit and wait.

use std::fmt;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::kernels::prelude::UNIFORM_BIAS_COLUMNS;
use crate::pipeline::{KernelLayout, KernelShape, KernelVariant, MaskWords, Pipelines};
use crate::readback::ReadbackPool;
use crate::upload::UploadPool;

/// Bytes of the uniform bias array (shaders/bias_uniform.wgsl).
const UNIFORM_BIAS_BYTES: u64 = UNIFORM_BIAS_COLUMNS as u64 * 4;

/// The largest block-sums scratch a `Gpu` keeps for the fused backward:
/// that of a 512 MiB `dy`. A larger one is made for its op alone and freed
/// with it, so a single huge backward does not pin its scratch for the
/// `Gpu`'s lifetime.
const KEPT_BLOCK_SUMS_BYTES: u64 = 16 << 20;

/// How [`Gpu::with_options`] picks an adapter.
///
/// [`GpuOptions::from_env`] reads the variables wgpu users already know:
/// `WGPU_BACKEND` (`vulkan`, `metal`, `dx12`, `gl`, comma-separated),
/// `WGPU_ADAPTER_NAME` (a case-insensitive substring of the adapter's name) and
/// `WGPU_POWER_PREF` (`low` or `high`).
#[derive(Clone, Debug)]
pub struct GpuOptions {
    /// Backends to consider.
    pub backends: wgpu::Backends,
    /// Pick the first adapter whose name contains this (case-insensitive).
    pub adapter_name: Option<String>,
    /// Preference when no name is given.
    pub power_preference: wgpu::PowerPreference,
    /// The element-wise kernels' shape; `None` picks it from the adapter's
    /// type ([`KernelShape::for_device_type`]).
    pub kernel_shape: Option<KernelShape>,
    /// Whether the fused bias kernels read the bias from a uniform buffer
    /// (see shaders/bias_uniform.wgsl); `None`: on CPU adapters only.
    pub uniform_bias: Option<bool>,
    /// The element-wise kernels' layout; `None` picks it from the adapter's
    /// type ([`KernelLayout::for_device_type`]).
    pub kernel_layout: Option<KernelLayout>,
    /// How the coalesced kernels assemble mask words; `None`: with subgroup
    /// shuffles where the device has [`wgpu::Features::SUBGROUP`] and
    /// subgroups of at least 8 lanes, in workgroup memory elsewhere.
    /// [`MaskWords::Subgroup`] on a device without the feature is
    /// [`Error::InvalidOption`].
    pub mask_words: Option<MaskWords>,
}

impl Default for GpuOptions {
    fn default() -> Self {
        Self {
            backends: wgpu::Backends::all(),
            adapter_name: None,
            power_preference: wgpu::PowerPreference::HighPerformance,
            kernel_shape: None,
            uniform_bias: None,
            kernel_layout: None,
            mask_words: None,
        }
    }
}

impl GpuOptions {
    /// Options from `WGPU_BACKEND`, `WGPU_ADAPTER_NAME`, `WGPU_POWER_PREF`,
    /// `WGPU_ACTIVATIONS_KERNEL_SHAPE` (e.g. `64x2`, see [`KernelShape`]),
    /// `WGPU_ACTIVATIONS_UNIFORM_BIAS` (`1` or `0`, see
    /// [`GpuOptions::uniform_bias`]) and `WGPU_ACTIVATIONS_LAYOUT` (`chunked`
    /// or `coalesced`, see [`KernelLayout`]).
    ///
    /// Unlike wgpu's own helper, an unknown backend name is an error rather
    /// than a warning followed by "no backend at all".
    pub fn from_env() -> Result<Self> {
        let mut options = Self::default();
        if let Ok(list) = std::env::var("WGPU_BACKEND") {
            options.backends = parse_backends(&list)?;
        }
        if let Ok(name) = std::env::var("WGPU_ADAPTER_NAME") {
            options.adapter_name = Some(name);
        }
        if let Ok(value) = std::env::var("WGPU_POWER_PREF") {
            // wgpu's own reader ignores a value it does not know.
            options.power_preference = match value.to_lowercase().as_str() {
                "low" => wgpu::PowerPreference::LowPower,
                "high" => wgpu::PowerPreference::HighPerformance,
                "none" => wgpu::PowerPreference::None,
                _ => {
                    return Err(Error::InvalidOption {
                        name: "WGPU_POWER_PREF",
                        value,
                        expected: "low, high or none",
                    });
                }
            };
        }
        if let Ok(shape) = std::env::var("WGPU_ACTIVATIONS_KERNEL_SHAPE") {
            options.kernel_shape = Some(shape.parse()?);
        }
        if let Ok(value) = std::env::var("WGPU_ACTIVATIONS_UNIFORM_BIAS") {
            options.uniform_bias = Some(match value.as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => {
                    return Err(Error::InvalidOption {
                        name: "WGPU_ACTIVATIONS_UNIFORM_BIAS",
                        value,
                        expected: "1, true, 0 or false",
                    });
                }
            });
        }
        if let Ok(value) = std::env::var("WGPU_ACTIVATIONS_LAYOUT") {
            let Some(layout) = KernelLayout::from_name(&value) else {
                return Err(Error::InvalidOption {
                    name: "WGPU_ACTIVATIONS_LAYOUT",
                    value,
                    expected: "chunked or coalesced",
                });
            };
            options.kernel_layout = Some(layout);
        }
        Ok(options)
    }
}

/// Parses a comma-separated backend list, rejecting names wgpu does not know
/// and backends this build of wgpu cannot use on this platform.
pub fn parse_backends(list: &str) -> Result<wgpu::Backends> {
    let enabled = wgpu::Instance::enabled_backend_features();
    let mut backends = wgpu::Backends::empty();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let backend = wgpu::Backends::from_comma_list(name);
        if backend.is_empty() || !enabled.contains(backend) {
            return Err(Error::UnsupportedBackend {
                name: name.to_string(),
            });
        }
        backends |= backend;
    }
    if backends.is_empty() {
        return Err(Error::UnsupportedBackend {
            name: list.to_string(),
        });
    }
    Ok(backends)
}

/// What a [`Gpu`] runs on: the adapter and the limits that matter here.
#[derive(Clone, Debug)]
pub struct GpuInfo {
    /// Adapter name, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: wgpu::Backend,
    /// Discrete, integrated, CPU, ...
    pub device_type: wgpu::DeviceType,
    /// Driver name.
    pub driver: String,
    /// Driver version details.
    pub driver_info: String,
    /// Largest storage-buffer binding, in bytes.
    pub max_storage_buffer_binding_size: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_size: u64,
    /// Most workgroups in one dispatch dimension.
    pub max_compute_workgroups_per_dimension: u32,
    /// Required alignment of storage-buffer binding offsets, in bytes.
    pub min_storage_buffer_offset_alignment: u32,
    /// Whether the device can time kernels with timestamp queries.
    pub timestamp_query: bool,
    /// The shape the element-wise kernels run with.
    pub kernel_shape: KernelShape,
    /// Whether the fused bias kernels read a bias of up to 16384 columns
    /// from a uniform buffer (wider ones always from storage).
    pub uniform_bias: bool,
    /// The element-wise kernels' layout and, for the coalesced one, how they
    /// assemble mask words ([`KernelVariant::CHUNKED`] for the chunked one).
    pub kernel_variant: KernelVariant,
}

impl GpuInfo {
    fn new(
        info: wgpu::AdapterInfo,
        limits: &wgpu::Limits,
        features: wgpu::Features,
        kernel_shape: KernelShape,
        uniform_bias: bool,
        kernel_variant: KernelVariant,
    ) -> Self {
        Self {
            name: info.name,
            backend: info.backend,
            device_type: info.device_type,
            driver: info.driver,
            driver_info: info.driver_info,
            max_storage_buffer_binding_size: limits.max_storage_buffer_binding_size,
            max_buffer_size: limits.max_buffer_size,
            max_compute_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
            min_storage_buffer_offset_alignment: limits.min_storage_buffer_offset_alignment,
            timestamp_query: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            kernel_shape,
            uniform_bias,
            kernel_variant,
        }
    }
}

impl fmt::Display for GpuInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "adapter:   {}", self.name)?;
        writeln!(f, "backend:   {:?}", self.backend)?;
        writeln!(f, "type:      {:?}", self.device_type)?;
        writeln!(
            f,
            "driver:    {}",
            [self.driver.as_str(), self.driver_info.as_str()]
                .iter()
                .filter(|part| !part.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        )?;
        writeln!(
            f,
            "limits:    storage binding {} MiB, buffer {} MiB, {} workgroups/dim, offset alignment {} B",
            self.max_storage_buffer_binding_size >> 20,
            self.max_buffer_size >> 20,
            self.max_compute_workgroups_per_dimension,
            self.min_storage_buffer_offset_alignment
        )?;
        writeln!(f, "timestamps: {}", self.timestamp_query)?;
        write!(
            f,
            "kernels:   {} layout, {} threads per workgroup, {} chunks of 32 elements per thread, bias from {} buffer",
            self.kernel_variant,
            self.kernel_shape.workgroup_size,
            self.kernel_shape.chunks_per_invocation,
            if self.uniform_bias {
                "a uniform"
            } else {
                "a storage"
            }
        )
    }
}

/// A device and queue that run this crate's kernels.
///
/// Cheap to clone (an `Arc`), `Send + Sync`: one `Gpu` serves many threads.
/// Each kernel is compiled on first use and reused afterwards.
///
/// ```no_run
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = wgpu_activations::Gpu::new()?;
/// println!("{}", gpu.info());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Gpu {
    inner: Arc<Inner>,
}

struct Inner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: GpuInfo,
    limits: wgpu::Limits,
    pipelines: Pipelines,
    /// Set by the device-lost callback (only on devices this crate opened:
    /// a caller's device keeps the callback its owner installed).
    lost: Arc<Mutex<Option<String>>>,
    /// Download staging buffers kept for reuse.
    readback_pool: ReadbackPool,
    /// Upload staging buffers kept for reuse.
    upload_pool: UploadPool,
    /// The uniform buffer the fused forward copies its bias into on CPU
    /// adapters, made once and shared by every op: each op records its copy
    /// right before its dispatch, and the queue runs them in that order.
    uniform_bias_staging: Mutex<Option<wgpu::Buffer>>,
    /// The fused backward's block sums, shared by every backward op the
    /// same way: each op's first pass writes them and its second pass reads
    /// them in consecutive dispatches, recorded together, and the queue runs
    /// them in order (wgpu puts a barrier between two dispatches that use a
    /// writable buffer), so another op's writes never come between.
    /// Replaced by a larger one when an op needs more (up to
    /// [`KEPT_BLOCK_SUMS_BYTES`]); ops planned earlier keep the one they
    /// bound.
    block_sums_scratch: Mutex<Option<wgpu::Buffer>>,
}

impl fmt::Debug for Gpu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gpu")
            .field("adapter", &self.inner.info.name)
            .field("backend", &self.inner.info.backend)
            .finish_non_exhaustive()
    }
}

impl Gpu {
    /// Opens a device on the adapter chosen by [`GpuOptions::from_env`]. Blocks.
    pub fn new() -> Result<Self> {
        Self::with_options(&GpuOptions::from_env()?)
    }

    /// Opens a device on the adapter the options choose. Blocks.
    pub fn with_options(options: &GpuOptions) -> Result<Self> {
        pollster::block_on(Self::with_options_async(options))
    }

    /// Opens a device on the adapter the options choose.
    pub async fn with_options_async(options: &GpuOptions) -> Result<Self> {
        let instance = new_instance(options.backends);
        let adapter = choose_adapter(&instance, options).await?;
        Self::open(&adapter, options).await
    }

    /// Every adapter wgpu finds on the given backends, with whether it can run compute.
    pub fn enumerate_adapters(backends: wgpu::Backends) -> Vec<(wgpu::AdapterInfo, bool)> {
        let instance = new_instance(backends);
        pollster::block_on(instance.enumerate_adapters(backends))
            .into_iter()
            .map(|adapter| (adapter.get_info(), supports_compute(&adapter)))
            .collect()
    }

    /// Opens a device on a given adapter, asking for the adapter's own buffer
    /// and binding limits (wgpu's defaults are lower than most hardware's).
    pub async fn from_adapter(adapter: &wgpu::Adapter) -> Result<Self> {
        Self::open(adapter, &GpuOptions::default()).await
    }

    async fn open(adapter: &wgpu::Adapter, options: &GpuOptions) -> Result<Self> {
        let adapter_info = adapter.get_info();
        if !supports_compute(adapter) {
            return Err(Error::NoCompute {
                adapter: adapter_info.name,
            });
        }
        // SUBGROUP only lets the coalesced masked kernels assemble their
        // words with shuffles (`GpuOptions::mask_words`).
        let wanted_features = wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SUBGROUP;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wgpu-activations"),
                required_features: adapter.features() & wanted_features,
                required_limits: adapter.limits(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: adapter_info.name.clone(),
                message: e.to_string(),
            })?;

        // wgpu's default handler panics; every call of ours runs inside error
        // scopes, so anything reaching this handler came from outside them.
        device.on_uncaptured_error(Arc::new(|error| {
            log::error!("uncaptured wgpu error: {error}");
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_flag = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            if let Ok(mut slot) = lost_flag.lock() {
                *slot = Some(format!("{reason:?}: {message}"));
            }
        });
        Self::build(device, queue, lost, options)
    }

    /// Uses a device the caller already owns, such as a game engine's.
    ///
    /// Make one `Gpu` per device and clone it: tensors belong to the `Gpu`
    /// that made them, and another `Gpu` refuses them with
    /// [`Error::WrongDevice`] even when it wraps the same device.
    ///
    /// Limits and features are read from that device, never assumed. The
    /// device's error handler and device-lost callback stay the owner's: this
    /// crate captures its own errors with error scopes.
    ///
    /// It takes [`GpuOptions::default`]'s kernel options (the kernel shape,
    /// the uniform bias and the layout chosen by the adapter's type, subgroup
    /// mask words where the device was opened with
    /// [`wgpu::Features::SUBGROUP`]) and reads no
    /// environment variable; [`from_device_with_options`](Gpu::from_device_with_options)
    /// takes others, `GpuOptions::from_env()?` included.
    pub fn from_device(device: wgpu::Device, queue: wgpu::Queue) -> Result<Self> {
        Self::from_device_with_options(device, queue, &GpuOptions::default())
    }

    /// [`from_device`](Gpu::from_device) with the kernel options of
    /// `options`: [`kernel_shape`](GpuOptions::kernel_shape),
    /// [`uniform_bias`](GpuOptions::uniform_bias),
    /// [`kernel_layout`](GpuOptions::kernel_layout) and
    /// [`mask_words`](GpuOptions::mask_words). Its adapter-choosing
    /// fields (backends, adapter name, power preference) do not apply to a
    /// device that already exists and are ignored.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, GpuOptions};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// # let (device, queue) = { let gpu = Gpu::new()?; (gpu.device().clone(), gpu.queue().clone()) };
    /// let options = GpuOptions { uniform_bias: Some(false), ..GpuOptions::from_env()? };
    /// let gpu = Gpu::from_device_with_options(device, queue, &options)?;
    /// assert!(!gpu.info().uniform_bias);
    /// # Ok(()) }
    /// ```
    pub fn from_device_with_options(
        device: wgpu::Device,
        queue: wgpu::Queue,
        options: &GpuOptions,
    ) -> Result<Self> {
        Self::build(device, queue, Arc::new(Mutex::new(None)), options)
    }

    /// [`from_device`](Gpu::from_device) with the element-wise kernels'
    /// [`KernelShape`] chosen by the caller.
    pub fn from_device_with_shape(
        device: wgpu::Device,
        queue: wgpu::Queue,
        kernel_shape: KernelShape,
    ) -> Result<Self> {
        let options = GpuOptions {
            kernel_shape: Some(kernel_shape),
            ..GpuOptions::default()
        };
        Self::from_device_with_options(device, queue, &options)
    }

    fn build(
        device: wgpu::Device,
        queue: wgpu::Queue,
        lost: Arc<Mutex<Option<String>>>,
        options: &GpuOptions,
    ) -> Result<Self> {
        let limits = device.limits();
        let adapter = device.adapter_info();
        let is_cpu = adapter.device_type == wgpu::DeviceType::Cpu;
        let shape = options
            .kernel_shape
            .unwrap_or(KernelShape::for_device_type(adapter.device_type));
        shape.validate(&limits)?;
        let uniform_bias = options.uniform_bias.unwrap_or(is_cpu)
            && limits.max_uniform_buffer_binding_size >= UNIFORM_BIAS_BYTES;
        let variant = kernel_variant(options, &adapter, device.features())?;
        let info = GpuInfo::new(
            adapter,
            &limits,
            device.features(),
            shape,
            uniform_bias,
            variant,
        );
        let pipelines = Pipelines::new(device.clone(), shape, variant);
        Ok(Self {
            inner: Arc::new(Inner {
                device,
                queue,
                info,
                limits,
                pipelines,
                lost,
                readback_pool: ReadbackPool::default(),
                upload_pool: UploadPool::default(),
                uniform_bias_staging: Mutex::new(None),
                block_sums_scratch: Mutex::new(None),
            }),
        })
    }

    /// The adapter and its limits.
    pub fn info(&self) -> &GpuInfo {
        &self.inner.info
    }

    /// The device's limits.
    pub fn limits(&self) -> &wgpu::Limits {
        &self.inner.limits
    }

    /// The wgpu device, for callers who record their own work beside ours.
    pub fn device(&self) -> &wgpu::Device {
        &self.inner.device
    }

    /// The wgpu queue.
    pub fn queue(&self) -> &wgpu::Queue {
        &self.inner.queue
    }

    /// Compiles every kernel now, so that no op pays for compilation later
    /// (an engine calls this at load time rather than mid-frame).
    pub fn precompile(&self) -> Result<()> {
        self.ensure_alive()?;
        self.inner.pipelines.compile_all()
    }

    /// The shared uniform bias staging buffer, made on first use.
    pub(crate) fn uniform_bias_staging(&self) -> Result<wgpu::Buffer> {
        let mut slot = self
            .inner
            .uniform_bias_staging
            .lock()
            .map_err(|_| Error::Wgpu {
                context: "staging the bias".to_string(),
                message: "staging buffer poisoned by a panic on another thread".to_string(),
            })?;
        if let Some(buffer) = slot.as_ref() {
            return Ok(buffer.clone());
        }
        let buffer = crate::buffer::uniform_scratch(self, UNIFORM_BIAS_BYTES)?;
        *slot = Some(buffer.clone());
        Ok(buffer)
    }

    /// A storage buffer of at least `bytes` (as
    /// [`storage_bytes`](crate::buffer::storage_bytes) returned) for the fused
    /// backward's block sums: the shared one, grown if it is smaller, or one
    /// of its own for a request over [`KEPT_BLOCK_SUMS_BYTES`].
    pub(crate) fn block_sums_scratch(&self, bytes: u64) -> Result<wgpu::Buffer> {
        const LABEL: &str = "wgpu-activations block sums";
        if bytes > KEPT_BLOCK_SUMS_BYTES {
            return crate::buffer::allocate(self, bytes, LABEL);
        }
        let mut slot = self
            .inner
            .block_sums_scratch
            .lock()
            .map_err(|_| Error::Wgpu {
                context: "the bias gradient's scratch".to_string(),
                message: "scratch buffer poisoned by a panic on another thread".to_string(),
            })?;
        if let Some(buffer) = slot.as_ref().filter(|buffer| buffer.size() >= bytes) {
            return Ok(buffer.clone());
        }
        // Grown by powers of two, so that a run of growing ops replaces it
        // a few times only; still a whole number of vectors.
        let grown = bytes
            .next_power_of_two()
            .min(KEPT_BLOCK_SUMS_BYTES)
            .min(self.limits().max_buffer_size)
            .max(bytes);
        let buffer = crate::buffer::allocate(self, grown, LABEL)?;
        *slot = Some(buffer.clone());
        Ok(buffer)
    }

    pub(crate) fn readback_pool(&self) -> &ReadbackPool {
        &self.inner.readback_pool
    }

    pub(crate) fn upload_pool(&self) -> &UploadPool {
        &self.inner.upload_pool
    }

    pub(crate) fn pipelines(&self) -> &Pipelines {
        &self.inner.pipelines
    }

    /// Blocks until all work submitted so far has finished.
    pub fn wait_idle(&self) -> Result<()> {
        self.wait_for(None)
    }

    /// Blocks until one submission (and everything before it) has finished.
    pub fn wait_for_submission(&self, submission: wgpu::SubmissionIndex) -> Result<()> {
        self.wait_for(Some(submission))
    }

    /// Errors with [`Error::WrongDevice`] unless `other` is this very `Gpu`
    /// (or a clone of it).
    ///
    /// Identity is the shared allocation, not `wgpu::Device`'s `==`: wgpu 30
    /// compares devices (and buffers) by an index that is only unique within
    /// one `wgpu::Instance`, so two devices opened by two instances can
    /// compare equal, and a buffer of one then reaches the other and panics
    /// inside wgpu-core.
    pub(crate) fn ensure_same(&self, other: &Gpu, what: &'static str) -> Result<()> {
        if Arc::ptr_eq(&self.inner, &other.inner) {
            Ok(())
        } else {
            Err(Error::WrongDevice { what })
        }
    }

    /// Errors with [`Error::WrongDevice`] unless a caller's `buffer` belongs
    /// to this device.
    ///
    /// wgpu 30 has no query for a buffer's device, so this binds the
    /// buffer's first word on this device and watches for wgpu's device
    /// mismatch (a validation error; nothing is recorded or submitted).
    /// That catches a device of the same `wgpu::Instance`. wgpu cannot tell
    /// a buffer of another instance's device from one of this device's
    /// whose id is the same number, so such a buffer passes when an id
    /// matches (and is refused when none does).
    pub(crate) fn ensure_owns(&self, buffer: &wgpu::Buffer, what: &'static str) -> Result<()> {
        if buffer.size() < 4 {
            // Nothing can be bound from it, so it never reaches a kernel.
            return Ok(());
        }
        let device = &self.inner.device;
        let probe = self.capture("checking a buffer's device", || {
            let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
                label: Some("wgpu-activations device probe"),
                entries: &[wgpu::BindGroupLayoutEntry {
                    binding: 0,
                    visibility: wgpu::ShaderStages::COMPUTE,
                    ty: wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                    count: None,
                }],
            });
            let _probe = device.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("wgpu-activations device probe"),
                layout: &layout,
                entries: &[wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer,
                        offset: 0,
                        size: wgpu::BufferSize::new(4),
                    }),
                }],
            });
        });
        match probe {
            // wgpu-core's words for a device mismatch, and for an id its
            // registry lacks (a buffer of another instance).
            Err(Error::Wgpu { message, .. })
                if message.contains("doesn't match Device")
                    || message.contains("non-existent resource") =>
            {
                Err(Error::WrongDevice { what })
            }
            other => other,
        }
    }

    /// Runs `f` inside validation, out-of-memory and internal error scopes, and
    /// turns whatever wgpu reports there into an [`Error`].
    ///
    /// Error scopes are thread-local in wgpu, so concurrent callers on other
    /// threads never see each other's errors. `context` names what `f` does
    /// in an error's message.
    pub fn capture<T>(&self, context: &str, f: impl FnOnce() -> T) -> Result<T> {
        self.ensure_alive()?;
        let device = &self.inner.device;
        let out_of_memory = device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let internal = device.push_error_scope(wgpu::ErrorFilter::Internal);
        // wgpu-core panics instead of reporting a few misuses it cannot
        // check, such as a buffer of another `wgpu::Instance`'s device
        // ("Cannot get non-existent resource"); the scopes must be popped
        // either way.
        let value = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        // Scopes pop in reverse order of their pushes.
        let internal = pollster::block_on(internal.pop());
        let validation = pollster::block_on(validation.pop());
        let out_of_memory = pollster::block_on(out_of_memory.pop());
        let value = value.map_err(|panic| Error::Wgpu {
            context: context.to_string(),
            message: panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("wgpu panicked")
                .to_string(),
        })?;
        if out_of_memory.is_some() {
            return Err(Error::OutOfMemory(context.to_string()));
        }
        if let Some(error) = validation.or(internal) {
            self.loss_behind_error(wgpu::PollType::Poll)?;
            return Err(Error::Wgpu {
                context: context.to_string(),
                message: error.to_string(),
            });
        }
        Ok(value)
    }

    /// Finishes and submits one encoder's commands, with wgpu's validation
    /// errors captured as [`Error::Wgpu`] and a lost device reported as
    /// [`Error::DeviceLost`]; returns the submission to wait on
    /// ([`wait_for_submission`](Gpu::wait_for_submission)). `context` names
    /// what was submitted in an error's message.
    pub fn submit(
        &self,
        context: &str,
        encoder: wgpu::CommandEncoder,
    ) -> Result<wgpu::SubmissionIndex> {
        let submitted = self.capture(context, || self.inner.queue.submit([encoder.finish()]));
        if let Err(Error::Wgpu { .. }) = &submitted {
            // The lost callback runs only once the queue is empty, which the
            // non-blocking poll in `capture` may not see with work still
            // queued: wait for it here, on this error path only, bounded.
            self.loss_behind_error(wgpu::PollType::Wait {
                submission_index: None,
                timeout: Some(std::time::Duration::from_secs(1)),
            })?;
        }
        submitted
    }

    /// Blocks until `submission` (or everything, for `None`) has finished.
    pub(crate) fn wait_for(&self, submission: Option<wgpu::SubmissionIndex>) -> Result<()> {
        self.ensure_alive()?;
        let waited = self.inner.device.poll(wgpu::PollType::Wait {
            submission_index: submission,
            timeout: None,
        });
        if let Err(error) = waited {
            self.loss_behind_error(wgpu::PollType::Poll)?;
            return Err(Error::Wgpu {
                context: "waiting for the GPU".to_string(),
                message: error.to_string(),
            });
        }
        self.ensure_alive()
    }

    /// After wgpu reported an error: [`Error::DeviceLost`] if the device was
    /// lost behind it. A lost device makes every call fail, and says so only
    /// in its lost callback, which runs on a poll; `poll` runs it.
    fn loss_behind_error(&self, poll: wgpu::PollType) -> Result<()> {
        let _ = self.inner.device.poll(poll);
        self.ensure_alive()
    }

    /// Errors with [`Error::DeviceLost`] once the device-lost callback of a
    /// device this crate opened has run.
    pub(crate) fn ensure_alive(&self) -> Result<()> {
        match self.inner.lost.lock() {
            Ok(slot) => match slot.as_ref() {
                Some(reason) => Err(Error::DeviceLost(reason.clone())),
                None => Ok(()),
            },
            Err(_) => Err(Error::DeviceLost("device-lost state poisoned".to_string())),
        }
    }
}

/// The element-wise kernels' variant on a device: the options', else the
/// adapter type's layout, with subgroup mask words where the device has the
/// feature and subgroups of at least 8 lanes (a chunk's invocations, eight
/// at most, exchange their bits within one subgroup).
fn kernel_variant(
    options: &GpuOptions,
    adapter: &wgpu::AdapterInfo,
    features: wgpu::Features,
) -> Result<KernelVariant> {
    let has_subgroups = features.contains(wgpu::Features::SUBGROUP);
    let mask_words = match options.mask_words {
        Some(MaskWords::Subgroup) if !has_subgroups => {
            return Err(Error::InvalidOption {
                name: "GpuOptions::mask_words",
                value: MaskWords::Subgroup.to_string(),
                expected: "workgroup memory on a device without the SUBGROUP feature",
            });
        }
        Some(mask_words) => mask_words,
        None if has_subgroups && adapter.subgroup_min_size >= 8 => MaskWords::Subgroup,
        None => MaskWords::Workgroup,
    };
    let layout = options
        .kernel_layout
        .unwrap_or(KernelLayout::for_device_type(adapter.device_type));
    Ok(match layout {
        // Its invocations own whole words: nothing to assemble.
        KernelLayout::Chunked => KernelVariant::CHUNKED,
        KernelLayout::Coalesced => KernelVariant { layout, mask_words },
    })
}

fn new_instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = backends;
    wgpu::Instance::new(descriptor)
}

fn supports_compute(adapter: &wgpu::Adapter) -> bool {
    adapter
        .get_downlevel_capabilities()
        .flags
        .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
}

async fn choose_adapter(instance: &wgpu::Instance, options: &GpuOptions) -> Result<wgpu::Adapter> {
    let Some(wanted) = options.adapter_name.as_deref() else {
        return instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: options.power_preference,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::NoAdapter(format!(
                    "{e} (backends {:?}; on a machine without a GPU install a software \
                     driver, e.g. `apt-get install mesa-vulkan-drivers`)",
                    options.backends
                ))
            });
    };
    let wanted_lower = wanted.to_lowercase();
    let adapters = instance.enumerate_adapters(options.backends).await;
    let names: Vec<String> = adapters.iter().map(|a| a.get_info().name).collect();
    adapters
        .into_iter()
        .find(|a| a.get_info().name.to_lowercase().contains(&wanted_lower))
        .ok_or_else(|| {
            Error::NoAdapter(format!(
                "no adapter name contains {wanted:?} on backends {:?}; found {names:?}",
                options.backends
            ))
        })
}
