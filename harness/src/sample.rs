//! Seeded test data with every class of special value mixed in.
//!
//! The engine's integration tests use this same file (by `#[path]`, not by
//! depending on the harness), so the check command and the tests draw the
//! same data from one definition.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::HostInputs;

pub use wgpu_activations::cpu::SPECIAL_BITS;

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

/// Seeded inputs of `len` elements for any op ([`activations`] for `x`, `dy`
/// and the bias), with a seeded row length between 1 and 1031 (never more
/// than `len`) for the bias ops.
pub fn inputs(len: usize, seed: u64) -> HostInputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c015);
    let cols = rng.random_range(1..=1031usize).min(len.max(1));
    HostInputs {
        x: activations(len, seed),
        dy: activations(len, seed.wrapping_add(1)),
        bias: activations(cols, seed.wrapping_add(2)),
    }
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
