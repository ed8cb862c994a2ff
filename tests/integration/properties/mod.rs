//! Property tests: every GPU op of the public API against the CPU reference
//! (`src/cpu.rs`) over random lengths, `[rows, cols]` shapes, activation
//! parameters and f32 bit patterns of every class, on whichever backend
//! WGPU_BACKEND selects (CI runs Vulkan and GL).
//!
//! "Agrees" is the contract the other tests hold the GPU to:
//! - values bit for bit, except that where an op does float arithmetic (the
//!   bias add, the leaky multiply) an element may instead equal the reference
//!   computed with `Subnormals::FlushToZero`, and nothing else;
//! - masks bit for bit, with the unused bits of the last word zero (the fused
//!   forward's bit may follow the flushed sum, as its value may);
//! - `db` within `bias_gradient_error_bound` of the f64 column sums of the
//!   reference's `dx`, NaN where that sum is NaN, the same bits on every run.
//!
//! | test | ops | cases |
//! |---|---|---|
//! | `relu_and_relu_in_place` | `relu`, `relu_in_place` | [`RELU_CASES`] |
//! | `activation_with_and_without_mask` | `activation`, `activation_with_mask` | [`FORWARD_CASES`] |
//! | `activation_backward_from_mask_and_from_input` | `activation_backward`, `activation_backward_from_input` | [`BACKWARD_CASES`] |
//! | `bias_add_alone` | `bias_add` | [`BIAS_ADD_CASES`] |
//! | `bias_activation_with_and_without_mask` | `bias_activation`, `bias_activation_with_mask` | [`BIAS_FORWARD_CASES`] |
//! | `bias_activation_backward_dx_and_db` | `bias_activation_backward` | [`BIAS_BACKWARD_CASES`] |
//! | `every_convenience_form_in_a_chain` | every `Gpu` method above and its `relu` / `bias_relu` shorthand | [`CONVENIENCE_CASES`] |
//! | `every_f16_op`, `every_bf16_op` | every op of `Op::all()` that takes the type, through `verify::run_in` | [`HALF_CASES`] each |
//!
//! [`TOTAL_CASES`] f32 cases per backend, and [`HALF_CASES`] for each 16-bit
//! type. The first six tests record each case's
//! ops into one [`Batch`] (one submit, so each `record_*` form is exercised);
//! the last one calls the convenience forms, chaining each forward's GPU mask
//! into its backward pass. Cases are small (a few thousand elements at most)
//! and all run on the one `Gpu` the test binary shares (`crate::common::gpu()`, which
//! fails under `CI` when there is no adapter).
//!
//! A failure prints proptest's minimal failing input, with every f32 as its
//! bit pattern in hex, and the seed: `PROPTEST_RNG_SEED=<seed> cargo test
//! --test integration properties::<module>::<test>` replays the same cases.

mod chain;
mod dtypes;
mod elementwise;
mod fused;
mod strategies;

use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::Instant;

use proptest::prelude::*;
use proptest::test_runner::{RngSeed, TestError, TestRunner};
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Batch, Gpu, GpuOptions, Mask, Tensor};

use crate::common::{
    BiasRefs, assert_agrees, assert_bit_exact, assert_db_within_bound, assert_mask_exact,
    assert_mask_within_flush, backward_flushed, forward_flushed, gpu, gpu_with_options,
};

/// Cases of `relu_and_relu_in_place`.
const RELU_CASES: u32 = 1_500;
/// Cases of `activation_with_and_without_mask`.
const FORWARD_CASES: u32 = 2_000;
/// Cases of `activation_backward_from_mask_and_from_input`.
const BACKWARD_CASES: u32 = 2_000;
/// Cases of `bias_add_alone`.
const BIAS_ADD_CASES: u32 = 1_500;
/// Cases of `bias_activation_with_and_without_mask`.
const BIAS_FORWARD_CASES: u32 = 2_000;
/// Cases of `bias_activation_backward_dx_and_db`.
const BIAS_BACKWARD_CASES: u32 = 2_000;
/// Cases of `every_convenience_form_in_a_chain`.
const CONVENIENCE_CASES: u32 = 300;
/// Generated cases per backend, over the whole file.
const TOTAL_CASES: u32 = RELU_CASES
    + FORWARD_CASES
    + BACKWARD_CASES
    + BIAS_ADD_CASES
    + BIAS_FORWARD_CASES
    + BIAS_BACKWARD_CASES
    + CONVENIENCE_CASES;
