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
//!
//! [`TOTAL_CASES`] cases per backend. The first six tests record each case's
//! ops into one [`Batch`] (one submit, so each `record_*` form is exercised);
//! the last one calls the convenience forms, chaining each forward's GPU mask
//! into its backward pass. Cases are small (a few thousand elements at most)
//! and all run on the one `Gpu` the test binary shares (`common::gpu()`, which
//! fails under `CI` when there is no adapter).
//!
//! A failure prints proptest's minimal failing input, with every f32 as its
//! bit pattern in hex, and the seed: `PROPTEST_RNG_SEED=<seed> cargo test
//! --test properties <test>` replays the same cases.

mod common;

use std::fmt;
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
use std::time::Instant;

use common::{
    BiasRefs, assert_agrees, assert_bit_exact, assert_db_within_bound, assert_mask_exact,
    assert_mask_within_flush, backward_flushed, forward_flushed, gpu, gpu_with_options,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::{RngSeed, TestError, TestRunner};
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Batch, Gpu, GpuOptions, Mask, Tensor};

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

/// Shrinking steps a failure may take (proptest's default is 4 per case):
/// enough to delete, then zero, every element of the longest vectors, a
/// few minutes at most of GPU round trips.
const SHRINK_ITERATIONS: u32 = 20_000;

// ---------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------

/// An f32 as its bit pattern, printed in hex so that a failing input shows
/// NaN payloads, signs of zero and subnormals exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Bits(u32);

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

fn floats(bits: &[Bits]) -> Vec<f32> {
    bits.iter().map(|b| f32::from_bits(b.0)).collect()
}

/// The classes of [`value`], by how often each is drawn out of
/// [`CLASSES`]: ordinary values first, so that shrinking (toward class 0
/// and word 0) ends at 0.0 unless the failure needs a special value.
const CLASSES: u8 = 21;

/// Magnitudes drawn exactly: the relu6 cap and its neighbours, 0.5, 1, 2.
const EXACT: &[u32] = &[
    0x40c0_0000,
    0x40bf_ffff,
    0x40c0_0001,
    0x3f00_0000,
    0x3f80_0000,
    0x4000_0000,
];

/// The f32 that a random word means in a class: the sign from its top bit,
/// the rest from its low bits.
fn bits_of(class: u8, word: u32) -> Bits {
    let sign = word & 0x8000_0000;
    let low = word & 0x7fff_ffff;
    let magnitude = match class {
        // Ordinary values in [-8, 8).
        0..=4 => return Bits((word as i32 as f32 / (1u32 << 28) as f32).to_bits()),
        // Exact small values.
        5 => EXACT[low as usize % EXACT.len()],
        // Quiet NaNs, any payload (none included).
        6 | 7 => 0x7fc0_0000 | (low & 0x003f_ffff),
        // Signalling NaNs: quiet bit clear, payload non-zero.
        8 | 9 => 0x7f80_0000 | (low & 0x003f_ffff).max(1),
        // Zero and infinity.
        10 | 11 => [0, 0x7f80_0000][(low & 1) as usize],
        // Subnormals: the smallest, the largest, any.
        12..=14 => match low % 4 {
            0 => 1,
            1 => 0x007f_ffff,
            _ => ((low >> 2) & 0x007f_ffff).max(1),
        },
        // The normal edges: MIN_POSITIVE and MAX.
        15 => [0x0080_0000, 0x7f7f_ffff][(low & 1) as usize],
        // The smallest normals: their sums and leaky products fall among the
        // subnormals, where a GPU may flush.
        16 | 17 => 0x0080_0000 + low % 0x0180_0000,
        // Any bits.
        _ => return Bits(word),
    };
    Bits(sign | magnitude)
}

/// f32 bit patterns of every class, both signs: ordinary values, NaNs quiet
/// and signalling with various payloads, ±inf, ±0, subnormals (smallest,
/// largest, any), MIN_POSITIVE and MAX, the smallest normals, random bits.
/// A class and a word rather than a union of strategies, because drawing
/// thousands of elements a case must stay cheap in a debug build.
fn value() -> impl Strategy<Value = Bits> + Clone {
    ZeroFirst((0..CLASSES, any::<u32>()).prop_map(|(class, word)| bits_of(class, word)))
}

