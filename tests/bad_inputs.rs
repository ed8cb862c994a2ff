//! Every public entry point with every bad input that applies to it: the
//! exact `Error` variant and its fields, a message that names the value and
//! the limit, no panic, and nothing written (an output still holds its
//! previous data after a refused op, and a refused `record_*` call leaves the
//! encoder with nothing that writes it).
//!
//! Zero-sized shapes are legal and are checked here as `Ok`.
//!
//! Errors of the environment (no adapter, a lost device) are in
//! tests/errors.rs; running out of memory is tests/out_of_memory.rs.
//!
//! The tests at the end assert the fixes of bugs these tests found in src/.

mod common;

use std::process::Command;
use std::sync::OnceLock;

use wgpu::BufferUsages as U;
use wgpu_activations::{
    Activation, Batch, Error, Gpu, GpuOptions, KernelShape, Mask, Result, Tensor, check, cpu,
    parse_backends,
};

// ---------------------------------------------------------------------------
// Assertions: one per variant, each checking every field and the message.

/// The error of a call that must fail.
#[track_caller]
fn err<T: std::fmt::Debug>(result: Result<T>) -> Error {
    match result {
        Ok(value) => panic!("expected an error, got Ok({value:?})"),
        Err(error) => error,
    }
}

/// Asserts the error's message contains each of `parts`.
#[track_caller]
fn names(error: &Error, parts: &[&str]) {
    let message = error.to_string();
    for part in parts {
        assert!(
            message.contains(part),
            "message {message:?} does not name {part:?}"
        );
    }
}

#[track_caller]
fn shape_mismatch(error: Error, what: &str, expected: usize, actual: usize) {
    assert!(
        matches!(&error, Error::ShapeMismatch { what: w, expected: e, actual: a }
            if *w == what && *e == expected && *a == actual),
        "expected ShapeMismatch {{ what: {what:?}, expected: {expected}, actual: {actual} }}, \
         got {error:?}"
    );
    names(&error, &[what, &expected.to_string(), &actual.to_string()]);
}

#[track_caller]
fn shape_overflow(error: Error, shape: &[usize]) {
    assert!(
        matches!(&error, Error::ShapeOverflow { shape: s } if s == shape),
        "expected ShapeOverflow {{ shape: {shape:?} }}, got {error:?}"
    );
    names(&error, &[&format!("{shape:?}")]);
}

#[track_caller]
fn invalid_parameter(error: Error, name: &str, value: f32, requirement: &str) {
    assert!(
        matches!(&error, Error::InvalidParameter { name: n, value: v, requirement: r }
            if *n == name && v.to_bits() == value.to_bits() && *r == requirement),
        "expected InvalidParameter {{ name: {name:?}, value: {value}, requirement: \
         {requirement:?} }}, got {error:?}"
    );
    names(&error, &[name, &value.to_string(), requirement]);
}

#[track_caller]
fn too_large(error: Error, what: &str, bytes: u64, limit_name: &str, limit: u64) {
    assert!(
        matches!(&error, Error::TooLarge { what: w, bytes: b, limit_name: n, limit: l }
            if *w == what && *b == bytes && *n == limit_name && *l == limit),
        "expected TooLarge {{ what: {what:?}, bytes: {bytes}, limit_name: {limit_name:?}, \
         limit: {limit} }}, got {error:?}"
    );
    names(
        &error,
        &[what, &bytes.to_string(), limit_name, &limit.to_string()],
    );
}

#[track_caller]
fn misaligned(error: Error, what: &str, offset: u64, alignment: u64) {
    assert!(
        matches!(&error, Error::MisalignedOffset { what: w, offset: o, alignment: a }
            if *w == what && *o == offset && *a == alignment),
        "expected MisalignedOffset {{ what: {what:?}, offset: {offset}, alignment: \
         {alignment} }}, got {error:?}"
    );
    names(
        &error,
        &[
            what,
            &offset.to_string(),
            &alignment.to_string(),
            "min_storage_buffer_offset_alignment",
        ],
    );
}

