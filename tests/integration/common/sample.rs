//! Seeded test data with every class of special value mixed in: the same
//! values the harness's `sample::activations` makes (the engine's tests do
//! not depend on the harness).

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use wgpu_activations::cpu::SPECIAL_BITS;

/// `len` values for an activation: the special values first (as many as
/// fit), then uniform values in [-4, 4) with one in 16 replaced by a random
/// special value. The same seed gives the same data on every machine.
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
