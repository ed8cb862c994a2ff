//! One benchmark result and the figures derived from it.

/// How the GPU kernel-only time was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelTimer {
    /// GPU timestamp queries written around the op's passes
    /// (`wgpu::Features::TIMESTAMP_QUERY`).
    Timestamps,
    /// Host wall time of submit + wait, on adapters without timestamps.
    SubmitAndWait,
}

impl KernelTimer {
    /// `"timestamps"` or `"submit+wait"`.
    pub fn name(self) -> &'static str {
        match self {
            KernelTimer::Timestamps => "timestamps",
            KernelTimer::SubmitAndWait => "submit+wait",
        }
    }
}

/// The timings of one op at one size, all taken in the same run.
///
/// Times are in seconds, each the fastest of its samples. Bandwidths are the bytes the op must move
/// ([`bytes`](Self::bytes), as DESIGN.md counts them) over a time, in GB/s
/// (10^9 bytes per second).
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// The op, e.g. `relu` or `bias_relu_backward`.
    pub op: String,
    /// Elements of the op's main operand.
    pub elements: usize,
    /// Bytes the op must read and write.
    pub bytes: u64,
    /// GPU kernel-only time on resident tensors.
    pub kernel_seconds: f64,
    /// `copy_buffer_to_buffer` moving the same bytes (half read, half
    /// written) on the same device, measured with the same timer.
    pub copy_seconds: f64,
    /// The identity kernel (`y = x` in the element-wise kernels' loop and
    /// launch shape) moving the same bytes: the WGSL baseline.
    pub identity_seconds: f64,
    /// The first round trip of a one-off call: upload into new tensors,
    /// kernel, download into new host vectors; wall time.
    pub first_round_trip_seconds: f64,
    /// A repeated round trip on tensors and host buffers kept from the last
    /// one: write the inputs, kernel, download the outputs; wall time.
    pub round_trip_seconds: f64,
    /// The round trip's floor: the kernel time plus a host copy of the bytes
    /// it uploads and downloads.
    pub round_trip_floor_seconds: f64,
    /// The median of back-to-back (round trip / floor) ratios.
    pub round_trip_to_floor: f64,
    /// The tuned CPU baseline ([`cpu_parallel`](crate::cpu_parallel)), one
    /// thread.
    pub cpu_seconds: f64,
    /// The tuned CPU baseline on [`threads`](Self::threads) threads.
    pub cpu_threads_seconds: f64,
    /// The host's memcpy of the same bytes (half read, half written;
    /// [`cpu_parallel::copy`](crate::cpu_parallel::copy)), one thread,
    /// sampled alternately with the one-thread CPU run.
    pub memcpy_seconds: f64,
    /// The host's memcpy on [`threads`](Self::threads) threads, sampled
    /// alternately with the multi-threaded CPU run.
    pub memcpy_threads_seconds: f64,
    /// Threads of the multi-threaded CPU run.
    pub threads: usize,
}

/// GB/s for `bytes` moved in `seconds`.
pub fn gigabytes_per_second(bytes: u64, seconds: f64) -> f64 {
    bytes as f64 / seconds / 1e9
}

impl Measurement {
    /// GPU kernel bandwidth.
    pub fn kernel_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.kernel_seconds)
    }

    /// The copy baseline's bandwidth: the device's limit for a memory-bound op.
    pub fn copy_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.copy_seconds)
    }

    /// Kernel bandwidth as a fraction of the copy baseline's (1.0 = as fast
    /// as copying the same bytes).
    pub fn ratio_to_copy(&self) -> f64 {
        self.copy_seconds / self.kernel_seconds
    }

    /// Kernel bandwidth as a fraction of the identity kernel's (1.0 = as
    /// fast as the loop with no work in it).
    pub fn ratio_to_identity(&self) -> f64 {
        self.identity_seconds / self.kernel_seconds
    }

    /// Effective bandwidth of the repeated round trip (the op's bytes over its time).
    pub fn round_trip_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.round_trip_seconds)
    }

    /// One-thread CPU bandwidth.
    pub fn cpu_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.cpu_seconds)
    }

    /// Multi-threaded CPU bandwidth.
    pub fn cpu_threads_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.cpu_threads_seconds)
    }

    /// One-thread host memcpy bandwidth: the CPU's limit on one core.
    pub fn memcpy_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.memcpy_seconds)
    }

    /// Multi-threaded host memcpy bandwidth: the CPU's limit.
    pub fn memcpy_threads_gbps(&self) -> f64 {
        gigabytes_per_second(self.bytes, self.memcpy_threads_seconds)
    }

    /// Multi-threaded CPU bandwidth as a fraction of the multi-threaded
    /// memcpy's (1.0 = as fast as copying the same bytes).
    pub fn cpu_to_memcpy(&self) -> f64 {
        self.memcpy_threads_seconds / self.cpu_threads_seconds
    }

    /// How many times faster the GPU kernel is than the tuned CPU baseline
    /// on every thread.
    pub fn speedup(&self) -> f64 {
        self.cpu_threads_seconds / self.kernel_seconds
    }
}

/// Every measurement of one run on one adapter.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub adapter: String,
    /// Backend, e.g. `Vulkan`.
    pub backend: String,
    /// How kernel times were taken.
    pub timer: KernelTimer,
    /// One row per op and size.
    pub measurements: Vec<Measurement>,
    /// Many small ops, one by one vs batched, one row per tensor size.
    pub small_ops: Vec<super::SmallOps>,
    /// The per-type rows ([`dtype_rows`](super::dtype_rows)), where the
    /// run measured them (the adapter binds their size).
    pub element_types: Vec<super::DTypeRow>,
}
