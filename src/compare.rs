//! Comparing GPU results with the CPU reference, as the crate's contract
//! defines "agrees":
//!
//! - values (`y`, `dx`, `z`): bit for bit ([`Tolerance::Exact`]). Where the
//!   op does float arithmetic (bias add, leaky multiply) an element may
//!   instead equal the reference computed with
//!   [`Subnormals::FlushToZero`](crate::cpu::Subnormals): a GPU may flush
//!   subnormals, and the comparison allows exactly that (counted in
//!   [`Comparison::flushed`]). A smooth activation's values are within its
//!   bound in ULP instead ([`Tolerance::Ulps`], [`Op::tolerance`](crate::Op::tolerance)),
//!   the largest distance kept in [`Comparison::max_ulps`].
//! - masks: every element's bit, the same way; the unused bits of the last
//!   word must be zero.
//! - the bias gradient `db`: within [`bias_gradient_error_bound`] of the f64
//!   column sums, NaN where the reference is NaN.
//!
//! ```
//! use wgpu_activations::compare::Comparison;
//! use wgpu_activations::cpu;
//! let x = [-1.0, 2.0, f32::NAN];
//! let from_gpu = [0.0, 2.0, f32::NAN]; // what a download returned
//! let mut comparison = Comparison::default();
//! comparison.values("y", &x, &from_gpu, &cpu::relu_forward(&x), None);
//! assert!(comparison.passed());
//! assert_eq!(comparison.compared, 3);
//! ```

use std::fmt;

use crate::cpu;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::ops::bias_gradient_error_bound;

/// How GPU values must agree with the reference's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tolerance {
    /// Bit for bit (or as the reference with subnormals flushed, where the
    /// op [may flush](crate::Op::may_flush)).
    Exact,
    /// At most this many steps of the element type from the reference's
    /// (correctly rounded) value ([`ulp_distance`]); NaN and infinite
    /// references exactly.
    Ulps(u32),
}

/// How many representable values of `dtype` lie from `a` to `b` (both
/// values of `dtype`): 0 for equal values (+0.0 and -0.0 included), 1 for
/// neighbours, counting through the subnormals and across zero.
///
/// ```
/// use wgpu_activations::compare::ulp_distance;
/// use wgpu_activations::DType;
/// assert_eq!(ulp_distance(1.0, 1.0 + f32::EPSILON, DType::F32), 1);
/// assert_eq!(ulp_distance(-0.0, 0.0, DType::F32), 0);
/// assert_eq!(ulp_distance(f32::from_bits(1), -f32::from_bits(1), DType::F32), 2);
/// assert_eq!(ulp_distance(1.0, 1.0 + 2f32.powi(-7), DType::BF16), 1);
/// ```
pub fn ulp_distance(a: f32, b: f32, dtype: DType) -> u64 {
    let sign = 1u32 << (dtype.size_bytes() * 8 - 1);
    let ordered = |v: f32| {
        let bits = dtype.bits_of(v);
        let magnitude = i64::from(bits & (sign - 1));
        if bits & sign == 0 {
            magnitude
        } else {
            -magnitude
        }
    };
    ordered(a).abs_diff(ordered(b))
}

/// The first element where GPU and CPU disagree, as bit patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which output: `"y"`, `"dx"`, `"mask"`, `"db"` or `"db (second run)"`.
    pub output: &'static str,
    /// Element (or column) index.
    pub index: usize,
    /// The op's main input element's bits (`x`, or `dy` for backward ops).
    pub input: u32,
    /// The GPU result's bits (a mask bit as 0 or 1).
    pub gpu: u32,
    /// The CPU reference's bits.
    pub cpu: u32,
}

impl Mismatch {
    /// Element `index` of `output`, with its input (0 past `input`'s end).
    fn of_values(output: &'static str, index: usize, input: &[f32], gpu: f32, cpu: f32) -> Self {
        Mismatch {
            output,
            index,
            input: input.get(index).map_or(0, |v| v.to_bits()),
            gpu: gpu.to_bits(),
            cpu: cpu.to_bits(),
        }
    }
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} element {}: input {:#010x} ({:e}), gpu {:#010x} ({:e}), cpu {:#010x} ({:e})",
            self.output,
            self.index,
            self.input,
            f32::from_bits(self.input),
            self.gpu,
            f32::from_bits(self.gpu),
            self.cpu,
            f32::from_bits(self.cpu)
        )
    }
}

