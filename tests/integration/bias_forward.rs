//! Fused bias + activation forward (`y`, and `y` with its mask), convenience
//! and recorded, against the CPU reference for every tested activation: at
//! `[rows, cols]` shapes from empty to past one dispatch dimension, with every
//! special value as input against every special value as bias, and each bad
//! operand's error, on whichever backend WGPU_BACKEND selects (CI runs Vulkan
//! and GL).
//!
//! A GPU may flush subnormal sums (and the leaky multiply) to zero, so each
//! element must equal the exact reference or the flushed one, nothing else.

use wgpu_activations::cpu;
use wgpu_activations::{Activation, Error, Gpu, GpuOptions, Mask, Tensor};

use crate::common::sample;
use crate::common::{
    BiasRefs, NARROW, assert_agrees, assert_bit_exact, assert_mask_within_flush, assert_unchanged,
    bias_values, gpu, gpu_with_options, gpu_with_shape, grid_at, relu_family, special_value_grid,
};

/// `[rows, cols]` shapes every activation is tested at: one element, one long
/// row, one long column, shapes ending mid mask word (3x5, 7x33), many rows of
/// a column count just past the workgroup size, and both empty shapes (no
/// rows; no columns, where the bias itself is empty).
const SHAPES: &[[usize; 2]] = &[
    [1, 1],
    [1, 1031],
    [4099, 1],
    [3, 5],
    [7, 33],
    [1000, 257],
    [0, 5],
    [5, 0],
];

/// Runs both convenience forms on `x` of `shape` and `b`, and checks `y`
/// (with and without mask) and the mask against the reference, and that the
/// two forms give the same `y`. Returns how many values and bits needed the
/// flush allowance.
fn check_forward(
    gpu: &Gpu,
    activation: Activation,
    x: &[f32],
    b: &[f32],
    shape: [usize; 2],
) -> usize {
    let [rows, cols] = shape;
    let what = format!("bias {activation} {rows}x{cols}");
    let reference = BiasRefs::new(activation, x, b);
    let x_tensor = Tensor::from_slice_with_shape(gpu, x, &shape).unwrap();
    let b_tensor = Tensor::from_slice(gpu, b).unwrap();

    let y = gpu
        .bias_activation(activation, &x_tensor, &b_tensor)
        .unwrap();
    assert_eq!(y.shape(), &shape, "{what}: y shape");
    let y = y.download().unwrap();
    let mut allowed = assert_agrees(
        &format!("{what}: y"),
        x,
        &y,
        &reference.y,
        &reference.y_flushed,
    );

    let (y_masked, mask) = gpu
        .bias_activation_with_mask(activation, &x_tensor, &b_tensor)
        .unwrap();
    assert_eq!(y_masked.shape(), &shape, "{what}: y (with mask) shape");
    assert_eq!(mask.len(), x.len(), "{what}: mask length");
    let y_masked = y_masked.download().unwrap();
    allowed += assert_agrees(
        &format!("{what}: y (with mask)"),
        x,
        &y_masked,
        &reference.y,
        &reference.y_flushed,
    );
    allowed += assert_mask_within_flush(
        &format!("{what}: mask"),
        x.len(),
        &mask.download().unwrap(),
        &reference.mask,
        &reference.mask_flushed,
    );
    // Both kernels do the same add and activation on one device, so they
    // agree bit for bit, flushed or not.
    assert_bit_exact(&format!("{what}: y without vs with mask"), x, &y, &y_masked);

    // The inputs are untouched.
    assert_unchanged(&format!("{what}: x"), &x_tensor, x);
    assert_unchanged(&format!("{what}: b"), &b_tensor, b);
    allowed
}

#[test]
fn bias_forward_matches_reference_at_every_shape() {
    let Some(gpu) = gpu() else { return };
    for (a, activation) in relu_family().into_iter().enumerate() {
        for (s, &shape) in SHAPES.iter().enumerate() {
            let [rows, cols] = shape;
            let seed = (a * 100 + s) as u64;
            let x = sample::activations(rows * cols, seed);
            let b = bias_values(cols, seed + 50);
            check_forward(&gpu, activation, &x, &b, shape);
        }
    }
}

