//! Shared set-up for the integration tests.

#![allow(dead_code)]

use std::sync::OnceLock;

use wgpu_activations::Gpu;

/// The adapter `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` select, opened once per
/// test binary and shared by its tests (which also exercises `Gpu` across
/// threads).
///
/// With `CI` set, a missing adapter fails the test. Elsewhere the test is
/// skipped with a message on stderr, so that `cargo test` on a machine
/// without any driver still runs the adapter-free tests.
pub fn gpu() -> Option<Gpu> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    match GPU.get_or_init(|| Gpu::new().map_err(|e| e.to_string())) {
        Ok(gpu) => Some(gpu.clone()),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and no GPU adapter is available: {error}")
        }
        Err(error) => {
            eprintln!("SKIPPED: no GPU adapter ({error}); set CI=1 to make this a failure");
            None
        }
    }
}

/// Bit patterns of a slice, for exact comparisons with readable failures.
pub fn bits(values: &[f32]) -> Vec<u32> {
    values.iter().map(|v| v.to_bits()).collect()
}

/// Asserts `gpu` equals `cpu` bit for bit, naming the first differing element.
pub fn assert_bit_exact(what: &str, input: &[f32], gpu: &[f32], cpu: &[f32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: length");
    if let Some(i) = (0..cpu.len()).find(|&i| gpu[i].to_bits() != cpu[i].to_bits()) {
        let differing = (0..cpu.len())
            .filter(|&i| gpu[i].to_bits() != cpu[i].to_bits())
            .count();
        panic!(
            "{what}: {differing} of {} elements differ; first at {i}: input {:#010x}, gpu {:#010x}, cpu {:#010x}",
            cpu.len(),
            input[i].to_bits(),
            gpu[i].to_bits(),
            cpu[i].to_bits()
        );
    }
}
