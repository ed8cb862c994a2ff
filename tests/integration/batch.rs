//! `Batch`: many ops recorded into one encoder and submitted once, on
//! whichever backend WGPU_BACKEND selects (CI runs Vulkan and GL):
//! - 100 small relus in one submit give the reference bits, and `len()`
//!   counts them;
//! - each op sees the results of the ops recorded before it (a fused forward
//!   with mask, the backward from that mask, a relu of that gradient);
//! - every batch method gives its convenience op's bits;
//! - an op that fails its checks returns its exact `Error`, records nothing
//!   and leaves the batch usable;
//! - an empty batch submits; the caller's own copies through `encoder()` are
//!   ordered among the ops; a batch dropped unsubmitted runs nothing.

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Batch, Error, Gpu, Mask, Tensor};

use crate::common::sample::{self, SPECIAL_BITS};
use crate::common::{assert_agrees, assert_bit_exact, assert_mask_exact, bits, gpu, relu_family};

/// A value no op of these tests produces from their inputs (a large
/// negative normal, not one of the special values), written into outputs
/// beforehand so that an op that never ran shows.
const SENTINEL_BITS: u32 = 0xdead_beef;

fn sentinel(len: usize) -> Vec<f32> {
    vec![f32::from_bits(SENTINEL_BITS); len]
}

/// An output tensor of `shape` holding the sentinel.
fn sentinel_tensor(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let len = shape.iter().product();
    Tensor::from_slice_with_shape(gpu, &sentinel(len), shape).unwrap()
}

/// The error of a batch op that must fail (`Batch` is not `Debug`, so
/// `unwrap_err` does not apply).
fn failure(result: Result<&mut Batch, Error>) -> Error {
    match result {
        Ok(_) => panic!("the op was recorded, but its checks must fail"),
        Err(error) => error,
    }
}

/// A bias of `cols` sample values without the leading special values.
fn bias_values(cols: usize, seed: u64) -> Vec<f32> {
    let skip = SPECIAL_BITS.len();
    sample::activations(cols + skip, seed)[skip..].to_vec()
}

#[test]
fn a_hundred_small_relus_in_one_submit() {
    let Some(gpu) = gpu() else { return };
    let inputs: Vec<Vec<f32>> = (1..=100)
        .map(|len| sample::activations(len, len as u64))
        .collect();
    let xs: Vec<Tensor> = inputs
        .iter()
        .map(|data| Tensor::from_slice(&gpu, data).unwrap())
        .collect();
    let ys: Vec<Tensor> = inputs
        .iter()
        .map(|data| sentinel_tensor(&gpu, &[data.len()]))
        .collect();

    let mut batch = gpu.batch();
    assert!(batch.is_empty());
    assert_eq!(batch.len(), 0);
    for (i, (x, y)) in xs.iter().zip(&ys).enumerate() {
        batch.relu(x, y).unwrap();
        assert_eq!(batch.len(), i + 1);
    }
    assert_eq!(batch.len(), 100);
    assert!(!batch.is_empty());
    let submission = batch.submit().unwrap();
    gpu.wait_for_submission(submission).unwrap();

    for (data, y) in inputs.iter().zip(&ys) {
        assert_bit_exact(
            &format!("batched relu len {}", data.len()),
            data,
            &y.download().unwrap(),
            &cpu::relu_forward(data),
        );
    }
}

