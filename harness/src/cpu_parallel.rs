//! The multi-threaded CPU baseline for benchmarks: the [`cpu`] reference ops
//! rewritten as vectorisable loops and split over a [rayon] pool.
//!
//! Every op takes `threads`:
//! - 1 (or 0) runs one plain loop over the whole slice on the calling thread;
//! - N runs it in a rayon pool of N threads, built on the first call with N
//!   and reused by every later one (never built per call), over chunks of
//!   [`CHUNK`] elements, a whole number of mask words each.
//!
//! The inner loops are compare-selects (`if x <= 0.0 { 0.0 } else { x }`,
//! never `f32::max`, whose NaN and -0.0 rules are not the reference's) with
//! the activation chosen outside the loop, so the compiler vectorises them.
//!
//! Every result is bit-identical to [`cpu`]'s, NaN payloads included, for
//! every thread count, `db` too: the column sums ([`column_sums`], and `db`
//! of [`bias_backward`]) are split over blocks of columns, never of rows, so
//! each column is still summed in f64 row by row, in the reference's order.
//! The arithmetic is the reference's own mode, [`Subnormals::Preserve`]
//! (`cpu::Subnormals::Preserve`).
//!
//! The `_into` forms write into caller-owned slices, so a benchmark times the
//! arithmetic without the allocation; the others allocate their output.
//! [`run`] is the baseline of any [`Op`], on its [`HostInputs`].
//!
//! ```
//! use wgpu_activations::{cpu, Activation};
//! use wgpu_activations_harness::{cpu_parallel, sample};
//! let x = sample::activations(10_000, 1);
//! let leaky = Activation::LeakyRelu { slope: 0.01 };
//! let threads = cpu_parallel::available_threads();
//! let (y, mask) = cpu_parallel::forward_with_mask(leaky, &x, threads);
//! let (y_ref, mask_ref) = cpu::forward_with_mask(leaky, &x);
//! assert!(y.iter().zip(&y_ref).all(|(a, b)| a.to_bits() == b.to_bits()));
//! assert_eq!(mask, mask_ref);
//! ```
//!
//! [`Subnormals::Preserve`]: wgpu_activations::cpu::Subnormals::Preserve

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use wgpu_activations::cpu::{self, CANONICAL_NAN_BITS};
use wgpu_activations::{Activation, HostInputs, Op};

/// Elements per parallel task: 64 KiB of f32, a multiple of 32 so that a
/// task owns whole mask words.
pub const CHUNK: usize = 1 << 14;

/// Elements of `dx` per tile of [`bias_backward`]: `dx` is written, then
/// summed by columns, one tile at a time, so the sums read it from cache.
const TILE: usize = 1 << 19;

/// Bits per mask word.
const WORD: usize = 32;

const CANONICAL_NAN: f32 = f32::from_bits(CANONICAL_NAN_BITS);

/// The number of threads the machine can run at once
/// ([`std::thread::available_parallelism`]), or 1 if it cannot tell.
pub fn available_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The rayon pool of `threads` threads, built on first use.
fn pool(threads: usize) -> Arc<ThreadPool> {
    static POOLS: OnceLock<Mutex<HashMap<usize, Arc<ThreadPool>>>> = OnceLock::new();
    let mut pools = POOLS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(pools.entry(threads).or_insert_with(|| {
        let pool = ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("cpu-baseline-{threads}-{i}"))
            .build()
            .unwrap_or_else(|e| panic!("building a rayon pool of {threads} threads: {e}"));
        Arc::new(pool)
    }))
}

/// Runs `work(false)` on the calling thread for `threads` <= 1, else
/// `work(true)` inside the pool of `threads` threads.
fn on_threads<R: Send>(threads: usize, work: impl FnOnce(bool) -> R + Send) -> R {
    if threads <= 1 {
        work(false)
    } else {
        pool(threads).install(|| work(true))
    }
}