#[track_caller]
fn out_of_bounds(error: Error, what: &str, offset: u64, end: u64, buffer_size: u64) {
    assert!(
        matches!(&error, Error::OutOfBounds { what: w, offset: o, end: e, buffer_size: s }
            if *w == what && *o == offset && *e == end && *s == buffer_size),
        "expected OutOfBounds {{ what: {what:?}, offset: {offset}, end: {end}, buffer_size: \
         {buffer_size} }}, got {error:?}"
    );
    names(
        &error,
        &[
            what,
            &offset.to_string(),
            &end.to_string(),
            &buffer_size.to_string(),
        ],
    );
}

#[track_caller]
fn wrong_device(error: Error, what: &str) {
    assert!(
        matches!(&error, Error::WrongDevice { what: w } if *w == what),
        "expected WrongDevice {{ what: {what:?} }}, got {error:?}"
    );
    names(&error, &[what]);
}

#[track_caller]
fn aliasing(error: Error, what: &str) {
    assert!(
        matches!(&error, Error::Aliasing { what: w } if *w == what),
        "expected Aliasing {{ what: {what:?} }}, got {error:?}"
    );
    names(&error, &[what]);
}

#[track_caller]
fn missing_usage(error: Error, what: &str, missing: U, actual: U) {
    assert!(
        matches!(&error, Error::MissingUsage { what: w, missing: m, actual: a }
            if *w == what && *m == missing && *a == actual),
        "expected MissingUsage {{ what: {what:?}, missing: {missing:?}, actual: {actual:?} }}, \
         got {error:?}"
    );
    names(
        &error,
        &[what, &format!("{missing:?}"), &format!("{actual:?}")],
    );
}

#[track_caller]
fn unsupported_backend(error: Error, name: &str) {
    assert!(
        matches!(&error, Error::UnsupportedBackend { name: n } if n == name),
        "expected UnsupportedBackend {{ name: {name:?} }}, got {error:?}"
    );
    names(&error, &[&format!("{name:?}"), "vulkan, metal, dx12, gl"]);
}

#[track_caller]
fn invalid_kernel_shape(error: Error, text: &str) {
    assert!(
        matches!(&error, Error::InvalidKernelShape(t) if t == text),
        "expected InvalidKernelShape({text:?}), got {error:?}"
    );
    names(&error, &[&format!("{text:?}"), "WORKGROUP_SIZExCHUNKS"]);
}

#[track_caller]
fn invalid_option(error: Error, name: &str, value: &str, expected: &str) {
    assert!(
        matches!(&error, Error::InvalidOption { name: n, value: v, expected: e }
            if *n == name && v == value && *e == expected),
        "expected InvalidOption {{ name: {name:?}, value: {value:?}, expected: {expected:?} }}, \
         got {error:?}"
    );
    names(&error, &[name, &format!("{value:?}"), expected]);
}

// ---------------------------------------------------------------------------
// Operands.

/// What an output holds before an op that must not write it.
const OLD: f32 = 7.25;
/// What an output mask holds before an op that must not write it (the same
/// bits as [`OLD`], which a caller's buffer holds everywhere).
const OLD_WORD: u32 = OLD.to_bits();

/// The shared adapter, or skip.
fn gpu() -> Option<Gpu> {
    common::gpu()
}

/// A second `Gpu` on the same adapter (its own device and instance).
fn other() -> Gpu {
    static OTHER: OnceLock<Gpu> = OnceLock::new();
    OTHER.get_or_init(|| Gpu::new().unwrap()).clone()
}

/// `n` values of both signs.
fn values(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 - n as f32 / 2.0) * 0.5).collect()
}

/// An input tensor of `shape` holding [`values`].
fn input(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_slice_with_shape(gpu, &values(n), shape).unwrap()
}

/// An output tensor of `shape` holding [`OLD`].
fn old(gpu: &Gpu, shape: &[usize]) -> Tensor {
    let n = shape.iter().product();
    Tensor::from_slice_with_shape(gpu, &vec![OLD; n], shape).unwrap()
}

/// A mask of `len` elements holding [`OLD_WORD`] words.
fn old_mask(gpu: &Gpu, len: usize) -> Mask {
    Mask::from_words(gpu, &vec![OLD_WORD; cpu::mask_words(len)], len).unwrap()
}

/// A mask of `len` elements, every other bit set.
fn mask(gpu: &Gpu, len: usize) -> Mask {
    let bits = (0..len).map(|i| i % 2 == 0);
    Mask::from_words(gpu, &cpu::pack_mask(bits), len).unwrap()
}

