//! The comparisons the tests hold the GPU to, with failures that name the
//! element and its bits: bit for bit, or with the one allowance the
//! contract gives (subnormals flushed where an op does float arithmetic),
//! masks word for word, `db` within `bias_gradient_error_bound`.

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Tensor};

use super::sample;

/// Bit patterns of a slice, for exact comparisons with readable failures.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Asserts `gpu` equals `cpu` bit for bit, naming the first differing element.
pub fn assert_bit_exact(what: &str, input: &[f32], gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    if let Some(i) = (0..cpu.len()).find(|&i| gpu[i].to_bits() != cpu[i].to_bits()) {
        let differing = (0..cpu.len())
            .filter(|&i| gpu[i].to_bits() != cpu[i].to_bits())
            .count();
        panic!(
            "{what}: {differing} of {} elements differ; first at {i}: input {:#010x}, gpu {:#010x}, cpu {:#010x}",
            cpu.len(),
            input[i].to_bits(),
            gpu[i].to_bits(),
            cpu[i].to_bits()
        );
    }
}

/// Asserts each element of `gpu` equals `exact` bit for bit, or else
/// `flushed` (the reference with subnormals flushed to zero), the one
/// deviation the contract allows where an op does float arithmetic. Returns
/// how many elements needed the allowance.
pub fn assert_agrees(
    what: &str,
    input: &[f32],
    gpu: &[f32],
    exact: &[f32],
    flushed: &[f32],
) -> usize {
    assert_eq!(gpu.len(), exact.len(), "{what}: length");
    let mut allowed = 0;
    for i in 0..exact.len() {
        let g = gpu[i].to_bits();
        if g == exact[i].to_bits() {
            continue;
        }
        assert_eq!(
            g,
            flushed[i].to_bits(),
            "{what}: element {i}: input {:#010x}, gpu {g:#010x}, cpu {:#010x} (flushed {:#010x})",
            input[i].to_bits(),
            exact[i].to_bits(),
            flushed[i].to_bits()
        );
        allowed += 1;
    }
    allowed
}

/// Asserts two packed masks of `len` elements are the same words, unused
/// bits of the last word included (they must be zero).
pub fn assert_mask_exact(what: &str, gpu: &[u32], cpu: &[u32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: words");
    if let Some(w) = (0..cpu.len()).find(|&w| gpu[w] != cpu[w]) {
        panic!(
            "{what}: word {w} (elements {}..{}): gpu {:#034b}, cpu {:#034b}",
            w * 32,
            w * 32 + 32,
            gpu[w],
            cpu[w]
        );
    }
}

// ---------------------------------------------------------------------------
// References with subnormals flushed, and the checks that allow them: shared
// by the stress engine (tests/common/stress.rs) and the op tests.

/// `activation(x)` of every element with subnormals flushed (differs from
/// the exact reference only for the leaky multiply).
pub fn forward_flushed(activation: Activation, x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| cpu::activate_with(activation, v, Subnormals::FlushToZero))
        .collect()
}

/// `dx` from `dy` and packed mask words with the leaky multiply's subnormals
/// flushed.
pub fn backward_flushed(activation: Activation, dy: &[f32], words: &[u32]) -> Vec<f32> {
    dy.iter()
        .enumerate()
        .map(|(i, &d)| {
            let bit = cpu::mask_bit_at(words, i);
            cpu::backward_element(activation, bit, d, Subnormals::FlushToZero)
        })
        .collect()
}

/// `activation(x)`, and the same with subnormals flushed (the one allowed
/// deviation, which matters for the leaky multiply only).
pub fn forward_refs(activation: Activation, x: &[f32]) -> (Vec<f32>, Vec<f32>) {
    (cpu::forward(activation, x), forward_flushed(activation, x))
}

/// `dx` from `dy` and packed mask words, and the same with the leaky
/// multiply's subnormals flushed.
pub fn backward_refs(activation: Activation, dy: &[f32], words: &[u32]) -> (Vec<f32>, Vec<f32>) {
    (
        cpu::backward(activation, dy, words),
        backward_flushed(activation, dy, words),
    )
}

