//! The multi-threaded CPU baseline for benchmarks: the [`cpu`] reference ops
//! split over threads with [`std::thread::scope`].
//!
//! Each op takes `threads` (0 counts as 1), splits its elements into at most
//! that many contiguous chunks of nearly equal size whose inner boundaries
//! are multiples of 32 elements (so each thread owns whole mask words), and
//! runs the reference's own per-element functions ([`cpu::activate`],
//! [`cpu::mask_bit`], [`cpu::backward_element`], [`cpu::add`]) on each chunk,
//! writing into disjoint parts of a preallocated output.
//!
//! Every result is bit-identical to [`cpu`]'s, NaN payloads included, with
//! one exception: the column sums of [`bias_backward`] (`db`) and
//! [`column_sums`]. Those add each thread's f64 partial sums in thread
//! order, so with more than one chunk the f64 summation order differs from
//! the reference's row-by-row order. Where the f64 sums are exact (e.g. at
//! most 2^20 rows of values that are all multiples of some 2^k and below
//! 2^(k + 32) in magnitude) the results are still bit-identical; otherwise a
//! sum can differ in its last bits, and where a column cancels (`+f32::MAX`
//! and `-f32::MAX` with small values between) by anything within the
//! recursive-summation bound `(rows - 1) * f64::EPSILON * sum |x|`. Whether
//! a sum is NaN does not depend on the order; which NaN payload it carries
//! can. With one chunk (`threads` 1, or at most 32 elements) they are
//! bit-identical too.
//!
//! The `_into` forms write into caller-owned slices, so a benchmark can time
//! the arithmetic without the allocation; the others allocate their output
//! and call them.
//!
//! ```
//! use wgpu_activations::{cpu, cpu_parallel, Activation};
//! let x = wgpu_activations::sample::activations(10_000, 1);
//! let leaky = Activation::LeakyRelu { slope: 0.01 };
//! let threads = cpu_parallel::available_threads();
//! let (y, mask) = cpu_parallel::forward_with_mask(leaky, &x, threads);
//! let (y_ref, mask_ref) = cpu::forward_with_mask(leaky, &x);
//! assert!(y.iter().zip(&y_ref).all(|(a, b)| a.to_bits() == b.to_bits()));
//! assert_eq!(mask, mask_ref);
//! ```

use std::ops::Range;
use std::thread;

use wgpu_activations::Activation;
use wgpu_activations::cpu::{self, Subnormals};

/// Chunk boundaries are multiples of this many elements: one mask word.
const ALIGN: usize = 32;

/// The number of threads the machine can run at once
/// ([`std::thread::available_parallelism`]), or 1 if it cannot tell.
pub fn available_threads() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
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
    assert_eq!(y.len(), x.len(), "y and x lengths");
    fill(y, threads, |range, y| {
        for (out, &v) in y.iter_mut().zip(&x[range]) {
            *out = cpu::relu(v);
        }
    });
}

/// [`cpu::relu_forward_in_place`] over `threads` threads.
pub fn relu_forward_in_place(x: &mut [f32], threads: usize) {
    fill(x, threads, |_, chunk| cpu::relu_forward_in_place(chunk));
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
    fill(y, threads, |range, y| {
        for (out, &v) in y.iter_mut().zip(&x[range]) {
            *out = cpu::activate(activation, v);
        }
    });
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
    fill_with_mask(y, mask, threads, |range, y, mask| {
        let words = y.chunks_mut(ALIGN).zip(x[range].chunks(ALIGN));
        for (word, (y, x)) in mask.iter_mut().zip(words) {
            let mut bits = 0;
            for (k, (out, &v)) in y.iter_mut().zip(x).enumerate() {
                *out = cpu::activate(activation, v);
                bits |= u32::from(cpu::mask_bit(activation, v)) << k;
            }
            *word = bits;
        }
    });
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
    fill(dx, threads, |range, dx| {
        backward_chunk(activation, &dy[range.clone()], mask, range.start, dx);
    });
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
    fill(dx, threads, |range, dx| {
        for ((out, &d), &v) in dx.iter_mut().zip(&dy[range.clone()]).zip(&x[range]) {
            let bit = cpu::mask_bit(activation, v);
            *out = cpu::backward_element(activation, bit, d, Subnormals::Preserve);
        }
    });
}

