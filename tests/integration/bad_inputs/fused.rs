//! The fused bias ops: bias add, bias + activation and its backward.

use super::*;

#[test]
fn gpu_bias_activation() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::LeakyRelu { slope: 0.01 };
    let x = input(&gpu, &[3, 4]);
    let b = input(&gpu, &[4]);
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.bias_activation(activation, &x, &b));
        invalid_parameter(error, name, value, requirement);
        let error = err(gpu.bias_activation_with_mask(activation, &x, &b));
        invalid_parameter(error, name, value, requirement);
    }
    for len in [3, 5, 12, 0] {
        let wrong = input(&gpu, &[len]);
        shape_mismatch(err(gpu.bias_activation(act, &x, &wrong)), BIAS, 4, len);
        shape_mismatch(err(gpu.bias_relu(&x, &wrong)), BIAS, 4, len);
        shape_mismatch(err(gpu.bias_relu_with_mask(&x, &wrong)), BIAS, 4, len);
        let error = err(gpu.bias_activation_with_mask(act, &x, &wrong));
        shape_mismatch(error, BIAS, 4, len);
    }
    // A 0-d input has one column; an empty one still needs its columns' bias.
    shape_mismatch(err(gpu.bias_relu(&input(&gpu, &[]), &b)), BIAS, 1, 4);
    let empty = Tensor::uninit(&gpu, &[0, 4]).unwrap();
    shape_mismatch(err(gpu.bias_relu(&empty, &input(&gpu, &[3]))), BIAS, 4, 3);

    let other = other();
    wrong_device(err(gpu.bias_relu(&x, &input(&other, &[4]))), "bias");
    wrong_device(err(gpu.bias_relu(&input(&other, &[3, 4]), &b)), "input");
    let error = err(gpu.bias_relu_with_mask(&x, &input(&other, &[4])));
    wrong_device(error, "bias");

    let x6 = view(&gpu, &[2, 3], U::STORAGE);
    let error = err(gpu.bias_relu(&x6, &input(&gpu, &[3])));
    missing_usage(error, TAIL, U::COPY_SRC, U::STORAGE);

    // Legal: zero rows, zero columns, a bias view without COPY_SRC (read
    // from storage instead of being staged into a uniform buffer).
    let y = gpu.bias_relu(&empty, &b).unwrap();
    assert_eq!((y.shape(), y.download().unwrap()), (&[0, 4][..], vec![]));
    let (y, m) = gpu.bias_relu_with_mask(&empty, &b).unwrap();
    assert_eq!((y.len(), m.len(), m.row_length()), (0, 0, Some(4)));
    let no_cols = Tensor::uninit(&gpu, &[3, 0]).unwrap();
    let y = gpu.bias_relu(&no_cols, &input(&gpu, &[0])).unwrap();
    assert_eq!(y.shape(), &[3, 0]);
    let bv = view(&gpu, &[4], U::STORAGE | U::COPY_DST);
    bv.write(&values(4)).unwrap();
    let y = gpu
        .bias_activation(act, &x, &bv)
        .unwrap()
        .download()
        .unwrap();
    let expected = cpu::bias_forward(act, &values(12), &values(4));
    assert_eq!(crate::common::bits(&y), crate::common::bits(&expected));
}

#[test]
fn gpu_record_bias_activation() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::relu6();
    let x = input(&gpu, &[3, 4]);
    let b = input(&gpu, &[4]);
    let y = old(&gpu, &[3, 4]);
    let m = old_mask(&gpu, 12);
    let bad = Activation::LeakyRelu { slope: f32::NAN };
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, bad, &x, &b, &y, Some(&m))
    });
    invalid_parameter(error, "leaky relu slope", f32::NAN, "finite");
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, act, &x, &input(&gpu, &[3]), &y, Some(&m))
    });
    shape_mismatch(error, BIAS, 4, 3);
    let short = old(&gpu, &[11]);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, act, &x, &b, &short, None)
    });
    shape_mismatch(error, "output", 12, 11);
    assert_old(&short);
    let short_mask = old_mask(&gpu, 11);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, act, &x, &b, &y, Some(&short_mask))
    });
    shape_mismatch(error, "mask", 12, 11);
    assert_old_mask(&short_mask);
    let other = other();
    let foreign_y = old(&other, &[3, 4]);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, act, &x, &b, &foreign_y, None)
    });
    wrong_device(error, "output");
    let foreign_mask = old_mask(&other, 12);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, act, &x, &b, &y, Some(&foreign_mask))
    });
    wrong_device(error, "mask");
    aliasing(
        refuse(&gpu, |e| {
            gpu.record_bias_activation(e, act, &x, &b, &x, None)
        }),
        "output",
    );
    // One row: the output could be the bias itself.
    let row = input(&gpu, &[1, 4]);
    aliasing(
        refuse(&gpu, |e| {
            gpu.record_bias_activation(e, act, &row, &b, &b, None)
        }),
        "output",
    );
    assert_old(&y);
    assert_old_mask(&m);
}