#[track_caller]
fn assert_old(tensor: &Tensor) {
    let data = tensor.download().unwrap();
    assert!(
        data.iter().all(|v| v.to_bits() == OLD.to_bits()),
        "an output of a refused op was written: {data:?}"
    );
}

#[track_caller]
fn assert_old_mask(mask: &Mask) {
    let words = mask.download().unwrap();
    assert!(
        words.iter().all(|&w| w == OLD_WORD),
        "a mask of a refused op was written: {words:x?}"
    );
}

/// Runs a `record_*` call that must fail on a fresh encoder, then submits
/// that encoder and waits: whatever the call left recorded has run by the
/// time the caller checks its outputs.
#[track_caller]
fn refuse(gpu: &Gpu, record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>) -> Error {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = err(record(&mut encoder));
    gpu.queue().submit([encoder.finish()]);
    gpu.wait_idle().unwrap();
    error
}

/// Runs a `record_*` call that must succeed and waits for it.
#[track_caller]
fn accept(gpu: &Gpu, record: impl FnOnce(&mut wgpu::CommandEncoder) -> Result<()>) {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    record(&mut encoder).unwrap();
    gpu.queue().submit([encoder.finish()]);
    gpu.wait_idle().unwrap();
}

fn alignment(gpu: &Gpu) -> u64 {
    u64::from(gpu.info().min_storage_buffer_offset_alignment)
}

/// A caller's buffer of `regions` regions of room for `elements` f32 each,
/// each starting at a multiple of the device's storage offset alignment,
/// every byte [`OLD`]; returns it and the regions' byte offsets.
fn caller_buffer(gpu: &Gpu, regions: usize, elements: usize, usage: U) -> (wgpu::Buffer, Vec<u64>) {
    let region = (elements as u64 * 4)
        .max(4)
        .next_multiple_of(alignment(gpu));
    let size = region * regions as u64;
    let buffer = common::caller_buffer_of(gpu, usage, &vec![OLD; (size / 4) as usize]);
    let offsets = (0..regions as u64).map(|r| r * region).collect();
    (buffer, offsets)
}

/// A view of `shape` in a fresh caller's buffer of `usage`, every element [`OLD`].
fn view(gpu: &Gpu, shape: &[usize], usage: U) -> Tensor {
    let (buffer, offsets) = caller_buffer(gpu, 1, shape.iter().product(), usage);
    Tensor::from_buffer(gpu, &buffer, offsets[0], shape).unwrap()
}

/// Every usage a view needs for every op.
const ALL: U = U::STORAGE.union(U::COPY_SRC).union(U::COPY_DST);

/// What the tail of a view whose length is not whole vectors needs.
const TAIL: &str = "a view whose length is not a multiple of 4 elements";

/// Parameters every activation op refuses, with the parameter's name,
/// the value reported and the requirement.
fn bad_activations() -> Vec<(Activation, &'static str, f32, &'static str)> {
    const SLOPE: (&str, &str) = ("leaky relu slope", "finite");
    const CAP: (&str, &str) = ("clipped relu cap", "finite and greater than zero");
    let mut bad = Vec::new();
    for slope in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        bad.push((Activation::LeakyRelu { slope }, SLOPE.0, slope, SLOPE.1));
    }
    for cap in [
        0.0,
        -0.0,
        -1.0,
        -f32::MIN_POSITIVE,
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
    ] {
        bad.push((Activation::ClippedRelu { cap }, CAP.0, cap, CAP.1));
    }
    bad
}

// ---------------------------------------------------------------------------
// Tensor.

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
    let (own, sibling) = common::gpu_and_sibling_device().unwrap();
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

