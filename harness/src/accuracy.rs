//! The `accuracy` command's core: each smooth activation's forward and
//! derivative, run on the GPU in every element type over inputs that cover
//! the type, measured against the exact (f64) value in units in the last
//! place, and held to [`Activation::max_error_ulps`].
//!
//! Coverage ([`Coverage`]): every one of the 65,536 inputs of f16 and of
//! bf16; for f32 a stratified sample of 2^24 inputs (every sign and
//! exponent, mantissas spread evenly across each binade, and the special
//! values), or every one of the 2^32 inputs in chunks.
//!
//! The derivative is the backward from the input with `dy = 1`: the GPU's
//! `f'(x)` itself (the product with 1 is exact), rounded to the type.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use wgpu_activations::cpu::{self, CANONICAL_NAN_BITS, SPECIAL_BITS};
use wgpu_activations::{Activation, DType, Gpu, Tensor};

use crate::error::Result;

/// Which function of an activation is measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// `f(x)`.
    Forward,
    /// `f'(x)`.
    Derivative,
}

impl Direction {
    /// Both, forward first.
    pub const ALL: [Direction; 2] = [Direction::Forward, Direction::Derivative];

    /// `forward` or `derivative`.
    pub fn name(self) -> &'static str {
        match self {
            Direction::Forward => "forward",
            Direction::Derivative => "derivative",
        }
    }
}

/// Which inputs are measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Coverage {
    /// Every 16-bit input, and for f32 the stratified sample of
    /// [`F32_SAMPLE`] inputs.
    Sample,
    /// Every 16-bit input, and every f32 input.
    Exhaustive,
}

/// The f32 sample's size: 2^24 inputs.
pub const F32_SAMPLE: usize = 1 << 24;

/// Inputs the GPU takes at once (64 MiB of f32: within the smallest
/// storage binding the crate's adapters offer).
const CHUNK: usize = 1 << 24;

/// The figures of one activation, direction and type.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The activation.
    pub activation: Activation,
    /// Forward or derivative.
    pub direction: Direction,
    /// The element type.
    pub dtype: DType,
    /// Inputs measured.
    pub inputs: u64,
    /// The largest error, in ULP of the exact value (`inf` where a result
    /// that must be exact, NaN or infinite, was not).
    pub max_ulps: f64,
    /// The input of the largest error.
    pub worst_input: f32,
    /// Inputs whose error is above the bound.
    pub over_bound: u64,
    /// Inputs outside the range the bound holds over
    /// ([`Activation::bound_holds_at`]: sine's large arguments), left out
    /// of the figures above; each must still give a finite result (or the
    /// exact NaN), else it counts as above the bound.
    pub outside: u64,
    /// The bound ([`Activation::max_error_ulps`]).
    pub bound: u32,
}

impl Row {
    /// Whether every input is within the bound.
    pub fn passed(&self) -> bool {
        self.over_bound == 0
    }
}

/// The running maximum and count of one row's chunks.
#[derive(Clone, Copy, Debug)]
struct Tally {
    inputs: u64,
    max_ulps: f64,
    worst_input: f32,
    over_bound: u64,
    outside: u64,
}

impl Tally {
    const EMPTY: Tally = Tally {
        inputs: 0,
        max_ulps: 0.0,
        worst_input: 0.0,
        over_bound: 0,
        outside: 0,
    };

    fn merge(self, other: Tally) -> Tally {
        let (max_ulps, worst_input) = if other.max_ulps > self.max_ulps {
            (other.max_ulps, other.worst_input)
        } else {
            (self.max_ulps, self.worst_input)
        };
        Tally {
            inputs: self.inputs + other.inputs,
            max_ulps,
            worst_input,
            over_bound: self.over_bound + other.over_bound,
            outside: self.outside + other.outside,
        }
    }
}

/// The unit in the last place of `exact` in `dtype`: the spacing of the
/// type's values at `|exact|`, the subnormal spacing below the normal range.
pub fn ulp(exact: f64, dtype: DType) -> f64 {
    let (precision, min_exponent) = match dtype {
        DType::F32 => (24, -126),
        DType::F16 => (11, -14),
        DType::BF16 => (8, -126),
        other => unreachable!("{other}: its precision and exponent range belong here"),
    };
    let exponent = if exact == 0.0 {
        min_exponent
    } else {
        (exact.abs().log2().floor() as i32).max(min_exponent)
    };
    2f64.powi(exponent - (precision - 1))
}