/// The running outcome of comparing an op's outputs with the reference.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Comparison {
    /// Values compared: output elements, mask bits and bias-gradient columns.
    pub compared: usize,
    /// Values that did not agree.
    pub mismatches: usize,
    /// The first of them.
    pub first_mismatch: Option<Mismatch>,
    /// Values that agreed only as the reference with subnormals flushed to zero.
    pub flushed: usize,
    /// For the bias gradient: the largest `|db - exact| / bound` over the
    /// columns the bound covers (at most 1 when it passes); `None` where no
    /// column is covered (every column's `Σ|dx|` could overflow f32).
    pub max_error_to_bound: Option<f64>,
    /// For values compared within [`Tolerance::Ulps`]: the largest
    /// [`ulp_distance`] seen.
    pub max_ulps: Option<u64>,
    /// Values outside the range their bound holds over
    /// ([`Activation::bound_holds_at`](crate::Activation::bound_holds_at)),
    /// held only to being a number where the reference is one (an infinity
    /// included: a product with `dy` may overflow on one side only), and
    /// the reference's NaN where it is NaN.
    pub unbounded: usize,
}

impl Comparison {
    /// Whether everything compared so far agreed.
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }

    fn mismatch(&mut self, mismatch: Mismatch) {
        self.mismatches += 1;
        self.first_mismatch.get_or_insert(mismatch);
    }

    /// Compares values bit for bit, or with `flushed`, where given, as the
    /// one allowed alternative. `input` is reported with a mismatch.
    pub fn values(
        &mut self,
        output: &'static str,
        input: &[f32],
        gpu: &[f32],
        cpu: &[f32],
        flushed: Option<&[f32]>,
    ) {
        if gpu.len() != cpu.len() {
            self.mismatch(length_mismatch(output, gpu.len(), cpu.len()));
        }
        for (index, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
            self.compared += 1;
            if g.to_bits() == c.to_bits() {
                continue;
            }
            if flushed.is_some_and(|f| f[index].to_bits() == g.to_bits()) {
                self.flushed += 1;
                continue;
            }
            self.mismatch(Mismatch::of_values(output, index, input, g, c));
        }
    }

    /// Compares values of `dtype` with `tolerance`: [`values`](Comparison::values)
    /// for [`Tolerance::Exact`]; for [`Tolerance::Ulps`], every element
    /// within that many steps of the reference's, a NaN or infinite
    /// reference matched bit for bit. Where `bounded` says the bound does not
    /// hold at an element, a number needs only a number, a NaN the same NaN
    /// (counted in [`unbounded`](Comparison::unbounded)).
    #[allow(
        clippy::too_many_arguments,
        reason = "each is one facet of the comparison"
    )]
    pub fn values_within(
        &mut self,
        output: &'static str,
        input: &[f32],
        gpu: &[f32],
        cpu: &[f32],
        flushed: Option<&[f32]>,
        tolerance: Tolerance,
        dtype: DType,
        bounded: Option<&[bool]>,
    ) {
        let Tolerance::Ulps(ulps) = tolerance else {
            return self.values(output, input, gpu, cpu, flushed);
        };
        if gpu.len() != cpu.len() {
            self.mismatch(length_mismatch(output, gpu.len(), cpu.len()));
        }
        for (index, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
            self.compared += 1;
            let agrees = if bounded.is_some_and(|b| !b[index]) {
                // No bound: only a NaN where the reference has one (and its
                // bits), or a number where it has a number.
                self.unbounded += 1;
                g.to_bits() == c.to_bits() || !(g.is_nan() || c.is_nan())
            } else if c.is_nan() || c.is_infinite() || g.is_nan() || g.is_infinite() {
                // An infinite dy times a derivative near underflow: within
                // the bound the derivative may round to zero or not, so an
                // infinity and the canonical NaN are both the product.
                let canonical = |v: f32| v.is_infinite() || v.to_bits() == cpu::CANONICAL_NAN_BITS;
                let infinite_input = input.get(index).is_some_and(|v| v.is_infinite());
                g.to_bits() == c.to_bits() || (infinite_input && canonical(g) && canonical(c))
            } else {
                let distance = ulp_distance(g, c, dtype);
                self.max_ulps = Some(self.max_ulps.unwrap_or(0).max(distance));
                distance <= u64::from(ulps)
            };
            if !agrees {
                self.mismatch(Mismatch::of_values(output, index, input, g, c));
            }
        }
    }

    /// Compares a mask bit by bit for `input.len()` elements, and the unused
    /// bits of the last word, which must be zero.
    pub fn mask(&mut self, input: &[f32], gpu: &[u32], cpu: &[u32], flushed: Option<&[u32]>) {
        let len = input.len();
        if gpu.len() != cpu::mask_words(len) {
            self.mismatch(length_mismatch("mask", gpu.len(), cpu::mask_words(len)));
            return;
        }
        for (index, value) in input.iter().enumerate() {
            self.compared += 1;
            let g = cpu::mask_bit_at(gpu, index);
            if g == cpu::mask_bit_at(cpu, index) {
                continue;
            }
            if flushed.is_some_and(|f| cpu::mask_bit_at(f, index) == g) {
                self.flushed += 1;
                continue;
            }
            self.mismatch(Mismatch {
                output: "mask",
                index,
                input: value.to_bits(),
                gpu: u32::from(g),
                cpu: u32::from(!g),
            });
        }
        if !len.is_multiple_of(32) && gpu.last().is_some_and(|&w| w >> (len % 32) != 0) {
            self.mismatch(Mismatch {
                output: "mask (bits past the end)",
                index: len,
                input: 0,
                gpu: gpu[gpu.len() - 1],
                cpu: cpu[cpu.len() - 1],
            });
        }
    }

    /// Compares the bias gradient with the f64 column sums of `dx` over
    /// `rows` rows (the reference's, or for a smooth activation, whose `dx`
    /// agrees within a bound, the GPU's).
    pub fn bias_gradient(&mut self, gpu: &[f32], dx: &[f32], rows: usize) {
        let cols = gpu.len();
        if dx.len() != rows * cols {
            self.mismatch(length_mismatch(
                "db (dx is not rows x cols)",
                dx.len(),
                rows * cols,
            ));
            return;
        }
        let sums = cpu::column_sums(dx, cols);
        let abs: Vec<f64> = cpu::column_sums(&dx.iter().map(|v| v.abs()).collect::<Vec<_>>(), cols);
        // The worst ratio over the columns the bound covers; None if none is.
        let mut worst: Option<f64> = None;
        for (index, ((&g, &exact), &abs_sum)) in gpu.iter().zip(&sums).zip(&abs).enumerate() {
            self.compared += 1;
            let g64 = f64::from(g);
            let may_overflow = abs_sum.is_nan() || abs_sum > f64::from(f32::MAX);
            let agrees = if exact.is_nan() {
                g.is_nan()
            } else if exact.is_infinite() {
                g64 == exact || (may_overflow && g.is_nan())
            } else if may_overflow {
                // f32 partial sums may overflow where f64 did not.
                g.is_infinite() || (g64 - exact).abs() <= bias_gradient_error_bound(rows, abs_sum)
            } else {
                let bound = bias_gradient_error_bound(rows, abs_sum);
                let error = (g64 - exact).abs();
                let ratio = if bound > 0.0 {
                    error / bound
                } else if error == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                };
                worst = Some(worst.map_or(ratio, |w: f64| w.max(ratio)));
                error <= bound
            };
            if !agrees {
                self.mismatch(Mismatch {
                    output: "db",
                    index,
                    input: 0,
                    gpu: g.to_bits(),
                    cpu: (exact as f32).to_bits(),
                });
            }
        }
        self.max_error_to_bound = worst;
    }
}