/// A value strategy that shrinks straight to +0.0 first, which an element
/// that does not matter to a failure takes in one step, and only then (if
/// the failure needs that element) by its class and word: the minimal input
/// of a failure on a long vector is found in a few shrinking iterations per
/// element, not dozens.
#[derive(Clone, Debug)]
struct ZeroFirst<S>(S);

struct ZeroFirstTree<T> {
    inner: T,
    state: Shrinking,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shrinking {
    /// The generated value; +0.0 not tried yet.
    Generated,
    /// Trying +0.0.
    TryingZero,
    /// +0.0 still failed: nothing simpler.
    Zero,
    /// +0.0 passed: shrinking the generated value as its strategy does.
    Inner,
}

impl<S: Strategy<Value = Bits>> Strategy for ZeroFirst<S> {
    type Tree = ZeroFirstTree<S::Tree>;
    type Value = Bits;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        Ok(ZeroFirstTree {
            inner: self.0.new_tree(runner)?,
            state: Shrinking::Generated,
        })
    }
}

impl<T: ValueTree<Value = Bits>> ValueTree for ZeroFirstTree<T> {
    type Value = Bits;

    fn current(&self) -> Bits {
        match self.state {
            Shrinking::TryingZero | Shrinking::Zero => Bits(0),
            Shrinking::Generated | Shrinking::Inner => self.inner.current(),
        }
    }

    fn simplify(&mut self) -> bool {
        match self.state {
            Shrinking::Generated if self.inner.current() != Bits(0) => {
                self.state = Shrinking::TryingZero;
                true
            }
            Shrinking::Generated | Shrinking::TryingZero | Shrinking::Zero => {
                self.state = Shrinking::Zero;
                false
            }
            Shrinking::Inner => self.inner.simplify(),
        }
    }

    fn complicate(&mut self) -> bool {
        match self.state {
            Shrinking::TryingZero => {
                self.state = Shrinking::Inner;
                true
            }
            Shrinking::Inner => self.inner.complicate(),
            Shrinking::Generated | Shrinking::Zero => false,
        }
    }
}

/// Element counts: empty, tiny, around a mask word (32), a vec4, a
/// workgroup (256) and beyond, up to a few thousand, mostly short.
const EDGE_LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513,
    1021, 1024, 1031, 2053, 4093, 4096, 4099,
];

/// Vectors of `element` of the lengths above, or any length up to 4100
/// (primes and non-multiples of 4, 32, 64 and 256 among them). Shrinking
/// removes elements.
fn vectors<T>(element: T) -> impl Strategy<Value = Vec<T::Value>>
where
    T: Strategy + Clone + 'static,
{
    let edge = element.clone();
    prop_oneof![
        3 => vec(element.clone(), 0..=40),
        2 => vec(element.clone(), 0..=300),
        1 => vec(element, 0..=4100),
        1 => select(EDGE_LENGTHS).prop_flat_map(move |len| vec(edge.clone(), len)),
    ]
}

/// Any finite slope: the usual ones, zero of each sign (0 * -inf is the
/// canonical NaN), negative, subnormal, huge.
fn slope() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        2 => select(vec![
            0.01f32,
            0.0,
            -0.0,
            0.25,
            -1.5,
            1.0,
            -1.0,
            1e-40,
            f32::MIN_POSITIVE,
            1e-30,
            f32::MAX,
            -f32::MAX,
        ]),
        2 => -4.0f32..4.0,
        1 => POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO,
    ]
}

/// Any finite cap above zero: 6 (ReLU6), small, subnormal, huge.
fn cap() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NORMAL, POSITIVE, SUBNORMAL};
    prop_oneof![
        2 => select(vec![
            6.0f32,
            1.0,
            0.5,
            2.0,
            f32::MIN_POSITIVE,
            1e-40,
            f32::from_bits(1),
            3e38,
            f32::MAX,
        ]),
        2 => 0.001f32..10.0,
        1 => POSITIVE | NORMAL | SUBNORMAL,
    ]
}

