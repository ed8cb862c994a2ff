//! The activations of the family, forward and backward, convenience and
//! `record_*` forms, and `Activation::validate`.

use super::*;

#[test]
fn gpu_activation() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[8]);
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.activation(activation, &x));
        invalid_parameter(error, name, value, requirement);
    }
    let foreign = input(&other(), &[8]);
    wrong_device(err(gpu.activation(Activation::relu6(), &foreign)), "input");
    let x6 = view(&gpu, &[6], U::STORAGE);
    let error = err(gpu.activation(Activation::relu6(), &x6));
    missing_usage(error, TAIL, U::COPY_SRC, U::STORAGE);

    // Legal edge parameters and an empty input.
    for activation in [
        Activation::LeakyRelu { slope: 0.0 },
        Activation::LeakyRelu { slope: -1.5 },
        Activation::LeakyRelu { slope: f32::MAX },
        Activation::ClippedRelu { cap: 1e-40 },
        Activation::ClippedRelu { cap: f32::MAX },
    ] {
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        assert_eq!(
            crate::common::bits(&y),
            crate::common::bits(&cpu::forward(activation, &values(8)))
        );
    }
    let y = gpu
        .activation(Activation::relu6(), &Tensor::uninit(&gpu, &[0, 2]).unwrap())
        .unwrap();
    assert_eq!(y.shape(), &[0, 2]);
}

#[test]
fn activation_validate() {
    for (activation, name, value, requirement) in bad_activations() {
        invalid_parameter(err(activation.validate()), name, value, requirement);
    }
    Activation::Relu.validate().unwrap();
    Activation::LeakyRelu { slope: -0.0 }.validate().unwrap();
}

#[test]
fn gpu_activation_with_mask() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[8]);
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.activation_with_mask(activation, &x));
        invalid_parameter(error, name, value, requirement);
    }
    let foreign = input(&other(), &[8]);
    wrong_device(err(gpu.relu_with_mask(&foreign)), "input");
    let error = err(gpu.activation_with_mask(Activation::relu6(), &foreign));
    wrong_device(error, "input");
    let x6 = view(&gpu, &[6], U::STORAGE);
    missing_usage(err(gpu.relu_with_mask(&x6)), TAIL, U::COPY_SRC, U::STORAGE);

    for shape in [&[0][..], &[0, 5], &[5, 0]] {
        let (y, m) = gpu
            .relu_with_mask(&Tensor::uninit(&gpu, shape).unwrap())
            .unwrap();
        assert_eq!((y.shape(), m.len()), (shape, 0));
        assert_eq!(m.row_length(), Some(*shape.last().unwrap()));
        assert_eq!(m.download().unwrap(), Vec::<u32>::new());
    }
}

#[test]
fn gpu_record_activation() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::LeakyRelu { slope: 0.5 };
    let x = input(&gpu, &[40]);
    let y = old(&gpu, &[40]);
    let m = old_mask(&gpu, 40);
    for (activation, name, value, requirement) in bad_activations() {
        let error = refuse(&gpu, |e| {
            gpu.record_activation(e, activation, &x, &y, Some(&m))
        });
        invalid_parameter(error, name, value, requirement);
    }
    let short = old(&gpu, &[39]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, act, &x, &short, Some(&m))
    });
    shape_mismatch(error, "output", 40, 39);
    assert_old(&short);
    for len in [39, 41, 64, 0] {
        let wrong = old_mask(&gpu, len);
        let error = refuse(&gpu, |e| {
            gpu.record_activation(e, act, &x, &y, Some(&wrong))
        });
        shape_mismatch(error, "mask", 40, len);
        assert_old_mask(&wrong);
    }
    let other = other();
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, act, &input(&other, &[40]), &y, None)
    });
    wrong_device(error, "input");
    let foreign_y = old(&other, &[40]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, act, &x, &foreign_y, None)
    });
    wrong_device(error, "output");
    let foreign_mask = old_mask(&other, 40);
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, act, &x, &y, Some(&foreign_mask))
    });
    wrong_device(error, "mask");
    assert_old_mask(&foreign_mask);
    let error = refuse(&gpu, |e| gpu.record_activation(e, act, &x, &x, None));
    aliasing(error, "output");

    // A 6-element input view with an output mask view without COPY_DST.
    let x6 = view(&gpu, &[6], ALL);
    let y6 = old(&gpu, &[6]);
    let (buffer, _) = caller_buffer(&gpu, 1, 1, U::STORAGE | U::COPY_SRC);
    let m6 = Mask::from_buffer(&gpu, &buffer, 0, &[6]).unwrap();
    let error = refuse(&gpu, |e| gpu.record_activation(e, act, &x6, &y6, Some(&m6)));
    missing_usage(error, TAIL, U::COPY_DST, U::STORAGE | U::COPY_SRC);
    assert_old(&y6);
    assert_old_mask(&m6);

    assert_old(&y);
    assert_old_mask(&m);
    accept(&gpu, |e| gpu.record_activation(e, act, &x, &y, Some(&m)));
    assert_eq!(y.download().unwrap(), cpu::forward(act, &values(40)));
}

