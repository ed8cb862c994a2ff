//! Seeded inputs for any op of [`Op::all`](wgpu_activations::Op::all), which
//! the engine's `verify` runs end to end: a new op or activation is covered
//! without editing the tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::HostInputs;

use super::sample;

/// Seeded inputs of `len` elements with special values mixed in
/// ([`sample::activations`]), and a seeded row length between 1 and 1031
/// (never more than `len`) for the bias ops.
pub fn generate_inputs(len: usize, seed: u64) -> HostInputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c015);
    let cols = rng.random_range(1..=1031usize).min(len.max(1));
    HostInputs {
        x: sample::activations(len, seed),
        dy: sample::activations(len, seed.wrapping_add(1)),
        bias: sample::activations(cols, seed.wrapping_add(2)),
    }
}