/// The largest finite value of `dtype`: the one below +infinity.
fn max_finite(dtype: DType) -> f64 {
    f64::from(dtype.value_of(dtype.bits_of(f32::INFINITY) - 1))
}

/// The error of `gpu` against `exact` for input `x`, in ULP of `exact` in
/// `dtype`. NaN and infinite results must be exact: a NaN input's own NaN,
/// the canonical NaN for a NaN made from a number, the same infinity (or an
/// infinity for a value beyond the type's range); anything else is `inf`.
pub fn error_ulps(x: f32, gpu: f32, exact: f64, dtype: DType) -> f64 {
    if x.is_nan() {
        return if gpu.to_bits() == x.to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if exact.is_nan() {
        let canonical = dtype.value_of(dtype.bits_of(f32::from_bits(CANONICAL_NAN_BITS)));
        return if gpu.to_bits() == canonical.to_bits() {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let g = f64::from(gpu);
    if gpu.is_infinite() || exact.is_infinite() {
        let beyond = exact.abs() > max_finite(dtype);
        let same_sign = g.signum() == exact.signum();
        return if same_sign && (g == exact || (gpu.is_infinite() && beyond)) {
            0.0
        } else if !gpu.is_infinite() && beyond && same_sign && g.abs() == max_finite(dtype) {
            // The exact value beyond the range, rounded down to the largest.
            0.5
        } else {
            f64::INFINITY
        };
    }
    if gpu.is_nan() {
        return f64::INFINITY;
    }
    (g - exact).abs() / ulp(exact, dtype)
}

/// The inputs of one f32 chunk (`index` of [`chunks`]).
fn f32_chunk(coverage: Coverage, index: usize) -> Vec<f32> {
    match coverage {
        Coverage::Exhaustive => {
            let first = (index * CHUNK) as u64;
            (first..first + CHUNK as u64)
                .map(|bits| f32::from_bits(bits as u32))
                .collect()
        }
        Coverage::Sample => f32_sample(),
    }
}

/// The stratified f32 sample: for each sign and each exponent field (0,
/// the subnormals and zero, to 254), mantissas spread evenly over the
/// binade with a seeded offset in each stride; then the special values.
pub fn f32_sample() -> Vec<f32> {
    let per_binade = F32_SAMPLE / (2 * 255);
    let stride = (1u32 << 23) / per_binade as u32;
    let mut rng = ChaCha8Rng::seed_from_u64(0xacc0_2a3e);
    let mut sample = Vec::with_capacity(F32_SAMPLE);
    for sign in [0u32, 1 << 31] {
        for exponent in 0u32..255 {
            for k in 0..per_binade as u32 {
                let mantissa = k * stride + rng.random_range(0..stride);
                sample.push(f32::from_bits(sign | exponent << 23 | mantissa));
            }
        }
    }
    sample.extend(SPECIAL_BITS.iter().map(|&bits| f32::from_bits(bits)));
    sample
}

/// Chunks of f32 inputs the coverage takes.
fn chunks(coverage: Coverage) -> usize {
    match coverage {
        Coverage::Sample => 1,
        Coverage::Exhaustive => (1usize << 32) / CHUNK,
    }
}

/// Every 16-bit input of `dtype`, widened to f32.
fn all_16_bit(dtype: DType) -> Vec<f32> {
    (0..=u16::MAX)
        .map(|bits| dtype.value_of(u32::from(bits)))
        .collect()
}

/// Runs one direction of `activation` on `x` (values of `dtype`) on the
/// GPU and reads the results back, widened to f32.
fn run_on_gpu(
    gpu: &Gpu,
    activation: Activation,
    direction: Direction,
    x: &[f32],
    dtype: DType,
) -> Result<Vec<f32>> {
    let input = Tensor::from_f32_as(gpu, x, &[x.len()], dtype)?;
    let output = match direction {
        Direction::Forward => gpu.activation(activation, &input)?,
        Direction::Derivative => {
            let ones = Tensor::from_f32_as(gpu, &vec![1.0; x.len()], &[x.len()], dtype)?;
            gpu.activation_backward_from_input(activation, &ones, &input)?
        }
    };
    Ok(output.download()?)
}

/// The errors of `gpu` results on `x` against the exact values.
fn tally(
    activation: Activation,
    direction: Direction,
    dtype: DType,
    x: &[f32],
    gpu: &[f32],
) -> Tally {
    let bound = f64::from(activation.max_error_ulps(dtype, direction == Direction::Derivative));
    x.par_iter()
        .zip(gpu)
        .with_min_len(1 << 12)
        .map(|(&x, &g)| {
            let exact = match direction {
                Direction::Forward => cpu::exact_forward(activation, x),
                Direction::Derivative => cpu::exact_derivative(activation, x),
            };
            let error = error_ulps(x, g, exact, dtype);
            if !activation.bound_holds_at(x) {
                // Outside the bounded range: a finite result (`dy` is 1 here,
                // so nothing overflows), or the exact NaN.
                let sound = g.is_finite() || error == 0.0;
                return Tally {
                    outside: 1,
                    over_bound: u64::from(!sound),
                    ..Tally::EMPTY
                };
            }
            Tally {
                inputs: 1,
                max_ulps: error,
                worst_input: x,
                over_bound: u64::from(error > bound),
                outside: 0,
            }
        })
        .reduce(|| Tally::EMPTY, Tally::merge)
}

/// Measures `activation` in `direction` on `dtype` over `coverage`;
/// `progress` is called after each chunk with (chunks done, chunks).
pub fn measure(
    gpu: &Gpu,
    activation: Activation,
    direction: Direction,
    dtype: DType,
    coverage: Coverage,
    mut progress: impl FnMut(usize, usize),
) -> Result<Row> {
    let mut total = Tally::EMPTY;
    let chunk_count = if dtype == DType::F32 {
        chunks(coverage)
    } else {
        1
    };
    for index in 0..chunk_count {
        let x = if dtype == DType::F32 {
            f32_chunk(coverage, index)
        } else {
            all_16_bit(dtype)
        };
        let results = run_on_gpu(gpu, activation, direction, &x, dtype)?;
        total = total.merge(tally(activation, direction, dtype, &x, &results));
        progress(index + 1, chunk_count);
    }
    Ok(Row {
        activation,
        direction,
        dtype,
        inputs: total.inputs,
        max_ulps: total.max_ulps,
        worst_input: total.worst_input,
        over_bound: total.over_bound,
        outside: total.outside,
        bound: activation.max_error_ulps(dtype, direction == Direction::Derivative),
    })
}

/// A progress line for `done` of `total` chunks since `started`: percent,
/// and an estimate of the time left.
pub fn progress_line(what: &str, done: usize, total: usize, started: Instant) -> String {
    let elapsed = started.elapsed().as_secs_f64();
    let left = elapsed / done.max(1) as f64 * (total - done) as f64;
    let width = 30;
    let filled = width * done / total.max(1);
    format!(
        "{what} [{}{}] {done}/{total} chunks, {:.0} s elapsed, about {:.0} s left",
        "#".repeat(filled),
        " ".repeat(width - filled),
        elapsed,
        left
    )
}

/// The table's header line.
pub fn header() -> String {
    format!(
        "{:<20} {:<10} {:<5} {:>10} {:>9} {:>14} {:>10} {:>5} {:>9}  result",
        "activation",
        "direction",
        "dtype",
        "inputs",
        "max ULP",
        "at input",
        "over bound",
        "bound",
        "outside"
    )
}

/// One line of the table.
pub fn line(row: &Row) -> String {
    format!(
        "{:<20} {:<10} {:<5} {:>10} {:>9.3} {:>14.6e} {:>10} {:>5} {:>9}  {}",
        row.activation.to_string(),
        row.direction.name(),
        row.dtype.name(),
        row.inputs,
        row.max_ulps,
        row.worst_input,
        row.over_bound,
        row.bound,
        row.outside,
        if row.passed() { "ok" } else { "ABOVE BOUND" }
    )
}

/// The smooth activations of [`Activation::examples`]: what `accuracy`
/// measures.
pub fn activations() -> Vec<Activation> {
    Activation::examples()
        .into_iter()
        .filter(|a| a.is_smooth())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ulp_is_the_spacing_of_each_type() {
        assert_eq!(ulp(1.0, DType::F32), f64::from(f32::EPSILON));
        assert_eq!(ulp(1.5, DType::F16), 2f64.powi(-10));
        assert_eq!(ulp(1.0, DType::BF16), 2f64.powi(-7));
        // Subnormal results: the type's smallest subnormal.
        assert_eq!(ulp(1e-40, DType::F32), 2f64.powi(-149));
        assert_eq!(ulp(0.0, DType::F16), 2f64.powi(-24));
    }

    #[test]
    fn errors_count_steps_and_demand_exact_specials() {
        let one_up = 1.0 + f32::EPSILON;
        assert_eq!(error_ulps(0.5, one_up, 1.0, DType::F32), 1.0);
        // Above 1 the spacing is 2^-23: a quarter of it.
        assert_eq!(error_ulps(0.5, 1.0, 1.0 + 2f64.powi(-25), DType::F32), 0.25);
        assert_eq!(error_ulps(0.5, 1.0, 1.0 - 2f64.powi(-25), DType::F32), 0.5);
        let nan = f32::from_bits(0x7fc1_2345);
        assert_eq!(error_ulps(nan, nan, f64::NAN, DType::F32), 0.0);
        assert!(error_ulps(nan, f32::NAN, f64::NAN, DType::F32).is_infinite());
        assert!(error_ulps(1.0, f32::INFINITY, 3.0, DType::F32).is_infinite());
        assert_eq!(error_ulps(1.0, f32::INFINITY, 1e39, DType::F32), 0.0);
        assert_eq!(error_ulps(1.0, f32::INFINITY, 1e6, DType::F16), 0.0);
        let canonical = f32::from_bits(CANONICAL_NAN_BITS);
        assert_eq!(
            error_ulps(f32::INFINITY, canonical, f64::NAN, DType::F32),
            0.0
        );
    }

    #[test]
    fn the_largest_finite_value_is_each_types_own() {
        assert_eq!(max_finite(DType::F32), f64::from(f32::MAX));
        assert_eq!(max_finite(DType::F16), 65504.0);
        assert_eq!(
            max_finite(DType::BF16),
            f64::from(f32::from_bits(0x7f7f_0000))
        );
    }

    #[test]
    fn the_sample_covers_every_binade_of_both_signs_and_the_specials() {
        let sample = f32_sample();
        assert!(sample.len() >= F32_SAMPLE - 2 * 255 * 2);
        assert!(sample.len() <= CHUNK);
        // Inputs per sign and exponent field, in one pass.
        let mut per_binade = vec![0usize; 512];
        for v in &sample {
            per_binade[(v.to_bits() >> 23) as usize] += 1;
        }
        for (field, &count) in per_binade.iter().enumerate() {
            let exponent = field & 0xff;
            if exponent < 255 {
                assert!(
                    count >= F32_SAMPLE / 512,
                    "sign and exponent field {field:#x}: {count}"
                );
            }
        }
        let bits: std::collections::HashSet<u32> = sample.iter().map(|v| v.to_bits()).collect();
        for special in SPECIAL_BITS {
            assert!(bits.contains(special), "{special:#x}");
        }
    }

    #[test]
    fn tallies_keep_the_worst_input_and_count_over_bound() {
        let x = [0.5f32, 1.0, 2.0];
        let exact: Vec<f32> = x
            .iter()
            .map(|&v| cpu::exact_forward(Activation::Sigmoid, v) as f32)
            .collect();
        let mut gpu = exact.clone();
        gpu[1] = f32::from_bits(gpu[1].to_bits() + 3);
        let t = tally(
            Activation::Sigmoid,
            Direction::Forward,
            DType::F32,
            &x,
            &gpu,
        );
        assert_eq!(t.inputs, 3);
        assert_eq!(t.over_bound, 1);
        assert_eq!(t.worst_input, 1.0);
        assert!(t.max_ulps > 2.5 && t.max_ulps < 3.5, "{}", t.max_ulps);
    }
}
