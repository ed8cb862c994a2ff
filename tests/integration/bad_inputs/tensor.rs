//! `Tensor`: construction, views, reshape, writes and downloads.

use super::*;

#[test]
fn tensor_from_slice() {
    let Some(gpu) = gpu() else { return };
    let t = Tensor::from_slice(&gpu, &[]).unwrap();
    assert_eq!((t.shape(), t.len()), (&[0][..], 0));
    assert_eq!(t.download().unwrap(), Vec::<f32>::new());

    let limit = gpu.info().max_buffer_size;
    if limit <= 4 << 30 {
        // calloc'd: address space only, never touched, refused before upload.
        let data = vec![0.0f32; (limit / 4 + 1) as usize];
        let bytes = (data.len() as u64 * 4).next_multiple_of(16);
        let error = err(Tensor::from_slice(&gpu, &data));
        too_large(error, "tensor", bytes, "max_buffer_size", limit);
    } else {
        eprintln!("max_buffer_size {limit} > 4 GiB: not allocating a slice past it");
    }
}

#[test]
fn tensor_from_slice_with_shape() {
    let Some(gpu) = gpu() else { return };
    let error = err(Tensor::from_slice_with_shape(&gpu, &[1.0; 5], &[2, 3]));
    shape_mismatch(error, "data for shape", 6, 5);
    let error = err(Tensor::from_slice_with_shape(&gpu, &[1.0; 7], &[2, 3]));
    shape_mismatch(error, "data for shape", 6, 7);
    let error = err(Tensor::from_slice_with_shape(&gpu, &[1.0], &[0, 3]));
    shape_mismatch(error, "data for shape", 0, 1);
    // A 0-d tensor holds one element.
    let error = err(Tensor::from_slice_with_shape(&gpu, &[], &[]));
    shape_mismatch(error, "data for shape", 1, 0);
    let error = err(Tensor::from_slice_with_shape(&gpu, &[], &[usize::MAX, 2]));
    shape_overflow(error, &[usize::MAX, 2]);
    let error = err(Tensor::from_slice_with_shape(
        &gpu,
        &[],
        &[1 << 32, 1 << 32],
    ));
    shape_overflow(error, &[1 << 32, 1 << 32]);

    for shape in [&[0][..], &[0, 3], &[3, 0], &[2, 0, 5], &[0, usize::MAX]] {
        let t = Tensor::from_slice_with_shape(&gpu, &[], shape).unwrap();
        assert_eq!((t.shape(), t.len()), (shape, 0));
        assert_eq!(t.download().unwrap(), Vec::<f32>::new());
    }
    let t = Tensor::from_slice_with_shape(&gpu, &[2.5], &[]).unwrap();
    assert_eq!((t.len(), t.cols()), (1, 1));
    assert_eq!(t.download().unwrap(), vec![2.5]);
}

#[test]
fn tensor_uninit() {
    let Some(gpu) = gpu() else { return };
    shape_overflow(
        err(Tensor::uninit(&gpu, &[usize::MAX, 2])),
        &[usize::MAX, 2],
    );
    shape_overflow(
        err(Tensor::uninit(&gpu, &[3, usize::MAX])),
        &[3, usize::MAX],
    );
    // The element count fits usize but not as bytes in u64: over any limit.
    let error = err(Tensor::uninit(&gpu, &[1 << 62]));
    assert!(
        matches!(
            error,
            Error::TooLarge {
                limit_name: "max_buffer_size",
                ..
            }
        ),
        "{error:?}"
    );

    let limit = gpu.info().max_buffer_size;
    let elements = (limit / 4 + 1) as usize;
    let bytes = (elements as u64 * 4).next_multiple_of(16);
    let error = err(Tensor::uninit(&gpu, &[elements]));
    too_large(error, "tensor", bytes, "max_buffer_size", limit);
    let error = err(Tensor::uninit(&gpu, &[2, elements / 2 + 1]));
    let bytes = ((elements / 2 + 1) as u64 * 8).next_multiple_of(16);
    too_large(error, "tensor", bytes, "max_buffer_size", limit);

    for shape in [&[0][..], &[0, 7], &[7, 0]] {
        let t = Tensor::uninit(&gpu, shape).unwrap();
        assert_eq!((t.shape(), t.len()), (shape, 0));
    }
    assert_eq!(Tensor::uninit(&gpu, &[]).unwrap().len(), 1);
}