// ---------------------------------------------------------------------------
// Mask.

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
        err(Mask::from_buffer(&gpu, &buffer, 0, len)),
        WHAT,
        0,
        size + 4,
        size,
    );
    out_of_bounds(
        err(Mask::from_buffer(&gpu, &buffer, size + a, 0)),
        WHAT,
        size + a,
        size + a,
        size,
    );
    let words = usize::MAX.div_ceil(32) as u64;
    out_of_bounds(
        err(Mask::from_buffer(&gpu, &buffer, a, usize::MAX)),
        WHAT,
        a,
        a + words * 4,
        size,
    );
    misaligned(err(Mask::from_buffer(&gpu, &buffer, 2, 32)), WHAT, 2, a);
    if a > 4 {
        misaligned(err(Mask::from_buffer(&gpu, &buffer, 4, 32)), WHAT, 4, a);
    }
    let (plain, _) = caller_buffer(&gpu, 1, 16, U::COPY_SRC | U::COPY_DST);
    let error = err(Mask::from_buffer(&gpu, &plain, 0, 32));
    missing_usage(error, WHAT, U::STORAGE, U::COPY_SRC | U::COPY_DST);

    let (own, sibling) = common::gpu_and_sibling_device().unwrap();
    let foreign = sibling.create_buffer(&wgpu::BufferDescriptor {
        label: Some("another device's buffer"),
        size: 256,
        usage: ALL,
        mapped_at_creation: false,
    });
    wrong_device(err(Mask::from_buffer(&own, &foreign, 0, 64)), WHAT);

    let m = Mask::from_buffer(&gpu, &buffer, size, 0).unwrap();
    assert!(m.is_empty());
    let m = Mask::from_buffer(&gpu, &buffer, 0, (size / 4) as usize * 32).unwrap();
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
    let m = Mask::from_buffer(&gpu, &buffer, 0, 128).unwrap();
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

// ---------------------------------------------------------------------------
// ReLU.

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

// ---------------------------------------------------------------------------
// Activations.

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
            common::bits(&y),
            common::bits(&cpu::forward(activation, &values(8)))
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
    let m6 = Mask::from_buffer(&gpu, &buffer, 0, 6).unwrap();
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
        shape_mismatch(error, "mask", 40, len);
    }
    let other = other();
    wrong_device(err(gpu.relu_backward(&dy, &mask(&other, 40))), "mask");
    let error = err(gpu.relu_backward(&input(&other, &[40]), &m));
    wrong_device(error, "upstream gradient");
    // A 6-element mask view without COPY_SRC beside a 6-element gradient view.
    let dy6 = view(&gpu, &[6], ALL);
    let (buffer, _) = caller_buffer(&gpu, 1, 1, U::STORAGE | U::COPY_DST);
    let m6 = Mask::from_buffer(&gpu, &buffer, 0, 6).unwrap();
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
    shape_mismatch(error, "mask", 40, 41);
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
        shape_mismatch(error, "saved input", 40, len);
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

// ---------------------------------------------------------------------------
// Fused bias ops.

const BIAS: &str = "bias (one per column of the input)";

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
    assert_eq!(common::bits(&y), common::bits(&expected));
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
    let Some(gpu) = common::small_binding_gpu(4096) else {
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

const DB: &str = "bias gradient (one per column)";
const ROW_LENGTH: &str = "upstream gradient's row length (the mask's)";

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
        shape_mismatch(error, "mask", 20, len);
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

// ---------------------------------------------------------------------------
// Batch: each method checks as its record_* form does; a refused op records
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
    shape_mismatch(error, "mask", 8, 9);
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
    shape_mismatch(error, "saved input", 8, 7);
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

// ---------------------------------------------------------------------------
// Waiting and downloads.

#[test]
fn gpu_wait_for_submission() {
    let Some(_) = gpu() else { return };
    // A submission index of another device that this one never reached.
    let this = Gpu::new().unwrap();
    let other = Gpu::new().unwrap();
    let mut last = other.batch().submit().unwrap();
    for _ in 0..4 {
        last = other.batch().submit().unwrap();
    }
    let error = err(this.wait_for_submission(last));
    assert!(
        matches!(&error, Error::Wgpu { context, message }
            if context == "waiting for the GPU" && message.contains("submission index")),
        "{error:?}"
    );
}

#[test]
fn pending_download() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[5]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mut pending = x.record_download(&mut encoder).unwrap();
    gpu.queue().submit([encoder.finish()]);
    gpu.wait_idle().unwrap();
    assert_eq!(pending.try_take().unwrap().unwrap(), values(5));
    // Taken once: nothing more, and no panic.
    assert!(pending.try_take().is_none());
    assert!(pending.try_take().is_none());
}

// ---------------------------------------------------------------------------
// Options, backends, kernel shapes.

