//! Every op on views of a caller's buffers (`Tensor::from_buffer`,
//! `Mask::from_buffer`), on whichever backend WGPU_BACKEND selects (CI runs
//! Vulkan and GL):
//! - inputs are views at aligned, nonzero offsets of one buffer, outputs
//!   views of others, every buffer filled with guard words before, between
//!   and after its views (or with a view ending at the buffer's end);
//! - the `record_*` forms run in the caller's encoder with one submit (the
//!   whole buffers are read back by a copy recorded after them), the
//!   convenience forms on view inputs;
//! - each result agrees with the CPU reference as the other tests hold it
//!   (bit for bit, or with the subnormal-flush allowance), and every byte
//!   outside the output views is unchanged, inputs' buffers entirely;
//! - views of buffers without copy usages work at whole 16-byte vectors
//!   and return `Error::MissingUsage` otherwise, outputs in an input's
//!   buffer return `Error::Aliasing`, and downloads of views through
//!   `record_download` (polled or awaited) and `download`.

mod aliasing;
mod downloads;
mod storage_only;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use wgpu::BufferUsages as Usages;
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Error, Gpu, Mask, Tensor};

use crate::common::recorded::{
    ElementwiseInputs, FusedInputs, check_elementwise_recorded, check_fused_recorded,
};
use crate::common::{
    ArenaLayout, BiasRefs, FULL, GUARD, assert_agrees, assert_bit_exact, assert_db_within_bound,
    assert_mask_exact, assert_mask_within_flush, backward_refs, bias_values, bits, finish_read,
    forward_refs, gpu, read_words, record_read, relu_family, sample, trailing,
};

/// Element counts of the element-wise ops: empty, within one vector,
/// around a vector, around a mask word, and a few primes and larger sizes
/// whose last chunk is partial.
const LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 31, 32, 33, 63, 64, 65, 97, 127, 128, 1000, 1001, 1031, 4099, 8191,
];

/// `[rows, cols]` shapes of the fused ops: one element, short rows ending
/// mid vector and mid mask word, element counts whose last partial chunk
/// starts mid-row (9x7: column 4; 2x33: column 31; 41x13: column 5; 13x101:
/// the last column; 5x4099: column 4084), whole vectors (100x7), and both
/// empty shapes.
const SHAPES: &[[usize; 2]] = &[
    [1, 1],
    [1, 3],
    [3, 5],
    [7, 3],
    [2, 33],
    [9, 7],
    [41, 13],
    [100, 7],
    [13, 101],
    [1, 1031],
    [5, 4099],
    [0, 4],
    [4, 0],
];

/// `f32`s from words.
fn floats(words: &[u32]) -> Vec<f32> {
    words.iter().copied().map(f32::from_bits).collect()
}

