//! The CPU reference: the definition of every op's semantics.
//!
//! GPU results are compared against these functions bit for bit (or within
//! the bound an op documents). They are written to be read as a spec, not to
//! be fast.

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