#[test]
fn ops_see_the_results_of_earlier_ops() {
    let Some(gpu) = gpu() else { return };
    let relu = Activation::Relu;
    let shape = [37, 33];
    let len = shape[0] * shape[1];
    let x_data = sample::activations(len, 1);
    let b_data = bias_values(shape[1], 2);
    let dy_data = sample::activations(len, 3);

    let x = Tensor::from_slice_with_shape(&gpu, &x_data, &shape).unwrap();
    let b = Tensor::from_slice(&gpu, &b_data).unwrap();
    let dy = Tensor::from_slice_with_shape(&gpu, &dy_data, &shape).unwrap();
    let y = sentinel_tensor(&gpu, &shape);
    let dx = sentinel_tensor(&gpu, &shape);
    let z = sentinel_tensor(&gpu, &shape);
    // Every bit set, the unused ones too: a backward pass that ran before the
    // forward wrote the mask would pass every dy through.
    let mask = Mask::from_words(&gpu, &vec![u32::MAX; cpu::mask_words(len)], len).unwrap();

    let mut batch = gpu.batch();
    batch
        .bias_activation(relu, &x, &b, &y, Some(&mask))
        .unwrap()
        .activation_backward(relu, &dy, &mask, &dx)
        .unwrap()
        .relu(&dx, &z)
        .unwrap();
    assert_eq!(batch.len(), 3);
    batch.submit_and_wait().unwrap();

    // The reference chain. A GPU may flush a subnormal sum x + b to zero,
    // which changes y and that element's mask bit; whatever the mask is, it
    // must be the exact or the flushed reference's, and the backward and
    // the relu after it are then the reference's of that mask exactly.
    let (y_ref, mask_ref) = cpu::bias_forward_with_mask(relu, &x_data, &b_data);
    let sum_flushed = cpu::bias_add(&x_data, &b_data, Subnormals::FlushToZero);
    let (y_flushed, mask_flushed) = cpu::forward_with_mask(relu, &sum_flushed);
    let y_gpu = y.download().unwrap();
    assert_agrees("forward y", &x_data, &y_gpu, &y_ref, &y_flushed);
    let mask_gpu = mask.download().unwrap();
    for i in 0..len {
        let bit = cpu::mask_bit_at(&mask_gpu, i);
        assert!(
            bit == cpu::mask_bit_at(&mask_ref, i) || bit == cpu::mask_bit_at(&mask_flushed, i),
            "mask bit {i}: gpu {bit}, x {:#010x}, b {:#010x}",
            x_data[i].to_bits(),
            b_data[i % shape[1]].to_bits()
        );
    }
    assert_eq!(
        mask_gpu.last().unwrap() >> (len % 32),
        0,
        "the forward clears the unused bits"
    );
    if mask_gpu == mask_ref {
        // No flush: the plain reference chain.
        let dx_ref = cpu::backward(relu, &dy_data, &mask_ref);
        assert_bit_exact("dx", &dy_data, &dx.download().unwrap(), &dx_ref);
        let z_ref = cpu::relu_forward(&dx_ref);
        assert_bit_exact("z", &dy_data, &z.download().unwrap(), &z_ref);
    }
    let dx_expected = cpu::backward(relu, &dy_data, &mask_gpu);
    let dx_gpu = dx.download().unwrap();
    assert_bit_exact(
        "dx from the forward's mask",
        &dy_data,
        &dx_gpu,
        &dx_expected,
    );
    assert_bit_exact(
        "relu of dx",
        &dy_data,
        &z.download().unwrap(),
        &cpu::relu_forward(&dx_expected),
    );
    // The chain did something: some gradients were stopped, some passed.
    let stopped = (0..len)
        .filter(|&i| !cpu::mask_bit_at(&mask_gpu, i))
        .count();
    assert!(stopped > 0 && stopped < len, "{stopped} of {len} stopped");
}

