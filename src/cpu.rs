//! The CPU reference: the definition of every op's semantics.
//!
//! GPU results are compared against these functions bit for bit (or within
//! the bound an op documents). They are written to be read as a spec, not to
//! be fast.
//!
//! Rules beyond the design table:
//! - A NaN operand passes through unchanged (payload and sign): `relu`,
//!   `leaky`, `clipped` and `x + b` (x's NaN first) never alter it.
//! - A NaN that arithmetic *produces* from non-NaN operands (`inf - inf` in a
//!   bias add, `0 * inf` in a leaky slope) is [`CANONICAL_NAN_BITS`], so the
//!   result does not depend on the hardware's default NaN.
//! - Where float arithmetic happens (bias add, leaky multiply), a GPU may
//!   flush subnormal operands and results to zero of the same sign;
//!   [`Subnormals::FlushToZero`] computes that alternative and the checker
//!   accepts exactly it and nothing else.
//! - In f16 and bf16 ([`DType`]), every arithmetic result (the bias add, the
//!   leaky multiply, the clip against the cap) is computed in f32 from the
//!   exactly widened operands and rounded once to the storage type
//!   ([`DType::round`]); everything else (relu, the mask bit, the backward's
//!   selection, NaNs passing through) is the f32 rule on the widened value,
//!   which is exact on the 16-bit bits. The `*_in` functions take the type;
//!   the others are their f32 forms.

use crate::activation::Activation;
use crate::dtype::DType;
use crate::exact;

/// The NaN an op produces from non-NaN operands: quiet, positive, no payload.
pub const CANONICAL_NAN_BITS: u32 = 0x7fc0_0000;

/// Bit patterns every op must handle, as `f32::from_bits` inputs.
///
/// Quiet and signalling NaNs of both signs with several payloads, ±inf, ±0,
/// the smallest, a middle and the largest subnormal of each sign, the
/// smallest normal and ±`f32::MAX`.
pub const SPECIAL_BITS: &[u32] = &[
    0x7fc0_0000, // +qNaN
    0xffc0_0000, // -qNaN
    0x7fc1_2345, // +qNaN with payload
    0xffff_ffff, // -qNaN, all payload bits
    0x7f80_0001, // +sNaN
    0xff80_0001, // -sNaN
    0x7fbf_ffff, // +sNaN, largest payload
    0x7f80_0000, // +inf
    0xff80_0000, // -inf
    0x0000_0000, // +0
    0x8000_0000, // -0
    0x0000_0001, // smallest +subnormal
    0x8000_0001, // smallest -subnormal
    0x0040_0000, // middle +subnormal
    0x8040_0000, // middle -subnormal
    0x007f_ffff, // largest +subnormal
    0x807f_ffff, // largest -subnormal
    0x0080_0000, // smallest +normal
    0x8080_0000, // smallest -normal
    0x7f7f_ffff, // f32::MAX
    0xff7f_ffff, // -f32::MAX
];

/// The special values as f32s.
pub fn special_values() -> Vec<f32> {
    SPECIAL_BITS.iter().copied().map(f32::from_bits).collect()
}

/// How the arithmetic in the reference treats subnormal numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subnormals {
    /// IEEE 754: subnormals are kept. The reference's own mode.
    Preserve,
    /// Subnormal operands and results become zero of the same sign, as many
    /// GPUs do. The checker accepts this result as well.
    FlushToZero,
}

