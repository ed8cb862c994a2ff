//! The ReLU family: which activation an op applies, and its parameter.

use std::fmt;

use crate::error::{Error, Result};

/// An activation of the ReLU family. The CPU reference
/// ([`cpu::activate`](crate::cpu::activate)) defines each one exactly,
/// NaN and -0.0 included.
///
/// | activation | forward | mask bit (derivative passes `dy`) | backward where the bit is 0 |
/// |---|---|---|---|
/// | `Relu` | `x <= 0 ? +0.0 : x` | `!(x <= 0)` (NaN: 1) | `+0.0` |
/// | `LeakyRelu { slope }` | `x <= 0 ? slope * x : x` | `!(x <= 0)` (NaN: 1) | `slope * dy` |
/// | `ClippedRelu { cap }` | `min(relu(x), cap)` | `0 < x < cap` (NaN: 1) | `+0.0` |
///
/// Parameters are runtime values passed to the kernels in a uniform buffer,
/// never baked into shader text: one compiled pipeline serves every slope
/// and cap.
///
/// ```
/// use wgpu_activations::{cpu, Activation};
/// let leaky = Activation::LeakyRelu { slope: 0.01 };
/// assert_eq!(cpu::activate(leaky, -2.0), -0.02);
/// let relu6 = Activation::relu6();
/// assert_eq!(cpu::activate(relu6, 7.5), 6.0);
/// assert!(Activation::LeakyRelu { slope: f32::NAN }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)` with the NaN and -0.0 rules of the crate's design.
    Relu,
    /// `x` where `x > 0`, else `slope * x`. `slope` must be finite.
    LeakyRelu {
        /// Multiplier of the non-positive side (commonly 0.01).
        slope: f32,
    },
    /// `min(relu(x), cap)`; ReLU6 is `cap = 6`. `cap` must be finite and > 0.
    ClippedRelu {
        /// The upper bound.
        cap: f32,
    },
}

impl Activation {
    /// One value of every variant, in kernel-kind order: the list that
    /// `check`, `bench`, the tests and [`Gpu::precompile`](crate::Gpu::precompile)
    /// iterate. A variant's kernel kind is its place here, so a variant
    /// missing from it has no kernels ([`Error::Unsupported`] at first use,
    /// and a failing test).
    ///
    /// ```
    /// use wgpu_activations::Activation;
    /// assert_eq!(Activation::examples()[0], Activation::Relu);
    /// ```
    pub fn examples() -> Vec<Activation> {
        vec![
            Activation::Relu,
            Activation::LeakyRelu { slope: 0.01 },
            Activation::ClippedRelu { cap: 6.0 },
        ]
    }

    /// Clipped ReLU with cap 6, as in MobileNet.
    pub fn relu6() -> Self {
        Activation::ClippedRelu { cap: 6.0 }
    }

    /// Errors with [`Error::InvalidParameter`] unless the parameter is legal:
    /// a finite slope, a finite positive cap.
    pub fn validate(self) -> Result<()> {
        match self {
            Activation::Relu => Ok(()),
            Activation::LeakyRelu { slope } if slope.is_finite() => Ok(()),
            Activation::LeakyRelu { slope } => Err(Error::InvalidParameter {
                name: "leaky relu slope",
                value: slope,
                requirement: "finite",
            }),
            Activation::ClippedRelu { cap } if cap.is_finite() && cap > 0.0 => Ok(()),
            Activation::ClippedRelu { cap } => Err(Error::InvalidParameter {
                name: "clipped relu cap",
                value: cap,
                requirement: "finite and greater than zero",
            }),
        }
    }

    /// Short name, e.g. `leaky_relu(0.01)`.
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu({slope})"),
            Activation::ClippedRelu { cap } => write!(f, "clipped_relu({cap})"),
        }
    }
}

/// Which activation a kernel is compiled for: the WGSL pipeline constant
/// `KIND` (shaders/common.wgsl), so each kernel has one pipeline per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Relu = 0,
    LeakyRelu = 1,
    ClippedRelu = 2,
    /// No activation: the bias add alone.
    Identity = 3,
}

