//! The bias add alone (`Gpu::bias_add`, `Gpu::record_bias_add`) against
//! `cpu::bias_add` on whichever backend WGPU_BACKEND selects (CI runs Vulkan
//! and GL): at `[rows, cols]` shapes from empty to a row wider than 16384
//! columns, with every special value plus every special bias, past one
//! dispatch dimension, recorded in order with the caller's own work, and each
//! bad operand's error.
//!
//! A GPU may flush subnormal operands and sums to zero, so each element must
//! equal the exact reference (`Subnormals::Preserve`) or the flushed one
//! (`Subnormals::FlushToZero`), nothing else.

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Error, Gpu, Tensor};

use crate::common::sample;
use crate::common::{
    NARROW, assert_agrees, assert_bit_exact, assert_unchanged, bias_values, gpu, gpu_with_shape,
    grid_at, special_value_grid,
};

/// One element, one long row, one long column, shapes ending mid mask word
/// and mid vec4 (3x5, 7x33), many rows of a column count just past 256, both
/// empty shapes (no rows; no columns, where the bias itself is empty), and a
/// row wider than 16384 columns (64 KiB, the most a uniform buffer must
/// hold).
const SHAPES: &[[usize; 2]] = &[
    [1, 1],
    [1, 1031],
    [4099, 1],
    [3, 5],
    [7, 33],
    [1000, 257],
    [0, 5],
    [5, 0],
    [2, 16_411],
];

/// Runs the convenience and the recorded form on `x` of `shape` and `b`,
/// checks both against the reference and each other, and the inputs are
/// untouched. Returns how many elements needed the flush allowance.
fn check_bias_add(gpu: &Gpu, x: &[f32], b: &[f32], shape: [usize; 2]) -> usize {
    let [rows, cols] = shape;
    let what = format!("bias add {rows}x{cols}");
    let exact = cpu::bias_add(x, b, Subnormals::Preserve);
    let flushed = cpu::bias_add(x, b, Subnormals::FlushToZero);
    let x_tensor = Tensor::from_slice_with_shape(gpu, x, &shape).unwrap();
    let b_tensor = Tensor::from_slice(gpu, b).unwrap();

    let y = gpu.bias_add(&x_tensor, &b_tensor).unwrap();
    assert_eq!(y.shape(), &shape, "{what}: shape");
    let y = y.download().unwrap();
    let allowed = assert_agrees(&what, x, &y, &exact, &flushed);

    let recorded = Tensor::uninit(gpu, &shape).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_add(&mut encoder, &x_tensor, &b_tensor, &recorded)
        .unwrap();
    gpu.queue().submit([encoder.finish()]);
    let recorded = recorded.download().unwrap();
    assert_agrees(&format!("{what} recorded"), x, &recorded, &exact, &flushed);
    // One kernel on one device: the same bits, flushed or not.
    assert_bit_exact(&format!("{what}: recorded vs not"), x, &recorded, &y);

    assert_unchanged(&format!("{what}: x"), &x_tensor, x);
    assert_unchanged(&format!("{what}: b"), &b_tensor, b);
    allowed
}

#[test]
fn bias_add_matches_reference_at_every_shape() {
    let Some(gpu) = gpu() else { return };
    for (s, &shape) in SHAPES.iter().enumerate() {
        let [rows, cols] = shape;
        let x = sample::activations(rows * cols, s as u64);
        let b = bias_values(cols, s as u64 + 50);
        check_bias_add(&gpu, &x, &b, shape);
    }
}

