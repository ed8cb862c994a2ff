//! Seeded test data with every class of special value mixed in.

use rand::{Rng, SeedableRng};
use wgpu_activations::cpu::SPECIAL_BITS;

use rand_chacha::ChaCha8Rng;
pub use wgpu_activations::cpu::special_values;

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
