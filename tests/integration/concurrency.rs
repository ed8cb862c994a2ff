//! One `Gpu` shared by many threads: `Gpu`, `Tensor` and `Mask` are
//! `Send + Sync` (checked at compile time), and eight threads running random
//! mixed ops on one device at once each get exactly the reference's results.
//!
//! Each thread has its own seeded stream of steps (every op of `Op::all()`,
//! and batches of them: `common::stress`), sizes (mostly up to 4096
//! elements, one op in 25 up to 70,000, one in 50 empty) and data (special
//! values included), and reads back and checks every output of every op:
//! bit for bit, with the subnormal-flush allowance where the crate gives it
//! (bias add, leaky multiply), `db` within `bias_gradient_error_bound`. Runs
//! on whichever backend WGPU_BACKEND selects (CI runs Vulkan and GL).

use std::sync::Barrier;
use std::time::Instant;

use rand::Rng;
use wgpu_activations::{Gpu, Mask, Tensor, cpu};

use crate::common::stress::{Stress, StressConfig, StressStats};
use crate::common::{assert_bit_exact, gpu, sample};

const THREADS: usize = 8;
const OPS_PER_THREAD: usize = 200;
/// Thread t's stream is seeded with `SEED + t`.
const SEED: u64 = 0x00c0_ffee_0000;

/// Compiles only if `T` may be sent to and shared between threads.
fn assert_send_sync<T: Send + Sync>() {}

/// Compiles only if the value may be sent to another thread.
fn assert_send<T: Send>(_: &T) {}

#[test]
fn gpu_tensor_and_mask_are_send_and_sync() {
    assert_send_sync::<Gpu>();
    assert_send_sync::<Tensor>();
    assert_send_sync::<Mask>();
    // The future of an asynchronous download can move to another thread's
    // executor too (checked on the type; nothing is awaited).
    if let Some(gpu) = gpu() {
        let x = Tensor::from_slice(&gpu, &[1.0]).unwrap();
        let download = x.download_async();
        assert_send(&download);
        assert_eq!(pollster::block_on(download).unwrap(), vec![1.0]);
    }
}

/// The steps one thread runs: every step equally often, in a random order.
fn shuffled_steps(stress: &mut Stress<'_>, count: usize) -> Vec<usize> {
    let steps = stress.steps();
    let mut order: Vec<usize> = (0..count).map(|i| i % steps).collect();
    for i in (1..order.len()).rev() {
        let j = stress.rng().random_range(0..=i);
        order.swap(i, j);
    }
    order
}

/// Adds `other`'s counts to `total`'s.
fn add(total: &mut StressStats, other: &StressStats) {
    total.ops += other.ops;
    total.verified += other.verified;
    total.batched_ops += other.batched_ops;
    total.elements += other.elements;
    total.largest = total.largest.max(other.largest);
    total.downloads += other.downloads;
    total.async_downloads += other.async_downloads;
    total.reused_writes += other.reused_writes;
    total.flushed += other.flushed;
    total
        .coverage
        .resize(total.coverage.len().max(other.coverage.len()), 0);
    for (mine, theirs) in total.coverage.iter_mut().zip(&other.coverage) {
        *mine += theirs;
    }
}

#[test]
fn one_gpu_shared_by_eight_threads_running_mixed_ops() {
    let Some(gpu) = gpu() else { return };
    let config = StressConfig {
        small_max: 4096,
        large_max: 70_000,
        large_one_in: 25,
        empty_one_in: 50,
        async_one_in: 4,
        reuse_one_in: 5,
        reuse_slots: 3,
        skip_read_back_one_in: 0,
    };
    let barrier = Barrier::new(THREADS);
    let start = Instant::now();
    let results = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (gpu, barrier, config) = (&gpu, &barrier, config.clone());
                scope.spawn(move || {
                    let seed = SEED + t as u64;
                    let label = format!("thread {t} (seed {seed:#x})");
                    let mut stress = Stress::new(gpu, label, seed, config);
                    let steps = shuffled_steps(&mut stress, OPS_PER_THREAD);
                    // All threads start their ops together.
                    barrier.wait();
                    for step in steps {
                        stress.run(step, true);
                    }
                    // A result made on this thread, to be read on another.
                    let data = sample::activations(1000 + t, seed);
                    let x = Tensor::from_slice(gpu, &data).unwrap();
                    let y = gpu.relu(&x).unwrap();
                    (stress.stats, data, y)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| {
                thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect::<Vec<_>>()
    });
    let elapsed = start.elapsed();

    let mut total = StressStats::default();
    for (t, (stats, data, y)) in results.iter().enumerate() {
        assert_eq!(stats.ops, OPS_PER_THREAD, "thread {t}: ops run");
        assert_eq!(stats.verified, OPS_PER_THREAD, "thread {t}: ops verified");
        add(&mut total, stats);
        // Tensors made on one thread are read on another.
        assert_bit_exact(
            &format!("relu made on thread {t}, read on the main thread"),
            data,
            &y.download().unwrap(),
            &cpu::relu_forward(data),
        );
    }
    total.assert_every_step_ran();
    eprintln!(
        "{THREADS} threads x {OPS_PER_THREAD} ops on {} ({:?}) in {:.1} s: {} verified \
         ({} more in batches), {} elements in, largest {}, {} read-backs ({} async), \
         {} reused-tensor writes, {} values or bits within the flush allowance",
        gpu.info().name,
        gpu.info().backend,
        elapsed.as_secs_f64(),
        total.verified,
        total.batched_ops,
        total.elements,
        total.largest,
        total.downloads,
        total.async_downloads,
        total.reused_writes,
        total.flushed,
    );
}
