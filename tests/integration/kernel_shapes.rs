//! Every element-wise op gives the same bits with every [`KernelShape`]:
//! workgroups of 1 to 256 threads (3, not a power of two) and 1 to 8 chunks of
//! 32 elements per thread, each on its own `Gpu` of the adapter WGPU_BACKEND
//! selects (CI runs Vulkan and GL), at lengths around a mask word, a vec4 and
//! the workgroups, on seeded data with every special value:
//! - relu out-of-place and in place, bit for bit;
//! - `activation_with_mask` for every tested activation (y as the reference,
//!   flushed subnormals allowed; mask words exact), and `activation` without;
//! - backward from the reference mask and from the saved input;
//! - fused bias + activation forward, with and without its mask, and the
//!   bias add alone, at `[rows, cols]` shapes;
//! - fused bias + activation backward (dx as the reference, db the same bits
//!   as the default shape's, since the bias-gradient kernels ignore the shape).
//!
//! Where the reference allows a flushed subnormal, every shape must still
//! agree with the first shape bit for bit. Also: invalid shapes are
//! `Error::InvalidParameter`, and the `"64x2"` text form parses.

use std::sync::OnceLock;

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Error, Gpu, GpuOptions, KernelLayout, KernelShape, Mask, Tensor};

use crate::common::sample;
use crate::common::{
    BiasRefs, assert_agrees, assert_bit_exact, assert_mask_exact, assert_mask_within_flush,
    backward_flushed, bias_values, bits, forward_flushed, gpu, gpu_with_shape, relu_family,
};

const fn shape(workgroup_size: u32, chunks_per_invocation: u32) -> KernelShape {
    KernelShape {
        workgroup_size,
        chunks_per_invocation,
    }
}

/// The shapes every op runs with: one thread of one chunk, a workgroup that
/// is not a power of two, a square, the CPU and GPU defaults, and each with
/// several chunks per thread.
const SHAPES: &[KernelShape] = &[
    shape(1, 1),
    shape(3, 1),
    shape(8, 8),
    shape(64, 1),
    shape(64, 3),
    shape(256, 1),
    shape(256, 4),
];

/// Empty; below, at and past one vec4 (4) and one chunk (32); either side of
/// 256; a multiple of 4 but not of 32 (1000); just past 4096; an odd length
/// past 65536 (more than one 256x4 workgroup's 32768 elements).
const LENGTHS: &[usize] = &[0, 1, 3, 4, 5, 31, 32, 33, 255, 257, 1000, 4097, 70_001];

/// Columns of the fused bias ops: one, odd, one vec4, just past a mask word,
/// a wide row, and a row wider than 16384 columns (64 KiB, the most a
/// uniform buffer must hold, so the bias cannot always live in one).
const BIAS_COLS: &[usize] = &[1, 3, 4, 33, 1024, 16_411];

/// One `Gpu` per shape the device allows, opened once for the whole binary
/// (so each shape's pipelines compile once), or `None` without an adapter.
fn shaped_gpus() -> Option<&'static [(KernelShape, Gpu)]> {
    let default = gpu()?;
    static GPUS: OnceLock<Vec<(KernelShape, Gpu)>> = OnceLock::new();
    let gpus = GPUS.get_or_init(|| {
        let limits = default.limits();
        let max = limits
            .max_compute_invocations_per_workgroup
            .min(limits.max_compute_workgroup_size_x);
        let mut gpus = Vec::new();
        for &shape in SHAPES {
            if shape.workgroup_size > max {
                eprintln!("shape {shape}: skipped, the device allows {max} invocations");
                continue;
            }
            let gpu = gpu_with_shape(shape).expect("the default adapter opened");
            assert_eq!(gpu.info().kernel_shape, shape, "shape the Gpu reports");
            gpus.push((shape, gpu));
        }
        assert!(
            gpus.len() >= 5,
            "only {} of {} shapes fit the device (max {max} invocations)",
            gpus.len(),
            SHAPES.len()
        );
        gpus
    });
    Some(gpus)
}

/// Remembers the first shape's bits of one result and asserts every later
/// shape's are the same.
#[derive(Default)]
struct SameBits {
    first: Option<(KernelShape, Vec<u32>)>,
}

impl SameBits {
    fn check(&mut self, what: &str, shape: KernelShape, result: Vec<u32>) {
        match &self.first {
            None => self.first = Some((shape, result)),
            Some((first_shape, first)) => {
                assert_eq!(first.len(), result.len(), "{what}: length");
                if let Some(i) = (0..first.len()).find(|&i| first[i] != result[i]) {
                    panic!(
                        "{what}: shape {shape} differs from shape {first_shape} at {i}: \
                         {:#010x} vs {:#010x}",
                        result[i], first[i]
                    );
                }
            }
        }
    }
}