#[test]
fn every_special_value_plus_every_special_bias() {
    let Some(gpu) = gpu() else { return };
    let (x, specials, n) = special_value_grid();
    let flushed = check_bias_add(&gpu, &x, &specials, [n, n]);
    eprintln!("{flushed} of {} sums flushed", n * n);

    // A few pairs spelled out, independent of the reference's code.
    let x_tensor = Tensor::from_slice_with_shape(&gpu, &x, &[n, n]).unwrap();
    let b_tensor = Tensor::from_slice(&gpu, &specials).unwrap();
    let y = gpu
        .bias_add(&x_tensor, &b_tensor)
        .unwrap()
        .download()
        .unwrap();
    let at = |x_bits: u32, b_bits: u32| grid_at(&y, x_bits, b_bits);
    // inf - inf produces the canonical NaN, whatever the hardware's default.
    assert_eq!(at(0x7f80_0000, 0xff80_0000), cpu::CANONICAL_NAN_BITS);
    assert_eq!(at(0xff80_0000, 0x7f80_0000), cpu::CANONICAL_NAN_BITS);
    // x's NaN passes first, payload and sign kept (signalling ones too);
    // then b's.
    assert_eq!(at(0xffc0_0000, 0x7fc1_2345), 0xffc0_0000);
    assert_eq!(at(0x7f80_0001, 0xffff_ffff), 0x7f80_0001);
    assert_eq!(at(0x7fbf_ffff, 0x7f80_0000), 0x7fbf_ffff);
    assert_eq!(at(0x0000_0000, 0xff80_0001), 0xff80_0001);
    assert_eq!(at(0xff80_0000, 0x7fc1_2345), 0x7fc1_2345);
    // Signed zeros: -0 + -0 is -0 (no relu here), -0 + +0 is +0.
    assert_eq!(at(0x8000_0000, 0x8000_0000), 0x8000_0000);
    assert_eq!(at(0x8000_0000, 0x0000_0000), 0);
    assert_eq!(at(0x0000_0000, 0x8000_0000), 0);
    // Overflow to inf, exact cancellation to +0, inf absorbs MAX.
    assert_eq!(at(0x7f7f_ffff, 0x7f7f_ffff), 0x7f80_0000);
    assert_eq!(at(0xff7f_ffff, 0xff7f_ffff), 0xff80_0000);
    assert_eq!(at(0xff7f_ffff, 0x7f7f_ffff), 0);
    assert_eq!(at(0xff80_0000, 0x7f7f_ffff), 0xff80_0000);
    assert_eq!(at(0x0080_0000, 0x8080_0000), 0);
}

#[test]
fn bias_add_past_one_dispatch_dimension() {
    let Some(gpu) = gpu_with_shape(NARROW) else {
        return;
    };
    let per_workgroup = gpu.info().kernel_shape.elements_per_workgroup();
    let per_dimension = u64::from(gpu.info().max_compute_workgroups_per_dimension);
    // 257 columns (rows straddle workgroups) and just enough rows that the
    // dispatch needs more workgroups than one dimension holds.
    let cols = 257;
    let rows = (per_dimension * per_workgroup / cols as u64 + 64) as usize;
    let len = rows * cols;
    assert!((len as u64).div_ceil(per_workgroup) > per_dimension);
    assert!(len as u64 * 4 <= gpu.info().max_storage_buffer_binding_size);
    let x = sample::activations(len, 61);
    let b = bias_values(cols, 62);
    check_bias_add(&gpu, &x, &b, [rows, cols]);
}

/// Recording keeps order: the caller's work after a bias add sees its result,
/// and a bias changed between two recorded adds reaches only the second.
#[test]
fn recorded_bias_add_is_ordered_with_the_callers_work() {
    let Some(gpu) = gpu() else { return };
    let shape = [300, 33];
    let len = shape[0] * shape[1];
    let bytes = len as u64 * 4;
    let x_data = sample::activations(len, 70);
    let b1 = bias_values(shape[1], 71);
    let b2 = bias_values(shape[1], 72);
    let x = Tensor::from_slice_with_shape(&gpu, &x_data, &shape).unwrap();
    let b = Tensor::from_slice(&gpu, &b1).unwrap();
    let b2_tensor = Tensor::from_slice(&gpu, &b2).unwrap();
    let y1 = Tensor::uninit(&gpu, &shape).unwrap();
    let y2 = Tensor::uninit(&gpu, &shape).unwrap();
    let copy = Tensor::uninit(&gpu, &shape).unwrap();
    let relu = Tensor::uninit(&gpu, &shape).unwrap();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_add(&mut encoder, &x, &b, &y1).unwrap();
    encoder.copy_buffer_to_buffer(y1.buffer(), 0, copy.buffer(), 0, bytes);
    gpu.record_relu(&mut encoder, &y1, &relu).unwrap();
    encoder.copy_buffer_to_buffer(b2_tensor.buffer(), 0, b.buffer(), 0, b2.len() as u64 * 4);
    gpu.record_bias_add(&mut encoder, &x, &b, &y2).unwrap();
    gpu.queue().submit([encoder.finish()]);

    let y1 = y1.download().unwrap();
    assert_agrees(
        "first add",
        &x_data,
        &y1,
        &cpu::bias_add(&x_data, &b1, Subnormals::Preserve),
        &cpu::bias_add(&x_data, &b1, Subnormals::FlushToZero),
    );
    assert_bit_exact(
        "copy of the first add",
        &x_data,
        &copy.download().unwrap(),
        &y1,
    );
    assert_bit_exact(
        "relu of the first add",
        &x_data,
        &relu.download().unwrap(),
        &cpu::relu_forward(&y1),
    );
    assert_agrees(
        "second add, with the bias copied in between",
        &x_data,
        &y2.download().unwrap(),
        &cpu::bias_add(&x_data, &b2, Subnormals::Preserve),
        &cpu::bias_add(&x_data, &b2, Subnormals::FlushToZero),
    );
}