/// `work(rule, start, part)` on parts of `out` of [`CHUNK`] elements in
/// parallel, or on all of `out` at once.
///
/// `rule` (the activation, with its parameter) reaches `work` as an
/// argument, a value of its own: a closure that read it through its capture
/// reloaded it from the caller's stack at every element (stores to the
/// output may alias it), and on a pool thread that stack line is the one
/// rayon's latches write, so leaky and clipped relu ran 10x slower on 2
/// threads than on 1 (measured).
fn each_chunk<R: Copy + Send + Sync>(
    parallel: bool,
    rule: R,
    out: &mut [f32],
    work: impl Fn(R, usize, &mut [f32]) + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, part)| work(rule, k * CHUNK, part));
    } else {
        work(rule, 0, out);
    }
}

/// [`each_chunk`] with each part's mask words.
fn each_chunk_with_mask<R: Copy + Send + Sync>(
    parallel: bool,
    rule: R,
    out: &mut [f32],
    mask: &mut [u32],
    work: impl Fn(R, usize, &mut [f32], &mut [u32]) + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(CHUNK)
            .zip(mask.par_chunks_mut(CHUNK / WORD))
            .enumerate()
            .for_each(|(k, (part, words))| work(rule, k * CHUNK, part, words));
    } else {
        work(rule, 0, out, mask);
    }
}

/// One activation's rules as branch-free element functions.
trait Rule: Copy + Send + Sync {
    fn forward(self, x: f32) -> f32;
    /// The mask bit: whether the derivative passes `dy`.
    fn bit(self, x: f32) -> bool;
    fn backward(self, bit: bool, dy: f32) -> f32;
}

#[derive(Clone, Copy)]
struct Relu;
#[derive(Clone, Copy)]
struct Leaky(f32);
#[derive(Clone, Copy)]
struct Clipped(f32);

impl Rule for Relu {
    #[inline(always)]
    fn forward(self, x: f32) -> f32 {
        relu(x)
    }
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord, reason = "NaN gives 1: one compare")]
    fn bit(self, x: f32) -> bool {
        !(x <= 0.0)
    }
    #[inline(always)]
    fn backward(self, bit: bool, dy: f32) -> f32 {
        if bit { dy } else { 0.0 }
    }
}

impl Rule for Leaky {
    #[inline(always)]
    fn forward(self, x: f32) -> f32 {
        // `x <= 0` excludes NaN, so a NaN product is one the multiply made.
        if x <= 0.0 { scaled(self.0, x) } else { x }
    }
    #[inline(always)]
    #[allow(clippy::neg_cmp_op_on_partial_ord, reason = "NaN gives 1: one compare")]
    fn bit(self, x: f32) -> bool {
        !(x <= 0.0)
    }
    #[inline(always)]
    fn backward(self, bit: bool, dy: f32) -> f32 {
        if bit || dy.is_nan() {
            dy
        } else {
            scaled(self.0, dy)
        }
    }
}

impl Rule for Clipped {
    #[inline(always)]
    fn forward(self, x: f32) -> f32 {
        // NaN fails both tests and passes; `min(relu(x), cap)` otherwise
        // (the cap is positive, so no tie between zeros of two signs).
        if x <= 0.0 {
            0.0
        } else if x >= self.0 {
            self.0
        } else {
            x
        }
    }
    #[inline(always)]
    #[allow(
        clippy::neg_cmp_op_on_partial_ord,
        reason = "NaN gives 1: two compares"
    )]
    fn bit(self, x: f32) -> bool {
        // `NaN || 0 < x < cap`.
        !(x <= 0.0) & !(x >= self.0)
    }
    #[inline(always)]
    fn backward(self, bit: bool, dy: f32) -> f32 {
        if bit { dy } else { 0.0 }
    }
}

/// Binds `$rule` to the [`Rule`] of `$activation` and evaluates `$body`
/// with it: one monomorphised loop per activation.
macro_rules! with_rule {
    ($activation:expr, $rule:ident => $body:expr) => {
        match $activation {
            Activation::Relu => {
                let $rule = Relu;
                $body
            }
            Activation::LeakyRelu { slope } => {
                let $rule = Leaky(slope);
                $body
            }
            Activation::ClippedRelu { cap } => {
                let $rule = Clipped(cap);
                $body
            }
        }
    };
}