/// The reference of the fused forward `activation(x + b)`: exact, and with
/// the sum (and the leaky multiply) flushed, with the mask of each.
pub struct BiasRefs {
    /// `y`, exact.
    pub y: Vec<f32>,
    /// The packed mask of the exact sum.
    pub mask: Vec<u32>,
    /// `y` with subnormals flushed: the activation of the flushed sum,
    /// flushing its multiply too.
    pub y_flushed: Vec<f32>,
    /// The packed mask of the flushed sum.
    pub mask_flushed: Vec<u32>,
}

impl BiasRefs {
    /// The reference for `x` of `[.., b.len()]` and `b`.
    pub fn new(activation: Activation, x: &[f32], b: &[f32]) -> Self {
        let (y, mask) = cpu::bias_forward_with_mask(activation, x, b);
        let sum = cpu::bias_add(x, b, Subnormals::FlushToZero);
        Self {
            y,
            mask,
            y_flushed: forward_flushed(activation, &sum),
            mask_flushed: cpu::pack_mask(sum.iter().map(|&v| cpu::mask_bit(activation, v))),
        }
    }
}

/// Asserts a GPU mask of `len` elements agrees with the reference: each bit
/// equals the exact reference's or the flushed one's (a GPU that flushes a
/// subnormal sum decides that element's bit on the flushed sum), and the
/// unused bits of the last word are zero. Where the two references are the
/// same words, the mask must be those words exactly. Returns how many bits
/// needed the allowance.
pub fn assert_mask_within_flush(
    what: &str,
    len: usize,
    gpu: &[u32],
    exact: &[u32],
    flushed: &[u32],
) -> usize {
    assert_eq!(gpu.len(), cpu::mask_words(len), "{what}: words");
    assert_eq!(exact.len(), gpu.len(), "{what}: reference words");
    if exact == flushed {
        // No subnormal sum here: nothing to allow.
        assert_mask_exact(what, gpu, exact);
        return 0;
    }
    if gpu == exact {
        return 0;
    }
    let mut allowed = 0;
    for i in 0..len {
        let g = cpu::mask_bit_at(gpu, i);
        if g == cpu::mask_bit_at(exact, i) {
            continue;
        }
        assert_eq!(
            g,
            cpu::mask_bit_at(flushed, i),
            "{what}: mask element {i} (word {}): gpu {:#034b}, cpu {:#034b}, flushed {:#034b}",
            i / 32,
            gpu[i / 32],
            exact[i / 32],
            flushed[i / 32]
        );
        allowed += 1;
    }
    if !len.is_multiple_of(32) {
        let last = gpu[gpu.len() - 1];
        assert_eq!(
            last >> (len % 32),
            0,
            "{what}: bits past element {len} in the last mask word {last:#034b}"
        );
    }
    allowed
}

/// How a GPU bias gradient compares with the f64 column sums of the
/// reference's dx ([`compare_db`]).
#[derive(Debug, Default)]
pub struct DbComparison {
    /// One line per column that breaks a rule, starting `column {c}:`.
    pub failures: Vec<String>,
    /// Columns held to the error bound (absolute sum at most f32::MAX).
    pub bounded: usize,
    /// The largest |db - exact| / bound over those columns.
    pub max_ratio: f64,
    /// Columns whose f64 sum is NaN.
    pub nan: usize,
    /// Columns whose f64 sum is ±inf.
    pub infinite: usize,
}

