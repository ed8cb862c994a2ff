//! `Batch`: each method checks as its `record_*` form does; a refused op
//! records nothing and the batch stays usable.

use super::*;

// nothing and the batch stays usable.

/// Records one good relu into a batch, then `op`, which must fail; asserts
/// the batch still holds exactly the good op and runs it. Returns the error.
#[track_caller]
fn batch_refuses(gpu: &Gpu, op: impl FnOnce(&mut Batch) -> Result<()>) -> Error {
    let x = input(gpu, &[8]);
    let y = old(gpu, &[8]);
    let mut batch = gpu.batch();
    batch.relu(&x, &y).unwrap();
    let error = err(op(&mut batch));
    assert_eq!(batch.len(), 1, "a refused op recorded nothing");
    batch.submit_and_wait().unwrap();
    assert_eq!(y.download().unwrap(), cpu::relu_forward(&values(8)));
    error
}

#[test]
fn batch_relu() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[8]);
    let y = old(&gpu, &[9]);
    shape_mismatch(
        batch_refuses(&gpu, |b| b.relu(&x, &y).map(drop)),
        "output",
        8,
        9,
    );
    aliasing(batch_refuses(&gpu, |b| b.relu(&x, &x).map(drop)), "output");
    let foreign = old(&other(), &[8]);
    wrong_device(
        batch_refuses(&gpu, |b| b.relu(&x, &foreign).map(drop)),
        "output",
    );
    assert_old(&y);
    assert_old(&foreign);
}

#[test]
fn batch_relu_in_place() {
    let Some(gpu) = gpu() else { return };
    let mut foreign = old(&other(), &[8]);
    let error = batch_refuses(&gpu, |b| b.relu_in_place(&mut foreign).map(drop));
    wrong_device(error, "input");
    let mut x = view(&gpu, &[6], U::STORAGE | U::COPY_SRC);
    let error = batch_refuses(&gpu, |b| b.relu_in_place(&mut x).map(drop));
    missing_usage(error, TAIL, U::COPY_DST, U::STORAGE | U::COPY_SRC);
    assert_old(&foreign);
    assert_old(&x);
}

#[test]
fn batch_activation() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[8]);
    let y = old(&gpu, &[8]);
    let m = old_mask(&gpu, 7);
    let bad = Activation::LeakyRelu {
        slope: f32::INFINITY,
    };
    let error = batch_refuses(&gpu, |b| b.activation(bad, &x, &y, None).map(drop));
    invalid_parameter(error, "leaky relu slope", f32::INFINITY, "finite");
    let error = batch_refuses(&gpu, |b| {
        b.activation(Activation::Relu, &x, &y, Some(&m)).map(drop)
    });
    shape_mismatch(error, "mask", 8, 7);
    assert_old(&y);
    assert_old_mask(&m);
}

#[test]
fn batch_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let dy = input(&gpu, &[8]);
    let dx = old(&gpu, &[8]);
    let m = mask(&gpu, 9);
    let error = batch_refuses(&gpu, |b| {
        b.activation_backward(Activation::Relu, &dy, &m, &dx)
            .map(drop)
    });
    shape_mismatch(
        error,
        "upstream gradient (as many elements as the mask)",
        9,
        8,
    );
    let error = batch_refuses(&gpu, |b| {
        b.activation_backward(Activation::Relu, &dy, &mask(&gpu, 8), &dy)
            .map(drop)
    });
    aliasing(error, "gradient output");
    assert_old(&dx);
}

#[test]
fn batch_activation_backward_from_input() {
    let Some(gpu) = gpu() else { return };
    let dy = input(&gpu, &[8]);
    let x = input(&gpu, &[7]);
    let dx = old(&gpu, &[8]);
    let error = batch_refuses(&gpu, |b| {
        b.activation_backward_from_input(Activation::Relu, &dy, &x, &dx)
            .map(drop)
    });
    shape_mismatch(
        error,
        "upstream gradient (as many elements as the saved input)",
        7,
        8,
    );
    assert_old(&dx);
}

#[test]
fn batch_bias_add() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[2, 4]);
    let y = old(&gpu, &[2, 4]);
    let error = batch_refuses(&gpu, |b| b.bias_add(&x, &input(&gpu, &[2]), &y).map(drop));
    shape_mismatch(error, BIAS, 4, 2);
    assert_old(&y);
}

#[test]
fn batch_bias_activation() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[2, 4]);
    let b4 = input(&gpu, &[4]);
    let y = old(&gpu, &[2, 4]);
    let foreign = input(&other(), &[4]);
    let error = batch_refuses(&gpu, |b| {
        b.bias_activation(Activation::relu6(), &x, &foreign, &y, None)
            .map(drop)
    });
    wrong_device(error, "bias");
    let error = batch_refuses(&gpu, |b| {
        b.bias_activation(Activation::relu6(), &x, &b4, &b4, None)
            .map(drop)
    });
    shape_mismatch(error, "output", 8, 4);
    assert_old(&y);
}

#[test]
fn batch_bias_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let dy = input(&gpu, &[2, 4]);
    let m = mask(&gpu, 8).with_row_length(2).unwrap();
    let dx = old(&gpu, &[2, 4]);
    let db = old(&gpu, &[4]);
    let error = batch_refuses(&gpu, |b| {
        b.bias_activation_backward(Activation::Relu, &dy, &m, &dx, &db)
            .map(drop)
    });
    shape_mismatch(error, ROW_LENGTH, 2, 4);
    assert_old(&dx);
    assert_old(&db);
}

#[test]
fn batch_submit() {
    let Some(gpu) = gpu() else { return };
    // Legal: an empty batch, and one whose every op was refused.
    let batch = gpu.batch();
    assert!(batch.is_empty());
    gpu.wait_for_submission(batch.submit().unwrap()).unwrap();
    let x = input(&gpu, &[4]);
    let mut batch = gpu.batch();
    aliasing(err(batch.relu(&x, &x).map(drop)), "output");
    assert!(batch.is_empty());
    batch.submit_and_wait().unwrap();
    assert_eq!(x.download().unwrap(), values(4));
}