/// [`cpu::relu`] as a compare-select.
#[inline(always)]
fn relu(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// `slope * v`, a NaN it produces canonical (the reference's `multiply`).
#[inline(always)]
fn scaled(slope: f32, v: f32) -> f32 {
    let product = slope * v;
    if product.is_nan() {
        CANONICAL_NAN
    } else {
        product
    }
}

/// [`cpu::add`] with subnormals preserved, as selects.
#[inline(always)]
fn add(x: f32, b: f32) -> f32 {
    let sum = x + b;
    let nan = if x.is_nan() {
        x
    } else if b.is_nan() {
        b
    } else {
        CANONICAL_NAN
    };
    if sum.is_nan() { nan } else { sum }
}

/// The mask word of up to 32 values.
#[inline(always)]
fn pack(rule: impl Rule, values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .fold(0, |word, (k, &v)| word | (u32::from(rule.bit(v)) << k))
}

/// `rule.backward` of `dy` where the bits of `word` pick, for up to 32 elements.
#[inline(always)]
fn backward_word(rule: impl Rule, word: u32, dy: &[f32], dx: &mut [f32]) {
    for (k, (out, &d)) in dx.iter_mut().zip(dy).enumerate() {
        *out = rule.backward(word & (1 << k) != 0, d);
    }
}

/// Calls `work(range, bias)` for the pieces of elements
/// `start..start + len` of a row-major matrix of `b.len()` columns that
/// lie in one row each, with the bias of their columns.
#[inline(always)]
fn rows_of(start: usize, len: usize, b: &[f32], mut work: impl FnMut(usize, &[f32])) {
    let cols = b.len();
    if cols == 0 {
        return;
    }
    let (mut done, mut column) = (0, start % cols);
    while done < len {
        let n = (cols - column).min(len - done);
        work(done, &b[column..column + n]);
        done += n;
        column = 0;
    }
}

/// [`cpu::relu_forward`] over `threads` threads.
pub fn relu_forward(x: &[f32], threads: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    relu_forward_into(x, &mut y, threads);
    y
}

/// [`relu_forward`] into `y`.
///
/// # Panics
/// If `y.len() != x.len()`.
pub fn relu_forward_into(x: &[f32], y: &mut [f32], threads: usize) {
    forward_into(Activation::Relu, x, y, threads);
}

/// `y = x` over `threads` threads: the host's own copy, the baseline of
/// [`Op::Identity`].
///
/// # Panics
/// If `y.len() != x.len()`.
pub fn copy_into(x: &[f32], y: &mut [f32], threads: usize) {
    assert_eq!(y.len(), x.len(), "y and x lengths");
    on_threads(threads, |parallel| {
        each_chunk(parallel, (), y, |(), start, y| {
            y.copy_from_slice(&x[start..start + y.len()]);
        });
    });
}

/// [`cpu::relu_forward_in_place`] over `threads` threads.
pub fn relu_forward_in_place(x: &mut [f32], threads: usize) {
    on_threads(threads, |parallel| {
        each_chunk(parallel, (), x, |(), _, part| {
            for v in part {
                *v = relu(*v);
            }
        });
    });
}

/// [`cpu::forward`] over `threads` threads.
pub fn forward(activation: Activation, x: &[f32], threads: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    forward_into(activation, x, &mut y, threads);
    y
}

/// [`forward`] into `y`.
///
/// # Panics
/// If `y.len() != x.len()`.
pub fn forward_into(activation: Activation, x: &[f32], y: &mut [f32], threads: usize) {
    assert_eq!(y.len(), x.len(), "y and x lengths");
    with_rule!(activation, rule => on_threads(threads, |parallel| {
        each_chunk(parallel, rule, y, |rule, start, y| {
            for (out, &v) in y.iter_mut().zip(&x[start..]) {
                *out = rule.forward(v);
            }
        });
    }));
}

/// [`cpu::forward_with_mask`] over `threads` threads: the activations and
/// the packed mask (element i in bit `i % 32` of word `i / 32`, the bits past
/// the last element zero).
pub fn forward_with_mask(
    activation: Activation,
    x: &[f32],
    threads: usize,
) -> (Vec<f32>, Vec<u32>) {
    let mut y = vec![0.0; x.len()];
    let mut mask = vec![0; cpu::mask_words(x.len())];
    forward_with_mask_into(activation, x, &mut y, &mut mask, threads);
    (y, mask)
}

/// [`forward_with_mask`] into `y` and `mask`. Every word of `mask` is
/// overwritten, unused bits with zero.
///
/// # Panics
/// If `y.len() != x.len()` or `mask.len() != cpu::mask_words(x.len())`.
pub fn forward_with_mask_into(
    activation: Activation,
    x: &[f32],
    y: &mut [f32],
    mask: &mut [u32],
    threads: usize,
) {
    assert_eq!(y.len(), x.len(), "y and x lengths");
    assert_eq!(mask.len(), cpu::mask_words(x.len()), "mask words");
    with_rule!(activation, rule => on_threads(threads, |parallel| {
        each_chunk_with_mask(parallel, rule, y, mask, |rule, start, y, mask| {
            let groups = y.chunks_mut(WORD).zip(x[start..].chunks(WORD));
            for (word, (y, x)) in mask.iter_mut().zip(groups) {
                for (out, &v) in y.iter_mut().zip(x) {
                    *out = rule.forward(v);
                }
                *word = pack(rule, x);
            }
        });
    }));
}

/// [`cpu::backward`] over `threads` threads: `dx` from `dy` and a packed
/// mask of `dy.len()` elements.
///
/// # Panics
/// If the mask has fewer than [`cpu::mask_words`]`(dy.len())` words.
pub fn backward(activation: Activation, dy: &[f32], mask: &[u32], threads: usize) -> Vec<f32> {
    let mut dx = vec![0.0; dy.len()];
    backward_into(activation, dy, mask, &mut dx, threads);
    dx
}

/// [`backward`] into `dx`.
///
/// # Panics
/// As [`backward`], and if `dx.len() != dy.len()`.
pub fn backward_into(
    activation: Activation,
    dy: &[f32],
    mask: &[u32],
    dx: &mut [f32],
    threads: usize,
) {
    assert!(mask.len() >= cpu::mask_words(dy.len()), "mask too short");
    assert_eq!(dx.len(), dy.len(), "dx and dy lengths");
    with_rule!(activation, rule => on_threads(threads, |parallel| {
        each_chunk(parallel, rule, dx, |rule, start, dx| {
            backward_chunk(rule, &dy[start..], mask, start, dx);
        });
    }));
}

/// `dx` of the elements `start..start + dx.len()` of a masked backward;
/// `start` is a multiple of 32.
#[inline(always)]
fn backward_chunk(rule: impl Rule, dy: &[f32], mask: &[u32], start: usize, dx: &mut [f32]) {
    let groups = dx.chunks_mut(WORD).zip(dy.chunks(WORD));
    for (&word, (dx, dy)) in mask[start / WORD..].iter().zip(groups) {
        backward_word(rule, word, dy, dx);
    }
}

/// [`cpu::backward_from_input`] over `threads` threads: `dx` from `dy` and
/// the forward pass's input `x`.
///
/// # Panics
/// If the lengths differ.
pub fn backward_from_input(
    activation: Activation,
    dy: &[f32],
    x: &[f32],
    threads: usize,
) -> Vec<f32> {
    let mut dx = vec![0.0; dy.len()];
    backward_from_input_into(activation, dy, x, &mut dx, threads);
    dx
}

/// [`backward_from_input`] into `dx`.
///
/// # Panics
/// If `dy`, `x` and `dx` lengths differ.
pub fn backward_from_input_into(
    activation: Activation,
    dy: &[f32],
    x: &[f32],
    dx: &mut [f32],
    threads: usize,
) {
    assert_eq!(dy.len(), x.len(), "dy and x lengths");
    assert_eq!(dx.len(), dy.len(), "dx and dy lengths");
    with_rule!(activation, rule => on_threads(threads, |parallel| {
        each_chunk(parallel, rule, dx, |rule, start, dx| {
            for ((out, &d), &v) in dx.iter_mut().zip(&dy[start..]).zip(&x[start..]) {
                *out = rule.backward(rule.bit(v), d);
            }
        });
    }));
}

/// [`cpu::bias_add`] (subnormals preserved) over `threads` threads: `x + b[c]`
/// for row-major `[rows, cols]` x, `cols = b.len()`.
///
/// # Panics
/// If `x.len()` is not a multiple of `b.len()` (or b is empty and x is not).
pub fn bias_add(x: &[f32], b: &[f32], threads: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    bias_add_into(x, b, &mut y, threads);
    y
}

/// [`bias_add`] into `y`.
///
/// # Panics
/// As [`bias_add`], and if `y.len() != x.len()`.
pub fn bias_add_into(x: &[f32], b: &[f32], y: &mut [f32], threads: usize) {
    bias_map_into(x, b, y, threads, add);
}

/// [`cpu::bias_forward`] over `threads` threads: `activate(x[r, c] + b[c])`.
///
/// # Panics
/// As [`bias_add`].
pub fn bias_forward(activation: Activation, x: &[f32], b: &[f32], threads: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    bias_forward_into(activation, x, b, &mut y, threads);
    y
}

/// [`bias_forward`] into `y`.
///
/// # Panics
/// As [`bias_add`], and if `y.len() != x.len()`.
pub fn bias_forward_into(
    activation: Activation,
    x: &[f32],
    b: &[f32],
    y: &mut [f32],
    threads: usize,
) {
    with_rule!(activation, rule => bias_map_into(x, b, y, threads, move |v, b| rule.forward(add(v, b))));
}

/// `y[r, c] = f(x[r, c], b[c])` over `threads` threads.
fn bias_map_into(
    x: &[f32],
    b: &[f32],
    y: &mut [f32],
    threads: usize,
    f: impl Fn(f32, f32) -> f32 + Copy + Send + Sync,
) {
    assert_whole_bias_rows(x.len(), b.len());
    assert_eq!(y.len(), x.len(), "y and x lengths");
    on_threads(threads, |parallel| {
        each_chunk(parallel, f, y, |f, start, y| {
            let x = &x[start..start + y.len()];
            rows_of(start, y.len(), b, |at, b| {
                let (y, x) = (&mut y[at..at + b.len()], &x[at..at + b.len()]);
                for ((out, &v), &b) in y.iter_mut().zip(x).zip(b) {
                    *out = f(v, b);
                }
            });
        });
    });
}

/// [`cpu::bias_forward_with_mask`] over `threads` threads: [`bias_forward`]
/// and the packed mask bits of `x + b`.
///
/// # Panics
/// As [`bias_add`].
pub fn bias_forward_with_mask(
    activation: Activation,
    x: &[f32],
    b: &[f32],
    threads: usize,
) -> (Vec<f32>, Vec<u32>) {
    let mut y = vec![0.0; x.len()];
    let mut mask = vec![0; cpu::mask_words(x.len())];
    bias_forward_with_mask_into(activation, x, b, &mut y, &mut mask, threads);
    (y, mask)
}

/// [`bias_forward_with_mask`] into `y` and `mask`. Every word of `mask` is
/// overwritten, unused bits with zero.
///
/// # Panics
/// As [`bias_add`], and if `y.len() != x.len()` or
/// `mask.len() != cpu::mask_words(x.len())`.
pub fn bias_forward_with_mask_into(
    activation: Activation,
    x: &[f32],
    b: &[f32],
    y: &mut [f32],
    mask: &mut [u32],
    threads: usize,
) {
    assert_whole_bias_rows(x.len(), b.len());
    assert_eq!(y.len(), x.len(), "y and x lengths");
    assert_eq!(mask.len(), cpu::mask_words(x.len()), "mask words");
    with_rule!(activation, rule => on_threads(threads, |parallel| {
        each_chunk_with_mask(parallel, rule, y, mask, |rule, start, y, mask| {
            let x = &x[start..start + y.len()];
            // The sums first (row by row), then the activations and each
            // word's bits from them, while the chunk is in cache.
            rows_of(start, y.len(), b, |at, b| {
                let (y, x) = (&mut y[at..at + b.len()], &x[at..at + b.len()]);
                for ((out, &v), &b) in y.iter_mut().zip(x).zip(b) {
                    *out = add(v, b);
                }
            });
            for (word, y) in mask.iter_mut().zip(y.chunks_mut(WORD)) {
                *word = pack(rule, y);
                for v in y {
                    *v = rule.forward(*v);
                }
            }
        });
    }));
}

/// [`cpu::bias_backward`] over `threads` threads: `dx` as [`backward`], and
/// `db[c] = sum over rows of dx[r, c]` summed in f64 (row by row, as the
/// reference does) and rounded once to f32: bit-identical.
///
/// # Panics
/// As [`backward`], and if `dy.len()` is not a multiple of `cols` (or cols is
/// 0 and dy is not empty).
pub fn bias_backward(
    activation: Activation,
    dy: &[f32],
    mask: &[u32],
    cols: usize,
    threads: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut dx = vec![0.0; dy.len()];
    let mut db = vec![0.0; cols];
    bias_backward_into(activation, dy, mask, &mut dx, &mut db, threads);
    (dx, db)
}

/// [`bias_backward`] into `dx` and `db`; `cols` is `db.len()`.
///
/// `dx` is written a tile of whole rows at a time (a multiple of 32
/// elements too), each tile's rows then added to the f64 column sums by
/// blocks of columns while it is in cache.
///
/// # Panics
/// As [`bias_backward`], and if `dx.len() != dy.len()`.
pub fn bias_backward_into(
    activation: Activation,
    dy: &[f32],
    mask: &[u32],
    dx: &mut [f32],
    db: &mut [f32],
    threads: usize,
) {
    let cols = db.len();
    assert!(mask.len() >= cpu::mask_words(dy.len()), "mask too short");
    assert_whole_rows(dy.len(), cols);
    assert_eq!(dx.len(), dy.len(), "dx and dy lengths");
    let mut sums = vec![0.0f64; cols];
    if cols > 0 {
        let unit = lcm(cols, WORD);
        let tile = unit * (TILE / unit).max(1);
        with_rule!(activation, rule => on_threads(threads, |parallel| {
            for (t, dx) in dx.chunks_mut(tile).enumerate() {
                let first = t * tile;
                each_chunk(parallel, rule, dx, |rule, start, dx| {
                    let at = first + start;
                    backward_chunk(rule, &dy[at..], mask, at, dx);
                });
                add_column_sums(parallel, dx, &mut sums);
            }
        }));
    }
    for (out, sum) in db.iter_mut().zip(sums) {
        *out = sum as f32;
    }
}

/// [`cpu::column_sums`] over `threads` threads: the column sums in f64 of
/// row-major `[rows, cols]` data, bit-identical (each column is summed row
/// by row; the threads share the columns, not the rows).
///
/// # Panics
/// If `data.len()` is not a multiple of `cols` (or cols is 0 and data is not empty).
pub fn column_sums(data: &[f32], cols: usize, threads: usize) -> Vec<f64> {
    assert_whole_rows(data.len(), cols);
    let mut sums = vec![0.0f64; cols];
    on_threads(threads, |parallel| {
        add_column_sums(parallel, data, &mut sums)
    });
    sums
}

/// Adds the rows of `data` (whole rows of `sums.len()` columns) to `sums`, in
/// row order, over blocks of columns in parallel.
fn add_column_sums(parallel: bool, data: &[f32], sums: &mut [f64]) {
    let cols = sums.len();
    let add_block = |first: usize, sums: &mut [f64]| {
        let width = sums.len();
        for row in data.chunks_exact(cols) {
            for (sum, &v) in sums.iter_mut().zip(&row[first..first + width]) {
                *sum += f64::from(v);
            }
        }
    };
    // Blocks of at least 64 columns, several per thread for balance.
    let block = cols.div_ceil(4 * rayon::current_num_threads()).max(64);
    if parallel && cols > block {
        sums.par_chunks_mut(block)
            .enumerate()
            .for_each(|(k, sums)| add_block(k * block, sums));
    } else if cols > 0 {
        add_block(0, sums);
    }
}

fn lcm(a: usize, b: usize) -> usize {
    let (mut x, mut y) = (a, b);
    while y != 0 {
        (x, y) = (y, x % y);
    }
    a / x * b
}

/// [`cpu::bias_add`]'s check (and message) that `len` is whole rows of
/// `cols` elements.
fn assert_whole_bias_rows(len: usize, cols: usize) {
    assert!(
        len.is_multiple_of(cols),
        "x is not a whole number of rows of b.len() columns"
    );
}

/// [`cpu::column_sums`]'s check (and message) that `len` is whole rows of
/// `cols` elements.
fn assert_whole_rows(len: usize, cols: usize) {
    assert!(
        len.is_multiple_of(cols),
        "data is not a whole number of rows"
    );
}

/// Preallocated outputs of [`run`] for one op: `values` (`y`, `dx`, or the
/// data of the in-place op), the mask a forward op writes, and `db`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Outputs {
    /// `y` or `dx`; for [`Op::ReluForwardInPlace`] the data itself, which
    /// [`Outputs::new`] fills with `x`.
    pub values: Vec<f32>,
    /// The mask, for the ops that [write one](Op::writes_mask); else empty.
    pub mask: Vec<u32>,
    /// The bias gradient, for [`Op::BiasBackward`]; else empty.
    pub db: Vec<f32>,
}