#[test]
fn gpu_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let dy = input(&gpu, &[40]);
    let m = mask(&gpu, 40);
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.activation_backward(activation, &dy, &m));
        invalid_parameter(error, name, value, requirement);
    }
    for len in [39, 41, 0] {
        let error = err(gpu.relu_backward(&dy, &mask(&gpu, len)));
        shape_mismatch(
            error,
            "upstream gradient (as many elements as the mask)",
            len,
            40,
        );
    }
    let other = other();
    wrong_device(err(gpu.relu_backward(&dy, &mask(&other, 40))), "mask");
    let error = err(gpu.relu_backward(&input(&other, &[40]), &m));
    wrong_device(error, "upstream gradient");
    // A 6-element mask view without COPY_SRC beside a 6-element gradient view.
    let dy6 = view(&gpu, &[6], ALL);
    let (buffer, _) = caller_buffer(&gpu, 1, 1, U::STORAGE | U::COPY_DST);
    let m6 = Mask::from_buffer(&gpu, &buffer, 0, &[6]).unwrap();
    let error = err(gpu.relu_backward(&dy6, &m6));
    missing_usage(error, TAIL, U::COPY_SRC, U::STORAGE | U::COPY_DST);

    let empty = Tensor::uninit(&gpu, &[0, 3]).unwrap();
    let dx = gpu.relu_backward(&empty, &mask(&gpu, 0)).unwrap();
    assert_eq!(dx.shape(), &[0, 3]);
}

#[test]
fn gpu_record_activation_backward() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::relu6();
    let dy = input(&gpu, &[40]);
    let m = mask(&gpu, 40);
    let dx = old(&gpu, &[40]);
    for (activation, name, value, requirement) in bad_activations() {
        let error = refuse(&gpu, |e| {
            gpu.record_activation_backward(e, activation, &dy, &m, &dx)
        });
        invalid_parameter(error, name, value, requirement);
    }
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dy, &mask(&gpu, 41), &dx)
    });
    shape_mismatch(
        error,
        "upstream gradient (as many elements as the mask)",
        41,
        40,
    );
    let short = old(&gpu, &[39]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dy, &m, &short)
    });
    shape_mismatch(error, "gradient output", 40, 39);
    assert_old(&short);
    let other = other();
    let foreign = old(&other, &[40]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dy, &m, &foreign)
    });
    wrong_device(error, "gradient output");
    assert_old(&foreign);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dy, &mask(&other, 40), &dx)
    });
    wrong_device(error, "mask");
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dy, &m, &dy)
    });
    aliasing(error, "gradient output");
    let (buffer, offsets) = caller_buffer(&gpu, 2, 40, ALL);
    let dyv = Tensor::from_buffer(&gpu, &buffer, offsets[0], &[40]).unwrap();
    let dxv = Tensor::from_buffer(&gpu, &buffer, offsets[1], &[40]).unwrap();
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, act, &dyv, &m, &dxv)
    });
    aliasing(error, "gradient output");
    assert_old(&dxv);
    assert_old(&dx);
}

#[test]
fn gpu_activation_backward_from_input() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::LeakyRelu { slope: 0.25 };
    let dy = input(&gpu, &[40]);
    let x = input(&gpu, &[40]);
    for (activation, name, value, requirement) in bad_activations() {
        let error = err(gpu.activation_backward_from_input(activation, &dy, &x));
        invalid_parameter(error, name, value, requirement);
    }
    for len in [39, 41, 0] {
        let error = err(gpu.activation_backward_from_input(act, &dy, &input(&gpu, &[len])));
        shape_mismatch(
            error,
            "upstream gradient (as many elements as the saved input)",
            len,
            40,
        );
    }
    let other = other();
    let error = err(gpu.activation_backward_from_input(act, &dy, &input(&other, &[40])));
    wrong_device(error, "saved input");
    let error = err(gpu.activation_backward_from_input(act, &input(&other, &[40]), &x));
    wrong_device(error, "upstream gradient");
    let x6 = view(&gpu, &[6], U::STORAGE);
    let error = err(gpu.activation_backward_from_input(act, &input(&gpu, &[6]), &x6));
    missing_usage(error, TAIL, U::COPY_SRC, U::STORAGE);
    let empty = Tensor::uninit(&gpu, &[0]).unwrap();
    gpu.activation_backward_from_input(act, &empty, &empty)
        .unwrap();
}

#[test]
fn gpu_record_activation_backward_from_input() {
    let Some(gpu) = gpu() else { return };
    let act = Activation::Relu;
    let dy = input(&gpu, &[40]);
    let x = input(&gpu, &[40]);
    let dx = old(&gpu, &[40]);
    let short = old(&gpu, &[41]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward_from_input(e, act, &dy, &x, &short)
    });
    shape_mismatch(error, "gradient output", 40, 41);
    assert_old(&short);
    let foreign = old(&other(), &[40]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward_from_input(e, act, &dy, &x, &foreign)
    });
    wrong_device(error, "gradient output");
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward_from_input(e, act, &dy, &x, &x)
    });
    aliasing(error, "gradient output");
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward_from_input(e, act, &dy, &x, &dy)
    });
    aliasing(error, "gradient output");
    let bad = Activation::ClippedRelu { cap: -6.0 };
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward_from_input(e, bad, &dy, &x, &dx)
    });
    invalid_parameter(
        error,
        "clipped relu cap",
        -6.0,
        "finite and greater than zero",
    );
    assert_old(&dx);
    assert_eq!(x.download().unwrap(), values(40));
}