/// Each batch method records the same kernels as the `Gpu` method it wraps:
/// the same bits (a GPU flushes the same way in both).
#[test]
fn every_batch_method_gives_the_convenience_ops_bits() {
    let Some(gpu) = gpu() else { return };
    let shape = [9, 35];
    let len = shape[0] * shape[1];
    let x_data = sample::activations(len, 10);
    let b_data = bias_values(shape[1], 11);
    let dy_data = sample::activations(len, 12);
    let x = Tensor::from_slice_with_shape(&gpu, &x_data, &shape).unwrap();
    let b = Tensor::from_slice(&gpu, &b_data).unwrap();
    let dy = Tensor::from_slice_with_shape(&gpu, &dy_data, &shape).unwrap();

    for activation in relu_family() {
        let what = |op: &str| format!("batch {op} {activation}");
        let (_, mask_words) = cpu::bias_forward_with_mask(activation, &x_data, &b_data);
        let saved_mask = Mask::from_words(&gpu, &mask_words, len).unwrap();

        let relu_y = sentinel_tensor(&gpu, &shape);
        let mut in_place = Tensor::from_slice_with_shape(&gpu, &x_data, &shape).unwrap();
        let act_y = sentinel_tensor(&gpu, &shape);
        let act_mask = Mask::uninit(&gpu, len).unwrap();
        let back_dx = sentinel_tensor(&gpu, &shape);
        let back_input_dx = sentinel_tensor(&gpu, &shape);
        let add_y = sentinel_tensor(&gpu, &shape);
        let bias_y = sentinel_tensor(&gpu, &shape);
        let bias_mask = Mask::uninit(&gpu, len).unwrap();
        let bias_dx = sentinel_tensor(&gpu, &shape);
        let bias_db = sentinel_tensor(&gpu, &[shape[1]]);

        let mut batch = gpu.batch();
        batch.relu(&x, &relu_y).unwrap();
        batch.relu_in_place(&mut in_place).unwrap();
        batch
            .activation(activation, &x, &act_y, Some(&act_mask))
            .unwrap();
        batch
            .activation_backward(activation, &dy, &saved_mask, &back_dx)
            .unwrap();
        batch
            .activation_backward_from_input(activation, &dy, &x, &back_input_dx)
            .unwrap();
        batch.bias_add(&x, &b, &add_y).unwrap();
        batch
            .bias_activation(activation, &x, &b, &bias_y, Some(&bias_mask))
            .unwrap();
        batch
            .bias_activation_backward(activation, &dy, &saved_mask, &bias_dx, &bias_db)
            .unwrap();
        assert_eq!(batch.len(), 8);
        batch.submit_and_wait().unwrap();

        let relu = gpu.relu(&x).unwrap().download().unwrap();
        assert_bit_exact(&what("relu"), &x_data, &relu_y.download().unwrap(), &relu);
        assert_bit_exact(
            &what("relu in place"),
            &x_data,
            &in_place.download().unwrap(),
            &relu,
        );
        let (y, mask) = gpu.activation_with_mask(activation, &x).unwrap();
        assert_bit_exact(
            &what("activation"),
            &x_data,
            &act_y.download().unwrap(),
            &y.download().unwrap(),
        );
        assert_mask_exact(
            &what("activation mask"),
            &act_mask.download().unwrap(),
            &mask.download().unwrap(),
        );
        let dx = gpu
            .activation_backward(activation, &dy, &saved_mask)
            .unwrap();
        assert_bit_exact(
            &what("backward"),
            &dy_data,
            &back_dx.download().unwrap(),
            &dx.download().unwrap(),
        );
        let dx = gpu
            .activation_backward_from_input(activation, &dy, &x)
            .unwrap();
        assert_bit_exact(
            &what("backward from input"),
            &dy_data,
            &back_input_dx.download().unwrap(),
            &dx.download().unwrap(),
        );
        let sum = gpu.bias_add(&x, &b).unwrap();
        assert_bit_exact(
            &what("bias add"),
            &x_data,
            &add_y.download().unwrap(),
            &sum.download().unwrap(),
        );
        let (y, mask) = gpu.bias_activation_with_mask(activation, &x, &b).unwrap();
        assert_bit_exact(
            &what("bias forward"),
            &x_data,
            &bias_y.download().unwrap(),
            &y.download().unwrap(),
        );
        assert_mask_exact(
            &what("bias forward mask"),
            &bias_mask.download().unwrap(),
            &mask.download().unwrap(),
        );
        let (dx, db) = gpu
            .bias_activation_backward(activation, &dy, &saved_mask)
            .unwrap();
        assert_bit_exact(
            &what("bias backward dx"),
            &dy_data,
            &bias_dx.download().unwrap(),
            &dx.download().unwrap(),
        );
        assert_bit_exact(
            &what("bias backward db"),
            &b_data,
            &bias_db.download().unwrap(),
            &db.download().unwrap(),
        );
    }
}

