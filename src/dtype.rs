//! Element types of tensors, the host types that hold them, the exact
//! conversions between them, and the sizes the kernels' bindings are counted
//! in.
//!
//! The conversions here are the definition the kernels match bit for bit
//! (`shaders/dtypes.wgsl` does the same on the bits, never with
//! `pack2x16float` or native f16, whose rounding, subnormals and NaNs differ
//! between backends).

use half::{bf16, f16};

/// The element type of a [`Tensor`](crate::Tensor).
///
/// 16-bit tensors are stored as packed pairs in 32-bit words, so they work on
/// every backend, GL and devices without `SHADER_F16` included. Every op
/// computes what the arithmetic calls for in f32 and rounds once to the
/// storage type, to nearest even ([`DType::round`]); relu, masks and the
/// backward's selection are exact bit operations on the 16-bit values.
///
/// ```
/// use wgpu_activations::DType;
/// assert_eq!(DType::F32.size_bytes(), 4);
/// assert_eq!(DType::F16.size_bytes(), 2);
/// assert_eq!(DType::BF16.round(1.0 + 1.0 / 256.0), 1.0); // a tie, to even
/// assert_eq!(DType::F16.round(65520.0), f32::INFINITY); // past the largest finite
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
    /// IEEE 754 binary16: 5 exponent bits, 10 mantissa bits.
    F16,
    /// bfloat16: f32's 8 exponent bits, 7 mantissa bits.
    BF16,
}

impl DType {
    /// Every element type, in the order reports list them.
    pub const ALL: [DType; 3] = [DType::F32, DType::F16, DType::BF16];