#[test]
fn relu_is_the_same_bits_with_every_shape() {
    let Some(gpus) = shaped_gpus() else { return };
    for &len in LENGTHS {
        let input = sample::activations(len, len as u64);
        let expected = cpu::relu_forward(&input);
        for (shape, gpu) in gpus {
            let what = format!("relu {shape} len {len}");
            let x = Tensor::from_slice(gpu, &input).unwrap();
            let y = gpu.relu(&x).unwrap().download().unwrap();
            assert_bit_exact(&what, &input, &y, &expected);

            let mut in_place = Tensor::from_slice(gpu, &input).unwrap();
            gpu.relu_in_place(&mut in_place).unwrap();
            assert_bit_exact(
                &format!("{what} in place"),
                &input,
                &in_place.download().unwrap(),
                &expected,
            );
        }
    }
}

#[test]
fn activation_with_mask_is_the_same_bits_with_every_shape() {
    let Some(gpus) = shaped_gpus() else { return };
    for (a, activation) in relu_family().into_iter().enumerate() {
        for &len in LENGTHS {
            let input = sample::activations(len, (a * 1000 + len) as u64);
            let (expected_y, expected_mask) = cpu::forward_with_mask(activation, &input);
            let flushed_y = forward_flushed(activation, &input);
            let mut same = SameBits::default();
            for (shape, gpu) in gpus {
                let what = format!("{activation} with mask {shape} len {len}");
                let x = Tensor::from_slice(gpu, &input).unwrap();
                let (y, mask) = gpu.activation_with_mask(activation, &x).unwrap();
                let y = y.download().unwrap();
                assert_agrees(&what, &input, &y, &expected_y, &flushed_y);
                assert_mask_exact(&what, &mask.download().unwrap(), &expected_mask);
                same.check(&what, *shape, bits(&y));
                // The kernel without the mask: the same bits.
                let plain = gpu.activation(activation, &x).unwrap().download().unwrap();
                assert_bit_exact(&format!("{what}: without mask"), &input, &plain, &y);
            }
        }
    }
}

#[test]
fn backward_is_the_same_bits_with_every_shape() {
    let Some(gpus) = shaped_gpus() else { return };
    for (a, activation) in relu_family().into_iter().enumerate() {
        for &len in LENGTHS {
            let seed = (a * 1000 + len) as u64;
            let x_data = sample::activations(len, seed);
            let dy_data = sample::activations(len, seed + 500);
            let (_, mask_words) = cpu::forward_with_mask(activation, &x_data);
            let expected = cpu::backward(activation, &dy_data, &mask_words);
            let flushed = backward_flushed(activation, &dy_data, &mask_words);
            let mut same_from_mask = SameBits::default();
            let mut same_from_input = SameBits::default();
            for (shape, gpu) in gpus {
                let what = format!("{activation} backward {shape} len {len}");
                let dy = Tensor::from_slice(gpu, &dy_data).unwrap();
                let mask = Mask::from_words(gpu, &mask_words, len).unwrap();
                let from_mask = gpu
                    .activation_backward(activation, &dy, &mask)
                    .unwrap()
                    .download()
                    .unwrap();
                let what_mask = format!("{what} from mask");
                assert_agrees(&what_mask, &dy_data, &from_mask, &expected, &flushed);
                same_from_mask.check(&what_mask, *shape, bits(&from_mask));

                let x = Tensor::from_slice(gpu, &x_data).unwrap();
                let from_input = gpu
                    .activation_backward_from_input(activation, &dy, &x)
                    .unwrap()
                    .download()
                    .unwrap();
                let what_input = format!("{what} from input");
                assert_agrees(&what_input, &dy_data, &from_input, &expected, &flushed);
                same_from_input.check(&what_input, *shape, bits(&from_input));
            }
        }
    }
}

/// The `[rows, cols]` shapes of the fused bias ops: for each column count,
/// about each of [`LENGTHS`] elements in at least one row, plus zero rows.
fn bias_shapes() -> Vec<[usize; 2]> {
    let mut shapes = Vec::new();
    for &cols in BIAS_COLS {
        shapes.push([0, cols]);
        for &len in LENGTHS.iter().filter(|&&len| len > 0) {
            let rows = (len / cols).max(1);
            if !shapes.contains(&[rows, cols]) {
                shapes.push([rows, cols]);
            }
        }
    }
    shapes
}