/// A length difference, reported as a mismatch at the shorter length.
fn length_mismatch(output: &'static str, gpu: usize, cpu: usize) -> Mismatch {
    Mismatch {
        output,
        index: gpu.min(cpu),
        input: 0,
        gpu: gpu as u32,
        cpu: cpu as u32,
    }
}

/// Bit-exact comparison of `gpu` with `cpu`; `input` is reported with the
/// first mismatch. Errors if the three lengths differ.
///
/// ```
/// use wgpu_activations::{compare, cpu};
/// let x = [-0.0f32, 1.5];
/// let from_gpu = [0.0f32, 1.5];
/// let comparison = compare::exact(&x, &from_gpu, &cpu::relu_forward(&x))?;
/// assert!(comparison.passed());
/// # Ok::<(), wgpu_activations::Error>(())
/// ```
pub fn exact(input: &[f32], gpu: &[f32], cpu: &[f32]) -> Result<Comparison> {
    for (what, actual) in [("GPU result", gpu.len()), ("input", input.len())] {
        if actual != cpu.len() {
            return Err(Error::ShapeMismatch {
                what,
                expected: cpu.len(),
                actual,
            });
        }
    }
    let mut comparison = Comparison::default();
    comparison.values("y", input, gpu, cpu, None);
    Ok(comparison)
}
