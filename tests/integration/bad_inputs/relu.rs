//! The plain ReLU kernels, convenience and `record_*` forms.

use super::*;

#[test]
fn gpu_relu() {
    let Some(gpu) = gpu() else { return };
    let foreign = input(&other(), &[8]);
    wrong_device(err(gpu.relu(&foreign)), "input");
    // A second Gpu on the very same device is still another Gpu.
    let twin = Gpu::from_device(gpu.device().clone(), gpu.queue().clone()).unwrap();
    wrong_device(err(twin.relu(&input(&gpu, &[8]))), "input");
    // A clone is the same Gpu.
    gpu.clone().relu(&input(&gpu, &[8])).unwrap();

    // An input view of 6 elements without COPY_SRC: its tail cannot be copied.
    let x = view(&gpu, &[6], U::STORAGE);
    missing_usage(err(gpu.relu(&x)), TAIL, U::COPY_SRC, U::STORAGE);

    for shape in [&[0][..], &[0, 7], &[7, 0]] {
        let y = gpu.relu(&Tensor::uninit(&gpu, shape).unwrap()).unwrap();
        assert_eq!((y.shape(), y.download().unwrap()), (shape, vec![]));
    }
    let x = view(&gpu, &[6], ALL);
    x.write(&values(6)).unwrap();
    let y = gpu.relu(&x).unwrap().download().unwrap();
    assert_eq!(y, cpu::relu_forward(&values(6)));
}

#[test]
fn gpu_relu_in_place() {
    let Some(gpu) = gpu() else { return };
    let other = other();
    let mut foreign = old(&other, &[8]);
    wrong_device(err(gpu.relu_in_place(&mut foreign)), "input");
    assert_old(&foreign);

    // A 6-element view needs both copy usages for its tail.
    let mut x = view(&gpu, &[6], U::STORAGE | U::COPY_SRC);
    missing_usage(
        err(gpu.relu_in_place(&mut x)),
        TAIL,
        U::COPY_DST,
        U::STORAGE | U::COPY_SRC,
    );
    assert_old(&x);
    let mut x = view(&gpu, &[6], U::STORAGE);
    missing_usage(
        err(gpu.relu_in_place(&mut x)),
        TAIL,
        U::COPY_SRC | U::COPY_DST,
        U::STORAGE,
    );

    let mut empty = Tensor::uninit(&gpu, &[0, 3]).unwrap();
    gpu.relu_in_place(&mut empty).unwrap();
}

#[test]
fn gpu_record_relu() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[10]);
    for len in [9, 11, 0] {
        let y = old(&gpu, &[len]);
        let error = refuse(&gpu, |e| gpu.record_relu(e, &x, &y));
        shape_mismatch(error, "output", 10, len);
        assert_old(&y);
    }
    let y = old(&gpu, &[10]);
    let error = refuse(&gpu, |e| gpu.record_relu(e, &input(&other(), &[10]), &y));
    wrong_device(error, "input");
    let foreign = old(&other(), &[10]);
    wrong_device(refuse(&gpu, |e| gpu.record_relu(e, &x, &foreign)), "output");
    assert_old(&foreign);

    // The output is the input, or another view of the input's buffer.
    aliasing(refuse(&gpu, |e| gpu.record_relu(e, &x, &x)), "output");
    assert_eq!(x.download().unwrap(), values(10));
    let (buffer, offsets) = caller_buffer(&gpu, 2, 8, ALL);
    let xv = Tensor::from_buffer(&gpu, &buffer, offsets[0], &[8]).unwrap();
    let yv = Tensor::from_buffer(&gpu, &buffer, offsets[1], &[8]).unwrap();
    aliasing(refuse(&gpu, |e| gpu.record_relu(e, &xv, &yv)), "output");
    assert_old(&yv);

    // A 6-element output view without COPY_DST.
    let x6 = input(&gpu, &[6]);
    let yv = view(&gpu, &[6], U::STORAGE | U::COPY_SRC);
    let error = refuse(&gpu, |e| gpu.record_relu(e, &x6, &yv));
    missing_usage(error, TAIL, U::COPY_DST, U::STORAGE | U::COPY_SRC);
    assert_old(&yv);

    // Legal: the same element count in another shape; empty.
    let y = old(&gpu, &[2, 5]);
    accept(&gpu, |e| gpu.record_relu(e, &x, &y));
    assert_eq!(y.download().unwrap(), cpu::relu_forward(&values(10)));
    let (e0, e1) = (old(&gpu, &[0]), old(&gpu, &[0, 4]));
    accept(&gpu, |e| gpu.record_relu(e, &e0, &e1));
}

#[test]
fn gpu_record_relu_in_place() {
    let Some(gpu) = gpu() else { return };
    let mut foreign = old(&other(), &[8]);
    let error = refuse(&gpu, |e| gpu.record_relu_in_place(e, &mut foreign));
    wrong_device(error, "input");
    assert_old(&foreign);
    let mut x = view(&gpu, &[6], U::STORAGE | U::COPY_SRC);
    let error = refuse(&gpu, |e| gpu.record_relu_in_place(e, &mut x));
    missing_usage(error, TAIL, U::COPY_DST, U::STORAGE | U::COPY_SRC);
    assert_old(&x);
}
