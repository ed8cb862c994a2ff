//! The exact values of the smooth activations and their derivatives, in
//! f64: what the accuracy contract measures the kernels against
//! ([`Activation`](crate::Activation) states the bounds).
//!
//! Each function is written in a form that keeps f64's relative accuracy
//! across the whole f32 range (no `1 + tanh(u)` for large negative `u`, no
//! `1 - tanh²` near saturation), so its error is far below an f32 ULP and
//! rounding it to f32 gives the correctly rounded value except in rare
//! near-ties. Limits at ±inf are written out where the formula would give
//! `inf * 0`.
//!
//! Where PyTorch scales the input by an f32 parameter first (softplus's
//! `beta * x`, SIREN's `omega_0 * x`), the product is the f32 product, as
//! PyTorch computes it, and the exact function is taken of that product.
//!
//! This file depends on nothing but `libm` (for `erfc`), so it can be read
//! and reused on its own.

/// `sqrt(2 / pi)`, the tanh approximation's scale.
pub const GELU_TANH_SCALE: f64 = 0.797_884_560_802_865_4;

/// The tanh approximation's cubic coefficient.
pub const GELU_TANH_CUBIC: f64 = 0.044_715;

/// `1 / sqrt(2 pi)`, the standard normal density at 0.
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// `1 / (1 + e^-x)`, from whichever side does not overflow.
pub fn sigmoid(x: f64) -> f64 {
    if x >= 0.0 {
        1.0 / (1.0 + (-x).exp())
    } else {
        let e = x.exp();
        e / (1.0 + e)
    }
}

/// `sigmoid(x) * sigmoid(-x)`: `sigmoid'`, without the cancellation of
/// `s * (1 - s)` near 1.
pub fn sigmoid_derivative(x: f64) -> f64 {
    sigmoid(x) * sigmoid(-x)
}

/// `tanh(x)`.
pub fn tanh(x: f64) -> f64 {
    x.tanh()
}

/// `1 - tanh(x)^2`, as `4 e / (1 + e)^2` with `e = exp(-2|x|)` so that it
/// keeps its relative accuracy where `tanh(x)` rounds to 1.
pub fn tanh_derivative(x: f64) -> f64 {
    let e = (-2.0 * x.abs()).exp();
    4.0 * e / ((1.0 + e) * (1.0 + e))
}

/// SiLU (swish): `x * sigmoid(x)`; -0.0 at -inf.
pub fn silu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    x * sigmoid(x)
}

/// `sigmoid(x) * (1 + x * sigmoid(-x))`; 1 at +inf, -0.0 at -inf (the
/// limit from below).
pub fn silu_derivative(x: f64) -> f64 {
    match x {
        f64::INFINITY => 1.0,
        f64::NEG_INFINITY => -0.0,
        _ => {
            let s = sigmoid(x);
            s + x * s * sigmoid(-x)
        }
    }
}

/// GELU, PyTorch's default (`approximate='none'`): `x * Phi(x)`, written
/// `x / 2 * erfc(-x / sqrt 2)` so that it keeps its accuracy for negative
/// `x`; -0.0 at -inf.
pub fn gelu(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    0.5 * x * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
}

/// `Phi(x) + x * phi(x)`; 1 at +inf, -0.0 at -inf (the limit from below).
pub fn gelu_derivative(x: f64) -> f64 {
    match x {
        f64::INFINITY => 1.0,
        f64::NEG_INFINITY => -0.0,
        _ => {
            0.5 * libm::erfc(-x * std::f64::consts::FRAC_1_SQRT_2)
                + x * (-0.5 * x * x).exp() * INV_SQRT_2PI
        }
    }
}

/// The argument `u = sqrt(2/pi) (x + 0.044715 x^3)` of the tanh
/// approximation, and its derivative.
fn gelu_tanh_argument(x: f64) -> (f64, f64) {
    let u = GELU_TANH_SCALE * (x + GELU_TANH_CUBIC * x * x * x);
    let du = GELU_TANH_SCALE * (1.0 + 3.0 * GELU_TANH_CUBIC * x * x);
    (u, du)
}

/// GELU with the tanh approximation (`approximate='tanh'`):
/// `x / 2 * (1 + tanh(u))`, written `x * sigmoid(2u)` (the same function)
/// so that it keeps its accuracy for negative `x`; -0.0 at -inf.
pub fn gelu_tanh(x: f64) -> f64 {
    if x == f64::NEG_INFINITY {
        return -0.0;
    }
    let (u, _) = gelu_tanh_argument(x);
    x * sigmoid(2.0 * u)
}

/// The derivative of [`gelu_tanh`]:
/// `sigmoid(2u) + 2 x u' sigmoid(2u) sigmoid(-2u)`; 1 at +inf, -0.0 at
/// -inf.
pub fn gelu_tanh_derivative(x: f64) -> f64 {
    match x {
        f64::INFINITY => 1.0,
        f64::NEG_INFINITY => -0.0,
        _ => {
            let (u, du) = gelu_tanh_argument(x);
            let s = sigmoid(2.0 * u);
            s + 2.0 * x * du * s * sigmoid(-2.0 * u)
        }
    }
}