/// The convenience forms on view inputs (and `relu_in_place` on a view):
/// results as the reference, the inputs' buffer untouched.
fn check_elementwise_convenience(gpu: &Gpu, len: usize, case: usize) {
    let what = format!("convenience, {len} elements");
    let inputs = ElementwiseInputs::new(
        gpu,
        &relu_family(),
        len,
        case as u64 * 10 + 5,
        FULL,
        trailing(case),
    );
    let mut layout = ArenaLayout::new(gpu);
    layout.add_f32(&sample::activations(5, 99));
    let in_place = layout.add_f32(&inputs.x);
    let in_place_arena = layout.build(gpu, FULL, trailing(case + 1));

    let x = inputs.x(gpu);
    let dy = inputs.dy(gpu);
    let x_data = &inputs.x;
    let relu_ref = cpu::relu_forward(x_data);
    let y = gpu.relu(&x).unwrap();
    assert_eq!(y.shape(), &[len]);
    assert_bit_exact(
        &format!("{what}: relu"),
        x_data,
        &y.download().unwrap(),
        &relu_ref,
    );
    let mut view = in_place_arena.tensor(gpu, in_place, &[len]);
    gpu.relu_in_place(&mut view).unwrap();
    assert_bit_exact(
        &format!("{what}: relu in place (download)"),
        x_data,
        &view.download().unwrap(),
        &relu_ref,
    );
    let got = read_words(gpu, &in_place_arena.buffer);
    in_place_arena.assert_unchanged_outside(&format!("{what}: relu in place"), &got, &[in_place]);
    assert_bit_exact(
        &format!("{what}: relu in place"),
        x_data,
        &in_place_arena.floats(&got, in_place),
        &relu_ref,
    );

    for (a, activation) in relu_family().into_iter().enumerate() {
        let what = format!("{what}, {activation}");
        let (exact, flushed) = forward_refs(activation, x_data);
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        assert_agrees(&format!("{what}: y"), x_data, &y, &exact, &flushed);
        let (y, mask) = gpu.activation_with_mask(activation, &x).unwrap();
        assert_agrees(
            &format!("{what}: y (mask)"),
            x_data,
            &y.download().unwrap(),
            &exact,
            &flushed,
        );
        assert_mask_exact(
            &format!("{what}: mask"),
            &mask.download().unwrap(),
            &inputs.masks[a],
        );
        let (exact, flushed) = backward_refs(activation, &inputs.dy, &inputs.masks[a]);
        let dx = gpu
            .activation_backward(activation, &dy, &inputs.mask(gpu, a))
            .unwrap();
        assert_agrees(
            &format!("{what}: dx"),
            &inputs.dy,
            &dx.download().unwrap(),
            &exact,
            &flushed,
        );
        let dx = gpu
            .activation_backward_from_input(activation, &dy, &x)
            .unwrap();
        let exact = cpu::backward_from_input(activation, &inputs.dy, x_data);
        assert_agrees(
            &format!("{what}: dx from input"),
            &inputs.dy,
            &dx.download().unwrap(),
            &exact,
            &flushed,
        );
    }
    let (y, mask) = gpu.relu_with_mask(&x).unwrap();
    assert_bit_exact(
        &format!("{what}: relu with mask"),
        x_data,
        &y.download().unwrap(),
        &relu_ref,
    );
    let dx = gpu.relu_backward(&dy, &mask).unwrap();
    let expected = cpu::backward(Activation::Relu, &inputs.dy, &inputs.masks[0]);
    assert_bit_exact(
        &format!("{what}: relu backward"),
        &inputs.dy,
        &dx.download().unwrap(),
        &expected,
    );

    let got = read_words(gpu, &inputs.arena.buffer);
    inputs
        .arena
        .assert_unchanged_outside(&format!("{what}: inputs' buffer"), &got, &[]);
}

#[test]
fn elementwise_ops_recorded_on_views() {
    let Some(gpu) = gpu() else { return };
    assert!(crate::common::relu_family().len() >= 3);
    for (case, &len) in LENGTHS.iter().enumerate() {
        check_elementwise_recorded(&gpu, &relu_family(), len, case);
    }
}

#[test]
fn elementwise_ops_on_view_inputs() {
    let Some(gpu) = gpu() else { return };
    for (case, &len) in LENGTHS.iter().enumerate() {
        check_elementwise_convenience(&gpu, len, case);
    }
}

/// The fused convenience forms on view inputs.
fn check_fused_convenience(gpu: &Gpu, shape: [usize; 2], case: usize) {
    let [rows, cols] = shape;
    let what = format!("convenience, {rows}x{cols}");
    let inputs = FusedInputs::new(
        gpu,
        &relu_family(),
        shape,
        2000 + case as u64 * 10,
        FULL,
        trailing(case + 1),
    );
    let (x, b, dy) = (inputs.x(gpu), inputs.b(gpu), inputs.dy(gpu));
    let (exact, flushed) = inputs.bias_add_refs();
    let y = gpu.bias_add(&x, &b).unwrap();
    assert_eq!(y.shape(), &shape);
    assert_agrees(
        &format!("{what}: bias add"),
        &inputs.x,
        &y.download().unwrap(),
        &exact,
        &flushed,
    );
    for (a, activation) in relu_family().into_iter().enumerate() {
        let what = format!("{what}, {activation}");
        let refs = &inputs.refs[a];
        let y = gpu.bias_activation(activation, &x, &b).unwrap();
        assert_agrees(
            &format!("{what}: y"),
            &inputs.x,
            &y.download().unwrap(),
            &refs.y,
            &refs.y_flushed,
        );
        let (y, mask) = gpu.bias_activation_with_mask(activation, &x, &b).unwrap();
        assert_agrees(
            &format!("{what}: y (mask)"),
            &inputs.x,
            &y.download().unwrap(),
            &refs.y,
            &refs.y_flushed,
        );
        let gpu_mask = mask.download().unwrap();
        assert_mask_within_flush(
            &format!("{what}: mask"),
            inputs.len(),
            &gpu_mask,
            &refs.mask,
            &refs.mask_flushed,
        );
        let (dx, db) = gpu
            .bias_activation_backward(activation, &dy, &inputs.mask(gpu, a))
            .unwrap();
        assert_eq!(dx.shape(), &shape);
        assert_eq!(db.shape(), &[cols]);
        let (exact, flushed) = backward_refs(activation, &inputs.dy, &refs.mask);
        assert_agrees(
            &format!("{what}: dx"),
            &inputs.dy,
            &dx.download().unwrap(),
            &exact,
            &flushed,
        );
        assert_db_within_bound(
            &format!("{what}: db"),
            &db.download().unwrap(),
            &exact,
            rows,
        );
    }
    let got = read_words(gpu, &inputs.arena.buffer);
    inputs
        .arena
        .assert_unchanged_outside(&format!("{what}: inputs' buffer"), &got, &[]);
}

