//! Shared set-up for the integration tests.

#![allow(dead_code)]

use std::sync::OnceLock;

use wgpu_activations::{Activation, Gpu, GpuOptions, KernelShape, check};

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

/// Lengths every element-wise op is tested at: empty, tiny, around a mask
/// word (32), around the workgroup size (256), a prime past 65536, a large
/// prime.
pub const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 31, 32, 33, 255, 256, 257, 65_537, 1_000_003,
];

/// The activations each family is tested with: the `check` command's three,
/// plus a zero slope (0 * -inf makes the canonical NaN), a negative slope and
/// a subnormal cap.
pub fn activations() -> Vec<Activation> {
    let mut all = check::Op::ACTIVATIONS.to_vec();
    all.extend([
        Activation::LeakyRelu { slope: 0.0 },
        Activation::LeakyRelu { slope: -1.5 },
        Activation::ClippedRelu { cap: 1e-40 },
    ]);
    all
}

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

/// Asserts each element of `gpu` equals `exact` bit for bit, or else
/// `flushed` (the reference with subnormals flushed to zero), the one
/// deviation the contract allows where an op does float arithmetic. Returns
/// how many elements needed the allowance.
pub fn assert_agrees(
    what: &str,
    input: &[f32],
    gpu: &[f32],
    exact: &[f32],
    flushed: &[f32],
) -> usize {
    assert_eq!(gpu.len(), exact.len(), "{what}: length");
    let mut allowed = 0;
    for i in 0..exact.len() {
        let g = gpu[i].to_bits();
        if g == exact[i].to_bits() {
            continue;
        }
        assert_eq!(
            g,
            flushed[i].to_bits(),
            "{what}: element {i}: input {:#010x}, gpu {g:#010x}, cpu {:#010x} (flushed {:#010x})",
            input[i].to_bits(),
            exact[i].to_bits(),
            flushed[i].to_bits()
        );
        allowed += 1;
    }
    allowed
}

/// Asserts two packed masks of `len` elements are the same words, unused
/// bits of the last word included (they must be zero).
pub fn assert_mask_exact(what: &str, gpu: &[u32], cpu: &[u32]) {
    assert_eq!(gpu.len(), cpu.len(), "{what}: words");
    if let Some(w) = (0..cpu.len()).find(|&w| gpu[w] != cpu[w]) {
        panic!(
            "{what}: word {w} (elements {}..{}): gpu {:#034b}, cpu {:#034b}",
            w * 32,
            w * 32 + 32,
            gpu[w],
            cpu[w]
        );
    }
}

/// Every special value added to every special value: x is `[n, n]` with
/// row r holding special value r, b is the special values, so element
/// (r, c) of `x + b` is `specials[r] + specials[c]`, every pair once.
/// Returns `(x, b, n)`.
pub fn special_value_grid() -> (Vec<f32>, Vec<f32>, usize) {
    let specials = wgpu_activations::sample::special_values();
    let n = specials.len();
    let x = specials
        .iter()
        .flat_map(|&v| std::iter::repeat_n(v, n))
        .collect();
    (x, specials, n)
}

/// The bits of a [`special_value_grid`] result at the pair (x, b), each
/// given as the bits of a special value.
pub fn grid_at(y: &[f32], x_bits: u32, b_bits: u32) -> u32 {
    let bits = wgpu_activations::sample::SPECIAL_BITS;
    let r = bits.iter().position(|&s| s == x_bits).unwrap();
    let c = bits.iter().position(|&s| s == b_bits).unwrap();
    y[r * bits.len() + c].to_bits()
}

/// A bias of `cols` values. Long rows get the sample data as is (its special
/// values first); short ones skip the leading specials, since a bias that is
/// all NaN would make every output NaN and test nothing else (the 21x21 grid
/// of [`special_value_grid`] pairs every special value with every other).
pub fn bias_values(cols: usize, seed: u64) -> Vec<f32> {
    let specials = wgpu_activations::sample::SPECIAL_BITS.len();
    let skip = if cols > 2 * specials { 0 } else { specials };
    wgpu_activations::sample::activations(cols + skip, seed)[skip..].to_vec()
}

/// Asserts an input tensor still holds `data` after an op.
pub fn assert_unchanged(what: &str, tensor: &wgpu_activations::Tensor, data: &[f32]) {
    assert_bit_exact(
        &format!("{what} after"),
        data,
        &tensor.download().unwrap(),
        data,
    );
}