#[test]
fn tensor_from_buffer() {
    let Some(gpu) = gpu() else { return };
    const WHAT: &str = "tensor view";
    let a = alignment(&gpu);
    let (buffer, _) = caller_buffer(&gpu, 1, (16 * a / 4) as usize, ALL);
    let size = buffer.size();
    assert_eq!(size, 16 * a);

    // Past the end: by one element, starting inside, starting past it, and
    // an offset so large that the end saturates.
    let whole = (size / 4) as usize;
    out_of_bounds(
        err(Tensor::from_buffer(&gpu, &buffer, 0, &[whole + 1])),
        WHAT,
        0,
        size + 4,
        size,
    );
    out_of_bounds(
        err(Tensor::from_buffer(
            &gpu,
            &buffer,
            15 * a,
            &[(a / 4) as usize + 1],
        )),
        WHAT,
        15 * a,
        size + 4,
        size,
    );
    out_of_bounds(
        err(Tensor::from_buffer(&gpu, &buffer, size + a, &[0])),
        WHAT,
        size + a,
        size + a,
        size,
    );
    out_of_bounds(
        err(Tensor::from_buffer(&gpu, &buffer, u64::MAX - 3, &[4])),
        WHAT,
        u64::MAX - 3,
        u64::MAX,
        size,
    );

    // Misaligned: not even an element boundary, and (where the device
    // needs more than 4 bytes) an element boundary that is not enough.
    misaligned(err(Tensor::from_buffer(&gpu, &buffer, 2, &[4])), WHAT, 2, a);
    if a > 4 {
        misaligned(
            err(Tensor::from_buffer(&gpu, &buffer, a + 4, &[4])),
            WHAT,
            a + 4,
            a,
        );
    }

    // No STORAGE usage.
    for usage in [U::COPY_SRC | U::COPY_DST, U::UNIFORM | U::COPY_DST] {
        let (plain, _) = caller_buffer(&gpu, 1, 16, usage);
        let error = err(Tensor::from_buffer(&gpu, &plain, 0, &[4]));
        missing_usage(error, WHAT, U::STORAGE, usage);
    }

    // Shapes whose element count or byte count overflows.
    shape_overflow(
        err(Tensor::from_buffer(&gpu, &buffer, 0, &[usize::MAX, 2])),
        &[usize::MAX, 2],
    );
    shape_overflow(
        err(Tensor::from_buffer(&gpu, &buffer, 0, &[1 << 62])),
        &[1 << 62],
    );

    // A buffer of another device of the same wgpu::Instance.
    let (own, sibling) = gpu_and_sibling_device().unwrap();
    let foreign = sibling.create_buffer(&wgpu::BufferDescriptor {
        label: Some("another device's buffer"),
        size: 256,
        usage: ALL,
        mapped_at_creation: false,
    });
    wrong_device(err(Tensor::from_buffer(&own, &foreign, 0, &[4])), WHAT);

    // Legal: a view of the whole buffer, an empty view at the end, a view
    // of a buffer with STORAGE only.
    let t = Tensor::from_buffer(&gpu, &buffer, 0, &[whole]).unwrap();
    assert_eq!((t.len(), t.offset()), (whole, 0));
    let t = Tensor::from_buffer(&gpu, &buffer, size, &[0, 3]).unwrap();
    assert!(t.is_empty());
    let (storage_only, _) = caller_buffer(&gpu, 1, 16, U::STORAGE);
    Tensor::from_buffer(&gpu, &storage_only, 0, &[16]).unwrap();
}