#[test]
fn parse_backends_refuses_unknown_names() {
    for (list, name) in [
        ("vulkan,bogus", "bogus"),
        ("bogus, vulkan", "bogus"),
        ("vulkan;gl", "vulkan;gl"),
        ("", ""),
        (" , ", " , "),
        ("webgpu", "webgpu"),
        ("noop", "noop"),
    ] {
        unsupported_backend(err(parse_backends(list)), name);
    }
    #[cfg(target_os = "linux")]
    for (list, name) in [("metal", "metal"), ("gl,dx12", "dx12"), ("mtl", "mtl")] {
        unsupported_backend(err(parse_backends(list)), name);
    }
    assert_eq!(
        parse_backends(" VULKAN , gl ,").unwrap(),
        wgpu::Backends::VULKAN | wgpu::Backends::GL
    );
    assert_eq!(parse_backends("vk,vk").unwrap(), wgpu::Backends::VULKAN);
}

#[test]
fn kernel_shape_parsing() {
    for text in [
        "",
        "64",
        "x",
        "64x",
        "x2",
        "64*2",
        "64X2",
        "64x2x1",
        "-1x2",
        "1.5x2",
        "64x-1",
        "4294967296x1",
        "0x1 0",
    ] {
        invalid_kernel_shape(err(text.parse::<KernelShape>()), text);
    }
    let shape: KernelShape = " 64 x 2 ".parse().unwrap();
    assert_eq!((shape.workgroup_size, shape.chunks_per_invocation), (64, 2));
    // Parsing takes any numbers; validating is the device's job.
    let zero: KernelShape = "0x0".parse().unwrap();
    assert_eq!(zero.workgroup_size, 0);
}

const WORKGROUP: (&str, &str) = (
    "kernel shape's workgroup size",
    "between 1 and 256 and within the device's workgroup limits",
);
const CHUNKS: (&str, &str) = ("kernel shape's chunks per invocation", "at least 1");

fn shape(workgroup_size: u32, chunks_per_invocation: u32) -> KernelShape {
    KernelShape {
        workgroup_size,
        chunks_per_invocation,
    }
}

#[test]
fn kernel_shape_validate() {
    let limits = wgpu::Limits::default();
    let error = err(shape(0, 1).validate(&limits));
    invalid_parameter(error, WORKGROUP.0, 0.0, WORKGROUP.1);
    let error = err(shape(257, 1).validate(&limits));
    invalid_parameter(error, WORKGROUP.0, 257.0, WORKGROUP.1);
    let error = err(shape(64, 0).validate(&limits));
    invalid_parameter(error, CHUNKS.0, 0.0, CHUNKS.1);
    let small = wgpu::Limits {
        max_compute_invocations_per_workgroup: 32,
        ..limits.clone()
    };
    let error = err(shape(64, 1).validate(&small));
    invalid_parameter(error, WORKGROUP.0, 64.0, WORKGROUP.1);
    shape(256, 1000).validate(&limits).unwrap();
    shape(1, 1).validate(&limits).unwrap();
}

#[test]
fn gpu_with_options() {
    let Some(_) = gpu() else { return };
    let options = GpuOptions::from_env().unwrap();
    for (bad, name, value, requirement) in [
        (shape(0, 1), WORKGROUP.0, 0.0, WORKGROUP.1),
        (shape(512, 1), WORKGROUP.0, 512.0, WORKGROUP.1),
        (shape(64, 0), CHUNKS.0, 0.0, CHUNKS.1),
    ] {
        let options = GpuOptions {
            kernel_shape: Some(bad),
            ..options.clone()
        };
        let error = err(Gpu::with_options(&options));
        invalid_parameter(error, name, value, requirement);
        let error = err(pollster::block_on(Gpu::with_options_async(&options)));
        invalid_parameter(error, name, value, requirement);
    }
    let none = GpuOptions {
        backends: wgpu::Backends::empty(),
        ..options.clone()
    };
    let error = err(Gpu::with_options(&none));
    assert!(matches!(&error, Error::NoAdapter(_)), "{error:?}");
}

#[test]
fn gpu_from_device_with_shape() {
    let Some((_instance, adapter)) = common::instance_and_adapter() else {
        return;
    };
    for (bad, name, value, requirement) in [
        (shape(0, 4), WORKGROUP.0, 0.0, WORKGROUP.1),
        (shape(300, 1), WORKGROUP.0, 300.0, WORKGROUP.1),
        (shape(1, 0), CHUNKS.0, 0.0, CHUNKS.1),
    ] {
        let (device, queue) =
            pollster::block_on(adapter.request_device(&Default::default())).unwrap();
        let error = err(Gpu::from_device_with_shape(device, queue, bad));
        invalid_parameter(error, name, value, requirement);
    }
}