impl Outputs {
    /// Outputs sized for `op` on `inputs`.
    pub fn new(op: Op, inputs: &HostInputs) -> Self {
        let used = inputs.used(op);
        Self {
            values: if op == Op::ReluForwardInPlace {
                inputs.x[..used].to_vec()
            } else {
                vec![0.0; used]
            },
            mask: vec![
                0;
                if op.writes_mask() {
                    cpu::mask_words(used)
                } else {
                    0
                }
            ],
            db: vec![
                0.0;
                if op.writes_bias_gradient() {
                    inputs.cols()
                } else {
                    0
                }
            ],
        }
    }
}

/// The baseline of `op` on `inputs` into `outputs` (sized by
/// [`Outputs::new`]), over `threads` threads: what
/// [`Op::reference`] computes with subnormals preserved, bit for bit, and
/// for [`Op::BiasBackward`] `db` as [`cpu::bias_backward`]. Backward ops
/// read `saved_mask` ([`HostInputs::saved_mask`]).
///
/// The match covers every [`Op`]: a new op fails to compile here until it
/// has its baseline.
///
/// # Panics
/// If `outputs` or `saved_mask` are too short for `op` on `inputs`.
pub fn run(op: Op, inputs: &HostInputs, saved_mask: &[u32], outputs: &mut Outputs, threads: usize) {
    let used = inputs.used(op);
    let (x, dy, b) = (&inputs.x[..used], &inputs.dy[..used], &inputs.bias[..]);
    let Outputs { values, mask, db } = outputs;
    match op {
        Op::Identity => copy_into(x, values, threads),
        Op::ReluForward => relu_forward_into(x, values, threads),
        Op::ReluForwardInPlace => relu_forward_in_place(values, threads),
        Op::Forward(a) => forward_into(a, x, values, threads),
        Op::ForwardWithMask(a) => forward_with_mask_into(a, x, values, mask, threads),
        Op::BackwardFromMask(a) => backward_into(a, dy, saved_mask, values, threads),
        Op::BackwardFromInput(a) => backward_from_input_into(a, dy, x, values, threads),
        Op::BiasAdd => bias_add_into(x, b, values, threads),
        Op::BiasForward(a) => bias_forward_into(a, x, b, values, threads),
        Op::BiasForwardWithMask(a) => bias_forward_with_mask_into(a, x, b, values, mask, threads),
        Op::BiasBackward(a) => bias_backward_into(a, dy, saved_mask, values, db, threads),
    }
}

#[cfg(test)]
mod tests;