#[test]
fn tensor_reshape() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[6]);
    let x = x.reshape(&[2, 3]).unwrap();
    assert_eq!((x.shape(), x.cols()), (&[2, 3][..], 3));
    shape_mismatch(err(input(&gpu, &[6]).reshape(&[4, 2])), "reshape", 6, 8);
    shape_mismatch(err(input(&gpu, &[6]).reshape(&[0])), "reshape", 6, 0);
    shape_mismatch(err(input(&gpu, &[6]).reshape(&[])), "reshape", 6, 1);
    shape_overflow(
        err(input(&gpu, &[6]).reshape(&[usize::MAX, 3])),
        &[usize::MAX, 3],
    );
    let empty = Tensor::uninit(&gpu, &[0])
        .unwrap()
        .reshape(&[0, 5])
        .unwrap();
    assert_eq!(empty.shape(), &[0, 5]);
    assert_eq!(x.download().unwrap(), values(6));
}

#[test]
fn tensor_write() {
    let Some(gpu) = gpu() else { return };
    let t = old(&gpu, &[2, 3]);
    let error = err(t.write(&[1.0; 5]));
    shape_mismatch(error, "data written to a tensor", 6, 5);
    shape_mismatch(err(t.write(&[1.0; 7])), "data written to a tensor", 6, 7);
    shape_mismatch(err(t.write(&[])), "data written to a tensor", 6, 0);
    assert_old(&t);

    let v = view(&gpu, &[8], U::STORAGE | U::COPY_SRC);
    let error = err(v.write(&[1.0; 8]));
    missing_usage(
        error,
        "tensor written",
        U::COPY_DST,
        U::STORAGE | U::COPY_SRC,
    );
    assert_old(&v);

    let empty = Tensor::uninit(&gpu, &[0, 4]).unwrap();
    empty.write(&[]).unwrap();
    let v = view(&gpu, &[6], ALL);
    v.write(&values(6)).unwrap();
    assert_eq!(v.download().unwrap(), values(6));
}

#[test]
fn tensor_download() {
    let Some(gpu) = gpu() else { return };
    let v = view(&gpu, &[8], U::STORAGE | U::COPY_DST);
    let error = err(v.download());
    missing_usage(
        error,
        "tensor downloaded",
        U::COPY_SRC,
        U::STORAGE | U::COPY_DST,
    );
    let v = view(&gpu, &[8], U::STORAGE);
    missing_usage(
        err(v.download()),
        "tensor downloaded",
        U::COPY_SRC,
        U::STORAGE,
    );
    assert_eq!(
        Tensor::uninit(&gpu, &[0, 3]).unwrap().download().unwrap(),
        Vec::<f32>::new()
    );
}

#[test]
fn tensor_download_async() {
    let Some(gpu) = gpu() else { return };
    let v = view(&gpu, &[8], U::STORAGE | U::COPY_DST);
    let error = err(pollster::block_on(v.download_async()));
    missing_usage(
        error,
        "tensor downloaded",
        U::COPY_SRC,
        U::STORAGE | U::COPY_DST,
    );
    let empty = Tensor::uninit(&gpu, &[0]).unwrap();
    assert_eq!(
        pollster::block_on(empty.download_async()).unwrap(),
        Vec::<f32>::new()
    );
}

#[test]
fn tensor_record_download() {
    let Some(gpu) = gpu() else { return };
    let v = view(&gpu, &[8], U::STORAGE | U::COPY_DST);
    let error = refuse(&gpu, |encoder| v.record_download(encoder).map(drop));
    missing_usage(
        error,
        "tensor downloaded",
        U::COPY_SRC,
        U::STORAGE | U::COPY_DST,
    );

    // Legal: an empty tensor's download is empty.
    let empty = Tensor::uninit(&gpu, &[0]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mut pending = empty.record_download(&mut encoder).unwrap();
    gpu.queue().submit([encoder.finish()]);
    gpu.wait_idle().unwrap();
    assert_eq!(pending.try_take().unwrap().unwrap(), Vec::<f32>::new());
}