/// Both ways of reading the bias give the same bits: from a storage buffer
/// (GPUs; every row wider than the uniform array) and from a uniform buffer
/// (CPU adapters, up to 16384 columns).
#[test]
fn bias_from_storage_and_from_uniform_agree_with_the_reference() {
    for uniform_bias in [false, true] {
        let Some(gpu) = gpu_with_options(GpuOptions {
            uniform_bias: Some(uniform_bias),
            ..GpuOptions::from_env().unwrap()
        }) else {
            return;
        };
        // Asked for, the uniform bias is used unless the adapter lacks a
        // 64 KiB uniform binding.
        let can = gpu.limits().max_uniform_buffer_binding_size >= 65536;
        assert_eq!(gpu.info().uniform_bias, uniform_bias && can);
        for (s, shape) in [[3, 5], [7, 33], [2, 16384], [2, 16385], [1, 20000]]
            .into_iter()
            .enumerate()
        {
            let [rows, cols] = shape;
            let x = sample::activations(rows * cols, 900 + s as u64);
            let b = bias_values(cols, 950 + s as u64);
            for activation in relu_family() {
                check_forward(&gpu, activation, &x, &b, shape);
            }
        }
    }
}

#[test]
fn bias_forward_past_one_dispatch_dimension() {
    let Some(gpu) = gpu_with_shape(NARROW) else {
        return;
    };
    let per_workgroup = gpu.info().kernel_shape.elements_per_workgroup();
    // 257 columns (not a power of two, so rows straddle workgroups) and just
    // enough rows that the element-wise dispatch needs more workgroups than
    // one dimension holds.
    let per_dimension = u64::from(gpu.info().max_compute_workgroups_per_dimension);
    let cols = 257;
    let rows = (per_dimension * per_workgroup / cols as u64 + 64) as usize;
    let len = rows * cols;
    assert!((len as u64).div_ceil(per_workgroup) > per_dimension);
    assert!(len as u64 * 4 <= gpu.info().max_storage_buffer_binding_size);
    let x = sample::activations(len, 21);
    let b = bias_values(cols, 22);
    // The parameterised examples only (not plain relu), to keep the runtime
    // sane: the uniform reaches the far workgroups too.
    let parameterised = relu_family().into_iter().filter(|&a| a != Activation::Relu);
    for activation in parameterised {
        check_forward(&gpu, activation, &x, &b, [rows, cols]);
    }
}

#[test]
fn every_special_value_plus_every_special_bias() {
    let Some(gpu) = gpu() else { return };
    let (x, specials, n) = special_value_grid();
    for activation in relu_family() {
        let flushed = check_forward(&gpu, activation, &x, &specials, [n, n]);
        eprintln!("{activation}: {flushed} of {} elements flushed", 3 * n * n);
    }

    // A few pairs spelled out, independent of the reference's code.
    let x_tensor = Tensor::from_slice_with_shape(&gpu, &x, &[n, n]).unwrap();
    let b_tensor = Tensor::from_slice(&gpu, &specials).unwrap();
    let y = gpu
        .bias_relu(&x_tensor, &b_tensor)
        .unwrap()
        .download()
        .unwrap();
    let at = |x_bits: u32, b_bits: u32| grid_at(&y, x_bits, b_bits);
    // inf - inf produces the canonical NaN, whatever the hardware's default.
    assert_eq!(at(0x7f80_0000, 0xff80_0000), cpu::CANONICAL_NAN_BITS);
    assert_eq!(at(0xff80_0000, 0x7f80_0000), cpu::CANONICAL_NAN_BITS);
    // x's NaN passes first, payload and sign kept; then b's.
    assert_eq!(at(0xffc0_0000, 0x7fc1_2345), 0xffc0_0000);
    assert_eq!(at(0x7f80_0001, 0xffff_ffff), 0x7f80_0001);
    assert_eq!(at(0x0000_0000, 0xff80_0001), 0xff80_0001);
    // -0 + -0 is -0, which relu makes +0; MAX + MAX overflows to inf.
    assert_eq!(at(0x8000_0000, 0x8000_0000), 0);
    assert_eq!(at(0x7f7f_ffff, 0x7f7f_ffff), 0x7f80_0000);
    assert_eq!(at(0xff7f_ffff, 0x7f7f_ffff), 0);
}

