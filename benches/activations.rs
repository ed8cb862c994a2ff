//! Criterion benchmarks of every op, GPU against CPU, on one adapter.
//!
//! For each op ([`BenchOp::all`]: relu, relu+mask, relu_backward from the
//! mask and from `x`, fused bias_relu, the unfused bias_add+relu baseline,
//! the fused bias_relu_backward with `db`, leaky_relu, then the forward op
//! of every other activation the engine has) at 2^10 to 2^26
//! elements, 4x per step, one criterion group named
//! `"{adapter} ({backend})/{op}"` holds, per size:
//!
//! - `gpu_kernel/{size}`: the op on tensors already on the GPU, timed with
//!   timestamp queries where the adapter has `TIMESTAMP_QUERY`, else as
//!   the wall time of submit + wait (at most 64 repetitions of the op per
//!   submission);
//! - `copy/{size}`: `copy_buffer_to_buffer` reading and writing as many
//!   bytes as the op must move, timed the same way: the memory-bound limit
//!   to compare `gpu_kernel` with;
//! - `gpu_round_trip/{size}`: upload of the inputs, the op, and readback of
//!   the outputs, wall time;
//! - `cpu_1_thread/{size}` and `cpu_{N}_threads/{size}`: the CPU baseline
//!   (bit-identical to the reference) into preallocated outputs, on one
//!   thread and on a rayon pool of every available core.
//!
//! The throughput of every benchmark is the bytes the op must move
//! ([`BenchOp::bytes`]), so criterion reports comparable GB/s (GiB/s).
//! Each kernel's output is checked against the CPU reference before it is
//! timed; a mismatch panics. Sizes whose largest operand exceeds the
//! device's `max_storage_buffer_binding_size` are skipped with a note on
//! stderr.
//!
//! A second group, `"{adapter} ({backend})/100 small relus"`, times 100
//! relus of `n` elements (n = 1024 to 65536), with throughput 100 elements
//! (that is, ops): `one_by_one/{n}` submits and waits for each op on its
//! own, `batched/{n}` records all 100 into one batch and submits once, so
//! the time per element is the per-op cost of each way.
//!
//! Running:
//!
//! ```text
//! cargo bench                                   # everything (long: see below)
//! cargo bench -- relu                           # benchmarks whose id matches a regex
//! cargo bench -- 'small relus'                  # only the batching comparison
//! WGPU_BACKEND=gl cargo bench                   # another backend (vulkan, gl, ...)
//! WGPU_ACTIVATIONS_BENCH_MAX_LOG2=20 cargo bench   # sizes up to 2^20 only
//! cargo bench -- --quick                        # criterion's quick mode
//! ```
//!
//! `WGPU_ACTIVATIONS_BENCH_MAX_LOG2` (default 26, at least 10) caps the
//! largest op size at 2^value elements; it does not affect the small-relus
//! group. Operands are created only for the benchmarks the filter selects,
//! and only one op and size is resident at a time.
//!
//! Without an adapter the benchmarks panic rather than report nothing.

use std::time::Duration;

use criterion::{BenchmarkGroup, BenchmarkId, Criterion, Throughput, measurement::WallTime};
use wgpu_activations::{Gpu, Tensor};
use wgpu_activations_harness::bench::{BenchOp, GpuTimer, Workload};
use wgpu_activations_harness::{cpu_parallel, sample};

/// Environment variable capping the largest size at 2^value elements.
const MAX_LOG2_VAR: &str = "WGPU_ACTIVATIONS_BENCH_MAX_LOG2";
/// Smallest and default largest sizes, as log2 of the element count.
const MIN_LOG2: u32 = 10;
const DEFAULT_MAX_LOG2: u32 = 26;
/// Most repetitions of the op recorded into one command buffer.
const MAX_PER_SUBMISSION: u64 = 64;
/// Relus per sample of the small-ops group, and their sizes.
const SMALL_OPS: usize = 100;
const SMALL_SIZES: [usize; 4] = [1 << 10, 1 << 12, 1 << 14, 1 << 16];