#[test]
fn a_failed_op_returns_its_error_and_leaves_the_batch_usable() {
    let Some(gpu) = gpu() else { return };
    let other = Gpu::new().unwrap();
    let data = sample::activations(100, 20);
    let later_data = sample::activations(77, 21);
    let x = Tensor::from_slice(&gpu, &data).unwrap();
    let later_x = Tensor::from_slice(&gpu, &later_data).unwrap();
    let y = sentinel_tensor(&gpu, &[100]);
    let later_y = sentinel_tensor(&gpu, &[77]);
    let untouched = sentinel_tensor(&gpu, &[100]);
    let short = sentinel_tensor(&gpu, &[99]);
    let foreign_x = Tensor::from_slice(&other, &data).unwrap();
    let mut foreign_y = sentinel_tensor(&other, &[100]);
    let foreign_mask = Mask::uninit(&other, 100).unwrap();
    let mask = Mask::uninit(&gpu, 100).unwrap();
    let short_mask = Mask::uninit(&gpu, 99).unwrap();
    let rows = Tensor::from_slice_with_shape(&gpu, &data, &[10, 10]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.5; 10]).unwrap();
    let wrong_b = Tensor::from_slice(&gpu, &[0.5; 11]).unwrap();
    let rows_y = sentinel_tensor(&gpu, &[10, 10]);

    let mut batch = gpu.batch();
    batch.relu(&x, &y).unwrap();
    assert_eq!(batch.len(), 1);

    let error = failure(batch.relu(&x, &short));
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "output",
                expected: 100,
                actual: 99
            }
        ),
        "output of another length: {error:?}"
    );
    let error = failure(batch.relu(&x, &x));
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "output = input: {error:?}"
    );
    let error = failure(batch.relu(&x, &foreign_y));
    assert!(
        matches!(error, Error::WrongDevice { what: "output" }),
        "output of another Gpu: {error:?}"
    );
    let error = failure(batch.relu(&foreign_x, &untouched));
    assert!(
        matches!(error, Error::WrongDevice { what: "input" }),
        "input of another Gpu: {error:?}"
    );
    let error = failure(batch.relu_in_place(&mut foreign_y));
    assert!(
        matches!(error, Error::WrongDevice { what: "input" }),
        "in place on another Gpu: {error:?}"
    );
    let error = failure(batch.activation(Activation::Relu, &x, &untouched, Some(&short_mask)));
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "mask",
                expected: 100,
                actual: 99
            }
        ),
        "mask of another length: {error:?}"
    );
    let error = failure(batch.activation(Activation::Relu, &x, &untouched, Some(&foreign_mask)));
    assert!(
        matches!(error, Error::WrongDevice { what: "mask" }),
        "mask of another Gpu: {error:?}"
    );
    let error = failure(batch.activation_backward(Activation::Relu, &x, &foreign_mask, &untouched));
    assert!(
        matches!(error, Error::WrongDevice { what: "mask" }),
        "backward from a mask of another Gpu: {error:?}"
    );
    let error = failure(batch.activation_backward_from_input(Activation::Relu, &x, &x, &x));
    assert!(
        matches!(error, Error::Aliasing { .. }),
        "gradient output = saved input: {error:?}"
    );
    let error = failure(batch.bias_activation(Activation::Relu, &rows, &wrong_b, &rows_y, None));
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "bias (one per column of the input)",
                expected: 10,
                actual: 11
            }
        ),
        "bias of another length: {error:?}"
    );
    // The bias can pass for the output of a one-row input.
    let one_row = Tensor::from_slice_with_shape(&gpu, &[1.0; 10], &[1, 10]).unwrap();
    let error = failure(batch.bias_add(&one_row, &b, &b));
    assert!(
        matches!(error, Error::Aliasing { what: "output", .. }),
        "output = bias: {error:?}"
    );
    // A bias with a mask of the wrong length fails after the bias checks.
    let error =
        failure(batch.bias_activation(Activation::relu6(), &rows, &b, &rows_y, Some(&short_mask)));
    assert!(
        matches!(error, Error::ShapeMismatch { what: "mask", .. }),
        "fused forward with a mask of another length: {error:?}"
    );
    let error = failure(batch.activation(
        Activation::LeakyRelu { slope: f32::NAN },
        &x,
        &untouched,
        None,
    ));
    assert!(
        matches!(
            error,
            Error::InvalidParameter {
                name: "leaky relu slope",
                ..
            }
        ),
        "NaN slope: {error:?}"
    );
    let error = failure(batch.bias_activation_backward(Activation::Relu, &rows, &mask, &rows, &b));
    assert!(
        matches!(
            error,
            Error::Aliasing {
                what: "gradient output",
                ..
            }
        ),
        "dx = dy: {error:?}"
    );
    assert_eq!(batch.len(), 1, "failed ops are not counted");

    // Later ops still record and run, with the bias staged as before.
    batch.relu(&later_x, &later_y).unwrap();
    batch
        .bias_activation(Activation::Relu, &rows, &b, &rows_y, None)
        .unwrap();
    assert_eq!(batch.len(), 3);
    batch.submit_and_wait().unwrap();

    assert_bit_exact(
        "relu before the failures",
        &data,
        &y.download().unwrap(),
        &cpu::relu_forward(&data),
    );
    assert_bit_exact(
        "relu after the failures",
        &later_data,
        &later_y.download().unwrap(),
        &cpu::relu_forward(&later_data),
    );
    let b_data = vec![0.5; 10];
    let expected = cpu::bias_forward(Activation::Relu, &data, &b_data);
    let flushed = cpu::forward(
        Activation::Relu,
        &cpu::bias_add(&data, &b_data, Subnormals::FlushToZero),
    );
    assert_agrees(
        "bias relu after the failures",
        &data,
        &rows_y.download().unwrap(),
        &expected,
        &flushed,
    );
    // The failed ops wrote nothing.
    for (what, tensor) in [
        ("untouched", &untouched),
        ("short", &short),
        ("foreign y", &foreign_y),
    ] {
        let after = tensor.download().unwrap();
        assert_eq!(
            bits(&after),
            bits(&sentinel(after.len())),
            "{what} was written by a failed op"
        );
    }
    assert_bit_exact("x", &data, &x.download().unwrap(), &data);
}

