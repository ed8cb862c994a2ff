//! Seeded test data with every class of special value mixed in.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

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

/// `len` values for an activation: the special values first (as many as fit),
/// then uniform values in [-4, 4) with one in 16 replaced by a random special
/// value. The same seed gives the same data on every machine.
pub fn activations(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|i| {
            if i < SPECIAL_BITS.len() {
                f32::from_bits(SPECIAL_BITS[i])
            } else if rng.random_ratio(1, 16) {
                f32::from_bits(SPECIAL_BITS[rng.random_range(0..SPECIAL_BITS.len())])
            } else {
                rng.random_range(-4.0f32..4.0)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_data_and_specials_come_first() {
        let a = activations(1000, 7);
        let b = activations(1000, 7);
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        for (value, bits) in a.iter().zip(SPECIAL_BITS) {
            assert_eq!(value.to_bits(), *bits);
        }
        assert_ne!(activations(1000, 8)[100].to_bits(), a[100].to_bits());
    }
}