/// Every variant of [`Activation`] with a legal parameter.
fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Relu),
        slope().prop_map(|slope| Activation::LeakyRelu { slope }),
        cap().prop_map(|cap| Activation::ClippedRelu { cap }),
    ]
    .prop_filter("a legal parameter", |a| a.validate().is_ok())
}

/// A `[rows, cols]` operand of the fused ops: `rows` of `cols` elements each,
/// and `cols` bias values where the op takes a bias.
#[derive(Clone, Debug)]
struct Fused<T> {
    cols: usize,
    bias: Vec<Bits>,
    rows: Vec<Vec<T>>,
}

impl<T: Clone> Fused<T> {
    fn shape(&self) -> [usize; 2] {
        [self.rows.len(), self.cols]
    }

    fn len(&self) -> usize {
        self.rows.len() * self.cols
    }

    /// The elements, row-major.
    fn flat(&self) -> Vec<T> {
        self.rows.iter().flatten().cloned().collect()
    }
}

/// Row lengths: one, a few, not multiples of 4, around 32 and 256, up to
/// 1100, and none at all (the bias itself is empty then).
fn cols() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 1usize..=8,
        3 => 9usize..=70,
        2 => select(vec![16usize, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 258]),
        2 => 71usize..=1100,
        1 => Just(0usize),
    ]
}

/// [`Fused`] operands: any row length with up to about 2048 elements (zero
/// rows included), or one to four columns of 8100 to 8400 elements, just
/// past the end of the bias gradient's first row block (32 rows on each of
/// 256 / tile-width lanes: 8192 rows of one column, 2048 of four).
/// Shrinking removes rows and simplifies values at a fixed row length; a
/// smaller row length draws new rows.
fn fused<T>(element: T, bias: bool) -> impl Strategy<Value = Fused<T::Value>>
where
    T: Strategy + Clone + 'static,
{
    let tall = element.clone();
    let bias_len = move |cols: usize| if bias { cols } else { 0 };
    prop_oneof![
        12 => cols().prop_flat_map(move |cols| {
            let max_rows = 2048usize.checked_div(cols).map_or(9, |rows| rows.max(3));
            (
                Just(cols),
                vec(value(), bias_len(cols)),
                prop_oneof![
                    vec(vec(element.clone(), cols), 0..=3),
                    vec(vec(element.clone(), cols), 0..=max_rows),
                ],
            )
        }),
        1 => (1usize..=4).prop_flat_map(move |cols| {
            (
                Just(cols),
                vec(value(), bias_len(cols)),
                vec(vec(tall.clone(), cols), 8100 / cols..=8400 / cols),
            )
        }),
    ]
    .prop_map(|(cols, bias, rows)| Fused { cols, bias, rows })
}

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
             replay with PROPTEST_RNG_SEED={seed} cargo test --test properties {name}",
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

// ---------------------------------------------------------------------------
// Element-wise ops
// ---------------------------------------------------------------------------

