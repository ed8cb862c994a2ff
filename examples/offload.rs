//! Offload an activation to the GPU and verify it: the crate's first use case.
//!
//! ```sh
//! cargo run --release --example offload            # adapter from WGPU_BACKEND etc.
//! WGPU_BACKEND=gl cargo run --release --example offload
//! ```

use wgpu_activations::{Gpu, Tensor, check, cpu, sample};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let gpu = Gpu::new()?;
    println!("{}\n", gpu.info());

    // A million activations with NaNs, infinities, signed zeros and subnormals mixed in.
    let data = sample::activations(1 << 20, 2024);

    let x = Tensor::from_slice(&gpu, &data)?;
    let y = gpu.relu(&x)?; // stays on the GPU: could feed the next op
    let on_gpu = y.download()?;

    let report = check::compare_exact(
        check::Op::ReluForward,
        &data,
        &on_gpu,
        &cpu::relu_forward(&data),
    )?;
    println!(
        "relu over {} elements: {} mismatches against the CPU reference",
        report.compared, report.mismatches
    );
    if let Some(mismatch) = report.first_mismatch {
        return Err(format!("first mismatch: {mismatch}").into());
    }
    Ok(())
}