/// The variable `from_env_child` reads: which case to check.
const FROM_ENV_CASE: &str = "BAD_INPUTS_FROM_ENV_CASE";

/// `GpuOptions::from_env` and `Gpu::new` with bad variables, each in a child
/// process of this test binary (`from_env_child`), since the environment is
/// shared by every test thread.
#[test]
fn gpu_options_from_env() {
    let Some(_) = gpu() else { return };
    for (case, variable, value) in [
        ("backend", "WGPU_BACKEND", "vulkan,bogus"),
        ("kernel_shape", "WGPU_ACTIVATIONS_KERNEL_SHAPE", "64"),
        ("kernel_shape_zero", "WGPU_ACTIVATIONS_KERNEL_SHAPE", "0x1"),
        ("uniform_bias", "WGPU_ACTIVATIONS_UNIFORM_BIAS", "yes"),
        (
            "adapter_name",
            "WGPU_ADAPTER_NAME",
            "no adapter is called this",
        ),
    ] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "from_env_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FROM_ENV_CASE, case)
            .env(variable, value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("from_env case {case}: checked")),
            "{variable}={value:?}: the child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Part of `gpu_options_from_env`: does nothing unless that test set
/// `BAD_INPUTS_FROM_ENV_CASE` in this (child) process's environment.
#[test]
fn from_env_child() {
    let Ok(case) = std::env::var(FROM_ENV_CASE) else {
        return;
    };
    match case.as_str() {
        "backend" => {
            unsupported_backend(err(GpuOptions::from_env()), "bogus");
            unsupported_backend(err(Gpu::new()), "bogus");
        }
        "kernel_shape" => {
            invalid_kernel_shape(err(GpuOptions::from_env()), "64");
            invalid_kernel_shape(err(Gpu::new()), "64");
        }
        "kernel_shape_zero" => {
            assert_eq!(
                GpuOptions::from_env().unwrap().kernel_shape,
                Some(shape(0, 1))
            );
            invalid_parameter(err(Gpu::new()), WORKGROUP.0, 0.0, WORKGROUP.1);
        }
        "uniform_bias" => {
            let expected = "1, true, 0 or false";
            let name = "WGPU_ACTIVATIONS_UNIFORM_BIAS";
            invalid_option(err(GpuOptions::from_env()), name, "yes", expected);
            invalid_option(err(Gpu::new()), name, "yes", expected);
        }
        "power_pref" => {
            let error = err(GpuOptions::from_env());
            assert!(
                matches!(&error, Error::InvalidOption { name: "WGPU_POWER_PREF", value, .. }
                    if value == "fastest"),
                "{error:?}"
            );
        }
        "adapter_name" => {
            let error = err(Gpu::new());
            assert!(
                matches!(&error, Error::NoAdapter(m) if m.contains("no adapter is called this")),
                "{error:?}"
            );
        }
        other => panic!("unknown case {other}"),
    }
    println!("from_env case {case}: checked");
}

// ---------------------------------------------------------------------------
// check.

#[test]
fn check_run() {
    let Some(gpu) = gpu() else { return };
    let inputs = check::Inputs::generate(64, 1);
    let bad = Activation::LeakyRelu { slope: f32::NAN };
    for op in [
        check::Op::Forward(bad),
        check::Op::ForwardWithMask(bad),
        check::Op::BackwardFromMask(bad),
        check::Op::BackwardFromInput(bad),
        check::Op::BiasForward(bad),
        check::Op::BiasForwardWithMask(bad),
        check::Op::BiasBackward(bad),
    ] {
        let error = err(check::run(&gpu, op, &inputs));
        invalid_parameter(error, "leaky relu slope", f32::NAN, "finite");
    }
    // Legal: no data; no bias (the fused ops then have no rows); a bias
    // longer than the data.
    let cases = [
        check::Inputs::generate(0, 2),
        check::Inputs {
            x: values(8),
            dy: values(8),
            bias: Vec::new(),
        },
        check::Inputs {
            x: values(3),
            dy: values(3),
            bias: values(5),
        },
    ];
    for inputs in &cases {
        for op in check::Op::all() {
            let report = check::run(&gpu, op, inputs).unwrap();
            assert!(report.passed(), "{op}: {:?}", report.first_mismatch);
        }
    }
}

// ---------------------------------------------------------------------------
// Bugs these tests found in src/, now fixed.

/// A mask that shares a buffer with an input (forward) or the output
/// (backward) is bound read-only and writable in one dispatch; wgpu refuses
/// the dispatch at submit, so the `record_*` form returns `Ok` and the
/// caller's own submit fails (the op silently never runs).
#[test]
fn mask_sharing_a_buffer_with_a_tensor_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let (buffer, offsets) = caller_buffer(&gpu, 2, 64, ALL);
    let m = Mask::from_buffer(&gpu, &buffer, offsets[0], 64).unwrap();
    let x = Tensor::from_buffer(&gpu, &buffer, offsets[1], &[64]).unwrap();
    let y = old(&gpu, &[64]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, Activation::Relu, &x, &y, Some(&m))
    });
    assert!(matches!(error, Error::Aliasing { .. }), "{error:?}");
    let dy = input(&gpu, &[64]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, Activation::Relu, &dy, &m, &x)
    });
    assert!(matches!(error, Error::Aliasing { .. }), "{error:?}");
}