/// `log(1 + e^t)` without overflow.
fn log1p_exp(t: f64) -> f64 {
    if t > 0.0 {
        t + (-t).exp().ln_1p()
    } else {
        t.exp().ln_1p()
    }
}

/// Softplus with PyTorch's semantics: `t = beta * x` (the f32 product);
/// `x` where `t > threshold`, else `log(1 + e^t) / beta`.
pub fn softplus(x: f32, beta: f32, threshold: f32) -> f64 {
    let t = beta * x;
    softplus_of_product(
        f64::from(t),
        f64::from(x),
        f64::from(beta),
        f64::from(threshold),
    )
}

/// [`softplus`] given the product `t` of `beta` and `x` (exact, for a
/// real-valued `x`, or the f32 product as [`softplus`] takes it).
pub fn softplus_of_product(t: f64, x: f64, beta: f64, threshold: f64) -> f64 {
    if t > threshold {
        x
    } else {
        log1p_exp(t) / beta
    }
}

/// The derivative of [`softplus`] as PyTorch's backward computes it: 1
/// where `t > threshold`, else `sigmoid(t)`.
pub fn softplus_derivative(x: f32, beta: f32, threshold: f32) -> f64 {
    let t = beta * x;
    if t > threshold {
        1.0
    } else {
        sigmoid(f64::from(t))
    }
}

/// ELU: `x` where `x > 0`, else `alpha * (e^x - 1)`.
pub fn elu(x: f64, alpha: f64) -> f64 {
    if x > 0.0 { x } else { alpha * x.exp_m1() }
}

/// The derivative of [`elu`]: 1 where `x > 0`, else `alpha * e^x`.
pub fn elu_derivative(x: f64, alpha: f64) -> f64 {
    if x > 0.0 { 1.0 } else { alpha * x.exp() }
}

/// SIREN's sine: `sin(t)` of `t = omega * x`, the f32 product.
pub fn sine(x: f32, omega: f32) -> f64 {
    f64::from(omega * x).sin()
}

/// The derivative of [`sine`]: `omega * cos(t)`.
pub fn sine_derivative(x: f32, omega: f32) -> f64 {
    f64::from(omega) * f64::from(omega * x).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Central differences in f64 agree with every derivative away from
    /// the kinks (softplus's threshold, ELU's 0).
    #[test]
    fn derivatives_match_central_differences() {
        let h = 1e-6;
        let diff = |f: &dyn Fn(f64) -> f64, x: f64| (f(x + h) - f(x - h)) / (2.0 * h);
        for i in -80..=80 {
            let x = f64::from(i) * 0.1 + 0.013;
            let pairs: [(&dyn Fn(f64) -> f64, f64); 6] = [
                (&sigmoid, sigmoid_derivative(x)),
                (&tanh, tanh_derivative(x)),
                (&silu, silu_derivative(x)),
                (&gelu, gelu_derivative(x)),
                (&gelu_tanh, gelu_tanh_derivative(x)),
                (&|x| elu(x, 1.5), elu_derivative(x, 1.5)),
            ];
            for (k, (f, derivative)) in pairs.into_iter().enumerate() {
                let numeric = diff(f, x);
                assert!(
                    (numeric - derivative).abs() <= 1e-7 * (1.0 + derivative.abs()),
                    "function {k} at {x}: {numeric} vs {derivative}"
                );
            }
        }
    }

    #[test]
    fn limits_at_infinity_are_the_stated_values() {
        let inf = f64::INFINITY;
        assert_eq!(sigmoid(inf), 1.0);
        assert_eq!(sigmoid(-inf).to_bits(), 0);
        assert_eq!(silu(-inf).to_bits(), (-0.0f64).to_bits());
        assert_eq!(gelu(-inf).to_bits(), (-0.0f64).to_bits());
        assert_eq!(gelu_tanh(-inf).to_bits(), (-0.0f64).to_bits());
        assert_eq!(gelu(inf), inf);
        assert_eq!(gelu_derivative(-inf).to_bits(), (-0.0f64).to_bits());
        assert_eq!(tanh_derivative(inf), 0.0);
        assert_eq!(elu(-inf, 2.0), -2.0);
        assert_eq!(softplus(f32::NEG_INFINITY, 1.0, 20.0), 0.0);
        assert_eq!(softplus(f32::INFINITY, 1.0, 20.0), inf);
        assert!(sine(f32::INFINITY, 30.0).is_nan());
    }

    #[test]
    fn formulas_keep_their_accuracy_far_into_the_tails() {
        // gelu(-10) = -10 * Phi(-10) = -7.6198530241605e-23.
        let g = gelu(-10.0);
        assert!((g / -7.619_853_024_160_527e-23 - 1.0).abs() < 1e-13, "{g}");
        // 1 - tanh(20)^2 = 4 e^-40 / (1 + e^-40)^2.
        assert!((tanh_derivative(20.0) / (4.0 * (-40.0f64).exp()) - 1.0).abs() < 1e-15);
        // gelu_tanh(-10) = -10 * sigmoid(2u), u = -43.6...: about 1e-37, not 0.
        assert!(gelu_tanh(-10.0) < -1e-38);
    }
}
