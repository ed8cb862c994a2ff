//! Offload an activation to the GPU and verify it: the crate's first use case.
//!
//! ```sh
//! cargo run --release --example offload            # adapter from WGPU_BACKEND etc.
//! WGPU_BACKEND=gl cargo run --release --example offload
//! ```

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::{Gpu, Tensor, compare, cpu};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    println!("{}\n", gpu.info());

    // A million activations with NaNs, infinities, signed zeros and subnormals mixed in.
    let data = activations(1 << 20, 2024);

    let x = Tensor::from_slice(&gpu, &data)?;
    let y = gpu.relu(&x)?; // stays on the GPU: could feed the next op
    let on_gpu = y.download()?;

    let report = compare::exact(&data, &on_gpu, &cpu::relu_forward(&data))?;
    println!(
        "relu over {} elements: {} mismatches against the CPU reference",
        report.compared, report.mismatches
    );
    if let Some(mismatch) = report.first_mismatch {
        return Err(format!("first mismatch: {mismatch}").into());
    }
    Ok(())
}

/// Uniform values in [-4, 4) with every special value of the contract
/// (`cpu::SPECIAL_BITS`) in every 16th place.
fn activations(len: usize, seed: u64) -> Vec<f32> {
    let specials = cpu::special_values();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|i| match i % 16 {
            0 => specials[i / 16 % specials.len()],
            _ => rng.random_range(-4.0f32..4.0),
        })
        .collect()
}