    /// Bytes of one element.
    pub const fn size_bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
            DType::F16 | DType::BF16 => 2,
        }
    }

    /// The name reports print, e.g. `f32`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::BF16 => "bf16",
        }
    }

    /// `x` rounded to this type and widened back to f32, exactly: the value
    /// a tensor of this type stores for `x` (see [`f16_from_f32`] and
    /// [`bf16_from_f32`] for the rules). The identity for `F32`.
    pub fn round(self, x: f32) -> f32 {
        match self {
            DType::F32 => x,
            DType::F16 => f16_to_f32(f16_from_f32(x)),
            DType::BF16 => bf16_to_f32(bf16_from_f32(x)),
        }
    }

    /// The bits this type stores for `x` (rounded as [`round`](Self::round)),
    /// in the low bits of the result.
    pub fn bits_of(self, x: f32) -> u32 {
        match self {
            DType::F32 => x.to_bits(),
            DType::F16 => u32::from(f16_from_f32(x)),
            DType::BF16 => u32::from(bf16_from_f32(x)),
        }
    }

    /// The value of `bits` (as [`bits_of`](Self::bits_of) returns them),
    /// widened exactly to f32.
    pub fn value_of(self, bits: u32) -> f32 {
        match self {
            DType::F32 => f32::from_bits(bits),
            DType::F16 => f16_to_f32(bits as u16),
            DType::BF16 => bf16_to_f32(bits as u16),
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A host type that holds a tensor's elements: `f32`, [`half::f16`] or
/// [`half::bf16`]. Uploads and downloads of any [`DType`] go through it
/// ([`Tensor::from_elements`](crate::Tensor::from_elements),
/// [`Tensor::download_elements`](crate::Tensor::download_elements)).
pub trait Element: bytemuck::Pod + Send + Sync + std::fmt::Debug + 'static {
    /// The element type of a tensor holding this type.
    const DTYPE: DType;
}

impl Element for f32 {
    const DTYPE: DType = DType::F32;
}

impl Element for f16 {
    const DTYPE: DType = DType::F16;
}

impl Element for bf16 {
    const DTYPE: DType = DType::BF16;
}

/// The f16 `bits` as an f32, exactly. A NaN keeps its sign and payload
/// (shifted into the top of f32's), signalling or quiet as it was.
///
/// ```
/// use wgpu_activations::dtype::f16_to_f32;
/// assert_eq!(f16_to_f32(0x3c00), 1.0);
/// assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24)); // the smallest subnormal
/// assert_eq!(f16_to_f32(0x7d01).to_bits(), 0x7fa0_2000); // a signalling NaN stays one
/// ```
pub fn f16_to_f32(bits: u16) -> f32 {
    let bits = u32::from(bits);
    let sign = (bits & 0x8000) << 16;
    let exponent = (bits >> 10) & 0x1f;
    let mantissa = bits & 0x3ff;
    let magnitude = match exponent {
        // Subnormal (or zero): mantissa * 2^-24, a normal f32 (exact).
        0 => (mantissa as f32 * 2f32.powi(-24)).to_bits(),
        0x1f => 0x7f80_0000 | (mantissa << 13),
        _ => ((exponent + 112) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

/// `x` rounded to f16, to nearest even: values from 65520 up round to
/// infinity, values under 2^-25 to zero of the same sign, f16 subnormals
/// are kept. A NaN keeps its sign and the top 10 bits of its payload (the
/// quiet bit among them, so a signalling NaN stays one); if those are all
/// zero the quiet bit is set, so that it stays a NaN. Widening and narrowing
/// back is the identity on every f16.
///
/// The same as [`half::f16::from_f32`] but for NaNs, which it always quiets.
///
/// ```
/// use wgpu_activations::dtype::f16_from_f32;
/// assert_eq!(f16_from_f32(65504.0), 0x7bff); // the largest finite
/// assert_eq!(f16_from_f32(65519.99), 0x7bff);
/// assert_eq!(f16_from_f32(65520.0), 0x7c00); // +inf
/// assert_eq!(f16_from_f32(-0.0), 0x8000);
/// assert_eq!(f16_from_f32(f32::from_bits(0x7f80_0001)), 0x7e00); // payload lost: quiet bit set
/// ```
pub fn f16_from_f32(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = (bits >> 16) & 0x8000;
    let magnitude = bits & 0x7fff_ffff;
    let rounded = if magnitude > 0x7f80_0000 {
        let payload = (magnitude >> 13) & 0x3ff;
        0x7c00 | if payload == 0 { 0x200 } else { payload }
    } else if magnitude >= 0x3880_0000 {
        // Normal f16 range (2^-14 and up): rebias the exponent and round the
        // 13 dropped bits to nearest even; a carry steps the exponent, up to
        // infinity.
        let lsb = (magnitude >> 13) & 1;
        ((magnitude - 0x3800_0000 + 0xfff + lsb) >> 13).min(0x7c00)
    } else {
        // Subnormal f16: the value in units of 2^-24 is the 24-bit
        // significand shifted right by 126 - exponent, rounded to nearest
        // even. (An f32 subnormal gets an implicit bit it lacks, but it is
        // shifted out whole either way: it rounds to zero.)
        let exponent = magnitude >> 23;
        let significand = (magnitude & 0x7f_ffff) | 0x80_0000;
        let shift = (126 - exponent).min(31);
        let quotient = significand >> shift;
        let remainder = significand - (quotient << shift);
        let half = 1 << (shift - 1);
        let up = remainder > half || (remainder == half && quotient & 1 == 1);
        quotient + u32::from(up)
    };
    (sign | rounded) as u16
}

/// The bf16 `bits` as an f32, exactly: they are its top 16 bits.
///
/// ```
/// use wgpu_activations::dtype::bf16_to_f32;
/// assert_eq!(bf16_to_f32(0x3f80), 1.0);
/// ```
pub fn bf16_to_f32(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// `x` rounded to bf16, to nearest even: f32's top 16 bits, rounded by the
/// low 16; past the largest finite bf16 to infinity, subnormals kept. NaNs
/// as [`f16_from_f32`]: sign and the top 7 payload bits kept, the quiet bit
/// set only if those are all zero.
///
/// ```
/// use wgpu_activations::dtype::bf16_from_f32;
/// assert_eq!(bf16_from_f32(1.0 + 1.0 / 256.0), 0x3f80); // a tie, to even
/// assert_eq!(bf16_from_f32(f32::MAX), 0x7f80); // +inf
/// ```
pub fn bf16_from_f32(x: f32) -> u16 {
    let bits = x.to_bits();
    if bits & 0x7fff_ffff > 0x7f80_0000 {
        let payload = (bits >> 16) & 0x7f;
        let top = (bits >> 16) & 0xff80;
        return (top | if payload == 0 { 0x40 } else { payload }) as u16;
    }
    let lsb = (bits >> 16) & 1;
    ((bits + 0x7fff + lsb) >> 16) as u16
}

/// Bytes of one word of a [`Mask`](crate::Mask): 32 elements' bits,
/// whatever the element type.
pub(crate) const MASK_WORD_BYTES: u64 = 4;

/// Bytes of the vector (a `vec4<u32>`) the element-wise kernels load and
/// store at once: four f32 elements or eight of a 16-bit type. Every tensor
/// is padded to whole vectors.
pub(crate) const VECTOR_BYTES: u64 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn is_nan16(dtype: DType, bits: u16) -> bool {
        dtype.value_of(u32::from(bits)).is_nan()
    }

    #[test]
    fn widening_and_narrowing_back_is_the_identity_on_every_16_bit_pattern() {
        for bits in 0..=u16::MAX {
            assert_eq!(f16_from_f32(f16_to_f32(bits)), bits, "f16 {bits:#06x}");
            assert_eq!(bf16_from_f32(bf16_to_f32(bits)), bits, "bf16 {bits:#06x}");
        }
    }

    #[test]
    fn widening_agrees_with_the_half_crate_which_quiets_signalling_nans() {
        for bits in 0..=u16::MAX {
            let ours = f16_to_f32(bits);
            let theirs = f16::from_bits(bits).to_f32();
            if ours.is_nan() {
                // half quiets; the payload and sign are the same.
                assert_eq!(ours.to_bits() | 0x0040_0000, theirs.to_bits() | 0x0040_0000);
            } else {
                assert_eq!(ours.to_bits(), theirs.to_bits(), "f16 {bits:#06x}");
            }
            let (ours, theirs) = (bf16_to_f32(bits), bf16::from_bits(bits).to_f32());
            let quiet = if ours.is_nan() { 0x0040_0000 } else { 0 };
            assert_eq!(
                ours.to_bits() | quiet,
                theirs.to_bits() | quiet,
                "bf16 {bits:#06x}"
            );
        }
    }

    /// Every f32's top 16 bits, each with low 16 bits that exercise both
    /// roundings: f16's 13 dropped bits at 0, 1, just under, at and just over
    /// the tie, and the largest, under every value of the 3 bits above them
    /// (bf16's tie, 0x8000, among them).
    fn narrowing_samples() -> impl Iterator<Item = u32> {
        (0..1u32 << 16).flat_map(|high| {
            (0..8u32).flat_map(move |middle| {
                [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff]
                    .into_iter()
                    .map(move |low| (high << 16) | (middle << 13) | low)
            })
        })
    }

    #[test]
    fn narrowing_agrees_with_the_half_crate_on_every_non_nan() {
        let mut checked = 0u64;
        for bits in narrowing_samples() {
            let x = f32::from_bits(bits);
            if x.is_nan() {
                continue;
            }
            assert_eq!(
                f16_from_f32(x),
                f16::from_f32(x).to_bits(),
                "f16 of {bits:#010x}"
            );
            assert_eq!(
                bf16_from_f32(x),
                bf16::from_f32(x).to_bits(),
                "bf16 of {bits:#010x}"
            );
            checked += 1;
        }
        assert!(checked > 3_000_000);
    }

    #[test]
    fn narrowing_a_nan_keeps_sign_and_top_payload_and_stays_a_nan() {
        for payload in [
            1u32, 0x1fff, 0x2000, 0x20_0000, 0x40_0000, 0x7f_ffff, 0x1_0000,
        ] {
            for sign in [0, 0x8000_0000] {
                let x = f32::from_bits(sign | 0x7f80_0000 | payload);
                for (dtype, bits) in [
                    (DType::F16, f16_from_f32(x)),
                    (DType::BF16, bf16_from_f32(x)),
                ] {
                    assert!(is_nan16(dtype, bits), "{dtype} of {:#010x}", x.to_bits());
                    assert_eq!(u32::from(bits >> 15), sign >> 31);
                }
                let kept = (payload >> 13) & 0x3ff;
                let expected = if kept == 0 { 0x200 } else { kept };
                assert_eq!(u32::from(f16_from_f32(x) & 0x3ff), expected);
            }
        }
    }

    #[test]
    fn narrowing_names_the_edges() {
        // The largest finite values, and the first values that round past them.
        assert_eq!(f16_from_f32(65504.0), 0x7bff);
        assert_eq!(f16_from_f32(65520.0), 0x7c00);
        assert_eq!(f16_from_f32(-65520.0), 0xfc00);
        assert_eq!(bf16_from_f32(f32::from_bits(0x7f7f_7fff)), 0x7f7f);
        assert_eq!(bf16_from_f32(f32::from_bits(0x7f7f_8000)), 0x7f80);
        // f16 subnormals: the smallest, the tie below it, the largest.
        assert_eq!(f16_from_f32(2f32.powi(-24)), 0x0001);
        assert_eq!(f16_from_f32(2f32.powi(-25)), 0x0000);
        assert_eq!(f16_from_f32(-(2f32.powi(-25) * 1.5)), 0x8001);
        assert_eq!(f16_from_f32(2f32.powi(-14) - 2f32.powi(-24)), 0x03ff);
        // bf16 keeps f32's subnormals.
        assert_eq!(bf16_from_f32(f32::from_bits(0x0001_0000)), 0x0001);
        assert_eq!(bf16_from_f32(f32::from_bits(0x0000_8000)), 0x0000);
        assert_eq!(bf16_from_f32(f32::from_bits(0x0000_8001)), 0x0001);
    }
}