/// [`cpu::bias_add`] over `threads` threads: `x + b[c]` for row-major
/// `[rows, cols]` x, `cols = b.len()`.
///
/// # Panics
/// If `x.len()` is not a multiple of `b.len()` (or b is empty and x is not).
pub fn bias_add(x: &[f32], b: &[f32], subnormals: Subnormals, threads: usize) -> Vec<f32> {
    let mut y = vec![0.0; x.len()];
    bias_add_into(x, b, subnormals, &mut y, threads);
    y
}

/// [`bias_add`] into `y`.
///
/// # Panics
/// As [`bias_add`], and if `y.len() != x.len()`.
pub fn bias_add_into(x: &[f32], b: &[f32], subnormals: Subnormals, y: &mut [f32], threads: usize) {
    assert_whole_bias_rows(x.len(), b.len());
    assert_eq!(y.len(), x.len(), "y and x lengths");
    fill(y, threads, |range, y| {
        let start = range.start;
        for ((out, &v), bias) in y.iter_mut().zip(&x[range]).zip(biases(b, start)) {
            *out = cpu::add(v, bias, subnormals);
        }
    });
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
    assert_whole_bias_rows(x.len(), b.len());
    assert_eq!(y.len(), x.len(), "y and x lengths");
    fill(y, threads, |range, y| {
        let start = range.start;
        for ((out, &v), bias) in y.iter_mut().zip(&x[range]).zip(biases(b, start)) {
            *out = cpu::activate(activation, cpu::add(v, bias, Subnormals::Preserve));
        }
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
    fill_with_mask(y, mask, threads, |range, y, mask| {
        let mut bias = biases(b, range.start);
        let words = y.chunks_mut(ALIGN).zip(x[range].chunks(ALIGN));
        for (word, (y, x)) in mask.iter_mut().zip(words) {
            let mut bits = 0;
            for (k, ((out, &v), b)) in y.iter_mut().zip(x).zip(&mut bias).enumerate() {
                let sum = cpu::add(v, b, Subnormals::Preserve);
                *out = cpu::activate(activation, sum);
                bits |= u32::from(cpu::mask_bit(activation, sum)) << k;
            }
            *word = bits;
        }
    });
}

/// [`cpu::bias_backward`] over `threads` threads: `dx` as [`backward`], and
/// `db[c] = sum over rows of dx[r, c]` summed in f64 and rounded once to f32.
///
/// `dx` is bit-identical to the reference. `db` is not always: it is
/// [`column_sums`]`(dx, cols, threads)` rounded to f32, whose summation
/// order differs from the reference's when there is more than one chunk;
/// see there for how far apart the two can be.
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
    let partials = map_chunks(dx, threads, |range, dx| {
        let start = range.start;
        backward_chunk(activation, &dy[range], mask, start, dx);
        partial_column_sums(dx, start, cols)
    });
    for (c, out) in db.iter_mut().enumerate() {
        *out = combine(&partials, c) as f32;
    }
}

/// [`cpu::column_sums`] over `threads` threads: the column sums in f64 of
/// row-major `[rows, cols]` data.
///
/// Each thread sums its own chunk of the elements (in element order, like the
/// reference); the partial sums are then added in thread order. With more
/// than one chunk that order differs from the reference's row-by-row order.
/// Where the sums are exact in f64 the results are identical; otherwise both
/// lie within the recursive-summation bound
/// `(rows - 1) * f64::EPSILON / 2 * sum |x|` of the exact sum, so within
/// twice that of each other — a few ulps of the result unless the column
/// cancels. Whether a sum is NaN does not depend on the order, though its
/// payload can. With one chunk (`threads` 1, or at most 32 elements) the
/// result is bit-identical.
///
/// # Panics
/// If `data.len()` is not a multiple of `cols` (or cols is 0 and data is not empty).
pub fn column_sums(data: &[f32], cols: usize, threads: usize) -> Vec<f64> {
    assert_whole_rows(data.len(), cols);
    let ranges = chunk_ranges(data.len(), threads);
    let partials = run(ranges, |range| {
        let start = range.start;
        partial_column_sums(&data[range], start, cols)
    });
    (0..cols).map(|c| combine(&partials, c)).collect()
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

/// `b[(start + k) % b.len()]` for k = 0, 1, ...; empty if `b` is.
fn biases(b: &[f32], start: usize) -> impl Iterator<Item = f32> + '_ {
    let skip = if b.is_empty() { 0 } else { start % b.len() };
    b.iter().copied().cycle().skip(skip)
}

/// `dx` for the elements `start..start + dy.len()` of a masked backward.
fn backward_chunk(activation: Activation, dy: &[f32], mask: &[u32], start: usize, dx: &mut [f32]) {
    for (k, (out, &d)) in dx.iter_mut().zip(dy).enumerate() {
        let bit = cpu::mask_bit_at(mask, start + k);
        *out = cpu::backward_element(activation, bit, d, Subnormals::Preserve);
    }
}

/// Column sums in f64, in element order, of the elements
/// `start..start + data.len()` of a row-major matrix of `cols` columns.
fn partial_column_sums(data: &[f32], start: usize, cols: usize) -> Vec<f64> {
    let mut sums = vec![0.0f64; cols];
    if cols == 0 {
        return sums;
    }
    let mut c = start % cols;
    for &v in data {
        sums[c] += f64::from(v);
        c += 1;
        if c == cols {
            c = 0;
        }
    }
    sums
}

/// Column `c` of the partial sums, added in chunk order; 0 with no chunks.
fn combine(partials: &[Vec<f64>], c: usize) -> f64 {
    partials
        .iter()
        .map(|p| p[c])
        .reduce(|a, b| a + b)
        .unwrap_or(0.0)
}

/// Splits `0..len` into at most `threads` (0 counts as 1) contiguous,
/// non-empty ranges of nearly equal length whose inner boundaries are
/// multiples of [`ALIGN`]. Empty for `len` 0.
fn chunk_ranges(len: usize, threads: usize) -> Vec<Range<usize>> {
    let units = len.div_ceil(ALIGN);
    let chunks = threads.max(1).min(units.max(1));
    let (base, extra) = (units / chunks, units % chunks);
    let mut ranges = Vec::with_capacity(chunks);
    let mut start = 0;
    for k in 0..chunks {
        let end = (start + (base + usize::from(k < extra)) * ALIGN).min(len);
        if end > start {
            ranges.push(start..end);
        }
        start = end;
    }
    ranges
}

/// Cuts `data` into the parts at `ranges` (ascending, disjoint).
fn split_at_ranges<'a, T>(mut data: &'a mut [T], ranges: &[Range<usize>]) -> Vec<&'a mut [T]> {
    let mut offset = 0;
    let mut parts = Vec::with_capacity(ranges.len());
    for range in ranges {
        let rest = std::mem::take(&mut data);
        let (_, rest) = rest.split_at_mut(range.start - offset);
        let (part, rest) = rest.split_at_mut(range.len());
        parts.push(part);
        data = rest;
        offset = range.end;
    }
    parts
}