#[test]
fn gpu_bias_add() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[3, 4]);
    let b = input(&gpu, &[4]);
    shape_mismatch(err(gpu.bias_add(&x, &input(&gpu, &[5]))), BIAS, 4, 5);
    wrong_device(err(gpu.bias_add(&x, &input(&other(), &[4]))), "bias");
    wrong_device(err(gpu.bias_add(&input(&other(), &[3, 4]), &b)), "input");
    let y = gpu
        .bias_add(&Tensor::uninit(&gpu, &[0, 4]).unwrap(), &b)
        .unwrap();
    assert_eq!(y.shape(), &[0, 4]);
}

#[test]
fn gpu_record_bias_add() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[3, 4]);
    let b = input(&gpu, &[4]);
    let y = old(&gpu, &[3, 4]);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_add(e, &x, &input(&gpu, &[12]), &y)
    });
    shape_mismatch(error, BIAS, 4, 12);
    let long = old(&gpu, &[13]);
    shape_mismatch(
        refuse(&gpu, |e| gpu.record_bias_add(e, &x, &b, &long)),
        "output",
        12,
        13,
    );
    assert_old(&long);
    aliasing(
        refuse(&gpu, |e| gpu.record_bias_add(e, &x, &b, &x)),
        "output",
    );
    // Output and bias: two views of one caller's buffer.
    let (buffer, offsets) = caller_buffer(&gpu, 2, 12, ALL);
    let bv = Tensor::from_buffer(&gpu, &buffer, offsets[0], &[4]).unwrap();
    let yv = Tensor::from_buffer(&gpu, &buffer, offsets[1], &[3, 4]).unwrap();
    aliasing(
        refuse(&gpu, |e| gpu.record_bias_add(e, &x, &bv, &yv)),
        "output",
    );
    assert_old(&yv);
    let foreign = old(&other(), &[3, 4]);
    wrong_device(
        refuse(&gpu, |e| gpu.record_bias_add(e, &x, &b, &foreign)),
        "output",
    );
    assert_old(&y);
}

/// A bias wider than one storage binding: refused before anything is
/// recorded. The tensors are never written, so an adapter that reserves
/// memory lazily never backs them.
#[test]
fn gpu_bias_wider_than_one_storage_binding() {
    let Some(gpu) = gpu() else { return };
    let limit = gpu.info().max_storage_buffer_binding_size;
    if limit >= gpu.info().max_buffer_size || limit > 1 << 30 {
        eprintln!(
            "max_storage_buffer_binding_size {limit} is not below max_buffer_size \
             and 1 GiB: no bias can be wider than one binding here"
        );
        return;
    }
    let cols = (limit / 4 + 1) as usize;
    let x = Tensor::uninit(&gpu, &[1, cols]).unwrap();
    let b = Tensor::uninit(&gpu, &[cols]).unwrap();
    let y = Tensor::uninit(&gpu, &[1, cols]).unwrap();
    let bytes = cols as u64 * 4;
    const LIMIT: &str = "max_storage_buffer_binding_size";
    let error = refuse(&gpu, |e| gpu.record_bias_add(e, &x, &b, &y));
    too_large(error, "the bias", bytes, LIMIT, limit);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation(e, Activation::Relu, &x, &b, &y, None)
    });
    too_large(error, "the bias", bytes, LIMIT, limit);
    // The convenience form allocates its output, then refuses the same way.
    let error = err(gpu.bias_relu(&x, &b));
    too_large(error, "the bias", bytes, LIMIT, limit);
}

/// The fused backward over rows wider than one storage binding: not even
/// one row fits a dispatch. On a device asking for 4 KiB bindings.
#[test]
fn gpu_bias_backward_rows_wider_than_one_storage_binding() {
    let Some(gpu) = crate::common::small_binding_gpu(4096) else {
        return;
    };
    let dy = input(&gpu, &[2, 2048]);
    let m = mask(&gpu, 4096);
    let error = err(gpu.bias_relu_backward(&dy, &m));
    match &error {
        Error::TooLarge {
            what: "the fused backward's smallest group of whole rows",
            bytes,
            limit_name: "max_storage_buffer_binding_size",
            limit: 4096,
        } if *bytes > 4096 && bytes % (2048 * 4) == 0 => {}
        _ => panic!("expected TooLarge for the fused backward's rows, got {error:?}"),
    }
    names(&error, &["max_storage_buffer_binding_size", "4096"]);
}