#[test]
fn bias_relu_is_bias_activation_of_relu() {
    let Some(gpu) = gpu() else { return };
    let x = sample::activations(7 * 33, 31);
    let b = bias_values(33, 32);
    let x_tensor = Tensor::from_slice_with_shape(&gpu, &x, &[7, 33]).unwrap();
    let b_tensor = Tensor::from_slice(&gpu, &b).unwrap();
    let general = gpu
        .bias_activation(Activation::Relu, &x_tensor, &b_tensor)
        .unwrap()
        .download()
        .unwrap();
    let relu = gpu
        .bias_relu(&x_tensor, &b_tensor)
        .unwrap()
        .download()
        .unwrap();
    assert_bit_exact("bias_relu", &x, &relu, &general);
    let (y, mask) = gpu.bias_relu_with_mask(&x_tensor, &b_tensor).unwrap();
    assert_bit_exact(
        "bias_relu_with_mask y",
        &x,
        &y.download().unwrap(),
        &general,
    );
    let reference = BiasRefs::new(Activation::Relu, &x, &b);
    assert_mask_within_flush(
        "bias_relu_with_mask mask",
        x.len(),
        &mask.download().unwrap(),
        &reference.mask,
        &reference.mask_flushed,
    );
}

#[test]
fn recorded_bias_forward_runs_in_the_callers_encoder_and_submit() {
    let Some(gpu) = gpu() else { return };
    let shape = [1000, 257];
    let len = shape[0] * shape[1];
    let activation = Activation::LeakyRelu { slope: -1.5 };
    let x = sample::activations(len, 41);
    let b = bias_values(shape[1], 42);
    let x_tensor = Tensor::from_slice_with_shape(&gpu, &x, &shape).unwrap();
    let b_tensor = Tensor::from_slice(&gpu, &b).unwrap();
    let y = Tensor::uninit(&gpu, &shape).unwrap();
    let y_masked = Tensor::uninit(&gpu, &shape).unwrap();
    let mask = Mask::uninit(&gpu, len).unwrap();
    let copy = Tensor::uninit(&gpu, &shape).unwrap();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_activation(&mut encoder, activation, &x_tensor, &b_tensor, &y, None)
        .unwrap();
    gpu.record_bias_activation(
        &mut encoder,
        activation,
        &x_tensor,
        &b_tensor,
        &y_masked,
        Some(&mask),
    )
    .unwrap();
    // The caller's own work after the op sees its result: recording keeps order.
    encoder.copy_buffer_to_buffer(y.buffer(), 0, copy.buffer(), 0, len as u64 * 4);
    gpu.queue().submit([encoder.finish()]);

    let reference = BiasRefs::new(activation, &x, &b);
    let y = y.download().unwrap();
    assert_agrees("recorded y", &x, &y, &reference.y, &reference.y_flushed);
    let y_masked = y_masked.download().unwrap();
    assert_agrees(
        "recorded y (with mask)",
        &x,
        &y_masked,
        &reference.y,
        &reference.y_flushed,
    );
    assert_bit_exact("recorded y without vs with mask", &x, &y, &y_masked);
    assert_mask_within_flush(
        "recorded mask",
        len,
        &mask.download().unwrap(),
        &reference.mask,
        &reference.mask_flushed,
    );
    assert_bit_exact("copy of recorded y", &x, &copy.download().unwrap(), &y);
}