#[test]
fn relu_and_relu_in_place() {
    run_cases(
        "relu_and_relu_in_place",
        RELU_CASES,
        vectors(value()),
        |gpu, x| {
            let x = floats(&x);
            let what = format!("relu len {}", x.len());
            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let y = Tensor::uninit(gpu, &[x.len()]).unwrap();
            let mut in_place = Tensor::from_slice(gpu, &x).unwrap();
            let mut batch = gpu.batch();
            batch.relu(&x_tensor, &y).unwrap();
            batch.relu_in_place(&mut in_place).unwrap();
            submit(batch);

            let expected = cpu::relu_forward(&x);
            assert_bit_exact(&what, &x, &download(&y), &expected);
            let mut expected_in_place = x.clone();
            cpu::relu_forward_in_place(&mut expected_in_place);
            assert_bit_exact(
                &format!("{what} in place"),
                &x,
                &download(&in_place),
                &expected_in_place,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}

#[test]
fn activation_with_and_without_mask() {
    run_cases(
        "activation_with_and_without_mask",
        FORWARD_CASES,
        (activation(), vectors(value())),
        |gpu, (activation, x)| {
            let x = floats(&x);
            let len = x.len();
            let what = format!("{activation} len {len}");
            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let y = Tensor::uninit(gpu, &[len]).unwrap();
            let y_masked = Tensor::uninit(gpu, &[len]).unwrap();
            let mask = Mask::uninit(gpu, len).unwrap();
            let mut batch = gpu.batch();
            batch.activation(activation, &x_tensor, &y, None).unwrap();
            batch
                .activation(activation, &x_tensor, &y_masked, Some(&mask))
                .unwrap();
            submit(batch);

            let (expected, expected_mask) = cpu::forward_with_mask(activation, &x);
            let flushed = forward_flushed(activation, &x);
            let y = download(&y);
            assert_agrees(&what, &x, &y, &expected, &flushed);
            let y_masked = download(&y_masked);
            assert_agrees(
                &format!("{what} (with mask)"),
                &x,
                &y_masked,
                &expected,
                &flushed,
            );
            // One device, the same arithmetic: the same bits, flushed or not.
            assert_bit_exact(&format!("{what}: without vs with mask"), &x, &y, &y_masked);
            // The mask is decided on the bits, no arithmetic: exact.
            assert_mask_exact(
                &format!("{what}: mask"),
                &download_mask(&mask),
                &expected_mask,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}

#[test]
fn activation_backward_from_mask_and_from_input() {
    run_cases(
        "activation_backward_from_mask_and_from_input",
        BACKWARD_CASES,
        (activation(), vectors((value(), value())), any::<u32>()),
        |gpu, (activation, pairs, garbage)| {
            let (x, dy): (Vec<Bits>, Vec<Bits>) = pairs.into_iter().unzip();
            let (x, dy) = (floats(&x), floats(&dy));
            let len = x.len();
            let what = format!("{activation} backward len {len}");
            let mask_words = cpu::forward_with_mask(activation, &x).1;
            let expected = cpu::backward(activation, &dy, &mask_words);
            let flushed = backward_flushed(activation, &dy, &mask_words);
            // The reference's two forms agree, so one expectation serves all.
            assert_bit_exact(
                &format!("{what}: reference from x vs from mask"),
                &dy,
                &cpu::backward_from_input(activation, &dy, &x),
                &expected,
            );

            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let dy_tensor = Tensor::from_slice(gpu, &dy).unwrap();
            // The reference's mask, with garbage past the last element.
            let mask = Mask::from_words(gpu, &dirty(mask_words, len, garbage), len).unwrap();
            let from_mask = Tensor::uninit(gpu, &[len]).unwrap();
            let from_input = Tensor::uninit(gpu, &[len]).unwrap();
            // And the GPU's own mask, made earlier in the same batch.
            let y = Tensor::uninit(gpu, &[len]).unwrap();
            let gpu_mask = Mask::uninit(gpu, len).unwrap();
            let from_gpu_mask = Tensor::uninit(gpu, &[len]).unwrap();
            let mut batch = gpu.batch();
            batch
                .activation_backward(activation, &dy_tensor, &mask, &from_mask)
                .unwrap();
            batch
                .activation_backward_from_input(activation, &dy_tensor, &x_tensor, &from_input)
                .unwrap();
            batch
                .activation(activation, &x_tensor, &y, Some(&gpu_mask))
                .unwrap();
            batch
                .activation_backward(activation, &dy_tensor, &gpu_mask, &from_gpu_mask)
                .unwrap();
            submit(batch);

            for (form, dx) in [
                ("from mask", &from_mask),
                ("from x", &from_input),
                ("from the GPU's mask", &from_gpu_mask),
            ] {
                assert_agrees(
                    &format!("{what} {form}"),
                    &dy,
                    &download(dx),
                    &expected,
                    &flushed,
                );
            }
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}

// ---------------------------------------------------------------------------
// Fused bias ops
// ---------------------------------------------------------------------------

#[test]
fn bias_add_alone() {
    run_cases(
        "bias_add_alone",
        BIAS_ADD_CASES,
        (fused(value(), true), any::<bool>()),
        |gpu, (case, other_reader)| {
            let gpu = &if other_reader {
                other_bias_reader(gpu)
            } else {
                gpu.clone()
            };
            let shape = case.shape();
            let (x, b) = (floats(&case.flat()), floats(&case.bias));
            let what = format!(
                "bias add {shape:?} (uniform bias {})",
                gpu.info().uniform_bias
            );
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let y = Tensor::uninit(gpu, &shape).unwrap();
            let mut batch = gpu.batch();
            batch.bias_add(&x_tensor, &b_tensor, &y).unwrap();
            submit(batch);

            assert_agrees(
                &what,
                &x,
                &download(&y),
                &cpu::bias_add(&x, &b, Subnormals::Preserve),
                &cpu::bias_add(&x, &b, Subnormals::FlushToZero),
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}

#[test]
fn bias_activation_with_and_without_mask() {
    run_cases(
        "bias_activation_with_and_without_mask",
        BIAS_FORWARD_CASES,
        (activation(), fused(value(), true), any::<bool>()),
        |gpu, (activation, case, other_reader)| {
            let gpu = &if other_reader {
                other_bias_reader(gpu)
            } else {
                gpu.clone()
            };
            let shape = case.shape();
            let len = case.len();
            let (x, b) = (floats(&case.flat()), floats(&case.bias));
            let what = format!(
                "bias {activation} {shape:?} (uniform bias {})",
                gpu.info().uniform_bias
            );
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let y = Tensor::uninit(gpu, &shape).unwrap();
            let y_masked = Tensor::uninit(gpu, &shape).unwrap();
            let mask = Mask::uninit(gpu, len).unwrap();
            let mut batch = gpu.batch();
            batch
                .bias_activation(activation, &x_tensor, &b_tensor, &y, None)
                .unwrap();
            batch
                .bias_activation(activation, &x_tensor, &b_tensor, &y_masked, Some(&mask))
                .unwrap();
            submit(batch);

            let reference = BiasRefs::new(activation, &x, &b);
            let y = download(&y);
            assert_agrees(&what, &x, &y, &reference.y, &reference.y_flushed);
            let y_masked = download(&y_masked);
            assert_agrees(
                &format!("{what} (with mask)"),
                &x,
                &y_masked,
                &reference.y,
                &reference.y_flushed,
            );
            assert_bit_exact(&format!("{what}: without vs with mask"), &x, &y, &y_masked);
            assert_mask_within_flush(
                &format!("{what}: mask"),
                len,
                &download_mask(&mask),
                &reference.mask,
                &reference.mask_flushed,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}

#[test]
fn bias_activation_backward_dx_and_db() {
    run_cases(
        "bias_activation_backward_dx_and_db",
        BIAS_BACKWARD_CASES,
        (
            activation(),
            fused((value(), any::<bool>()), false),
            any::<u32>(),
        ),
        |gpu, (activation, case, garbage)| {
            let shape = case.shape();
            let [rows, cols] = shape;
            let len = case.len();
            let (dy, bits): (Vec<Bits>, Vec<bool>) = case.flat().into_iter().unzip();
            let dy = floats(&dy);
            let what = format!("bias {activation} backward {shape:?}");
            // Any mask: the backward pass is defined by the bits alone.
            let mask_words = cpu::pack_mask(bits);
            let expected = cpu::backward(activation, &dy, &mask_words);
            let flushed = backward_flushed(activation, &dy, &mask_words);

            let dy_tensor = Tensor::from_slice_with_shape(gpu, &dy, &shape).unwrap();
            let mask = Mask::from_words(gpu, &dirty(mask_words, len, garbage), len).unwrap();
            let outputs = [0, 1].map(|_| {
                (
                    Tensor::uninit(gpu, &shape).unwrap(),
                    Tensor::uninit(gpu, &[cols]).unwrap(),
                )
            });
            let mut batch = gpu.batch();
            // Twice: a fixed summation order gives the same bits every run.
            for (dx, db) in &outputs {
                batch
                    .bias_activation_backward(activation, &dy_tensor, &mask, dx, db)
                    .unwrap();
            }
            submit(batch);

            let [(dx, db), (dx_again, db_again)] =
                outputs.map(|(dx, db)| (download(&dx), download(&db)));
            assert_agrees(&format!("{what}: dx"), &dy, &dx, &expected, &flushed);
            assert_db_within_bound(&what, &db, &expected, rows);
            if rows == 0 {
                // A sum over no rows is +0.0, never -0.0 or leftovers.
                assert_eq!(common::bits(&db), vec![0; cols], "{what}: db of no rows");
            }
            assert_bit_exact(&format!("{what}: dx again"), &dy, &dx_again, &dx);
            assert_eq!(
                common::bits(&db_again),
                common::bits(&db),
                "{what}: db of a second run"
            );
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
        },
    );
}

// ---------------------------------------------------------------------------
// The convenience forms, chained through the GPU's own masks
// ---------------------------------------------------------------------------

#[test]
fn every_convenience_form_in_a_chain() {
    run_cases(
        "every_convenience_form_in_a_chain",
        CONVENIENCE_CASES,
        (activation(), fused((value(), value()), true)),
        |gpu, (activation, case)| {
            let shape = case.shape();
            let [rows, cols] = shape;
            let len = case.len();
            let (x, dy): (Vec<Bits>, Vec<Bits>) = case.flat().into_iter().unzip();
            let (x, dy, b) = (floats(&x), floats(&dy), floats(&case.bias));
            let what = format!("{activation} {shape:?}");
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let dy_tensor = Tensor::from_slice_with_shape(gpu, &dy, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let flushed = forward_flushed(activation, &x);
            let same_shape = |t: &Tensor, op: &str| {
                assert_eq!(t.shape(), &shape, "{what}: {op} shape");
                download(t)
            };

            // relu, out of place and in place.
            let relu = cpu::relu_forward(&x);
            let y = gpu.relu(&x_tensor).unwrap();
            assert_bit_exact(&format!("{what}: relu"), &x, &same_shape(&y, "relu"), &relu);
            let mut in_place = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            gpu.relu_in_place(&mut in_place).unwrap();
            let mut relu_in_place = x.clone();
            cpu::relu_forward_in_place(&mut relu_in_place);
            assert_bit_exact(
                &format!("{what}: relu_in_place"),
                &x,
                &same_shape(&in_place, "relu_in_place"),
                &relu_in_place,
            );

            // activation, with and without mask, and relu_with_mask.
            let (expected, expected_mask) = cpu::forward_with_mask(activation, &x);
            let y = gpu.activation(activation, &x_tensor).unwrap();
            assert_agrees(
                &format!("{what}: activation"),
                &x,
                &same_shape(&y, "activation"),
                &expected,
                &flushed,
            );
            let (y, mask) = gpu.activation_with_mask(activation, &x_tensor).unwrap();
            assert_agrees(
                &format!("{what}: activation_with_mask"),
                &x,
                &same_shape(&y, "activation_with_mask"),
                &expected,
                &flushed,
            );
            assert_eq!(mask.len(), len, "{what}: mask length");
            assert_mask_exact(
                &format!("{what}: activation_with_mask mask"),
                &download_mask(&mask),
                &expected_mask,
            );
            let (y, relu_mask) = gpu.relu_with_mask(&x_tensor).unwrap();
            let (_, expected_relu_mask) = cpu::forward_with_mask(Activation::Relu, &x);
            assert_bit_exact(
                &format!("{what}: relu_with_mask"),
                &x,
                &same_shape(&y, "relu_with_mask"),
                &relu,
            );
            assert_mask_exact(
                &format!("{what}: relu_with_mask mask"),
                &download_mask(&relu_mask),
                &expected_relu_mask,
            );

            // Backward from those masks, and from x.
            let dx = cpu::backward(activation, &dy, &expected_mask);
            let dx_flushed = backward_flushed(activation, &dy, &expected_mask);
            let got = gpu
                .activation_backward(activation, &dy_tensor, &mask)
                .unwrap();
            assert_agrees(
                &format!("{what}: activation_backward"),
                &dy,
                &same_shape(&got, "activation_backward"),
                &dx,
                &dx_flushed,
            );
            let got = gpu
                .activation_backward_from_input(activation, &dy_tensor, &x_tensor)
                .unwrap();
            assert_agrees(
                &format!("{what}: activation_backward_from_input"),
                &dy,
                &same_shape(&got, "activation_backward_from_input"),
                &dx,
                &dx_flushed,
            );
            let got = gpu.relu_backward(&dy_tensor, &relu_mask).unwrap();
            assert_bit_exact(
                &format!("{what}: relu_backward"),
                &dy,
                &same_shape(&got, "relu_backward"),
                &cpu::backward(Activation::Relu, &dy, &expected_relu_mask),
            );

            // bias_add.
            let got = gpu.bias_add(&x_tensor, &b_tensor).unwrap();
            assert_agrees(
                &format!("{what}: bias_add"),
                &x,
                &same_shape(&got, "bias_add"),
                &cpu::bias_add(&x, &b, Subnormals::Preserve),
                &cpu::bias_add(&x, &b, Subnormals::FlushToZero),
            );

            // The fused forward and backward, for the activation and for relu:
            // the backward gets the GPU's own mask (row length set), whose bits
            // may follow a flushed sum, so dx is expected from those bits.
            let fused_ops: [(Activation, &str); 2] = [
                (activation, "bias_activation"),
                (Activation::Relu, "bias_relu"),
            ];
            for (a, op) in fused_ops {
                let reference = BiasRefs::new(a, &x, &b);
                let y = if op == "bias_relu" {
                    gpu.bias_relu(&x_tensor, &b_tensor).unwrap()
                } else {
                    gpu.bias_activation(a, &x_tensor, &b_tensor).unwrap()
                };
                assert_agrees(
                    &format!("{what}: {op}"),
                    &x,
                    &same_shape(&y, op),
                    &reference.y,
                    &reference.y_flushed,
                );
                let (y, mask) = if op == "bias_relu" {
                    gpu.bias_relu_with_mask(&x_tensor, &b_tensor).unwrap()
                } else {
                    gpu.bias_activation_with_mask(a, &x_tensor, &b_tensor)
                        .unwrap()
                };
                assert_agrees(
                    &format!("{what}: {op}_with_mask"),
                    &x,
                    &same_shape(&y, op),
                    &reference.y,
                    &reference.y_flushed,
                );
                assert_eq!(mask.len(), len, "{what}: {op} mask length");
                assert_eq!(
                    mask.row_length(),
                    Some(cols),
                    "{what}: {op} mask row length"
                );
                let gpu_mask = download_mask(&mask);
                assert_mask_within_flush(
                    &format!("{what}: {op}_with_mask mask"),
                    len,
                    &gpu_mask,
                    &reference.mask,
                    &reference.mask_flushed,
                );
                let (dx, db) = if op == "bias_relu" {
                    gpu.bias_relu_backward(&dy_tensor, &mask).unwrap()
                } else {
                    gpu.bias_activation_backward(a, &dy_tensor, &mask).unwrap()
                };
                assert_eq!(db.shape(), &[cols], "{what}: {op}_backward db shape");
                let expected = cpu::backward(a, &dy, &gpu_mask);
                assert_agrees(
                    &format!("{what}: {op}_backward dx"),
                    &dy,
                    &same_shape(&dx, op),
                    &expected,
                    &backward_flushed(a, &dy, &gpu_mask),
                );
                assert_db_within_bound(
                    &format!("{what}: {op}_backward"),
                    &download(&db),
                    &expected,
                    rows,
                );
            }

            // The inputs are untouched.
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}