#[test]
fn bias_forward_with_mask_is_the_same_bits_with_every_shape() {
    let Some(gpus) = shaped_gpus() else { return };
    for (a, activation) in relu_family().into_iter().enumerate() {
        for (s, [rows, cols]) in bias_shapes().into_iter().enumerate() {
            let len = rows * cols;
            let seed = (a * 1000 + s) as u64;
            let x_data = sample::activations(len, seed);
            let b_data = bias_values(cols, seed + 500);
            let refs = BiasRefs::new(activation, &x_data, &b_data);
            let mut same_y = SameBits::default();
            let mut same_mask = SameBits::default();
            for (shape, gpu) in gpus {
                let what = format!("bias {activation} with mask {shape} at {rows}x{cols}");
                let x = Tensor::from_slice_with_shape(gpu, &x_data, &[rows, cols]).unwrap();
                let b = Tensor::from_slice(gpu, &b_data).unwrap();
                let (y, mask) = gpu.bias_activation_with_mask(activation, &x, &b).unwrap();
                let y = y.download().unwrap();
                let mask = mask.download().unwrap();
                assert_agrees(&format!("{what}: y"), &x_data, &y, &refs.y, &refs.y_flushed);
                assert_mask_within_flush(
                    &format!("{what}: mask"),
                    len,
                    &mask,
                    &refs.mask,
                    &refs.mask_flushed,
                );
                same_y.check(&format!("{what}: y"), *shape, bits(&y));
                same_mask.check(&format!("{what}: mask"), *shape, mask);
                // The kernel without the mask: the same bits.
                let plain = gpu
                    .bias_activation(activation, &x, &b)
                    .unwrap()
                    .download()
                    .unwrap();
                assert_bit_exact(&format!("{what}: without mask"), &x_data, &plain, &y);
            }
        }
    }
}

#[test]
fn bias_add_is_the_same_bits_with_every_shape() {
    let Some(gpus) = shaped_gpus() else { return };
    for (s, [rows, cols]) in bias_shapes().into_iter().enumerate() {
        let len = rows * cols;
        let seed = s as u64 + 3000;
        let x_data = sample::activations(len, seed);
        let b_data = bias_values(cols, seed + 500);
        let expected = cpu::bias_add(&x_data, &b_data, Subnormals::Preserve);
        let flushed = cpu::bias_add(&x_data, &b_data, Subnormals::FlushToZero);
        let mut same = SameBits::default();
        for (shape, gpu) in gpus {
            let what = format!("bias add {shape} at {rows}x{cols}");
            let x = Tensor::from_slice_with_shape(gpu, &x_data, &[rows, cols]).unwrap();
            let b = Tensor::from_slice(gpu, &b_data).unwrap();
            let y = gpu.bias_add(&x, &b).unwrap().download().unwrap();
            assert_agrees(&what, &x_data, &y, &expected, &flushed);
            same.check(&what, *shape, bits(&y));
        }
    }
}

#[test]
fn bias_backward_is_the_same_bits_with_every_shape() {
    let Some(default) = gpu() else { return };
    let Some(gpus) = shaped_gpus() else { return };
    for (a, activation) in relu_family().into_iter().enumerate() {
        for (s, [rows, cols]) in bias_shapes().into_iter().enumerate() {
            let len = rows * cols;
            let seed = (a * 1000 + s) as u64 + 7;
            let dy_data = sample::activations(len, seed);
            let x_data = sample::activations(len, seed + 1);
            let b_data = bias_values(cols, seed + 2);
            let (_, mask_words) = cpu::bias_forward_with_mask(activation, &x_data, &b_data);
            let expected = cpu::backward(activation, &dy_data, &mask_words);
            let flushed = backward_flushed(activation, &dy_data, &mask_words);
            let run = |gpu: &Gpu| {
                let dy = Tensor::from_slice_with_shape(gpu, &dy_data, &[rows, cols]).unwrap();
                let mask = Mask::from_words(gpu, &mask_words, len).unwrap();
                let (dx, db) = gpu
                    .bias_activation_backward(activation, &dy, &mask)
                    .unwrap();
                (dx.download().unwrap(), db.download().unwrap())
            };
            let (default_dx, default_db) = run(&default);
            assert_agrees(
                &format!("bias {activation} backward (default shape) at {rows}x{cols}: dx"),
                &dy_data,
                &default_dx,
                &expected,
                &flushed,
            );
            for (shape, gpu) in gpus {
                let what = format!("bias {activation} backward {shape} at {rows}x{cols}");
                let (dx, db) = run(gpu);
                assert_agrees(&format!("{what}: dx"), &dy_data, &dx, &expected, &flushed);
                // One adapter, the same kernel: the default shape's bits.
                assert_bit_exact(&format!("{what}: dx"), &dy_data, &dx, &default_dx);
                assert_bit_exact(&format!("{what}: db"), &b_data, &db, &default_db);
            }
        }
    }
}

