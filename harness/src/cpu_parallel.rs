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
//! the activation chosen outside the loop, so the compiler vectorises them;
//! each runs compiled for the widest instruction set the CPU has (AVX2 on
//! x86-64 v3), chosen at run time with [`pulp`] (`kernels`), which took the
//! masked, leaky, bias and fused-backward loops from 17-42 GB/s to 38-92
//! GB/s on one thread in cache (SSE2 to AVX2, measured).
//!
//! Every result is bit-identical to [`cpu`]'s, NaN payloads included, for
//! every thread count and instruction set, except `db` of [`bias_backward`]
//! on several threads: its rows are split over the threads, each part's
//! f64 column sums added in order, so `db` is deterministic and within
//! [`db_bound`] of the reference (bit-identical on one thread). The column
//! sums alone ([`column_sums`]) are split over blocks of columns, so each
//! is still summed in f64 row by row, in the reference's order.
//!
//! [`copy`] is the host's memcpy on the same pools: the CPU's own limit.
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

mod copy;
mod kernels;
mod rules;

pub use copy::copy;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use rayon::prelude::*;
use rayon::{ThreadPool, ThreadPoolBuilder};
use wgpu_activations::cpu;
use wgpu_activations::{Activation, HostInputs, Op};

use kernels::{
    Backward, BackwardFromInput, BiasForwardWithMask, BiasMap, ColumnSums, Forward,
    ForwardWithMask, Kernel, ReluInPlace, vectorized,
};
use rules::{Rule, WORD, add, with_rule};

/// Elements per parallel task: 64 KiB of f32, a multiple of 32 so that a
/// task owns whole mask words.
pub const CHUNK: usize = 1 << 14;

/// Elements of `dx` per tile of [`bias_backward`] (256 KiB): `dx` is
/// written, then summed by columns, one tile at a time, so the sums read it
/// from L2 (2^16 ran at 1.0-1.1x the one-thread memcpy, 2^18 at 0.8-0.95x).
const TILE: usize = 1 << 16;

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

/// Runs the kernel `part(start, piece)` makes for each piece of `out` of
/// [`CHUNK`] elements in parallel, or for all of `out` at once, each
/// [`vectorized`].
///
/// A kernel holds the activation's rule by value: a loop that read it
/// through a closure's capture reloaded it from the caller's stack at every
/// element (stores to the output may alias it), and on a pool thread that
/// stack line is the one rayon's latches write, so leaky and clipped relu
/// ran 10x slower on 2 threads than on 1 (measured).
fn each_chunk<'a, K: Kernel>(
    parallel: bool,
    out: &'a mut [f32],
    part: impl Fn(usize, &'a mut [f32]) -> K + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(CHUNK)
            .enumerate()
            .for_each(|(k, piece)| vectorized(part(k * CHUNK, piece)));
    } else {
        vectorized(part(0, out));
    }
}