/// ReLU of one value: `x <= 0 ? +0.0 : x`.
///
/// - NaN is not `<= 0`, so it passes through with its payload and sign.
/// - -0.0 and -inf are `<= 0` and become +0.0 (never -0.0).
///
/// ```
/// use wgpu_activations::cpu::relu;
/// assert_eq!(relu(2.5), 2.5);
/// assert_eq!(relu(-0.0).to_bits(), 0.0f32.to_bits());
/// assert_eq!(relu(f32::NEG_INFINITY), 0.0);
/// let nan = f32::from_bits(0xffc0_1234);
/// assert_eq!(relu(nan).to_bits(), nan.to_bits());
/// ```
pub fn relu(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// [`relu`] of every element.
pub fn relu_forward(x: &[f32]) -> Vec<f32> {
    x.iter().copied().map(relu).collect()
}

/// [`relu`] of every element, in place.
pub fn relu_forward_in_place(x: &mut [f32]) {
    for v in x {
        *v = relu(*v);
    }
}

/// One activation of `x`, as [`Activation`] documents it.
///
/// ```
/// use wgpu_activations::{cpu, Activation};
/// let relu6 = Activation::ClippedRelu { cap: 6.0 };
/// assert_eq!(cpu::activate(relu6, -1.0).to_bits(), 0);
/// assert_eq!(cpu::activate(relu6, 3.0), 3.0);
/// assert_eq!(cpu::activate(relu6, f32::INFINITY), 6.0);
/// let leaky = Activation::LeakyRelu { slope: 0.5 };
/// assert_eq!(cpu::activate(leaky, -0.0).to_bits(), (-0.0f32).to_bits());
/// assert_eq!(cpu::activate(leaky, -4.0), -2.0);
/// ```
pub fn activate(activation: Activation, x: f32) -> f32 {
    activate_with(activation, x, Subnormals::Preserve)
}

/// [`activate`] with the given subnormal mode (it matters only for the leaky
/// multiply).
pub fn activate_with(activation: Activation, x: f32, subnormals: Subnormals) -> f32 {
    activate_in(activation, x, DType::F32, subnormals)
}

/// [`activate_with`] of a value of `dtype` (widened to f32): the leaky
/// product and the clip against the cap are rounded to `dtype`, so a cap the
/// type cannot hold clips to its nearest value (while the mask still
/// compares with the f32 cap).
///
/// ```
/// use wgpu_activations::cpu::{activate_in, Subnormals};
/// use wgpu_activations::{Activation, DType};
/// let cap = Activation::ClippedRelu { cap: 6.001 };
/// assert_eq!(activate_in(cap, 7.0, DType::F16, Subnormals::Preserve), 6.0);
/// let leaky = Activation::LeakyRelu { slope: 0.1 };
/// assert_eq!(activate_in(leaky, -1.0, DType::BF16, Subnormals::Preserve), DType::BF16.round(-0.1));
/// ```
pub fn activate_in(activation: Activation, x: f32, dtype: DType, subnormals: Subnormals) -> f32 {
    match activation {
        _ if activation.is_smooth() => smooth_result(x, exact_forward(activation, x), dtype),
        Activation::Relu => relu(x),
        // NaN is not `<= 0`, so it passes unchanged.
        Activation::LeakyRelu { slope } if x <= 0.0 => dtype.round(multiply(slope, x, subnormals)),
        Activation::LeakyRelu { .. } => x,
        Activation::ClippedRelu { .. } if x.is_nan() => x,
        Activation::ClippedRelu { cap } => dtype.round(relu(x).min(cap)),
        _ => unreachable!("smooth activations return above"),
    }
}

/// The exact (f64) value of a smooth activation at `x` ([`exact`]), with
/// softplus's `beta * x` and sine's `omega * x` the f32 products, as the
/// kernels and PyTorch compute them; NaN for the ReLU family, whose
/// reference is [`activate_in`].
pub fn exact_forward(activation: Activation, x: f32) -> f64 {
    match activation {
        Activation::Softplus { beta, threshold } => exact::softplus(x, beta, threshold),
        Activation::Sine { omega } => exact::sine(x, omega),
        _ => exact_function(activation, f64::from(x)),
    }
}

/// A smooth activation as a function of a real `v`: [`exact_forward`] with
/// the products by a parameter exact too, the function finite differences
/// differentiate. NaN for the ReLU family.
///
/// ```
/// use wgpu_activations::{cpu, Activation};
/// let sine = Activation::Sine { omega: 30.0 };
/// assert_eq!(cpu::exact_function(sine, 0.1), (30.0f64 * 0.1).sin());
/// ```
pub fn exact_function(activation: Activation, v: f64) -> f64 {
    match activation {
        Activation::Sigmoid => exact::sigmoid(v),
        Activation::Tanh => exact::tanh(v),
        Activation::Silu => exact::silu(v),
        Activation::Gelu => exact::gelu(v),
        Activation::GeluTanh => exact::gelu_tanh(v),
        Activation::Softplus { beta, threshold } => {
            let beta = f64::from(beta);
            exact::softplus_of_product(beta * v, v, beta, f64::from(threshold))
        }
        Activation::Elu { alpha } => exact::elu(v, f64::from(alpha)),
        Activation::Sine { omega } => (f64::from(omega) * v).sin(),
        Activation::Relu | Activation::LeakyRelu { .. } | Activation::ClippedRelu { .. } => {
            f64::NAN
        }
    }
}

/// The exact (f64) derivative of a smooth activation at `x`; NaN for the
/// ReLU family.
pub fn exact_derivative(activation: Activation, x: f32) -> f64 {
    let v = f64::from(x);
    match activation {
        Activation::Sigmoid => exact::sigmoid_derivative(v),
        Activation::Tanh => exact::tanh_derivative(v),
        Activation::Silu => exact::silu_derivative(v),
        Activation::Gelu => exact::gelu_derivative(v),
        Activation::GeluTanh => exact::gelu_tanh_derivative(v),
        Activation::Softplus { beta, threshold } => exact::softplus_derivative(x, beta, threshold),
        Activation::Elu { alpha } => exact::elu_derivative(v, f64::from(alpha)),
        Activation::Sine { omega } => exact::sine_derivative(x, omega),
        Activation::Relu | Activation::LeakyRelu { .. } | Activation::ClippedRelu { .. } => {
            f64::NAN
        }
    }
}

/// A smooth result of `input`, rounded to `dtype`: a NaN input passes with
/// its payload; a NaN from a non-NaN input is canonical.
fn smooth_result(input: f32, exact: f64, dtype: DType) -> f32 {
    if input.is_nan() {
        input
    } else {
        dtype.round(canonical(exact as f32))
    }
}

/// `dx` of one element from the forward's input `x` and `dy`, every
/// activation: the ReLU family through its mask bit
/// ([`backward_element_in`]); a smooth one as the f32 product of `dy` and
/// `f'(x)` rounded to f32, then rounded to `dtype` (x's NaN first, then
/// dy's; `0 * inf` is the canonical NaN). Rounding `f'(x)` first is what an
/// f32 backward computes: an infinite `dy` times a derivative that
/// underflows to zero is NaN, as in PyTorch.
///
/// ```
/// use wgpu_activations::cpu::{gradient_in, Subnormals};
/// use wgpu_activations::{Activation, DType};
/// let dx = gradient_in(Activation::Sigmoid, 0.0, 2.0, DType::F32, Subnormals::Preserve);
/// assert_eq!(dx, 0.5);
/// assert_eq!(gradient_in(Activation::Relu, -1.0, 2.0, DType::F32, Subnormals::Preserve), 0.0);
/// ```
pub fn gradient_in(
    activation: Activation,
    x: f32,
    dy: f32,
    dtype: DType,
    subnormals: Subnormals,
) -> f32 {
    if !activation.is_smooth() {
        return backward_element_in(activation, mask_bit(activation, x), dy, dtype, subnormals);
    }
    if dy.is_nan() && !x.is_nan() {
        return dy;
    }
    let derivative = exact_derivative(activation, x) as f32;
    smooth_result(x, f64::from(dy * derivative), dtype)
}

/// `dx` of one element from the forward's output `y` and `dy`, for the
/// activations that [go backward from their
/// output](Activation::has_backward_from_output): `dy * y * (1 - y)` for
/// sigmoid, `dy * (1 - y^2)` for tanh, the formula on `y` exact and rounded
/// to f32, then multiplied by `dy` as in [`gradient_in`] (y's NaN first,
/// then dy's). `None` for the others.
pub fn gradient_from_output_in(
    activation: Activation,
    y: f32,
    dy: f32,
    dtype: DType,
) -> Option<f32> {
    let v = f64::from(y);
    let derivative = match activation {
        Activation::Sigmoid => v * (1.0 - v),
        Activation::Tanh => 1.0 - v * v,
        _ => return None,
    };
    if dy.is_nan() && !y.is_nan() {
        return Some(dy);
    }
    Some(smooth_result(y, f64::from(dy * derivative as f32), dtype))
}

/// The mask bit of `x`: whether the derivative passes `dy` through.
/// `!(x <= 0)` for relu and leaky relu, `0 < x < cap` for clipped relu;
/// NaN gives 1 for every kind.
///
/// # Panics
/// For a smooth activation, which saves no mask ([`Activation::saves`]).
pub fn mask_bit(activation: Activation, x: f32) -> bool {
    match activation {
        Activation::ClippedRelu { cap } => x.is_nan() || (x > 0.0 && x < cap),
        // `!(x <= 0)`, spelled so that NaN visibly gives 1.
        Activation::Relu | Activation::LeakyRelu { .. } => x.is_nan() || x > 0.0,
        _ => panic!("{activation} saves no mask: it has no mask bit"),
    }
}

/// One element of the backward pass: `dy` where `bit` is set; elsewhere
/// +0.0, or `slope * dy` for leaky relu (a NaN `dy` passes unchanged).
pub fn backward_element(activation: Activation, bit: bool, dy: f32, subnormals: Subnormals) -> f32 {
    backward_element_in(activation, bit, dy, DType::F32, subnormals)
}

/// [`backward_element`] of a `dy` of `dtype`: the leaky product is rounded to
/// `dtype`.
///
/// # Panics
/// For a smooth activation, which has no mask bit: see [`gradient_in`].
pub fn backward_element_in(
    activation: Activation,
    bit: bool,
    dy: f32,
    dtype: DType,
    subnormals: Subnormals,
) -> f32 {
    match activation {
        _ if bit => dy,
        Activation::LeakyRelu { .. } if dy.is_nan() => dy,
        Activation::LeakyRelu { slope } => dtype.round(multiply(slope, dy, subnormals)),
        Activation::Relu | Activation::ClippedRelu { .. } => 0.0,
        _ => panic!("{activation} saves no mask: its backward is gradient_in"),
    }
}

/// `x + b` with the crate's NaN rules: x's NaN passes unchanged, then b's; a
/// NaN the sum produces (`inf - inf`) is [`CANONICAL_NAN_BITS`].
pub fn add(x: f32, b: f32, subnormals: Subnormals) -> f32 {
    add_in(x, b, DType::F32, subnormals)
}

/// [`add`] rounded to `dtype`: the sum a tensor of `dtype` stores (the bias
/// `b` may be f32 or `dtype`).
pub fn add_in(x: f32, b: f32, dtype: DType, subnormals: Subnormals) -> f32 {
    dtype.round(add_f32(x, b, subnormals))
}

fn add_f32(x: f32, b: f32, subnormals: Subnormals) -> f32 {
    if x.is_nan() {
        x
    } else if b.is_nan() {
        b
    } else {
        flush(
            canonical(flush(x, subnormals) + flush(b, subnormals)),
            subnormals,
        )
    }
}

fn multiply(a: f32, b: f32, subnormals: Subnormals) -> f32 {
    flush(
        canonical(flush(a, subnormals) * flush(b, subnormals)),
        subnormals,
    )
}

fn canonical(v: f32) -> f32 {
    if v.is_nan() {
        f32::from_bits(CANONICAL_NAN_BITS)
    } else {
        v
    }
}

fn flush(v: f32, subnormals: Subnormals) -> f32 {
    match subnormals {
        Subnormals::FlushToZero if v.is_subnormal() => 0.0f32.copysign(v),
        _ => v,
    }
}

/// [`activate`] of every element.
pub fn forward(activation: Activation, x: &[f32]) -> Vec<f32> {
    x.iter().map(|&v| activate(activation, v)).collect()
}

/// [`activate`] of every element and the packed [`mask_bit`]s.
pub fn forward_with_mask(activation: Activation, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let mask = pack_mask(x.iter().map(|&v| mask_bit(activation, v)));
    (forward(activation, x), mask)
}

/// Words a mask of `len` elements takes: one bit per element, 32 per word.
pub fn mask_words(len: usize) -> usize {
    len.div_ceil(32)
}

/// Packs bits into words: element i in word i / 32, bit i % 32. The bits past
/// the last element of the final word are zero.
///
/// ```
/// use wgpu_activations::cpu::pack_mask;
/// let bits = (0..33).map(|i| i % 3 == 2);
/// assert_eq!(pack_mask(bits), vec![0x2492_4924, 1]);
/// ```
pub fn pack_mask(bits: impl IntoIterator<Item = bool>) -> Vec<u32> {
    let mut words = Vec::new();
    for (i, bit) in bits.into_iter().enumerate() {
        if i % 32 == 0 {
            words.push(0);
        }
        if bit {
            words[i / 32] |= 1 << (i % 32);
        }
    }
    words
}

/// Element `i`'s bit of a packed mask.
pub fn mask_bit_at(words: &[u32], i: usize) -> bool {
    (words[i / 32] >> (i % 32)) & 1 == 1
}

/// `dx` from `dy` and a packed mask of `dy.len()` elements.
///
/// # Panics
/// If the mask has fewer than [`mask_words`]`(dy.len())` words.
pub fn backward(activation: Activation, dy: &[f32], mask: &[u32]) -> Vec<f32> {
    backward_in(activation, dy, mask, DType::F32)
}

/// [`backward`] of a `dy` holding values of `dtype`: the leaky product
/// rounded to `dtype` ([`backward_element_in`]).
///
/// # Panics
/// As [`backward`].
pub fn backward_in(activation: Activation, dy: &[f32], mask: &[u32], dtype: DType) -> Vec<f32> {
    assert!(mask.len() >= mask_words(dy.len()), "mask too short");
    dy.iter()
        .enumerate()
        .map(|(i, &d)| {
            let bit = mask_bit_at(mask, i);
            backward_element_in(activation, bit, d, dtype, Subnormals::Preserve)
        })
        .collect()
}

/// `dx` from `dy` and the forward pass's input `x` ([`gradient_in`]).
///
/// # Panics
/// If the lengths differ.
pub fn backward_from_input(activation: Activation, dy: &[f32], x: &[f32]) -> Vec<f32> {
    assert_eq!(dy.len(), x.len(), "dy and x lengths");
    dy.iter()
        .zip(x)
        .map(|(&d, &v)| gradient_in(activation, v, d, DType::F32, Subnormals::Preserve))
        .collect()
}

/// `x + b[c]` for row-major `[rows, cols]` x, `cols = b.len()`.
///
/// # Panics
/// If `x.len()` is not a multiple of `b.len()` (or b is empty and x is not).
pub fn bias_add(x: &[f32], b: &[f32], subnormals: Subnormals) -> Vec<f32> {
    bias_add_in(x, b, DType::F32, subnormals)
}

/// [`bias_add`] with every sum rounded to `dtype`.
///
/// # Panics
/// As [`bias_add`].
pub fn bias_add_in(x: &[f32], b: &[f32], dtype: DType, subnormals: Subnormals) -> Vec<f32> {
    assert!(
        x.len().is_multiple_of(b.len()),
        "x is not a whole number of rows of b.len() columns"
    );
    x.iter()
        .enumerate()
        .map(|(i, &v)| add_in(v, b[i % b.len()], dtype, subnormals))
        .collect()
}

/// [`bias_forward_with_mask`] for `x` holding values of `dtype` (and an f32
/// or `dtype` bias): the sums rounded to `dtype`, then the activation and
/// its mask of the rounded sums, as the GPU's fused op stores them.
pub fn bias_forward_with_mask_in(
    activation: Activation,
    x: &[f32],
    b: &[f32],
    dtype: DType,
) -> (Vec<f32>, Vec<u32>) {
    let sums = bias_add_in(x, b, dtype, Subnormals::Preserve);
    let y = sums
        .iter()
        .map(|&z| activate_in(activation, z, dtype, Subnormals::Preserve))
        .collect();
    (y, pack_mask(sums.iter().map(|&z| mask_bit(activation, z))))
}

/// [`bias_backward`] for `dy` holding values of `dtype`: `dx` of `dtype`
/// (the leaky product rounded to it) and `db` the f64 column sums of that
/// `dx`, rounded once to f32.
///
/// # Panics
/// As [`bias_backward`].
pub fn bias_backward_in(
    activation: Activation,
    dy: &[f32],
    mask: &[u32],
    cols: usize,
    dtype: DType,
) -> (Vec<f32>, Vec<f32>) {
    let dx = backward_in(activation, dy, mask, dtype);
    let db = column_sums(&dx, cols).iter().map(|&s| s as f32).collect();
    (dx, db)
}

/// Fused bias-add + activation: `y[r, c] = activate(x[r, c] + b[c])`.
pub fn bias_forward(activation: Activation, x: &[f32], b: &[f32]) -> Vec<f32> {
    forward(activation, &bias_add(x, b, Subnormals::Preserve))
}

/// [`bias_forward`] and the packed mask bits of `x + b`.
pub fn bias_forward_with_mask(
    activation: Activation,
    x: &[f32],
    b: &[f32],
) -> (Vec<f32>, Vec<u32>) {
    bias_forward_with_mask_in(activation, x, b, DType::F32)
}

/// Fused backward of bias + activation: `dx` as [`backward`], and the bias
/// gradient `db[c] = sum over rows of dx[r, c]`, summed in f64 and rounded
/// once to f32.
///
/// # Panics
/// As [`backward`], and if `dy.len()` is not a multiple of `cols`.
pub fn bias_backward(
    activation: Activation,
    dy: &[f32],
    mask: &[u32],
    cols: usize,
) -> (Vec<f32>, Vec<f32>) {
    bias_backward_in(activation, dy, mask, cols, DType::F32)
}

/// Column sums of row-major `[rows, cols]` data in f64: the exact-as-can-be
/// value the GPU's f32 bias gradient is held to.
///
/// # Panics
/// If `data.len()` is not a multiple of `cols` (or cols is 0 and data is not empty).
pub fn column_sums(data: &[f32], cols: usize) -> Vec<f64> {
    assert!(
        data.len().is_multiple_of(cols),
        "data is not a whole number of rows"
    );
    let mut sums = vec![0.0f64; cols];
    for (i, &v) in data.iter().enumerate() {
        sums[i % cols] += f64::from(v);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relu_follows_the_design_table() {
        assert_eq!(relu(1.5).to_bits(), 1.5f32.to_bits());
        assert_eq!(relu(-1.5).to_bits(), 0);
        assert_eq!(relu(0.0).to_bits(), 0);
        assert_eq!(relu(-0.0).to_bits(), 0, "-0.0 becomes +0.0");
        assert_eq!(relu(f32::NEG_INFINITY).to_bits(), 0);
        assert_eq!(relu(f32::INFINITY), f32::INFINITY);
        assert_eq!(relu(f32::MAX), f32::MAX);
        assert_eq!(relu(f32::from_bits(1)).to_bits(), 1, "subnormals pass");
        assert_eq!(relu(f32::from_bits(0x8000_0001)).to_bits(), 0);
        for nan in [0x7fc0_0000u32, 0xffc0_0000, 0x7f80_0001, 0xffff_ffff] {
            assert_eq!(
                relu(f32::from_bits(nan)).to_bits(),
                nan,
                "NaN {nan:#x} kept"
            );
        }
    }

    #[test]
    fn leaky_and_clipped_follow_the_design_table() {
        let leaky = Activation::LeakyRelu { slope: 0.25 };
        assert_eq!(activate(leaky, 2.0), 2.0);
        assert_eq!(activate(leaky, -2.0), -0.5);
        assert_eq!(activate(leaky, -0.0).to_bits(), 0x8000_0000, "s * -0.0");
        assert_eq!(activate(leaky, 0.0).to_bits(), 0);
        assert_eq!(activate(leaky, f32::NEG_INFINITY), f32::NEG_INFINITY);
        assert_eq!(
            activate(leaky, f32::from_bits(0xff80_0001)).to_bits(),
            0xff80_0001
        );
        let zero_slope = Activation::LeakyRelu { slope: 0.0 };
        assert_eq!(
            activate(zero_slope, f32::NEG_INFINITY).to_bits(),
            CANONICAL_NAN_BITS,
            "0 * -inf is the canonical NaN"
        );

        let relu6 = Activation::relu6();
        assert_eq!(activate(relu6, 7.0), 6.0);
        assert_eq!(activate(relu6, 6.0), 6.0);
        assert_eq!(activate(relu6, -0.0).to_bits(), 0);
        assert_eq!(
            activate(relu6, f32::from_bits(0xffc0_0001)).to_bits(),
            0xffc0_0001
        );
        assert!(!mask_bit(relu6, 6.0), "the derivative is 0 at the cap");
        assert!(mask_bit(relu6, 5.9));
        assert!(!mask_bit(relu6, 0.0));
        assert!(mask_bit(relu6, f32::NAN));
    }

    #[test]
    fn masks_and_backward_follow_the_design_table() {
        for activation in [Activation::Relu, Activation::LeakyRelu { slope: 0.1 }] {
            assert!(mask_bit(activation, f32::NAN));
            assert!(!mask_bit(activation, -0.0));
            assert!(!mask_bit(activation, 0.0));
            assert!(mask_bit(activation, f32::from_bits(1)));
        }
        let dy = [1.0, f32::NAN, 3.0, -4.0];
        let mask = pack_mask([true, true, false, false]);
        assert_eq!(mask, vec![0b11]);
        let dx = backward(Activation::Relu, &dy, &mask);
        assert_eq!(dx[0], 1.0);
        assert!(dx[1].is_nan());
        assert_eq!(dx[2].to_bits(), 0);
        assert_eq!(dx[3].to_bits(), 0, "+0.0, not -0.0");
        let leaky = backward(Activation::LeakyRelu { slope: 0.5 }, &dy, &mask);
        assert_eq!(leaky[2..], [1.5, -2.0]);
    }

    #[test]
    fn bias_add_rules() {
        let p = Subnormals::Preserve;
        assert_eq!(add(1.0, 2.0, p), 3.0);
        assert_eq!(
            add(f32::from_bits(0x7fc0_0042), f32::from_bits(0xffc0_0001), p).to_bits(),
            0x7fc0_0042
        );
        assert_eq!(
            add(1.0, f32::from_bits(0xffc0_0001), p).to_bits(),
            0xffc0_0001
        );
        assert_eq!(
            add(f32::INFINITY, f32::NEG_INFINITY, p).to_bits(),
            CANONICAL_NAN_BITS
        );
        let tiny = f32::from_bits(0x0080_0001) - f32::from_bits(0x0080_0000);
        assert!(tiny.is_subnormal());
        let sum = add(f32::from_bits(0x0080_0001), -f32::from_bits(0x0080_0000), p);
        assert_eq!(sum, tiny);
        let flushed = add(
            f32::from_bits(0x0080_0001),
            -f32::from_bits(0x0080_0000),
            Subnormals::FlushToZero,
        );
        assert_eq!(flushed.to_bits(), 0);
        assert_eq!(
            add(f32::from_bits(0x8000_0001), 0.0, Subnormals::FlushToZero).to_bits(),
            0
        );
    }

    #[test]
    fn bias_backward_sums_columns() {
        let dy = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let mask = pack_mask([true, true, true, false, true, true]);
        let (dx, db) = bias_backward(Activation::Relu, &dy, &mask, 3);
        assert_eq!(dx, vec![1.0, 2.0, 3.0, 0.0, 5.0, 6.0]);
        assert_eq!(db, vec![1.0, 7.0, 9.0]);
    }

    #[test]
    fn slice_forms_agree_with_the_scalar() {
        let x = [-2.0, -0.0, 0.0, 3.0, f32::NAN];
        let mut in_place = x;
        relu_forward_in_place(&mut in_place);
        let out = relu_forward(&x);
        for ((a, b), v) in out.iter().zip(&in_place).zip(&x) {
            assert_eq!(a.to_bits(), relu(*v).to_bits());
            assert_eq!(b.to_bits(), relu(*v).to_bits());
        }
    }
}