#[test]
fn invalid_shapes_are_invalid_parameter() {
    let Some(default) = gpu() else { return };
    let invalid = [
        (shape(0, 1), "kernel shape's workgroup size"),
        (shape(257, 1), "kernel shape's workgroup size"),
        (shape(u32::MAX, 1), "kernel shape's workgroup size"),
        (shape(64, 0), "kernel shape's chunks per invocation"),
        (shape(0, 0), "kernel shape's workgroup size"),
    ];
    for (bad, name) in invalid {
        let options = GpuOptions {
            kernel_shape: Some(bad),
            ..GpuOptions::from_env().unwrap()
        };
        let error = Gpu::with_options(&options).unwrap_err();
        assert!(
            matches!(error, Error::InvalidParameter { name: n, .. } if n == name),
            "{bad:?} through with_options: {error:?}"
        );
        let error =
            Gpu::from_device_with_shape(default.device().clone(), default.queue().clone(), bad)
                .unwrap_err();
        assert!(
            matches!(error, Error::InvalidParameter { name: n, .. } if n == name),
            "{bad:?} through from_device_with_shape: {error:?}"
        );
    }
    // The edges of the legal range open.
    for good in [shape(1, 1), shape(1, 1000)] {
        let gpu =
            Gpu::from_device_with_shape(default.device().clone(), default.queue().clone(), good)
                .unwrap();
        assert_eq!(gpu.info().kernel_shape, good);
    }
}

#[test]
fn kernel_shapes_parse_from_text() {
    let parsed: KernelShape = "64x2".parse().unwrap();
    assert_eq!(parsed, shape(64, 2));
    assert_eq!(parsed.to_string(), "64x2");
    assert_eq!(parsed.elements_per_workgroup(), 64 * 2 * 32);
    assert_eq!("256x1".parse::<KernelShape>().unwrap(), KernelShape::GPU);
    assert_eq!("64x1".parse::<KernelShape>().unwrap(), KernelShape::CPU);
    for text in ["64", "x2", "axb", "", "64x", "64x2x3", "-1x2", "64*2"] {
        let error = text.parse::<KernelShape>().unwrap_err();
        assert!(
            matches!(&error, Error::InvalidKernelShape(t) if t == text),
            "{text:?}: {error:?}"
        );
    }
}

#[test]
fn a_wrapped_device_takes_the_kernel_options_it_is_given() {
    let Some(default) = gpu() else { return };
    let (device, queue) = (default.device().clone(), default.queue().clone());
    // The defaults: uniform bias exactly on CPU adapters (where the limit allows).
    let plain = Gpu::from_device(device.clone(), queue.clone()).unwrap();
    let is_cpu = plain.info().device_type == wgpu::DeviceType::Cpu;
    assert_eq!(plain.info().uniform_bias, is_cpu);
    assert_eq!(
        plain.info().kernel_variant.layout,
        KernelLayout::for_device_type(plain.info().device_type)
    );
    let x_data = sample::activations(3 * 1031, 5);
    let b_data = sample::activations(1031, 6);
    let expected = cpu::bias_forward(wgpu_activations::Activation::Relu, &x_data, &b_data);
    let flushed: Vec<f32> = cpu::bias_add(&x_data, &b_data, Subnormals::FlushToZero)
        .into_iter()
        .map(cpu::relu)
        .collect();
    for (uniform_bias, shape, layout) in [
        (false, shape(32, 2), KernelLayout::Coalesced),
        (true, shape(64, 1), KernelLayout::Chunked),
    ] {
        let options = GpuOptions {
            uniform_bias: Some(uniform_bias),
            kernel_shape: Some(shape),
            kernel_layout: Some(layout),
            ..GpuOptions::default()
        };
        let gpu = Gpu::from_device_with_options(device.clone(), queue.clone(), &options).unwrap();
        assert_eq!(gpu.info().uniform_bias, uniform_bias);
        assert_eq!(gpu.info().kernel_shape, shape);
        assert_eq!(gpu.info().kernel_variant.layout, layout);
        let x = Tensor::from_slice_with_shape(&gpu, &x_data, &[3, 1031]).unwrap();
        let b = Tensor::from_slice(&gpu, &b_data).unwrap();
        let y = gpu.bias_relu(&x, &b).unwrap().download().unwrap();
        crate::common::assert_agrees("bias_relu", &x_data, &y, &expected, &flushed);
    }
}
