//! A device of a test's own and wgpu's object counters on it (the
//! `counters` feature, on in tests): what the prepared-op tests and the
//! frame soak count.

use wgpu_activations::{Gpu, GpuOptions};

use super::adapter::gpu;

/// A device of the caller's own on the adapter [`gpu`] selects (skipped the
/// same way when there is none), so that other tests running beside it do
/// not move its object counters.
pub fn own_gpu() -> Option<Gpu> {
    gpu()?;
    Some(Gpu::with_options(&GpuOptions::from_env().unwrap()).unwrap())
}

/// Buffers and bind groups alive on `gpu`'s device.
pub fn live_objects(gpu: &Gpu) -> (isize, isize) {
    let counters = gpu.device().get_internal_counters();
    (counters.hal.buffers.read(), counters.hal.bind_groups.read())
}