/// Runs `work` on each item, all but the last on scoped threads of their own
/// and the last on this one; returns the results in item order. A panic in
/// any of them resumes here.
fn run<T: Send, R: Send>(mut items: Vec<T>, work: impl Fn(T) -> R + Sync) -> Vec<R> {
    let Some(last) = items.pop() else {
        return Vec::new();
    };
    let work = &work;
    thread::scope(|scope| {
        let handles: Vec<_> = items
            .into_iter()
            .map(|item| scope.spawn(move || work(item)))
            .collect();
        let last = work(last);
        let mut results: Vec<R> = handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|p| std::panic::resume_unwind(p))
            })
            .collect();
        results.push(last);
        results
    })
}

/// Splits `out` as [`chunk_ranges`] does and runs `work(range, part)` on
/// each part in parallel; returns the results in chunk order.
fn map_chunks<T: Send, R: Send>(
    out: &mut [T],
    threads: usize,
    work: impl Fn(Range<usize>, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let ranges = chunk_ranges(out.len(), threads);
    let parts = split_at_ranges(out, &ranges);
    run(ranges.into_iter().zip(parts).collect(), |(range, part)| {
        work(range, part)
    })
}

/// [`map_chunks`] with no results.
fn fill<T: Send>(out: &mut [T], threads: usize, work: impl Fn(Range<usize>, &mut [T]) + Sync) {
    map_chunks(out, threads, work);
}

/// Splits `y` as [`chunk_ranges`] does and `mask` into the words of each
/// chunk, and runs `work(range, y part, mask part)` on each in parallel.
fn fill_with_mask(
    y: &mut [f32],
    mask: &mut [u32],
    threads: usize,
    work: impl Fn(Range<usize>, &mut [f32], &mut [u32]) + Sync,
) {
    let ranges = chunk_ranges(y.len(), threads);
    let word_ranges: Vec<_> = ranges
        .iter()
        .map(|r| r.start / ALIGN..r.end.div_ceil(ALIGN))
        .collect();
    let y_parts = split_at_ranges(y, &ranges);
    let mask_parts = split_at_ranges(mask, &word_ranges);
    let items = ranges.into_iter().zip(y_parts).zip(mask_parts);
    run(items.collect(), |((range, y), mask)| work(range, y, mask));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

    const LENGTHS: &[usize] = &[0, 1, 31, 32, 33, 1000, 100_003];
    const THREADS: &[usize] = &[1, 2, 3, 8];
    const ACTIVATIONS: &[Activation] = &[
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::ClippedRelu { cap: 6.0 },
    ];
    /// `(rows, cols)` of the bias tests; cols 0 only with no rows, the one
    /// empty-bias shape the reference accepts.
    const SHAPES: &[(usize, usize)] = &[(0, 5), (0, 0), (1, 1), (7, 33), (1000, 257), (3001, 3)];

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    fn assert_same(actual: &[f32], expected: &[f32], what: &str) {
        assert_eq!(actual.len(), expected.len(), "{what}: length");
        if let Some(i) = (0..actual.len()).find(|&i| actual[i].to_bits() != expected[i].to_bits()) {
            panic!(
                "{what}: element {i} is {:#010x}, the reference {:#010x}",
                actual[i].to_bits(),
                expected[i].to_bits()
            );
        }
    }

    /// `db` is this module's [`column_sums`] of the reference's `dx`,
    /// rounded to f32; NaN exactly where the reference's `db` is NaN (that
    /// does not depend on the order, the payload can); and bit-identical to
    /// the reference's with one chunk.
    fn assert_db(db: &[f32], dx: &[f32], cols: usize, threads: usize, db_ref: &[f32], at: &str) {
        let sums = column_sums(dx, cols, threads);
        let rounded: Vec<f32> = sums.iter().map(|&s| s as f32).collect();
        assert_same(
            db,
            &rounded,
            &format!("db is the rounded column_sums: {at}"),
        );
        for (c, (d, r)) in db.iter().zip(db_ref).enumerate() {
            assert_eq!(d.is_nan(), r.is_nan(), "db[{c}] NaN: {at}");
        }
        if chunk_ranges(dx.len(), threads).len() <= 1 {
            assert_same(db, db_ref, &format!("one-chunk db: {at}"));
        }
    }

    /// Xorshift32 words: deterministic masks with every bit pattern,
    /// including set bits past the last element (which must be ignored).
    fn words(len: usize, seed: u32) -> Vec<u32> {
        let mut state = seed.max(1);
        (0..len)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                state
            })
            .collect()
    }

    /// Like [`sample::activations`] but with NaN and inf replaced, so that
    /// column sums are finite (subnormals, ±0 and ±MAX stay).
    fn finite(len: usize, seed: u64) -> Vec<f32> {
        sample::activations(len, seed)
            .into_iter()
            .map(|v| if v.is_finite() { v } else { 1.5 })
            .collect()
    }

    #[test]
    fn chunks_cover_the_range_on_word_boundaries() {
        for len in (0..200).chain([1000, 100_003]) {
            for threads in 0..10 {
                let ranges = chunk_ranges(len, threads);
                assert!(ranges.len() <= threads.max(1));
                let mut next = 0;
                for r in &ranges {
                    assert_eq!(r.start, next);
                    assert!(r.end > r.start);
                    assert!(r.start % ALIGN == 0);
                    next = r.end;
                }
                assert_eq!(next, len);
                let units: Vec<_> = ranges.iter().map(|r| r.len().div_ceil(ALIGN)).collect();
                if let (Some(min), Some(max)) = (units.iter().min(), units.iter().max()) {
                    assert!(max - min <= 1, "balanced: {len} over {threads}: {units:?}");
                }
                if len >= ALIGN * threads.max(1) {
                    assert_eq!(ranges.len(), threads.max(1), "uses every thread");
                }
            }
        }
    }

    #[test]
    fn zero_threads_counts_as_one() {
        let x = sample::activations(100, 3);
        assert_same(
            &relu_forward(&x, 0),
            &cpu::relu_forward(&x),
            "relu, 0 threads",
        );
        assert_eq!(available_threads().max(1), available_threads());
    }

    #[test]
    fn elementwise_ops_match_the_reference_bit_for_bit() {
        for &len in LENGTHS {
            let x = sample::activations(len, 11);
            let dy = sample::activations(len, 12);
            // Extra words, and set bits past the end, are ignored.
            let random_mask = words(cpu::mask_words(len) + 2, 13);
            let relu = cpu::relu_forward(&x);
            for &threads in THREADS {
                let at = format!("len {len}, {threads} threads");
                assert_same(&relu_forward(&x, threads), &relu, &format!("relu {at}"));
                let mut in_place = x.clone();
                relu_forward_in_place(&mut in_place, threads);
                assert_same(&in_place, &relu, &format!("relu in place {at}"));

                for &activation in ACTIVATIONS {
                    let at = format!("{activation}, {at}");
                    let (y_ref, mask_ref) = cpu::forward_with_mask(activation, &x);
                    assert_same(
                        &forward(activation, &x, threads),
                        &y_ref,
                        &format!("forward {at}"),
                    );
                    let (y, mask) = forward_with_mask(activation, &x, threads);
                    assert_same(&y, &y_ref, &format!("forward_with_mask y {at}"));
                    assert_eq!(mask, mask_ref, "forward_with_mask mask {at}");

                    for m in [&mask_ref, &random_mask] {
                        assert_same(
                            &backward(activation, &dy, m, threads),
                            &cpu::backward(activation, &dy, m),
                            &format!("backward {at}"),
                        );
                    }
                    assert_same(
                        &backward_from_input(activation, &dy, &x, threads),
                        &cpu::backward_from_input(activation, &dy, &x),
                        &format!("backward_from_input {at}"),
                    );
                }
            }
        }
    }

    #[test]
    fn into_forms_overwrite_stale_output() {
        let x = sample::activations(1000, 21);
        let leaky = Activation::LeakyRelu { slope: 0.01 };
        let mut y = vec![f32::NAN; x.len()];
        let mut mask = vec![u32::MAX; cpu::mask_words(x.len())];
        forward_with_mask_into(leaky, &x, &mut y, &mut mask, 3);
        let (y_ref, mask_ref) = cpu::forward_with_mask(leaky, &x);
        assert_same(&y, &y_ref, "stale y");
        assert_eq!(mask, mask_ref, "stale mask: unused bits are cleared");
        let b = sample::activations(8, 22);
        let mut mask = vec![u32::MAX; cpu::mask_words(x.len())];
        bias_forward_with_mask_into(leaky, &x, &b, &mut y, &mut mask, 3);
        let (y_ref, mask_ref) = cpu::bias_forward_with_mask(leaky, &x, &b);
        assert_same(&y, &y_ref, "stale bias y");
        assert_eq!(mask, mask_ref, "stale bias mask");
    }

    #[test]
    fn bias_ops_match_the_reference_bit_for_bit() {
        for &(rows, cols) in SHAPES {
            let x = sample::activations(rows * cols, 31);
            let b = sample::activations(cols, 32);
            let dy = sample::activations(rows * cols, 33);
            let random_mask = words(cpu::mask_words(rows * cols), 34);
            for &threads in THREADS {
                let at = format!("{rows}x{cols}, {threads} threads");
                for subnormals in [Subnormals::Preserve, Subnormals::FlushToZero] {
                    assert_same(
                        &bias_add(&x, &b, subnormals, threads),
                        &cpu::bias_add(&x, &b, subnormals),
                        &format!("bias_add {subnormals:?} {at}"),
                    );
                }
                for &activation in ACTIVATIONS {
                    let at = format!("{activation}, {at}");
                    assert_same(
                        &bias_forward(activation, &x, &b, threads),
                        &cpu::bias_forward(activation, &x, &b),
                        &format!("bias_forward {at}"),
                    );
                    let (y, mask) = bias_forward_with_mask(activation, &x, &b, threads);
                    let (y_ref, mask_ref) = cpu::bias_forward_with_mask(activation, &x, &b);
                    assert_same(&y, &y_ref, &format!("bias_forward_with_mask y {at}"));
                    assert_eq!(mask, mask_ref, "bias_forward_with_mask mask {at}");

                    for m in [&mask_ref, &random_mask] {
                        let (dx, db) = bias_backward(activation, &dy, m, cols, threads);
                        let (dx_ref, db_ref) = cpu::bias_backward(activation, &dy, m, cols);
                        assert_same(&dx, &dx_ref, &format!("bias_backward dx {at}"));
                        assert_eq!(db.len(), cols);
                        assert_db(&db, &dx_ref, cols, threads, &db_ref, &at);
                    }
                }
            }
        }
    }

    #[test]
    fn column_sums_stay_within_the_summation_bound() {
        for &(rows, cols) in SHAPES {
            let data = finite(rows * cols, 41);
            let reference = cpu::column_sums(&data, cols);
            let abs: Vec<f64> =
                cpu::column_sums(&data.iter().map(|v| v.abs()).collect::<Vec<_>>(), cols);
            for &threads in THREADS {
                let sums = column_sums(&data, cols, threads);
                assert_eq!(sums.len(), cols);
                // Both are within (rows - 1) * eps / 2 * sum|x| of the exact
                // sum, so within twice that of each other.
                let bound = rows.saturating_sub(1) as f64 * f64::EPSILON;
                for c in 0..cols {
                    let diff = (sums[c] - reference[c]).abs();
                    assert!(
                        diff <= bound * abs[c],
                        "column {c} of {rows}x{cols}, {threads} threads: {} vs {}",
                        sums[c],
                        reference[c]
                    );
                }
                if chunk_ranges(rows * cols, threads).len() <= 1 {
                    assert_eq!(sums, reference, "one chunk: same order");
                }

                let mask = vec![u32::MAX; cpu::mask_words(rows * cols)];
                let (dx, db) = bias_backward(Activation::Relu, &data, &mask, cols, threads);
                let (_, db_ref) = cpu::bias_backward(Activation::Relu, &data, &mask, cols);
                let at = format!("{rows}x{cols}, {threads} threads");
                assert_db(&db, &dx, cols, threads, &db_ref, &at);
            }
        }
    }

    #[test]
    fn exact_column_sums_are_bit_identical() {
        // Small integers and halves sum exactly in f64 in any order.
        let (rows, cols) = (1000, 257);
        let data: Vec<f32> = words(rows * cols, 51)
            .into_iter()
            .map(|w| f32::from((w % 2001) as i16 - 1000) / 2.0)
            .collect();
        let mask = words(cpu::mask_words(data.len()), 52);
        for &threads in THREADS {
            assert_eq!(
                column_sums(&data, cols, threads),
                cpu::column_sums(&data, cols)
            );
            for &activation in ACTIVATIONS {
                let (dx, db) = bias_backward(activation, &data, &mask, cols, threads);
                let (dx_ref, db_ref) = cpu::bias_backward(activation, &data, &mask, cols);
                assert_same(&dx, &dx_ref, "dx");
                assert_eq!(bits(&db), bits(&db_ref), "{activation}, {threads} threads");
            }
        }
    }

    #[test]
    #[should_panic(expected = "mask too short")]
    fn a_short_mask_panics_as_the_reference_does() {
        backward(Activation::Relu, &[1.0; 33], &[0], 4);
    }

    #[test]
    #[should_panic(expected = "dy and x lengths")]
    fn mismatched_lengths_panic_as_the_reference_does() {
        backward_from_input(Activation::Relu, &[1.0; 3], &[1.0; 2], 4);
    }

    #[test]
    #[should_panic(expected = "data is not a whole number of rows")]
    fn partial_rows_panic_in_bias_backward() {
        bias_backward(Activation::Relu, &[1.0; 10], &[0], 3, 4);
    }

    #[test]
    #[should_panic(expected = "x is not a whole number of rows of b.len() columns")]
    fn an_empty_bias_with_data_panics() {
        bias_forward(Activation::Relu, &[1.0; 10], &[], 4);
    }

    #[test]
    fn empty_shapes() {
        let (dx, db) = bias_backward(Activation::Relu, &[], &[], 5, 8);
        assert!(dx.is_empty());
        assert_eq!(bits(&db), vec![0; 5], "+0.0 sums, as the reference");
        assert_eq!(
            bits(&cpu::bias_backward(Activation::Relu, &[], &[], 5).1),
            vec![0; 5]
        );
        assert!(bias_backward(Activation::Relu, &[], &[], 0, 8).1.is_empty());
        assert!(bias_add(&[], &[], Subnormals::Preserve, 8).is_empty());
        assert_eq!(
            forward_with_mask(Activation::Relu, &[], 8),
            (vec![], vec![])
        );
    }
}