#[test]
fn bias_of_another_length_than_cols_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    for bias_len in [4, 6, 15, 0] {
        let b = Tensor::from_slice(&gpu, &vec![0.5; bias_len]).unwrap();
        let expected = |error: &Error| {
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "bias (one per column of the input)",
                    expected: 5,
                    actual,
                } if *actual == bias_len
            )
        };
        let error = gpu.bias_relu(&x, &b).unwrap_err();
        assert!(expected(&error), "bias of {bias_len}: {error:?}");
        let error = gpu
            .bias_activation_with_mask(Activation::relu6(), &x, &b)
            .unwrap_err();
        assert!(expected(&error), "bias of {bias_len}, with mask: {error:?}");
    }
    // No columns: only an empty bias fits.
    let x = Tensor::uninit(&gpu, &[5, 0]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5]).unwrap();
    let error = gpu.bias_relu(&x, &b).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 0,
                actual: 1,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn recorded_output_or_mask_of_another_length_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    for y_len in [14, 16, 5] {
        let y = Tensor::uninit(&gpu, &[y_len]).unwrap();
        let error = gpu
            .record_bias_activation(&mut encoder, Activation::Relu, &x, &b, &y, None)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "output",
                    expected: 15,
                    actual,
                } if actual == y_len
            ),
            "output of {y_len}: {error:?}"
        );
    }
    let y = Tensor::uninit(&gpu, &[3, 5]).unwrap();
    // 14 and 16 take the same single word as 15: the element count decides.
    for mask_len in [14, 16, 0] {
        let mask = Mask::uninit(&gpu, mask_len).unwrap();
        let error = gpu
            .record_bias_activation(&mut encoder, Activation::Relu, &x, &b, &y, Some(&mask))
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "mask",
                    expected: 15,
                    actual,
                } if actual == mask_len
            ),
            "mask of {mask_len}: {error:?}"
        );
    }
}

#[test]
fn invalid_slope_or_cap_is_invalid_parameter() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let y = Tensor::uninit(&gpu, &[3, 5]).unwrap();
    let invalid = [
        (
            "leaky relu slope",
            Activation::LeakyRelu { slope: f32::NAN },
        ),
        (
            "leaky relu slope",
            Activation::LeakyRelu {
                slope: f32::INFINITY,
            },
        ),
        ("clipped relu cap", Activation::ClippedRelu { cap: 0.0 }),
        ("clipped relu cap", Activation::ClippedRelu { cap: -0.0 }),
        ("clipped relu cap", Activation::ClippedRelu { cap: -1.0 }),
        (
            "clipped relu cap",
            Activation::ClippedRelu { cap: f32::INFINITY },
        ),
        (
            "clipped relu cap",
            Activation::ClippedRelu { cap: f32::NAN },
        ),
    ];
    for (name, activation) in invalid {
        let is_invalid =
            |error: &Error| matches!(error, Error::InvalidParameter { name: n, .. } if *n == name);
        let error = gpu.bias_activation(activation, &x, &b).unwrap_err();
        assert!(is_invalid(&error), "{activation}: {error:?}");
        let error = gpu
            .bias_activation_with_mask(activation, &x, &b)
            .unwrap_err();
        assert!(is_invalid(&error), "{activation} with mask: {error:?}");
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let error = gpu
            .record_bias_activation(&mut encoder, activation, &x, &b, &y, None)
            .unwrap_err();
        assert!(is_invalid(&error), "{activation} recorded: {error:?}");
    }
}

#[test]
fn output_aliasing_an_input_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_bias_activation(&mut encoder, Activation::Relu, &x, &b, &x, None)
        .unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "y = x: {error:?}"
    );
    // One row: the bias is as long as x, so it can be passed as y too.
    let row = Tensor::from_slice_with_shape(&gpu, &[1.0; 5], &[1, 5]).unwrap();
    let error = gpu
        .record_bias_activation(&mut encoder, Activation::Relu, &row, &b, &b, None)
        .unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "y = b: {error:?}"
    );
}