#[test]
fn fused_ops_recorded_on_views() {
    let Some(gpu) = gpu() else { return };
    for (case, &shape) in SHAPES.iter().enumerate() {
        check_fused_recorded(&gpu, &relu_family(), shape, case);
    }
}

#[test]
fn fused_ops_on_view_inputs() {
    let Some(gpu) = gpu() else { return };
    for (case, &shape) in SHAPES.iter().enumerate() {
        check_fused_convenience(&gpu, shape, case);
    }
}

/// Views right next to each other: an op on one leaves its neighbours'
/// words alone even where they share a 16-byte vector's worth of space
/// with its last elements (the views' lengths are odd, the next one starts
/// at the next aligned offset).
#[test]
fn neighbouring_output_views_keep_their_contents() {
    let Some(gpu) = gpu() else { return };
    let alignment = gpu.info().min_storage_buffer_offset_alignment as usize;
    let activation = Activation::LeakyRelu { slope: 0.5 };
    for len in [1usize, 3, 5, 7, 33, 65] {
        // Views at consecutive aligned offsets, each as long as fits.
        let stride = len.next_multiple_of(alignment / 4) * 4;
        let count = 4;
        let x = sample::activations(len * count, len as u64);
        let mut layout = ArenaLayout::new(&gpu);
        let parts: Vec<usize> = x.chunks(len).map(|part| layout.add_f32(part)).collect();
        let inputs = layout.build(&gpu, FULL, 0);
        let size = (stride * count) as u64;
        let outputs = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("packed views"),
            size,
            usage: FULL,
            mapped_at_creation: true,
        });
        outputs
            .slice(..)
            .get_mapped_range_mut()
            .unwrap()
            .slice(..)
            .copy_from_slice(bytemuck::cast_slice(&vec![GUARD; size as usize / 4]));
        outputs.unmap();
        let x_views: Vec<Tensor> = (0..count)
            .map(|k| inputs.tensor(&gpu, parts[k], &[len]))
            .collect();
        // Every other view first, then the ones between: each op's
        // neighbours hold results already.
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        for k in (0..count).step_by(2).chain((1..count).step_by(2)) {
            let y = Tensor::from_buffer(&gpu, &outputs, (k * stride) as u64, &[len]).unwrap();
            gpu.record_activation(&mut encoder, activation, &x_views[k], &y, None)
                .unwrap();
        }
        let staging = record_read(&gpu, &mut encoder, &outputs);
        gpu.queue().submit([encoder.finish()]);
        let got = finish_read(&gpu, &staging);
        for k in 0..count {
            let first = k * stride / 4;
            let part = &x[k * len..(k + 1) * len];
            let (exact, flushed) = forward_refs(activation, part);
            assert_agrees(
                &format!("{len} elements, view {k}"),
                part,
                &floats(&got[first..first + len]),
                &exact,
                &flushed,
            );
            let gap = &got[first + len..first + stride / 4];
            assert!(
                gap.iter().all(|&w| w == GUARD),
                "{len} elements: words after view {k} changed: {gap:#x?}"
            );
        }
    }
}
