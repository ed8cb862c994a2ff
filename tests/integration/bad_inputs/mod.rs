//! Every public entry point with every bad input that applies to it: the
//! exact `Error` variant and its fields, a message that names the value and
//! the limit, no panic, and nothing written (an output still holds its
//! previous data after a refused op, and a refused `record_*` call leaves the
//! encoder with nothing that writes it).
//!
//! Zero-sized shapes are legal and are checked here as `Ok`.
//!
//! Errors of the environment (no adapter, a lost device) are in
//! `errors`; running out of memory is tests/out_of_memory.rs.
//!
//! One module per entry point's section; `fixed_bugs` asserts the fixes of
//! bugs these tests found in src/. This file holds the assertions (one per
//! `Error` variant) and the operands they share.

mod activations;
mod batch;
mod check;
mod downloads;
mod fixed_bugs;
mod fused;
mod mask;
mod options;
mod relu;
mod tensor;

use std::process::Command;
use std::sync::OnceLock;

use wgpu::BufferUsages as U;
use wgpu_activations::{
    Activation, Batch, Error, Gpu, GpuOptions, HostInputs, KernelLayout, KernelShape, Mask, Op,
    OpTensors, Result, Tensor, compare, cpu, parse_backends,
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
        matches!(&error, Error::Aliasing { what: w, .. } if *w == what),
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
    crate::common::gpu()
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

/// Two devices of one adapter of one `wgpu::Instance`: the first wrapped in
/// a `Gpu` (through [`Gpu::from_device`]), the second raw, so that a test
/// can hand the `Gpu` buffers of a device wgpu can tell apart from its own.
fn gpu_and_sibling_device() -> Option<(Gpu, wgpu::Device)> {
    let (_instance, adapter) = crate::common::instance_and_adapter()?;
    let open = || {
        pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("sibling device"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .expect("a second device on the adapter")
    };
    let (device, queue) = open();
    let (sibling, _sibling_queue) = open();
    Some((Gpu::from_device(device, queue).unwrap(), sibling))
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
    let buffer = crate::common::caller_buffer_of(gpu, usage, &vec![OLD; (size / 4) as usize]);
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

/// Names of the fused ops' operands in their errors.
const BIAS: &str = "bias (one per column of the input)";
const DB: &str = "bias gradient (one per column)";
const ROW_LENGTH: &str = "upstream gradient's row length (the mask's)";