/// 2^10, 2^12, ... up to the cap.
fn sizes() -> Vec<usize> {
    let max_log2 = match std::env::var(MAX_LOG2_VAR) {
        Ok(value) => match value.trim().parse::<u32>() {
            Ok(max) if (MIN_LOG2..usize::BITS - 1).contains(&max) => max,
            _ => panic!(
                "{MAX_LOG2_VAR}={value:?}: expected an integer from {MIN_LOG2} to {}",
                usize::BITS - 2
            ),
        },
        Err(_) => DEFAULT_MAX_LOG2,
    };
    (MIN_LOG2..=max_log2)
        .step_by(2)
        .map(|log2| 1usize << log2)
        .collect()
}

/// `"{adapter} ({backend})"`, without the characters that would split
/// criterion's `group/function/value` ids.
fn device_label(gpu: &Gpu) -> String {
    let info = gpu.info();
    format!("{} ({:?})", info.name, info.backend).replace(['/', '\\'], "-")
}

/// Device time of `iters` repetitions of `work`, recorded at most
/// [`MAX_PER_SUBMISSION`] to a submission, the submissions' times summed.
fn device_time(
    timer: &GpuTimer,
    iters: u64,
    what: &str,
    work: &mut dyn FnMut(&mut wgpu::CommandEncoder) -> wgpu_activations_harness::Result<()>,
) -> Duration {
    let mut total = Duration::ZERO;
    let mut left = iters;
    while left > 0 {
        let chunk = left.min(MAX_PER_SUBMISSION);
        total += timer
            .time(&mut |encoder| {
                for _ in 0..chunk {
                    work(encoder)?;
                }
                Ok(())
            })
            .unwrap_or_else(|error| panic!("timing {what}: {error}"));
        left -= chunk;
    }
    total
}

/// The workload of `op` at `size`, created on first use (so that the
/// benchmarks a filter skips never allocate) and verified against the CPU
/// reference before anything is timed.
fn workload<'a>(
    slot: &'a mut Option<Workload>,
    gpu: &Gpu,
    timer: &GpuTimer,
    op: BenchOp,
    size: usize,
) -> &'a mut Workload {
    slot.get_or_insert_with(|| {
        let name = op.name();
        let workload = Workload::new(gpu, op, size)
            .unwrap_or_else(|error| panic!("preparing {name} at {size} elements: {error}"));
        timer
            .time(&mut |encoder| workload.record(encoder))
            .unwrap_or_else(|error| panic!("running {name} at {size} elements: {error}"));
        if let Err(error) = workload.verify() {
            panic!("{name} at {size} elements differs from the CPU reference: {error}");
        }
        workload
    })
}

/// Every op at every size the device can bind: kernel, copy, round trip
/// and CPU, one group per op.
fn ops(c: &mut Criterion, gpu: &Gpu, timer: &GpuTimer, device: &str) {
    let limit = gpu.limits().max_storage_buffer_binding_size;
    let threads = cpu_parallel::available_threads();
    let sizes = sizes();
    for &size in &sizes {
        if BenchOp::largest_binding(size) > limit {
            eprintln!(
                "note: skipping {size} elements: an operand of {} bytes exceeds the device's \
                 max_storage_buffer_binding_size of {limit}",
                BenchOp::largest_binding(size)
            );
        }
    }
    if threads <= 1 {
        eprintln!("note: one CPU thread available: no multi-threaded CPU benchmarks");
    }
    for op in BenchOp::all() {
        let mut group = c.benchmark_group(format!("{device}/{}", op.name()));
        for &size in &sizes {
            if BenchOp::largest_binding(size) > limit {
                continue;
            }
            // Dropped at the end of this iteration, before the next size.
            let mut slot = None;
            group.throughput(Throughput::Bytes(op.bytes(size)));
            bench_size(&mut group, gpu, timer, op, size, threads, &mut slot);
        }
        group.finish();
    }
}

