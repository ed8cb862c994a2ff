//! GPU-vs-CPU benchmarks: what `wgpu-activations bench` and `cargo bench`
//! measure.
//!
//! For each op and size, in one run on one adapter:
//! - **GPU kernel**: the op on tensors already on the GPU, timed with
//!   timestamp queries where the adapter has them (else submit + wait);
//! - **copy**: `copy_buffer_to_buffer` of the same bytes on the same device,
//!   timed the same way: the limit for a memory-bound op, so each kernel is
//!   also reported as a ratio to it;
//! - **identity**: the identity kernel (`y = x` in the element-wise loop and
//!   launch shape, [`Gpu::identity`](wgpu_activations::Gpu::identity)) over
//!   the same bytes: the WGSL limit, which the copy may exceed;
//! - **GPU round trips**: the first (upload into new tensors, op, download
//!   into new vectors), and a repeated one on kept tensors and vectors
//!   (`Tensor::write`, op, `download_into`) against its floor: the kernel
//!   time plus a host memcpy of the bytes uploaded and downloaded;
//! - **CPU**: the tuned baseline, bit-identical to the reference, on one
//!   thread and on a rayon pool of every core
//!   ([`cpu_parallel`](crate::cpu_parallel)); the speedup is the GPU
//!   kernel's against it on every core;
//! - **host memcpy**: [`cpu_parallel::copy`](crate::cpu_parallel::copy) of
//!   the same bytes on one thread and on every core, sampled alternately
//!   with the CPU op: the CPU's own limit, as the copy is the GPU's.
//!
//! Every timed kernel's output is compared with the CPU reference, so a
//! figure never comes from a kernel that computed something else.
//!
//! ```no_run
//! use wgpu_activations::Gpu;
//! use wgpu_activations_harness::bench;
//! # fn main() -> wgpu_activations_harness::Result<()> {
//! let gpu = Gpu::new()?;
//! let report = bench::run(&gpu, &bench::Config::quick(), |_| {})?;
//! println!("{}", report.table());
//! # Ok(()) }
//! ```

mod dtypes;
mod gpu_report;
mod measurement;
mod plot;
mod recording;
mod report;
mod small_ops;
mod targets;
mod timer;
mod workload;

pub use dtypes::{DTypeRow, dtype_ops, dtype_rows, dtype_table, dtype_targets};
pub use gpu_report::{LayoutRun, markdown};
pub use measurement::{KernelTimer, Measurement, Report, gigabytes_per_second};
pub use plot::plot_svg;
pub use recording::{RecordingCosts, measure_recording};
pub use small_ops::{SmallOps, small_ops};
pub use targets::{Bound, TARGET_ELEMENTS, Target, measure_targets, recording_target};
pub use timer::GpuTimer;

pub use workload::{BIAS_COLS, BenchOp, HostWorkload, Workload};

use std::time::Duration;

use crate::error::Result;
use wgpu_activations::Gpu;

/// What a run measures and how often.
#[derive(Clone, Debug)]
pub struct Config {
    /// Element counts; sizes whose operands exceed the device's binding
    /// limit are skipped (see [`Config::sizes_for`]).
    pub sizes: Vec<usize>,
    /// Ops to run.
    pub ops: Vec<BenchOp>,
    /// Timed GPU samples per figure (kernel and copy); the fastest is kept.
    pub gpu_samples: usize,
    /// Repetitions of the op recorded into one timed submission are chosen
    /// so that a sample lasts at least this long (at most 64 repetitions).
    pub min_sample: Duration,
    /// Round-trip and CPU samples per figure; the fastest is kept.
    pub host_samples: usize,
    /// Threads of the multi-threaded CPU run.
    pub threads: usize,
    /// Tensor sizes of the small-ops comparison (batched vs one by one).
    pub small_sizes: Vec<usize>,
    /// Ops per small-ops sample.
    pub small_ops: usize,
}

impl Config {
    /// Every op at 2^10 to 2^26 elements, 4x per step.
    pub fn full() -> Self {
        Self {
            sizes: (0..=8).map(|step| 1usize << (10 + 2 * step)).collect(),
            ops: BenchOp::all(),
            gpu_samples: 11,
            min_sample: Duration::from_millis(20),
            host_samples: 5,
            threads: crate::cpu_parallel::available_threads(),
            small_sizes: vec![1 << 10, 1 << 12, 1 << 14, 1 << 16],
            small_ops: 100,
        }
    }

    /// Fewer sizes and samples: under a minute on a 2-core machine with a
    /// software adapter, still including 2^24, the size the targets in
    /// benches/README.md are stated at.
    pub fn quick() -> Self {
        Self {
            sizes: vec![1 << 10, 1 << 14, 1 << 18, 1 << 20, 1 << 22, 1 << 24],
            gpu_samples: 5,
            min_sample: Duration::from_millis(5),
            host_samples: 3,
            small_sizes: vec![1 << 10, 1 << 16],
            ..Self::full()
        }
    }

