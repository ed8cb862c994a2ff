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