#[test]
fn bias_of_another_length_than_cols_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let y = Tensor::uninit(&gpu, &[3, 5]).unwrap();
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
        let error = gpu.bias_add(&x, &b).unwrap_err();
        assert!(expected(&error), "bias of {bias_len}: {error:?}");
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let error = gpu.record_bias_add(&mut encoder, &x, &b, &y).unwrap_err();
        assert!(expected(&error), "bias of {bias_len}, recorded: {error:?}");
    }
    // No columns: only an empty bias fits.
    let x = Tensor::uninit(&gpu, &[5, 0]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5]).unwrap();
    let error = gpu.bias_add(&x, &b).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "bias (one per column of the input)",
                expected: 0,
                actual: 1,
            }
        ),
        "{error:?}"
    );
}

#[test]
fn output_of_another_length_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    for y_len in [14, 16, 5, 0] {
        let y = Tensor::uninit(&gpu, &[y_len]).unwrap();
        let error = gpu.record_bias_add(&mut encoder, &x, &b, &y).unwrap_err();
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
    // Only the element count matters: a flat output of 15 is fine.
    let y = Tensor::uninit(&gpu, &[15]).unwrap();
    gpu.record_bias_add(&mut encoder, &x, &b, &y).unwrap();
    gpu.queue().submit([encoder.finish()]);
    assert_eq!(y.download().unwrap(), vec![1.5; 15]);
}

#[test]
fn output_aliasing_an_input_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu.record_bias_add(&mut encoder, &x, &b, &x).unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "y = x: {error:?}"
    );
    // One row: the bias is as long as x, so it can be passed as y too.
    let row = Tensor::from_slice_with_shape(&gpu, &[1.0; 5], &[1, 5]).unwrap();
    let error = gpu.record_bias_add(&mut encoder, &row, &b, &b).unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "y = b: {error:?}"
    );
    // And one column of one row: x, b and y all one element.
    let one = Tensor::from_slice_with_shape(&gpu, &[1.0], &[1, 1]).unwrap();
    let error = gpu
        .record_bias_add(&mut encoder, &one, &one, &one)
        .unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "y = x = b: {error:?}"
    );
}

#[test]
fn operands_of_another_gpu_are_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let other = Gpu::new().unwrap();
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 5]).unwrap();
    let y = Tensor::uninit(&gpu, &[3, 5]).unwrap();
    let foreign_x = Tensor::from_slice_with_shape(&other, &[1.0; 15], &[3, 5]).unwrap();
    let foreign_b = Tensor::from_slice(&other, &[0.5; 5]).unwrap();
    let foreign_y = Tensor::uninit(&other, &[3, 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    for (what, x, b, y) in [
        ("input", &foreign_x, &b, &y),
        ("bias", &x, &foreign_b, &y),
        ("output", &x, &b, &foreign_y),
    ] {
        let error = gpu.record_bias_add(&mut encoder, x, b, y).unwrap_err();
        assert!(
            matches!(error, Error::WrongDevice { what: w } if w == what),
            "{what} of another Gpu: {error:?}"
        );
    }
    let error = gpu.bias_add(&x, &foreign_b).unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "bias" }),
        "{error:?}"
    );
}
