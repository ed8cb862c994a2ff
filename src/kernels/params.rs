//! The uniform parameter block every parameterised kernel reads, declared
//! once here: the WGSL `struct Params` is generated from this declaration.

use super::prelude::lane_of;
use crate::dtype::DType;

/// Declares a `#[repr(C)]` struct of `u32` fields and its WGSL twin
/// (`WGSL`, field for field), so the layout is written once.
macro_rules! uniform_block {
    (
        $(#[$meta:meta])*
        struct $name:ident {
            $( $(#[$field_meta:meta])* $field:ident: u32, )*
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
        pub(crate) struct $name {
            $( $(#[$field_meta])* pub $field: u32, )*
        }

        impl $name {
            /// The WGSL declaration of this block, generated from the Rust one.
            pub const WGSL: &'static str = concat!(
                "struct ", stringify!($name), " {\n",
                $( "    ", stringify!($field), ": u32,\n", )*
                "}\n"
            );
        }
    };
}

uniform_block! {
    /// The activation's parameter and the indexing facts of one dispatch,
    /// from a uniform buffer so that a slope or cap is never baked into
    /// shader text (one pipeline serves every value).
    struct Params {
        /// f32 bits of the activation's first parameter: the leaky slope, the
        /// clipped cap, softplus's beta, ELU's alpha or sine's omega.
        parameter: u32,
        /// Row length of the fused bias kernels.
        cols: u32,
        /// Rows of one block of the fused backward's first pass.
        rows_per_block: u32,
        /// Elements of the dispatch's main operand.
        len: u32,
        /// `floor(e / cols) = mul_hi(e, column_magic) >> column_shift` for
        /// every element index `e < 2^31` ([`column_divisor`]), so the fused
        /// kernels find a column without an integer division, which CPU
        /// adapters run one lane at a time.
        column_magic: u32,
        /// See `column_magic`.
        column_shift: u32,
        /// Column of the first element a fused forward dispatch covers: a
        /// tensor split over several bindings starts a binding mid-row.
        first_column: u32,
        /// Row block of the first row a bias-gradient dispatch covers, where
        /// it writes its block sums.
        first_row_block: u32,
        /// The lane (shaders/dtypes.wgsl) of the element type's value nearest
        /// to the parameter: what the clipped cap clips to.
        parameter_nearest: u32,
        /// The lane of the element type's least value at or above a positive
        /// parameter: an element is below the cap exactly when its lane is
        /// below this one.
        parameter_above: u32,
        /// f32 bits of the activation's second parameter: softplus's
        /// threshold.
        second_parameter: u32,
    }
}

impl Params {
    /// The activation's parameter, for data of `dtype`; the other fields zero.
    pub fn new(activation: crate::Activation, dtype: DType) -> Self {
        Self::default().with_activation(activation, dtype)
    }

    /// These params with the fields of `activation`'s parameter replaced,
    /// for data of `dtype`.
    pub fn with_activation(self, activation: crate::Activation, dtype: DType) -> Self {
        let parameter = activation.parameter();
        let nearest = dtype.bits_of(parameter);
        // Rounded below a positive parameter: the next value up (+0.0 steps
        // to the smallest subnormal). Only a cap needs it, and caps are > 0.
        let above = if parameter > 0.0 && dtype.value_of(nearest) < parameter {
            nearest + 1
        } else {
            nearest
        };
        Self {
            parameter: parameter.to_bits(),
            parameter_nearest: lane_of(dtype, nearest),
            parameter_above: lane_of(dtype, above),
            second_parameter: activation.second_parameter().to_bits(),
            ..self
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

#[cfg(test)]
mod tests {
    use super::{Params, column_divisor};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn wgsl_block_has_every_field_in_order() {
        let fields: Vec<&str> = Params::WGSL
            .lines()
            .filter_map(|line| line.trim().strip_suffix(": u32,"))
            .collect();
        assert_eq!(fields.len() * 4, std::mem::size_of::<Params>());
        assert_eq!(fields.first(), Some(&"parameter"));
        assert_eq!(fields.last(), Some(&"second_parameter"));
    }

    /// The shader's `mul_hi` from 16-bit halves, as written in common.wgsl.
    fn mul_hi(a: u32, b: u32) -> u32 {
        let (a_lo, a_hi, b_lo, b_hi) = (a & 0xffff, a >> 16, b & 0xffff, b >> 16);
        let (lo_lo, hi_lo, lo_hi) = (a_lo * b_lo, a_hi * b_lo, a_lo * b_hi);
        let cross = (lo_lo >> 16) + (hi_lo & 0xffff) + (lo_hi & 0xffff);
        a_hi * b_hi + (hi_lo >> 16) + (lo_hi >> 16) + (cross >> 16)
    }

    #[test]
    fn mul_hi_from_halves_is_the_high_word() {
        let mut rng = ChaCha8Rng::seed_from_u64(0x9e37_79b9);
        for _ in 0..100_000 {
            let (a, b) = (rng.random::<u32>(), rng.random::<u32>());
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
        let mut rng = ChaCha8Rng::seed_from_u64(0x2545_f491);
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
                check(rng.random::<u32>() >> 1);
            }
        }
    }
}