#[test]
fn an_empty_batch_submits() {
    let Some(gpu) = gpu() else { return };
    let batch = gpu.batch();
    assert!(batch.is_empty());
    assert_eq!(batch.len(), 0);
    let submission = batch.submit().unwrap();
    gpu.wait_for_submission(submission).unwrap();
    gpu.batch().submit_and_wait().unwrap();
    // The device carries on.
    let x = Tensor::from_slice(&gpu, &[-1.0, 2.0]).unwrap();
    assert_eq!(gpu.relu(&x).unwrap().download().unwrap(), vec![0.0, 2.0]);
}

/// The caller's copies recorded through `encoder()` run where they were
/// recorded: after the ops before them, before the ops after them.
#[test]
fn the_callers_copies_are_ordered_among_the_ops() {
    let Some(gpu) = gpu() else { return };
    let len = 1001;
    let bytes = len as u64 * 4;
    let leaky = Activation::LeakyRelu { slope: 0.5 };
    let x_data = sample::activations(len, 30);
    let x = Tensor::from_slice(&gpu, &x_data).unwrap();
    // y = leaky(x) keeps negatives; z gets a copy of y, then relu in place,
    // so z = relu(x). Had the copy run before the leaky relu, z would be
    // relu(sentinel) = 0; had the relu run before the copy, z would keep
    // leaky's negatives; had the copy not run at all, z would be relu of its
    // earlier contents. w copies z after the relu.
    let y = sentinel_tensor(&gpu, &[len]);
    let mut z = Tensor::from_slice(&gpu, &sample::activations(len, 31)).unwrap();
    let w = sentinel_tensor(&gpu, &[len]);

    let mut batch = gpu.batch();
    batch.activation(leaky, &x, &y, None).unwrap();
    batch
        .encoder()
        .copy_buffer_to_buffer(y.buffer(), 0, z.buffer(), 0, bytes);
    batch.relu_in_place(&mut z).unwrap();
    batch
        .encoder()
        .copy_buffer_to_buffer(z.buffer(), 0, w.buffer(), 0, bytes);
    assert_eq!(batch.len(), 2, "the caller's copies are not ops");
    batch.submit_and_wait().unwrap();

    let y_ref = cpu::forward(leaky, &x_data);
    let y_flushed: Vec<f32> = x_data
        .iter()
        .map(|&v| cpu::activate_with(leaky, v, Subnormals::FlushToZero))
        .collect();
    let y_gpu = y.download().unwrap();
    assert_agrees("y = leaky(x)", &x_data, &y_gpu, &y_ref, &y_flushed);
    assert!(y_gpu.iter().any(|&v| v < 0.0), "leaky keeps negatives");
    // relu(leaky(x)) is relu(x) bit for bit, flushed or not.
    let z_ref = cpu::relu_forward(&x_data);
    assert_bit_exact(
        "z = relu(copy of y)",
        &x_data,
        &z.download().unwrap(),
        &z_ref,
    );
    assert_bit_exact("w = copy of z", &x_data, &w.download().unwrap(), &z_ref);
}

#[test]
fn a_batch_dropped_without_submitting_runs_nothing() {
    let Some(gpu) = gpu() else { return };
    let x_data = sample::activations(500, 40);
    let earlier = sample::activations(500, 41);
    let x = Tensor::from_slice(&gpu, &x_data).unwrap();
    let y = Tensor::uninit(&gpu, &[500]).unwrap();
    y.write(&earlier).unwrap();
    let mut in_place = Tensor::uninit(&gpu, &[500]).unwrap();
    in_place.write(&earlier).unwrap();
    let mask_words = vec![0x1234_5678; cpu::mask_words(500)];
    let mask = Mask::from_words(&gpu, &mask_words, 500).unwrap();

    let mut batch = gpu.batch();
    batch.relu(&x, &y).unwrap();
    batch.relu_in_place(&mut in_place).unwrap();
    batch
        .activation(Activation::relu6(), &x, &y, Some(&mask))
        .unwrap();
    assert_eq!(batch.len(), 3);
    drop(batch);
    gpu.wait_idle().unwrap();

    assert_bit_exact("y", &earlier, &y.download().unwrap(), &earlier);
    assert_bit_exact(
        "in place",
        &earlier,
        &in_place.download().unwrap(),
        &earlier,
    );
    assert_eq!(mask.download().unwrap(), mask_words, "mask");

    // The tensors are free for the next batch.
    let mut batch = gpu.batch();
    batch.relu(&x, &y).unwrap();
    batch.submit_and_wait().unwrap();
    assert_bit_exact(
        "y after a later batch",
        &x_data,
        &y.download().unwrap(),
        &cpu::relu_forward(&x_data),
    );
}