/// `ensure_owns` maps every validation error of its probe to WrongDevice.
#[test]
fn destroyed_buffer_is_not_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let (buffer, _) = caller_buffer(&gpu, 1, 16, ALL);
    buffer.destroy();
    let error = err(Tensor::from_buffer(&gpu, &buffer, 0, &[4]));
    assert!(!matches!(error, Error::WrongDevice { .. }), "{error:?}");
}

/// `check::run` slices `dy[..x.len()]` without checking its length.
#[test]
fn check_run_with_short_dy_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let inputs = check::Inputs {
        x: values(8),
        dy: values(4),
        bias: values(2),
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        check::run(&gpu, check::Op::ReluForward, &inputs)
    }));
    let error = err(result.expect("check::run panicked"));
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error:?}");
}

/// `storage_bytes` reports the element count as the shape.
#[test]
fn uninit_overflow_reports_the_given_shape() {
    let Some(gpu) = gpu() else { return };
    let error = err(Tensor::uninit(&gpu, &[2, 1 << 62]));
    assert!(
        matches!(&error, Error::ShapeOverflow { shape } if shape == &[2, 1 << 62])
            || matches!(
                &error,
                Error::TooLarge {
                    limit_name: "max_buffer_size",
                    ..
                }
            ),
        "{error:?}"
    );
}

/// `element_count` stops at the first overflow, before a later 0.
#[test]
fn shape_with_a_zero_has_no_elements() {
    let Some(gpu) = gpu() else { return };
    // [0, MAX, 2] is empty; so is [MAX, 2, 0].
    assert!(
        Tensor::uninit(&gpu, &[0, usize::MAX, 2])
            .unwrap()
            .is_empty()
    );
    assert!(
        Tensor::uninit(&gpu, &[usize::MAX, 2, 0])
            .unwrap()
            .is_empty()
    );
}

/// `compare_exact` checks three lengths but reports two.
#[test]
fn compare_exact_names_the_wrong_length() {
    let error = err(check::compare_exact(
        check::Op::ReluForward,
        &[1.0, 2.0],
        &[1.0, 2.0, 3.0],
        &[1.0, 2.0, 3.0],
    ));
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 3,
                actual: 2,
                ..
            }
        ),
        "{error:?}"
    );
}

/// A download whose encoder was never submitted stays pending: no zeros.
#[test]
fn download_before_submit_is_not_zeros() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[4]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mut pending = x.record_download(&mut encoder).unwrap();
    gpu.wait_idle().unwrap();
    let early = pending.try_take();
    assert!(
        early.is_none() || early.as_ref().is_some_and(|r| r.is_err()),
        "before the submit: {early:?}"
    );
}

/// `WGPU_POWER_PREF` goes through wgpu's own helper, which ignores what it
/// does not know, unlike `WGPU_BACKEND`.
#[test]
fn unknown_power_preference_is_invalid_option() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "from_env_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FROM_ENV_CASE, "power_pref")
        .env("WGPU_POWER_PREF", "fastest")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "WGPU_POWER_PREF=fastest:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