    /// The sizes `gpu` can run (each operand within one storage binding),
    /// and the ones it cannot.
    pub fn sizes_for(&self, gpu: &Gpu) -> (Vec<usize>, Vec<usize>) {
        let limit = gpu.limits().max_storage_buffer_binding_size;
        self.sizes
            .iter()
            .partition(|&&size| BenchOp::largest_binding(size) <= limit)
    }
}

/// The fastest of `samples`. On a shared machine, interference from other
/// work only ever adds time, so the minimum is the steadiest estimate of
/// what the work itself costs; the median drifts with the neighbours' load.
fn fastest(samples: &[Duration]) -> Duration {
    samples.iter().copied().min().unwrap_or_default()
}

/// Work recorded into an encoder, to be timed on the device.
pub type DeviceWork<'a> = &'a mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>;

/// Work recorded into one timed submission, repeated to last long enough
/// for the clock.
struct Repeated<'a> {
    work: &'a mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
    repetitions: u32,
}

impl<'a> Repeated<'a> {
    /// Runs `work` once (warming caches, page tables and pipelines) and
    /// picks how many repetitions make a sample last `min_sample` (1 to 64).
    fn calibrate(
        timer: &GpuTimer,
        min_sample: Duration,
        work: &'a mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<Self> {
        let once = timer.time(work)?;
        let repetitions = if once.is_zero() {
            64
        } else {
            (min_sample.as_secs_f64() / once.as_secs_f64())
                .ceil()
                .clamp(1.0, 64.0) as u32
        };
        Ok(Self { work, repetitions })
    }

    /// One sample: the device time of one repetition.
    fn sample(&mut self, timer: &GpuTimer) -> Result<Duration> {
        let repetitions = self.repetitions;
        let work = &mut self.work;
        let total = timer.time(&mut |encoder| {
            for _ in 0..repetitions {
                work(encoder)?;
            }
            Ok(())
        })?;
        Ok(total / repetitions)
    }
}

/// Two pieces of work timed in alternating samples, so that a change in the
/// machine's load hits both alike.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// The fastest sample of the first.
    pub first: Duration,
    /// The fastest sample of the second.
    pub second: Duration,
    /// The median over the samples of (second's time / first's time), each
    /// ratio from two samples taken back to back: the steadiest estimate of
    /// how much faster the first is, even while the load drifts.
    pub ratio: f64,
}

/// Times `first` and `second` alternately, `samples` times each.
pub fn device_times(
    timer: &GpuTimer,
    samples: usize,
    min_sample: Duration,
    first: &mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
    second: &mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
) -> Result<Paired> {
    let times = device_times_in_turn(timer, samples, min_sample, &mut [first, second])?;
    Ok(Paired {
        first: times[0].fastest,
        second: times[1].fastest,
        ratio: times[1].ratio_to_first,
    })
}

/// One piece of work of [`device_times_in_turn`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct InTurn {
    /// The fastest sample.
    pub fastest: Duration,
    /// The median over the rounds of (this work's time / the first work's
    /// time), both taken in the same round.
    pub ratio_to_first: f64,
}

