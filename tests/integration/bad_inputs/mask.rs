//! `Mask`: construction, views, row length and downloads.

use super::*;

#[test]
fn mask_uninit() {
    let Some(gpu) = gpu() else { return };
    let limit = gpu.info().max_buffer_size;
    let words = limit / 4 + 1;
    let error = err(Mask::uninit(&gpu, words as usize * 32));
    too_large(
        error,
        "mask",
        (words * 4).next_multiple_of(16),
        "max_buffer_size",
        limit,
    );
    let words = usize::MAX.div_ceil(32) as u64;
    let error = err(Mask::uninit(&gpu, usize::MAX));
    too_large(error, "mask", words * 4, "max_buffer_size", limit);

    let empty = Mask::uninit(&gpu, 0).unwrap();
    assert_eq!((empty.len(), empty.words()), (0, 0));
    assert_eq!(empty.download().unwrap(), Vec::<u32>::new());
}

#[test]
fn mask_from_words() {
    let Some(gpu) = gpu() else { return };
    const WHAT: &str = "mask words for the element count";
    shape_mismatch(err(Mask::from_words(&gpu, &[1], 33)), WHAT, 2, 1);
    shape_mismatch(err(Mask::from_words(&gpu, &[1, 2], 32)), WHAT, 1, 2);
    shape_mismatch(err(Mask::from_words(&gpu, &[1], 0)), WHAT, 0, 1);
    shape_mismatch(err(Mask::from_words(&gpu, &[], 1)), WHAT, 1, 0);
    let empty = Mask::from_words(&gpu, &[], 0).unwrap();
    assert_eq!(empty.download().unwrap(), Vec::<u32>::new());
}

#[test]
fn mask_from_buffer() {
    let Some(gpu) = gpu() else { return };
    const WHAT: &str = "mask view";
    let a = alignment(&gpu);
    let (buffer, _) = caller_buffer(&gpu, 1, (16 * a / 4) as usize, ALL);
    let size = buffer.size();
    // One word too many: 4a words fit, 4a + 1 do not.
    let len = (size / 4) as usize * 32 + 1;
    out_of_bounds(
        err(Mask::from_buffer(&gpu, &buffer, 0, &[len])),
        WHAT,
        0,
        size + 4,
        size,
    );
    out_of_bounds(
        err(Mask::from_buffer(&gpu, &buffer, size + a, &[0])),
        WHAT,
        size + a,
        size + a,
        size,
    );
    let words = usize::MAX.div_ceil(32) as u64;
    out_of_bounds(
        err(Mask::from_buffer(&gpu, &buffer, a, &[usize::MAX])),
        WHAT,
        a,
        a + words * 4,
        size,
    );
    misaligned(err(Mask::from_buffer(&gpu, &buffer, 2, &[32])), WHAT, 2, a);
    if a > 4 {
        misaligned(err(Mask::from_buffer(&gpu, &buffer, 4, &[32])), WHAT, 4, a);
    }
    let (plain, _) = caller_buffer(&gpu, 1, 16, U::COPY_SRC | U::COPY_DST);
    let error = err(Mask::from_buffer(&gpu, &plain, 0, &[32]));
    missing_usage(error, WHAT, U::STORAGE, U::COPY_SRC | U::COPY_DST);

    let (own, sibling) = gpu_and_sibling_device().unwrap();
    let foreign = sibling.create_buffer(&wgpu::BufferDescriptor {
        label: Some("another device's buffer"),
        size: 256,
        usage: ALL,
        mapped_at_creation: false,
    });
    wrong_device(err(Mask::from_buffer(&own, &foreign, 0, &[64])), WHAT);

    let m = Mask::from_buffer(&gpu, &buffer, size, &[0]).unwrap();
    assert!(m.is_empty());
    let m = Mask::from_buffer(&gpu, &buffer, 0, &[(size / 4) as usize * 32]).unwrap();
    assert_eq!(m.words() as u64, size / 4);
}

#[test]
fn mask_with_row_length() {
    let Some(gpu) = gpu() else { return };
    const WHAT: &str = "mask row length (must divide its element count)";
    shape_mismatch(err(mask(&gpu, 10).with_row_length(3)), WHAT, 10, 3);
    shape_mismatch(err(mask(&gpu, 10).with_row_length(0)), WHAT, 10, 0);
    shape_mismatch(err(mask(&gpu, 10).with_row_length(20)), WHAT, 10, 20);
    let m = mask(&gpu, 12).with_row_length(4).unwrap();
    assert_eq!(m.row_length(), Some(4));
    assert_eq!(
        mask(&gpu, 0).with_row_length(5).unwrap().row_length(),
        Some(5)
    );
    assert_eq!(
        mask(&gpu, 0).with_row_length(0).unwrap().row_length(),
        Some(0)
    );
}

#[test]
fn mask_download() {
    let Some(gpu) = gpu() else { return };
    let (buffer, _) = caller_buffer(&gpu, 1, 4, U::STORAGE | U::COPY_DST);
    let m = Mask::from_buffer(&gpu, &buffer, 0, &[128]).unwrap();
    let error = err(m.download());
    missing_usage(
        error,
        "mask downloaded",
        U::COPY_SRC,
        U::STORAGE | U::COPY_DST,
    );
    let error = refuse(&gpu, |encoder| m.record_download(encoder).map(drop));
    missing_usage(
        error,
        "mask downloaded",
        U::COPY_SRC,
        U::STORAGE | U::COPY_DST,
    );
    assert_eq!(mask(&gpu, 0).download().unwrap(), Vec::<u32>::new());
}

/// A mask view carries its forward's shape: given a `dy` of the same element
/// count but another shape, the fused backward refuses it (naming `dy`'s row
/// length) instead of summing `db` over the wrong columns.
#[test]
fn a_mask_view_knows_its_forwards_shape() {
    let Some(gpu) = gpu() else { return };
    let usage = U::STORAGE | U::COPY_SRC | U::COPY_DST;
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 64 * 256 / 8,
        usage,
        mapped_at_creation: false,
    });
    let mask = Mask::from_buffer(&gpu, &buffer, 0, &[64, 256]).unwrap();
    assert_eq!((mask.len(), mask.row_length()), (64 * 256, Some(256)));
    let dy = input(&gpu, &[128, 128]);
    let (dx, db) = (old(&gpu, &[128, 128]), old(&gpu, &[128]));
    let error = refuse(&gpu, |e| {
        gpu.record_bias_activation_backward(e, Activation::Relu, &dy, &mask, &dx, &db)
    });
    shape_mismatch(
        error,
        "upstream gradient's row length (the mask's)",
        256,
        128,
    );
    assert_old(&dx);
    assert_old(&db);
    // The same dy shape as the forward's is accepted.
    let dy = input(&gpu, &[64, 256]);
    let (dx, db) = (old(&gpu, &[64, 256]), old(&gpu, &[256]));
    accept(&gpu, |e| {
        gpu.record_bias_activation_backward(e, Activation::Relu, &dy, &mask, &dx, &db)
    });
}