impl Kind {
    pub fn of(activation: Activation) -> Self {
        match activation {
            Activation::Relu => Kind::Relu,
            Activation::LeakyRelu { .. } => Kind::LeakyRelu,
            Activation::ClippedRelu { .. } => Kind::ClippedRelu,
        }
    }
}

/// `(magic, shift)` with `floor(e / cols) = mul_hi(e, magic) >> shift` for
/// every `e < 2^31`, `cols >= 2` (Granlund and Montgomery's division by a
/// constant: `l = ceil(log2 cols)`, `magic = ceil(2^(31 + l) / cols)`, which
/// fits 32 bits because `cols > 2^(l - 1)`; exact because
/// `magic * cols - 2^(31 + l) < cols <= 2^l`). `cols < 2` gives `(0, 0)`;
/// the kernels treat one column apart.
pub(crate) fn column_divisor(cols: u32) -> (u32, u32) {
    if cols < 2 {
        return (0, 0);
    }
    let l = u64::BITS - (u64::from(cols) - 1).leading_zeros();
    let magic = (1u64 << (31 + l)).div_ceil(u64::from(cols));
    (magic as u32, l - 1)
}

/// The uniform block every parameterised kernel reads: `Params` in
/// `shaders/common.wgsl`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub parameter: u32,
    pub cols: u32,
    pub tile_cols: u32,
    pub len: u32,
    pub column_magic: u32,
    pub column_shift: u32,
    /// Column of the first element a fused forward dispatch covers: a
    /// tensor split over several bindings starts a binding mid-row.
    pub first_column: u32,
    /// Row block of the first row a bias-gradient dispatch covers, where
    /// it writes its block sums.
    pub first_row_block: u32,
}

impl Params {
    /// The activation's parameter; the other fields zero.
    pub fn new(activation: Activation) -> Self {
        let parameter = match activation {
            Activation::Relu => 0,
            Activation::LeakyRelu { slope } => slope.to_bits(),
            Activation::ClippedRelu { cap } => cap.to_bits(),
        };
        Self {
            parameter,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::column_divisor;

    /// The shader's `mul_hi` from 16-bit halves, as written in common.wgsl.
    fn mul_hi(a: u32, b: u32) -> u32 {
        let (a_lo, a_hi, b_lo, b_hi) = (a & 0xffff, a >> 16, b & 0xffff, b >> 16);
        let (lo_lo, hi_lo, lo_hi) = (a_lo * b_lo, a_hi * b_lo, a_lo * b_hi);
        let cross = (lo_lo >> 16) + (hi_lo & 0xffff) + (lo_hi & 0xffff);
        a_hi * b_hi + (hi_lo >> 16) + (lo_hi >> 16) + (cross >> 16)
    }

    #[test]
    fn mul_hi_from_halves_is_the_high_word() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..100_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let (a, b) = (state as u32, (state >> 32) as u32);
            assert_eq!(mul_hi(a, b), ((u64::from(a) * u64::from(b)) >> 32) as u32);
        }
        assert_eq!(mul_hi(u32::MAX, u32::MAX), 0xffff_fffe);
    }

    #[test]
    fn magic_division_is_exact_below_two_to_the_31() {
        let mut divisors: Vec<u32> = (2..=2048).collect();
        divisors.extend([
            3_000,
            16_384,
            16_385,
            65_535,
            65_536,
            1 << 20,
            (1 << 30) + 1,
            u32::MAX,
        ]);
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for cols in divisors {
            let (magic, shift) = column_divisor(cols);
            let check = |e: u32| {
                let row = mul_hi(e, magic) >> shift;
                assert_eq!(row, e / cols, "e = {e}, cols = {cols}");
            };
            for e in [
                0,
                1,
                cols - 1,
                cols,
                cols.saturating_add(1),
                (1 << 31) - 1,
                (1 << 31) - cols % (1 << 30),
            ] {
                check(e.min((1 << 31) - 1));
            }
            // Multiples of cols and their neighbours, where a wrong quotient shows.
            for k in [1u32, 2, 7, 1000, 65_535] {
                if let Some(e) = cols.checked_mul(k).filter(|&e| e < 1 << 31) {
                    check(e - 1);
                    check(e);
                }
            }
            for _ in 0..200 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                check((state as u32) >> 1);
            }
        }
    }
}