/// Times each of `works` in turn, round after round (`samples` rounds), so
/// that a change in the machine's load hits them all alike.
pub fn device_times_in_turn(
    timer: &GpuTimer,
    samples: usize,
    min_sample: Duration,
    works: &mut [DeviceWork<'_>],
) -> Result<Vec<InTurn>> {
    let mut repeated = works
        .iter_mut()
        .map(|work| Repeated::calibrate(timer, min_sample, &mut **work))
        .collect::<Result<Vec<_>>>()?;
    let mut times = vec![Vec::new(); repeated.len()];
    for _ in 0..samples.max(1) {
        for (work, times) in repeated.iter_mut().zip(&mut times) {
            times.push(work.sample(timer)?);
        }
    }
    Ok(times
        .iter()
        .map(|samples| InTurn {
            fastest: fastest(samples),
            ratio_to_first: median(
                samples
                    .iter()
                    .zip(&times[0])
                    .map(|(time, first)| time.as_secs_f64() / first.as_secs_f64()),
            ),
        })
        .collect())
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// A repeated round trip against its floor, sampled in turn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RoundTrips {
    /// The fastest repeated round trip ([`Workload::round_trip_repeated`]).
    pub repeated: Duration,
    /// The floor: `kernel` plus the fastest host copy of the bytes the
    /// round trip moves ([`Workload::round_trip_copy`]).
    pub floor: Duration,
    /// The median over the samples of (round trip / (kernel + the host
    /// copy timed right after it)).
    pub ratio_to_floor: f64,
}

/// Times `samples` repeated round trips of `workload`, each followed by the
/// host copy its floor counts; `kernel` is the op's kernel time.
pub fn round_trips(
    workload: &mut Workload,
    kernel: Duration,
    samples: usize,
) -> Result<RoundTrips> {
    // One untimed round first: it fills the staging pools.
    workload.round_trip_repeated()?;
    workload.round_trip_copy();
    let (mut trips, mut floors) = (Vec::new(), Vec::new());
    for _ in 0..samples.max(1) {
        trips.push(workload.round_trip_repeated()?);
        floors.push(kernel + workload.round_trip_copy());
    }
    Ok(RoundTrips {
        repeated: fastest(&trips),
        floor: fastest(&floors),
        ratio_to_floor: median(
            trips
                .iter()
                .zip(&floors)
                .map(|(trip, floor)| trip.as_secs_f64() / floor.as_secs_f64()),
        ),
    })
}

/// Times `first(state)` and `second(state)` alternately, `samples` times
/// each, after one untimed run of each (it faults pages in and wakes the
/// pool): [`device_times`] for work on the host.
pub fn host_times<T>(
    samples: usize,
    state: &mut T,
    mut first: impl FnMut(&mut T) -> Duration,
    mut second: impl FnMut(&mut T) -> Duration,
) -> Paired {
    first(state);
    second(state);
    let (mut a, mut b, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..samples.max(1) {
        let x = first(state);
        let y = second(state);
        a.push(x);
        b.push(y);
        ratios.push(y.as_secs_f64() / x.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    Paired {
        first: fastest(&a),
        second: fastest(&b),
        ratio: ratios[ratios.len() / 2],
    }
}

/// Measures one workload: kernel, copy and identity kernel (in turn), the
/// first round trip (new tensors), repeated round trips against their floor,
/// CPU on 1 and `config.threads` threads, each the fastest of its samples.
/// Fails if the kernel's output differs from the CPU reference.
pub fn measure(timer: &GpuTimer, workload: &mut Workload, config: &Config) -> Result<Measurement> {
    let times = {
        let workload = &*workload;
        device_times_in_turn(
            timer,
            config.gpu_samples,
            config.min_sample,
            &mut [
                &mut |encoder| workload.record(encoder),
                &mut |encoder| {
                    workload.record_copy(encoder);
                    Ok(())
                },
                &mut |encoder| workload.record_identity(encoder),
            ],
        )?
    };
    let (kernel, copy, identity) = (times[0].fastest, times[1].fastest, times[2].fastest);
    workload.verify()?;
    let samples = config.host_samples.max(1);
    let first_round_trip = workload.round_trip()?;
    let trips = round_trips(workload, kernel, samples)?;
    let threads = config.threads;
    let one = host_times(samples, workload, |w| w.cpu(1), |w| w.memcpy(1));
    let all = host_times(samples, workload, |w| w.cpu(threads), |w| w.memcpy(threads));
    Ok(Measurement {
        op: workload.op().name(),
        elements: workload.elements(),
        bytes: workload.bytes(),
        kernel_seconds: kernel.as_secs_f64(),
        copy_seconds: copy.as_secs_f64(),
        identity_seconds: identity.as_secs_f64(),
        first_round_trip_seconds: first_round_trip.as_secs_f64(),
        round_trip_seconds: trips.repeated.as_secs_f64(),
        round_trip_floor_seconds: trips.floor.as_secs_f64(),
        round_trip_to_floor: trips.ratio_to_floor,
        cpu_seconds: one.first.as_secs_f64(),
        cpu_threads_seconds: all.first.as_secs_f64(),
        memcpy_seconds: one.second.as_secs_f64(),
        memcpy_threads_seconds: all.second.as_secs_f64(),
        threads,
    })
}

/// Runs `config` on `gpu`: every op at every size the device can hold, then
/// the small-ops comparison. `progress` sees each measurement as it is made.
pub fn run(gpu: &Gpu, config: &Config, mut progress: impl FnMut(&Measurement)) -> Result<Report> {
    let timer = GpuTimer::new(gpu)?;
    let (sizes, _) = config.sizes_for(gpu);
    let mut measurements = Vec::new();
    for &op in &config.ops {
        for &size in &sizes {
            let mut workload = Workload::new(gpu, op, size)?;
            let measurement = measure(&timer, &mut workload, config)?;
            progress(&measurement);
            measurements.push(measurement);
        }
    }
    let small = config
        .small_sizes
        .iter()
        .map(|&size| small_ops(gpu, size, config.small_ops, config.host_samples))
        .collect::<wgpu_activations::Result<Vec<_>>>()?;
    Ok(Report {
        adapter: gpu.info().name.clone(),
        backend: format!("{:?}", gpu.info().backend),
        timer: timer.kind(),
        measurements,
        small_ops: small,
        element_types: Vec::new(),
    })
}
