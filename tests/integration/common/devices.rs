//! Devices other than the shared one: other kernel shapes and options,
//! devices of a fresh `wgpu::Instance`, devices with small storage bindings.

use std::sync::OnceLock;

use wgpu_activations::{Gpu, GpuOptions, KernelShape};

use super::adapter::gpu;

/// A `Gpu` on the same adapter as [`gpu`] whose element-wise kernels run
/// with `shape` instead of the adapter's default.
pub fn gpu_with_shape(shape: KernelShape) -> Option<Gpu> {
    gpu_with_options(GpuOptions {
        kernel_shape: Some(shape),
        ..GpuOptions::from_env().unwrap()
    })
}

/// A `Gpu` on the same adapter as [`gpu`] (skipped the same way when there
/// is none) opened with `options`.
pub fn gpu_with_options(options: GpuOptions) -> Option<Gpu> {
    gpu()?;
    Some(Gpu::with_options(&options).unwrap())
}

/// The narrowest shape: one thread of one 32-element chunk per workgroup,
/// so that a dispatch needs more than 65535 workgroups from about 2M
/// elements on, well inside one storage binding.
pub const NARROW: KernelShape = KernelShape {
    workgroup_size: 1,
    chunks_per_invocation: 1,
};

/// An element count whose element-wise dispatch on `gpu` needs more than
/// 65535 workgroups in one dimension, yet fits one storage binding.
pub fn length_past_one_dispatch_dimension(gpu: &Gpu) -> usize {
    let per_workgroup = gpu.info().kernel_shape.elements_per_workgroup();
    let per_dimension = u64::from(gpu.info().max_compute_workgroups_per_dimension);
    let len = per_dimension * per_workgroup + 1_031;
    assert!(len.div_ceil(per_workgroup) > per_dimension);
    assert!(
        len * 4 <= gpu.info().max_storage_buffer_binding_size,
        "{len} elements do not fit one binding with shape {}",
        gpu.info().kernel_shape
    );
    len as usize
}

/// A fresh `wgpu::Instance` and the adapter on it that `WGPU_BACKEND`,
/// `WGPU_ADAPTER_NAME` and `WGPU_POWER_PREF` pick (as [`gpu`] does), for
/// tests that open devices of their own. `None` (skipped, or failed under
/// `CI`) the same way as [`gpu`].
pub fn instance_and_adapter() -> Option<(wgpu::Instance, wgpu::Adapter)> {
    gpu()?;
    let options = GpuOptions::from_env().unwrap();
    let mut descriptor = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    descriptor.backends = options.backends;
    let instance = wgpu::Instance::new(descriptor);
    let adapter = pollster::block_on(async {
        match options.adapter_name.as_deref() {
            Some(name) => {
                let name = name.to_lowercase();
                instance
                    .enumerate_adapters(options.backends)
                    .await
                    .into_iter()
                    .find(|a| a.get_info().name.to_lowercase().contains(&name))
            }
            None => instance
                .request_adapter(&wgpu::RequestAdapterOptions {
                    power_preference: options.power_preference,
                    ..Default::default()
                })
                .await
                .ok(),
        }
    })
    .expect("the adapter gpu() opened is there");
    Some((instance, adapter))
}

/// A `Gpu` on the adapter [`gpu`] picks (skipped, or failed under `CI`, the
/// same way when there is none) whose device was requested with
/// `max_storage_buffer_binding_size = bytes`, so that a small tensor is
/// already larger than one storage binding. Opened once per size per test
/// binary, through [`Gpu::from_device_with_options`] with the kernel options
/// of the environment (`WGPU_ACTIVATIONS_LAYOUT` among them), as [`gpu`].
pub fn small_binding_gpu(bytes: u64) -> Option<Gpu> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static OPENED: OnceLock<Mutex<HashMap<u64, Gpu>>> = OnceLock::new();
    let mut opened = OPENED.get_or_init(Default::default).lock().unwrap();
    if let Some(gpu) = opened.get(&bytes) {
        return Some(gpu.clone());
    }
    let (_instance, adapter) = instance_and_adapter()?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("small storage bindings"),
        required_limits: wgpu::Limits {
            max_storage_buffer_binding_size: bytes,
            ..adapter.limits()
        },
        ..Default::default()
    }))
    .unwrap_or_else(|error| panic!("a device with {bytes}-byte storage bindings: {error}"));
    let options = GpuOptions::from_env().unwrap();
    let gpu = Gpu::from_device_with_options(device, queue, &options).unwrap();
    assert_eq!(gpu.info().max_storage_buffer_binding_size, bytes);
    opened.insert(bytes, gpu.clone());
    Some(gpu)
}