/// [`each_chunk`] with each piece's mask words.
fn each_chunk_with_mask<'a, K: Kernel>(
    parallel: bool,
    out: &'a mut [f32],
    mask: &'a mut [u32],
    part: impl Fn(usize, &'a mut [f32], &'a mut [u32]) -> K + Sync + Send,
) {
    if parallel {
        out.par_chunks_mut(CHUNK)
            .zip(mask.par_chunks_mut(CHUNK / WORD))
            .enumerate()
            .for_each(|(k, (piece, words))| vectorized(part(k * CHUNK, piece, words)));
    } else {
        vectorized(part(0, out, mask));
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

/// [`cpu::relu_forward_in_place`] over `threads` threads.
pub fn relu_forward_in_place(x: &mut [f32], threads: usize) {
    on_threads(threads, |parallel| {
        each_chunk(parallel, x, |_, data| ReluInPlace { data });
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
        each_chunk(parallel, y, |start, y| Forward { rule, x: &x[start..start + y.len()], y });
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
        each_chunk_with_mask(parallel, y, mask, |start, y, mask| ForwardWithMask {
            rule,
            x: &x[start..start + y.len()],
            y,
            mask,
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
        each_chunk(parallel, dx, |start, dx| Backward {
            rule,
            dy: &dy[start..start + dx.len()],
            mask,
            start,
            dx,
        });
    }));
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
        each_chunk(parallel, dx, |start, dx| {
            let range = start..start + dx.len();
            BackwardFromInput {
                rule,
                dy: &dy[range.clone()],
                x: &x[range],
                dx,
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
        each_chunk(parallel, y, |start, y| BiasMap {
            f,
            start,
            x: &x[start..start + y.len()],
            b,
            y,
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
        each_chunk_with_mask(parallel, y, mask, |start, y, mask| BiasForwardWithMask {
            rule,
            start,
            x: &x[start..start + y.len()],
            b,
            y,
            mask,
        });
    }));
}

/// [`cpu::bias_backward`] over `threads` threads: `dx` as [`backward`],
/// bit-identical, and `db[c] = sum over rows of dx[r, c]` summed in f64 and
/// rounded once to f32. On one thread each column is summed row by row, as
/// the reference does: bit-identical. On N threads the rows are split into
/// N parts, each summed row by row, and the parts' sums added in order:
/// deterministic for a given N, within [`db_bound`] of the reference (the
/// f64 sums reassociated, then rounded to f32; a column with two NaN
/// payloads may keep the other one).
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

/// How far [`bias_backward`]'s `db` on several threads may be from the
/// reference's, for a column whose `dx` has absolute sum `abs_sum` over
/// `rows` rows: the f64 sums' reassociation (`2 * rows * 2^-53 * abs_sum`)
/// and one f32 rounding step of the result (`2^-24 * abs_sum`, at most).
pub fn db_bound(rows: usize, abs_sum: f64) -> f64 {
    (2.0 * rows as f64 * f64::EPSILON / 2.0 + f64::from(f32::EPSILON)) * abs_sum
}

/// [`bias_backward`] into `dx` and `db`; `cols` is `db.len()`.
///
/// Each part of whole rows (one per thread) is handled a tile of rows at a
/// time: the tile's `dx` is written, then added to the part's own f64
/// column sums while it is in cache (L2), so `dy` and `dx` each cross
/// memory once. Splitting the rows is what lets every thread work: the
/// bit-identical splits measured slower than one thread on the 2-core
/// machine (benches/README.md, "The CPU side").
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
    if let Some(rows) = dy.len().checked_div(cols) {
        let part_rows = rows.div_ceil(threads.clamp(1, rows.max(1))).max(1);
        let tile = cols * (TILE / cols).max(1);
        with_rule!(activation, rule => {
            // Part `dx` starts at element `start`; its rows go into `sums`.
            let part = |start: usize, dx: &mut [f32], sums: &mut [f64]| {
                for (t, dx) in dx.chunks_mut(tile).enumerate() {
                    let begin = start + t * tile;
                    vectorized(Backward {
                        rule,
                        dy: &dy[begin..begin + dx.len()],
                        mask,
                        start: begin,
                        dx: &mut *dx,
                    });
                    vectorized(ColumnSums {
                        data: dx,
                        cols,
                        first: 0,
                        sums: &mut *sums,
                    });
                }
            };
            if part_rows >= rows {
                part(0, dx, &mut sums);
            } else {
                let partials: Vec<Vec<f64>> = pool(threads).install(|| {
                    dx.par_chunks_mut(part_rows * cols)
                        .enumerate()
                        .map(|(k, dx)| {
                            let mut own = vec![0.0f64; cols];
                            part(k * part_rows * cols, dx, &mut own);
                            own
                        })
                        .collect()
                });
                for partial in partials {
                    for (sum, add) in sums.iter_mut().zip(partial) {
                        *sum += add;
                    }
                }
            }
        });
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
    // Blocks of at least 64 columns, several per thread for balance.
    let block = cols.div_ceil(4 * rayon::current_num_threads()).max(64);
    if parallel && cols > block {
        sums.par_chunks_mut(block)
            .enumerate()
            .for_each(|(k, sums)| {
                // The task's own copy: neighbouring blocks' sums share a cache
                // line, which two threads adding to it every row would bounce
                // between their cores.
                let mut own = sums.to_vec();
                vectorized(ColumnSums {
                    data,
                    cols,
                    first: k * block,
                    sums: &mut own,
                });
                sums.copy_from_slice(&own);
            });
    } else if cols > 0 {
        vectorized(ColumnSums {
            data,
            cols,
            first: 0,
            sums,
        });
    }
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

/// [`cpu::gradient_from_output_in`] of every element over `threads`
/// threads: `dx` from `dy` and the forward's output `y`, for the
/// activations with a backward from their output (the reference's element
/// function, in parallel but not vectorised).
///
/// # Panics
/// If the lengths differ, or the activation has no backward from its output.
pub fn backward_from_output_into(
    activation: Activation,
    dy: &[f32],
    y: &[f32],
    dx: &mut [f32],
    threads: usize,
) {
    assert_eq!(dy.len(), y.len(), "dy and y lengths");
    assert_eq!(dx.len(), dy.len(), "dx and dy lengths");
    let element = move |(out, (&d, &v)): (&mut f32, (&f32, &f32))| {
        *out = cpu::gradient_from_output_in(activation, v, d, wgpu_activations::DType::F32)
            .unwrap_or_else(|| panic!("{activation} has no backward from its output"));
    };
    on_threads(threads, |parallel| {
        if parallel {
            dx.par_iter_mut()
                .zip(dy.par_iter().zip(y))
                .with_min_len(CHUNK)
                .for_each(element);
        } else {
            dx.iter_mut().zip(dy.iter().zip(y)).for_each(element);
        }
    });
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
    /// The bias gradient, for the ops that [write
    /// one](Op::writes_bias_gradient); else empty.
    pub db: Vec<f32>,
    /// The pre-activation, for the ops that [write
    /// it](Op::writes_preactivation); else empty.
    pub preactivation: Vec<f32>,
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
            preactivation: vec![0.0; if op.writes_preactivation() { used } else { 0 }],
        }
    }
}

/// The baseline of `op` on `inputs` into `outputs` (sized by
/// [`Outputs::new`]), over `threads` threads: what
/// [`Op::reference`] computes with subnormals preserved, bit for bit, and
/// for [`Op::BiasBackward`] `db` as [`cpu::bias_backward`]. Backward ops
/// read `saved_mask` ([`HostInputs::saved_mask`]) or `saved_values`: the
/// pre-activation ([`HostInputs::saved_preactivation_in`]) or the output
/// ([`HostInputs::saved_output_in`]).
///
/// The match covers every [`Op`]: a new op fails to compile here until it
/// has its baseline.
///
/// # Panics
/// If `outputs` or `saved_mask` are too short for `op` on `inputs`.
pub fn run(
    op: Op,
    inputs: &HostInputs,
    saved_mask: &[u32],
    saved_values: &[f32],
    outputs: &mut Outputs,
    threads: usize,
) {
    let used = inputs.used(op);
    let (x, dy, b) = (&inputs.x[..used], &inputs.dy[..used], &inputs.bias[..]);
    let Outputs {
        values,
        mask,
        db,
        preactivation,
    } = outputs;
    match op {
        // The identity is the host's own copy.
        Op::Identity => copy(
            bytemuck::cast_slice(x),
            bytemuck::cast_slice_mut(values),
            threads,
        ),
        Op::ReluForward => relu_forward_into(x, values, threads),
        Op::ReluForwardInPlace => relu_forward_in_place(values, threads),
        Op::Forward(a) => forward_into(a, x, values, threads),
        Op::ForwardWithMask(a) => forward_with_mask_into(a, x, values, mask, threads),
        Op::BackwardFromMask(a) => backward_into(a, dy, saved_mask, values, threads),
        Op::BackwardFromInput(a) => backward_from_input_into(a, dy, x, values, threads),
        Op::BackwardFromOutput(a) => {
            backward_from_output_into(a, dy, saved_values, values, threads)
        }
        Op::BiasAdd => bias_add_into(x, b, values, threads),
        Op::BiasForward(a) => bias_forward_into(a, x, b, values, threads),
        Op::BiasForwardWithMask(a) => bias_forward_with_mask_into(a, x, b, values, mask, threads),
        Op::BiasBackward(a) => bias_backward_into(a, dy, saved_mask, values, db, threads),
        Op::BiasForwardWithPreactivation(a) => {
            bias_add_into(x, b, preactivation, threads);
            forward_into(a, preactivation, values, threads);
        }
        Op::BiasBackwardFromPreactivation(a) => {
            backward_from_input_into(a, dy, saved_values, values, threads);
            let sums = column_sums(values, db.len(), threads);
            for (out, sum) in db.iter_mut().zip(sums) {
                *out = sum as f32;
            }
        }
    }
}

#[cfg(test)]
mod tests;
