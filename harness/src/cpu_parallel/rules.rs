//! Each activation's rules as branch-free element functions, the
//! reference's [`cpu`] rules rewritten as compare-selects that vectorise.
//!
//! [`cpu`]: wgpu_activations::cpu

use wgpu_activations::cpu::{self, CANONICAL_NAN_BITS, Subnormals};
use wgpu_activations::{Activation, DType};

/// Bits per mask word.
pub(super) const WORD: usize = 32;

const CANONICAL_NAN: f32 = f32::from_bits(CANONICAL_NAN_BITS);

/// One activation's rules as branch-free element functions.
pub(super) trait Rule: Copy + Send + Sync {
    fn forward(self, x: f32) -> f32;
    /// The mask bit: whether the derivative passes `dy`.
    fn bit(self, x: f32) -> bool;
    fn backward(self, bit: bool, dy: f32) -> f32;
    /// `dx` from the forward's input: the mask bit's rule, or a smooth
    /// activation's derivative.
    #[inline(always)]
    fn gradient(self, x: f32, dy: f32) -> f32 {
        self.backward(self.bit(x), dy)
    }
}

#[derive(Clone, Copy)]
pub(super) struct Relu;
#[derive(Clone, Copy)]
pub(super) struct Leaky(pub(super) f32);
#[derive(Clone, Copy)]
pub(super) struct Clipped(pub(super) f32);
/// A smooth activation: the reference's own element functions (f64, then
/// rounded), which no f32 loop matches bit for bit; they run in parallel
/// but not vectorised.
#[derive(Clone, Copy)]
pub(super) struct Smooth(pub(super) Activation);

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

impl Rule for Smooth {
    #[inline(always)]
    fn forward(self, x: f32) -> f32 {
        cpu::activate(self.0, x)
    }
    fn bit(self, _: f32) -> bool {
        unreachable!("{} saves no mask", self.0)
    }
    fn backward(self, _: bool, _: f32) -> f32 {
        unreachable!("{} saves no mask", self.0)
    }
    #[inline(always)]
    fn gradient(self, x: f32, dy: f32) -> f32 {
        cpu::gradient_in(self.0, x, dy, DType::F32, Subnormals::Preserve)
    }
}

/// Binds `$rule` to the [`Rule`] of `$activation` and evaluates `$body`
/// with it: one monomorphised loop per activation.
macro_rules! with_rule {
    ($activation:expr, $rule:ident => $body:expr) => {
        match $activation {
            wgpu_activations::Activation::Relu => {
                let $rule = $crate::cpu_parallel::rules::Relu;
                $body
            }
            wgpu_activations::Activation::LeakyRelu { slope } => {
                let $rule = $crate::cpu_parallel::rules::Leaky(slope);
                $body
            }
            wgpu_activations::Activation::ClippedRelu { cap } => {
                let $rule = $crate::cpu_parallel::rules::Clipped(cap);
                $body
            }
            smooth => {
                let $rule = $crate::cpu_parallel::rules::Smooth(smooth);
                $body
            }
        }
    };
}
pub(super) use with_rule;

/// [`cpu::relu`] as a compare-select.
#[inline(always)]
pub(super) fn relu(x: f32) -> f32 {
    if x <= 0.0 { 0.0 } else { x }
}

/// `slope * v`, a NaN it produces canonical (the reference's `multiply`).
#[inline(always)]
pub(super) fn scaled(slope: f32, v: f32) -> f32 {
    let product = slope * v;
    if product.is_nan() {
        CANONICAL_NAN
    } else {
        product
    }
}

/// [`cpu::add`] with subnormals preserved, as selects.
#[inline(always)]
pub(super) fn add(x: f32, b: f32) -> f32 {
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
pub(super) fn pack(rule: impl Rule, values: &[f32]) -> u32 {
    values
        .iter()
        .enumerate()
        .fold(0, |word, (k, &v)| word | (u32::from(rule.bit(v)) << k))
}

/// `rule.backward` of `dy` where the bits of `word` pick, for up to 32 elements.
#[inline(always)]
pub(super) fn backward_word(rule: impl Rule, word: u32, dy: &[f32], dx: &mut [f32]) {
    for (k, (out, &d)) in dx.iter_mut().zip(dy).enumerate() {
        *out = rule.backward(word & (1 << k) != 0, d);
    }
}