const _: () = assert!(TOTAL_CASES >= 10_000);
/// Cases of `every_f16_op` and of `every_bf16_op`, each.
const HALF_CASES: u32 = 10_000;

/// Shrinking steps a failure may take (proptest's default is 4 per case):
/// enough to delete, then zero, every element of the longest vectors, a
/// few minutes at most of GPU round trips.
const SHRINK_ITERATIONS: u32 = 20_000;

// ---------------------------------------------------------------------------
// Running
// ---------------------------------------------------------------------------

/// Runs `test` on `cases` values of `strategy` with proptest, shrinking a
/// failure to its minimal input, which the panic message prints with the
/// seed that replays it.
fn run_cases<S>(name: &str, cases: u32, strategy: S, test: impl Fn(&Gpu, S::Value))
where
    S: Strategy,
{
    let Some(gpu) = gpu() else { return };
    let defaults = ProptestConfig::default();
    // PROPTEST_RNG_SEED replays a run; otherwise a fresh seed, printed.
    let seed = match defaults.rng_seed {
        RngSeed::Fixed(seed) => seed,
        RngSeed::Random => RandomState::new().hash_one(name),
    };
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        // The minimal input goes into the panic message, not into a
        // regressions file next to this one.
        failure_persistence: None,
        max_shrink_iters: SHRINK_ITERATIONS,
        ..defaults
    });
    let start = Instant::now();
    match runner.run(&strategy, |value| {
        test(&gpu, value);
        Ok(())
    }) {
        Ok(()) => eprintln!(
            "{name}: {cases} cases passed in {:.1?} on {} (seed {seed})",
            start.elapsed(),
            gpu.info().name
        ),
        Err(TestError::Fail(reason, minimal)) => panic!(
            "{name} on {}: {reason}\nminimal failing input: {minimal:?}\n\
             replay with PROPTEST_RNG_SEED={seed} cargo test --test integration {name}",
            gpu.info().name
        ),
        Err(TestError::Abort(reason)) => panic!("{name}: aborted: {reason} (seed {seed})"),
    }
}

/// The same adapter as `gpu`, reading the fused forward's bias the other way
/// (storage buffer vs uniform buffer), opened once.
fn other_bias_reader(gpu: &Gpu) -> Gpu {
    static OTHER: OnceLock<Gpu> = OnceLock::new();
    OTHER
        .get_or_init(|| {
            let options = GpuOptions {
                uniform_bias: Some(!gpu.info().uniform_bias),
                ..GpuOptions::from_env().unwrap()
            };
            gpu_with_options(options).expect("the adapter opened once already")
        })
        .clone()
}

/// Submits `batch` and waits for it.
fn submit(batch: Batch) {
    batch.submit_and_wait().unwrap();
}

fn download(tensor: &Tensor) -> Vec<f32> {
    tensor.download().unwrap()
}

fn download_mask(mask: &Mask) -> Vec<u32> {
    mask.download().unwrap()
}

// ---------------------------------------------------------------------------
// References
// ---------------------------------------------------------------------------

/// Sets the bits of the last mask word past element `len` to `garbage`'s
/// (a backward pass must ignore them).
fn dirty(mut words: Vec<u32>, len: usize, garbage: u32) -> Vec<u32> {
    if !len.is_multiple_of(32) {
        *words.last_mut().unwrap() |= garbage & (u32::MAX << (len % 32));
    }
    words
}