fn bench_size(
    group: &mut BenchmarkGroup<'_, WallTime>,
    gpu: &Gpu,
    timer: &GpuTimer,
    op: BenchOp,
    size: usize,
    threads: usize,
    slot: &mut Option<Workload>,
) {
    let name = op.name();
    let name = name.as_str();
    let cpu = |workload: &mut Workload, threads: usize| workload.cpu(threads);
    group.bench_function(BenchmarkId::new("gpu_kernel", size), |b| {
        let workload = workload(slot, gpu, timer, op, size);
        b.iter_custom(|iters| device_time(timer, iters, name, &mut |e| workload.record(e)));
    });
    group.bench_function(BenchmarkId::new("copy", size), |b| {
        let workload = workload(slot, gpu, timer, op, size);
        b.iter_custom(|iters| {
            device_time(timer, iters, "the copy baseline", &mut |e| {
                workload.record_copy(e);
                Ok(())
            })
        });
    });
    group.bench_function(BenchmarkId::new("gpu_round_trip", size), |b| {
        let workload = workload(slot, gpu, timer, op, size);
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    workload
                        .round_trip()
                        .unwrap_or_else(|error| panic!("round trip of {name}: {error}"))
                })
                .sum()
        });
    });
    group.bench_function(BenchmarkId::new("cpu_1_thread", size), |b| {
        let workload = workload(slot, gpu, timer, op, size);
        b.iter_custom(|iters| (0..iters).map(|_| cpu(workload, 1)).sum());
    });
    if threads > 1 {
        group.bench_function(
            BenchmarkId::new(format!("cpu_{threads}_threads"), size),
            |b| {
                let workload = workload(slot, gpu, timer, op, size);
                b.iter_custom(|iters| (0..iters).map(|_| cpu(workload, threads)).sum());
            },
        );
    }
}

/// 100 relus' inputs and outputs of one size.
struct SmallRelus {
    inputs: Vec<Tensor>,
    outputs: Vec<Tensor>,
}

impl SmallRelus {
    fn new(gpu: &Gpu, elements: usize) -> Self {
        let prepare = || -> wgpu_activations::Result<Self> {
            Ok(Self {
                inputs: (0..SMALL_OPS)
                    .map(|i| Tensor::from_slice(gpu, &sample::activations(elements, i as u64)))
                    .collect::<wgpu_activations::Result<_>>()?,
                outputs: (0..SMALL_OPS)
                    .map(|_| Tensor::uninit(gpu, &[elements]))
                    .collect::<wgpu_activations::Result<_>>()?,
            })
        };
        prepare()
            .unwrap_or_else(|error| panic!("preparing {SMALL_OPS} relus of {elements}: {error}"))
    }

    fn pairs(&self) -> impl Iterator<Item = (&Tensor, &Tensor)> {
        self.inputs.iter().zip(&self.outputs)
    }
}

/// 100 small relus, one submit + wait each vs one batch.
fn small_relus(c: &mut Criterion, gpu: &Gpu, device: &str) {
    let mut group = c.benchmark_group(format!("{device}/{SMALL_OPS} small relus"));
    group.throughput(Throughput::Elements(SMALL_OPS as u64));
    let failed = |error: wgpu_activations::Error| -> ! { panic!("small relus: {error}") };
    for elements in SMALL_SIZES {
        let mut slot = None;
        group.bench_function(BenchmarkId::new("one_by_one", elements), |b| {
            let relus = slot.get_or_insert_with(|| SmallRelus::new(gpu, elements));
            b.iter(|| {
                for (x, y) in relus.pairs() {
                    let mut batch = gpu.batch();
                    batch.relu(x, y).unwrap_or_else(|e| failed(e));
                    batch.submit_and_wait().unwrap_or_else(|e| failed(e));
                }
            });
        });
        group.bench_function(BenchmarkId::new("batched", elements), |b| {
            let relus = slot.get_or_insert_with(|| SmallRelus::new(gpu, elements));
            b.iter(|| {
                let mut batch = gpu.batch();
                for (x, y) in relus.pairs() {
                    batch.relu(x, y).unwrap_or_else(|e| failed(e));
                }
                batch.submit_and_wait().unwrap_or_else(|e| failed(e));
            });
        });
    }
    group.finish();
}

fn activations(c: &mut Criterion) {
    let gpu = Gpu::new().unwrap_or_else(|error| {
        panic!(
            "no GPU device for the benchmarks: {error} \
             (WGPU_BACKEND picks the backend, e.g. vulkan or gl)"
        )
    });
    let timer = GpuTimer::new(&gpu).unwrap_or_else(|error| panic!("creating the timer: {error}"));
    let device = device_label(&gpu);
    eprintln!(
        "benchmarking on {device}: kernel times from {}, CPU on 1 and {} threads",
        timer.kind().name(),
        cpu_parallel::available_threads()
    );
    ops(c, &gpu, &timer, &device);
    small_relus(c, &gpu, &device);
}

criterion::criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .without_plots();
    targets = activations
}
criterion::criterion_main!(benches);