#[test]
fn gpu_bias_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let dy = input(&gpu, &[4, 5]);
    let m = mask(&gpu, 20).with_row_length(5).unwrap();
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.bias_activation_backward(activation, &dy, &m));
        invalid_parameter(error, name, value, requirement);
    }
    for len in [19, 21, 0] {
        let error = err(gpu.bias_relu_backward(&dy, &mask(&gpu, len)));
        shape_mismatch(
            error,
            "upstream gradient (as many elements as the mask)",
            len,
            20,
        );
    }
    // The mask was made from rows of 4, the gradient has rows of 5.
    let m4 = mask(&gpu, 20).with_row_length(4).unwrap();
    shape_mismatch(err(gpu.bias_relu_backward(&dy, &m4)), ROW_LENGTH, 4, 5);
    let m20 = mask(&gpu, 20).with_row_length(20).unwrap();
    shape_mismatch(err(gpu.bias_relu_backward(&dy, &m20)), ROW_LENGTH, 20, 5);
    let other = other();
    wrong_device(err(gpu.bias_relu_backward(&dy, &mask(&other, 20))), "mask");
    let error = err(gpu.bias_relu_backward(&input(&other, &[4, 5]), &m));
    wrong_device(error, "upstream gradient");

    // Legal: zero rows give a bias gradient of zeros; zero columns an empty one.
    let empty = Tensor::uninit(&gpu, &[0, 4]).unwrap();
    let m0 = mask(&gpu, 0).with_row_length(4).unwrap();
    let (dx, db) = gpu.bias_relu_backward(&empty, &m0).unwrap();
    assert_eq!((dx.shape(), db.shape()), (&[0, 4][..], &[4][..]));
    assert_eq!(db.download().unwrap(), vec![0.0; 4]);
    let (dx, db) = gpu
        .bias_relu_backward(&Tensor::uninit(&gpu, &[3, 0]).unwrap(), &mask(&gpu, 0))
        .unwrap();
    assert_eq!((dx.shape(), db.shape()), (&[3, 0][..], &[0][..]));
    // Without a recorded row length, any row length is taken.
    let (_, db) = gpu.bias_relu_backward(&dy, &mask(&gpu, 20)).unwrap();
    assert_eq!(db.len(), 5);
}

#[test]
fn gpu_record_bias_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::LeakyRelu { slope: 0.5 };
    let dy = input(&gpu, &[4, 5]);
    let m = mask(&gpu, 20).with_row_length(5).unwrap();
    let dx = old(&gpu, &[4, 5]);
    let db = old(&gpu, &[5]);
    let record = |e: &mut wgpu::CommandEncoder, dx: &Tensor, db: &Tensor| {
        gpu.record_bias_activation_backward(e, act, &dy, &m, dx, db)
    };
    for len in [4, 6, 20, 0] {
        let wrong = old(&gpu, &[len]);
        shape_mismatch(refuse(&gpu, |e| record(e, &dx, &wrong)), DB, 5, len);
        assert_old(&wrong);
    }
    let wrong = old(&gpu, &[19]);
    let error = refuse(&gpu, |e| record(e, &wrong, &db));
    shape_mismatch(error, "gradient output", 20, 19);
    aliasing(refuse(&gpu, |e| record(e, &dy, &db)), "gradient output");
    let dy_row = Tensor::from_buffer(&gpu, dy.buffer(), 0, &[5]).unwrap();
    aliasing(refuse(&gpu, |e| record(e, &dx, &dy_row)), "bias gradient");
    let dx_row = Tensor::from_buffer(&gpu, dx.buffer(), 0, &[5]).unwrap();
    aliasing(refuse(&gpu, |e| record(e, &dx, &dx_row)), "bias gradient");
    let other = other();
    let foreign_dx = old(&other, &[4, 5]);
    let foreign_db = old(&other, &[5]);
    wrong_device(
        refuse(&gpu, |e| record(e, &foreign_dx, &db)),
        "gradient output",
    );
    wrong_device(
        refuse(&gpu, |e| record(e, &dx, &foreign_db)),
        "bias gradient",
    );
    assert_old(&foreign_dx);
    assert_old(&foreign_db);
    let bad = Activation::ClippedRelu { cap: f32::INFINITY };
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation_backward(e, bad, &dy, &m, &dx, &db)
    });
    invalid_parameter(
        error,
        "clipped relu cap",
        f32::INFINITY,
        "finite and greater than zero",
    );
    assert_old(&dx);
    assert_old(&db);

    // Zero rows: db is cleared to zeros, which needs COPY_DST on a view.
    let empty = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let m0 = mask(&gpu, 0).with_row_length(5).unwrap();
    let dx0 = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let db_view = view(&gpu, &[5], U::STORAGE | U::COPY_SRC);
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation_backward(e, act, &empty, &m0, &dx0, &db_view)
    });
    missing_usage(
        error,
        "bias gradient",
        U::COPY_DST,
        U::STORAGE | U::COPY_SRC,
    );
    assert_old(&db_view);
    accept(&gpu, |e| {
        gpu.record_bias_activation_backward(e, act, &empty, &m0, &dx0, &db)
    });
    assert_eq!(db.download().unwrap(), vec![0.0; 5]);
}