/// Compares the bias gradient `db` of `rows` rows with the f64 column sums
/// of the reference's `dx`, column by column (the rules of
/// `bias_backward`):
/// - the f64 sum is NaN: db must be NaN;
/// - the absolute sum is at most f32::MAX: no f32 partial sum can overflow,
///   so |db - exact| is within
///   [`bias_gradient_error_bound`](wgpu_activations::bias_gradient_error_bound)
///   (which a NaN or inf fails);
/// - the f64 sum is ±inf (no NaN and no opposite inf in the column): db is
///   that inf, or NaN where an f32 partial sum overflowed the other way;
/// - a finite sum whose f32 partial sums may overflow: within the bound, or
///   not finite (an overflowed partial sum never becomes finite again).
pub fn compare_db(db: &[f32], dx: &[f32], rows: usize) -> DbComparison {
    let cols = db.len();
    let sums = cpu::column_sums(dx, cols);
    let abs: Vec<f32> = dx.iter().map(|v| v.abs()).collect();
    let abs_sums = cpu::column_sums(&abs, cols);
    let mut comparison = DbComparison::default();
    for c in 0..cols {
        let (g, exact, abs_sum) = (db[c], sums[c], abs_sums[c]);
        let bound = wgpu_activations::bias_gradient_error_bound(rows, abs_sum);
        let error = (f64::from(g) - exact).abs();
        let agrees = if exact.is_nan() {
            comparison.nan += 1;
            g.is_nan()
        } else if abs_sum <= f64::from(f32::MAX) {
            comparison.bounded += 1;
            comparison.max_ratio = comparison.max_ratio.max(error / bound);
            error <= bound
        } else if exact.is_infinite() {
            comparison.infinite += 1;
            f64::from(g) == exact || g.is_nan()
        } else {
            !g.is_finite() || error <= bound
        };
        if !agrees {
            comparison.failures.push(format!(
                "column {c}: gpu {g:e} ({:#010x}), exact {exact:e}, abs sum {abs_sum:e}, bound {bound:e}",
                g.to_bits()
            ));
        }
    }
    comparison
}

/// Asserts `db` of `rows` rows agrees with the reference's `dx` of
/// `[rows, db.len()]` by the rules of [`compare_db`]; returns the comparison.
pub fn assert_db_within_bound(what: &str, db: &[f32], dx: &[f32], rows: usize) -> DbComparison {
    let cols = db.len();
    assert_eq!(dx.len(), rows * cols, "{what}: dx of {rows}x{cols}");
    let comparison = compare_db(db, dx, rows);
    assert!(
        comparison.failures.is_empty(),
        "{what}: db differs in {} of {cols} columns ({rows} rows); first: {}",
        comparison.failures.len(),
        comparison.failures[0]
    );
    comparison
}

/// Every special value added to every special value: x is `[n, n]` with
/// row r holding special value r, b is the special values, so element
/// (r, c) of `x + b` is `specials[r] + specials[c]`, every pair once.
/// Returns `(x, b, n)`.
pub fn special_value_grid() -> (Vec<f32>, Vec<f32>, usize) {
    let specials = cpu::special_values();
    let n = specials.len();
    let x = specials
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, n))
        .collect();
    (x, specials, n)
}

/// The bits of a [`special_value_grid`] result at the pair (x, b), each
/// given as the bits of a special value.
pub fn grid_at(y: &[f32], x_bits: u32, b_bits: u32) -> u32 {
    let bits = sample::SPECIAL_BITS;
    let r = bits.iter().position(|&s| s == x_bits).unwrap();
    let c = bits.iter().position(|&s| s == b_bits).unwrap();
    y[r * bits.len() + c].to_bits()
}

/// A bias of `cols` values. Long rows get the sample data as is (its special
/// values first); short ones skip the leading specials, since a bias that is
/// all NaN would make every output NaN and test nothing else (the 21x21 grid
/// of [`special_value_grid`] pairs every special value with every other).
pub fn bias_values(cols: usize, seed: u64) -> Vec<f32> {
    let specials = sample::SPECIAL_BITS.len();
    let skip = if cols > 2 * specials { 0 } else { specials };
    sample::activations(cols + skip, seed)[skip..].to_vec()
}

/// Asserts an input tensor still holds `data` after an op.
pub fn assert_unchanged(what: &str, tensor: &Tensor, data: &[f32]) {
    assert_bit_exact(
        &format!("{what} after"),
        data,
        &tensor.download().unwrap(),
        data,
    );
}
