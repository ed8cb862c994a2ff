//! Helpers more than one topic of the integration tests uses. Helpers of one
//! topic live in its own module.

pub mod adapter;
pub mod arena;
pub mod checks;
pub mod counters;
pub mod devices;
pub mod recorded;
// The harness's seeded data, shared by path: one definition for the check
// command and the tests, without the engine's tests depending on the harness.
#[path = "../../../harness/src/sample.rs"]
pub mod sample;
pub mod stress;

use wgpu_activations::{Activation, Gpu, Tensor};

pub use adapter::gpu;
pub use arena::*;
pub use checks::*;
pub use devices::*;

/// Lengths every element-wise op is tested at: empty, tiny, around a mask
/// word (32), around the workgroup size (256), a prime past 65536, a large
/// prime.
pub const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 31, 32, 33, 255, 256, 257, 65_537, 1_000_003,
];

/// The ReLU family's activations the exact (bit for bit) and mask tests run:
/// its [`Activation::examples`] (one of every variant), plus a zero slope
/// (`0 * -inf` makes the canonical NaN), a negative slope and a subnormal
/// cap. The smooth activations have tests of their own (`smooth.rs`).
pub fn relu_family() -> Vec<Activation> {
    let mut all: Vec<Activation> = Activation::examples()
        .into_iter()
        .filter(|a| !a.is_smooth())
        .collect();
    all.extend([
        Activation::LeakyRelu { slope: 0.0 },
        Activation::LeakyRelu { slope: -1.5 },
        Activation::ClippedRelu { cap: 1e-40 },
    ]);
    all
}

/// A repeated round trip: `x` written, relu into `y`, `y` downloaded.
pub fn write_relu_download(gpu: &Gpu, x: &Tensor, data: &[f32], y: &Tensor, host: &mut [f32]) {
    x.write(data).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_relu(&mut encoder, x, y).unwrap();
    gpu.submit("relu", encoder).unwrap();
    y.download_into(host).unwrap();
}
