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

mod common;

use std::future::IntoFuture;
use std::time::{Duration, Instant};

use common::{
    ArenaLayout, BiasRefs, ElementwiseInputs, FULL, FusedInputs, GUARD, activations, assert_agrees,
    assert_bit_exact, assert_db_within_bound, assert_mask_exact, assert_mask_within_flush,
    backward_refs, bias_values, bits, check_elementwise_recorded, check_fused_recorded,
    finish_read, forward_refs, gpu, read_words, record_read, trailing,
};
use wgpu::BufferUsages as Usages;
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Error, Gpu, Mask, Tensor, sample};

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
        &activations(),
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

    for (a, activation) in activations().into_iter().enumerate() {
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
    assert!(common::activations().len() >= 3);
    for (case, &len) in LENGTHS.iter().enumerate() {
        check_elementwise_recorded(&gpu, &activations(), len, case);
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
        &activations(),
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
    for (a, activation) in activations().into_iter().enumerate() {
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
        check_fused_recorded(&gpu, &activations(), shape, case);
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

/// Buffers with `STORAGE` usage alone, as an engine may make them, read
/// back without copies: a view of the whole buffer (a multiple of 16
/// bytes, so no copy is needed) through relu backward from an all-positive
/// input, which passes `dy`'s bits through unchanged.
fn read_storage_only(gpu: &Gpu, buffer: &wgpu::Buffer) -> Vec<u32> {
    let len = (buffer.size() / 4) as usize;
    assert!(len.is_multiple_of(4));
    let whole = Tensor::from_buffer(gpu, buffer, 0, &[len]).unwrap();
    let ones = Tensor::from_slice(gpu, &vec![1.0; len]).unwrap();
    let copy = gpu
        .activation_backward_from_input(Activation::Relu, &whole, &ones)
        .unwrap();
    bits(&copy.download().unwrap())
}

/// Trailing bytes that make an arena's buffer a multiple of 16 bytes long,
/// with at least one alignment of guard after its last view.
fn to_whole_vectors(layout: &ArenaLayout, gpu: &Gpu) -> u64 {
    let end = layout.end() + u64::from(gpu.info().min_storage_buffer_offset_alignment);
    end.next_multiple_of(16) - layout.end()
}

#[test]
fn storage_only_views_of_whole_vectors_need_no_copy_usage() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: -1.5 };
    // Element counts that are whole vectors; 7x4 and 3x12 fused shapes
    // start a chunk mid-row.
    for (case, (len, cols)) in [(4, 1), (8, 4), (28, 4), (36, 12), (1000, 10), (4100, 41)]
        .into_iter()
        .enumerate()
    {
        let rows = len / cols;
        let what = format!("storage only, {len} elements ({rows}x{cols})");
        let x = sample::activations(len, 300 + case as u64);
        let dy = sample::activations(len, 400 + case as u64);
        let b = bias_values(cols, 500 + case as u64);
        let mask = cpu::forward_with_mask(activation, &x).1;
        let refs = BiasRefs::new(activation, &x, &b);
        let mut layout = ArenaLayout::new(&gpu);
        let regions = [
            layout.add_f32(&x),
            layout.add_f32(&dy),
            layout.add_f32(&b),
            layout.add(mask.clone()),
            layout.add(refs.mask.clone()),
        ];
        let trailing = to_whole_vectors(&layout, &gpu);
        let inputs = layout.build(&gpu, Usages::STORAGE, trailing);
        let mut layout = ArenaLayout::new(&gpu);
        let words = cpu::mask_words(len);
        let out = [
            layout.add_output(len),   // relu
            layout.add_f32(&x),       // relu in place
            layout.add_output(len),   // activation
            layout.add_output(words), // its mask
            layout.add_output(len),   // dx from mask
            layout.add_output(len),   // dx from input
            layout.add_output(len),   // bias add
            layout.add_output(len),   // bias activation
            layout.add_output(words), // its mask
            layout.add_output(len),   // fused dx
        ];
        let trailing = to_whole_vectors(&layout, &gpu);
        let outputs = layout.build(&gpu, Usages::STORAGE, trailing);
        let mut layout = ArenaLayout::new(&gpu);
        let db_region = layout.add_output(cols);
        let trailing = to_whole_vectors(&layout, &gpu);
        let gradients = layout.build(&gpu, Usages::STORAGE, trailing);

        let input = |r: usize, shape: &[usize]| inputs.tensor(&gpu, regions[r], shape);
        let output = |r: usize, shape: &[usize]| outputs.tensor(&gpu, out[r], shape);
        let (xv, dyv) = (input(0, &[rows, cols]), input(1, &[rows, cols]));
        let bv = input(2, &[cols]);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_relu(&mut encoder, &xv, &output(0, &[len]))
            .unwrap();
        gpu.record_relu_in_place(&mut encoder, &mut output(1, &[len]))
            .unwrap();
        let mask_out = outputs.mask(&gpu, out[3], len);
        gpu.record_activation(
            &mut encoder,
            activation,
            &xv,
            &output(2, &[len]),
            Some(&mask_out),
        )
        .unwrap();
        let mask_in = inputs.mask(&gpu, regions[3], len);
        gpu.record_activation_backward(
            &mut encoder,
            activation,
            &dyv,
            &mask_in,
            &output(4, &[len]),
        )
        .unwrap();
        gpu.record_activation_backward_from_input(
            &mut encoder,
            activation,
            &dyv,
            &xv,
            &output(5, &[len]),
        )
        .unwrap();
        gpu.record_bias_add(&mut encoder, &xv, &bv, &output(6, &[rows, cols]))
            .unwrap();
        // A bias without COPY_SRC cannot be staged into a uniform buffer:
        // the kernel reads it from storage.
        let bias_mask = outputs.mask(&gpu, out[8], len);
        gpu.record_bias_activation(
            &mut encoder,
            activation,
            &xv,
            &bv,
            &output(7, &[rows, cols]),
            Some(&bias_mask),
        )
        .unwrap();
        let fused_mask = inputs.mask(&gpu, regions[4], len);
        let db = gradients.tensor(&gpu, db_region, &[cols]);
        gpu.record_bias_activation_backward(
            &mut encoder,
            activation,
            &dyv,
            &fused_mask,
            &output(9, &[rows, cols]),
            &db,
        )
        .unwrap();
        gpu.queue().submit([encoder.finish()]);

        let got = read_storage_only(&gpu, &inputs.buffer);
        inputs.assert_unchanged_outside(&format!("{what}: inputs' buffer"), &got, &[]);
        let got = read_storage_only(&gpu, &outputs.buffer);
        outputs.assert_unchanged_outside(&format!("{what}: outputs' buffer"), &got, &out);
        let got_db = read_storage_only(&gpu, &gradients.buffer);
        gradients.assert_unchanged_outside(&format!("{what}: db buffer"), &got_db, &[db_region]);

        let relu = cpu::relu_forward(&x);
        assert_bit_exact(
            &format!("{what}: relu"),
            &x,
            &outputs.floats(&got, out[0]),
            &relu,
        );
        assert_bit_exact(
            &format!("{what}: relu in place"),
            &x,
            &outputs.floats(&got, out[1]),
            &relu,
        );
        let (exact, flushed) = forward_refs(activation, &x);
        assert_agrees(
            &format!("{what}: activation"),
            &x,
            &outputs.floats(&got, out[2]),
            &exact,
            &flushed,
        );
        assert_mask_exact(&format!("{what}: mask"), outputs.words(&got, out[3]), &mask);
        let (exact, flushed) = backward_refs(activation, &dy, &mask);
        assert_agrees(
            &format!("{what}: dx"),
            &dy,
            &outputs.floats(&got, out[4]),
            &exact,
            &flushed,
        );
        assert_agrees(
            &format!("{what}: dx from input"),
            &dy,
            &outputs.floats(&got, out[5]),
            &exact,
            &flushed,
        );
        let (exact, flushed) = (
            cpu::bias_add(&x, &b, Subnormals::Preserve),
            cpu::bias_add(&x, &b, Subnormals::FlushToZero),
        );
        assert_agrees(
            &format!("{what}: bias add"),
            &x,
            &outputs.floats(&got, out[6]),
            &exact,
            &flushed,
        );
        assert_agrees(
            &format!("{what}: bias activation"),
            &x,
            &outputs.floats(&got, out[7]),
            &refs.y,
            &refs.y_flushed,
        );
        assert_mask_within_flush(
            &format!("{what}: bias mask"),
            len,
            outputs.words(&got, out[8]),
            &refs.mask,
            &refs.mask_flushed,
        );
        let (exact, flushed) = backward_refs(activation, &dy, &refs.mask);
        assert_agrees(
            &format!("{what}: fused dx"),
            &dy,
            &outputs.floats(&got, out[9]),
            &exact,
            &flushed,
        );
        assert_db_within_bound(
            &format!("{what}: db"),
            &gradients.floats(&got_db, db_region),
            &exact,
            rows,
        );

        // Reading a view back needs COPY_SRC, writing one COPY_DST.
        let missing = |error: Error, usage: Usages| {
            assert!(
                matches!(error, Error::MissingUsage { missing, .. } if missing == usage),
                "{what}: {error:?}"
            );
        };
        missing(xv.download().unwrap_err(), Usages::COPY_SRC);
        missing(mask_in.download().unwrap_err(), Usages::COPY_SRC);
        missing(xv.write(&x).unwrap_err(), Usages::COPY_DST);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        missing(
            xv.record_download(&mut encoder).err().unwrap(),
            Usages::COPY_SRC,
        );
        missing(
            mask_in.record_download(&mut encoder).err().unwrap(),
            Usages::COPY_SRC,
        );
    }
}

/// Which buffer of an op lacks which copy usage, and what the op reports.
#[derive(Clone, Copy, Debug)]
enum Missing {
    /// The inputs' buffer is `STORAGE` only: COPY_SRC is missing.
    InputCopySrc,
    /// The outputs' buffer is `STORAGE | COPY_SRC`: COPY_DST is missing.
    OutputCopyDst,
}

#[test]
fn storage_only_views_of_partial_vectors_are_missing_usage() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::relu6();
    for (len, cols) in [(1, 1), (3, 3), (5, 5), (33, 11), (1001, 7)] {
        let rows = len / cols;
        for missing in [Missing::InputCopySrc, Missing::OutputCopyDst] {
            let what = format!("{len} elements, {missing:?}");
            let (input_usage, output_usage, expected) = match missing {
                Missing::InputCopySrc => (Usages::STORAGE, FULL, Usages::COPY_SRC),
                Missing::OutputCopyDst => {
                    (FULL, Usages::STORAGE | Usages::COPY_SRC, Usages::COPY_DST)
                }
            };
            let x = sample::activations(len, len as u64);
            let dy = sample::activations(len, len as u64 + 1);
            let b = bias_values(cols, 7);
            let mask = cpu::forward_with_mask(activation, &x).1;
            let mut layout = ArenaLayout::new(&gpu);
            let regions = [
                layout.add_f32(&x),
                layout.add_f32(&dy),
                layout.add_f32(&b),
                layout.add(mask.clone()),
            ];
            let inputs = layout.build(&gpu, input_usage, 64);
            let mut layout = ArenaLayout::new(&gpu);
            let out = [
                layout.add_output(len),
                layout.add_f32(&x),
                layout.add_output(cpu::mask_words(len)),
                layout.add_output(len),
            ];
            let outputs = layout.build(&gpu, output_usage, 64);
            // db in a buffer of its own: the crate refuses db in dx's buffer.
            let mut layout = ArenaLayout::new(&gpu);
            let db_region = layout.add_output(cols);
            let gradients = layout.build(&gpu, output_usage, 0);
            let xv = inputs.tensor(&gpu, regions[0], &[rows, cols]);
            let dyv = inputs.tensor(&gpu, regions[1], &[rows, cols]);
            let bv = inputs.tensor(&gpu, regions[2], &[cols]);
            let mask_in = inputs.mask(&gpu, regions[3], len);
            let y = outputs.tensor(&gpu, out[0], &[rows, cols]);
            let mask_out = outputs.mask(&gpu, out[2], len);

            let mut encoder = gpu.device().create_command_encoder(&Default::default());
            let check = |name: &str, result: wgpu_activations::Result<()>| match result {
                Err(Error::MissingUsage { missing, .. }) if missing == expected => {}
                other => {
                    panic!("{what}: {name}: expected MissingUsage {expected:?}, got {other:?}")
                }
            };
            check("relu", gpu.record_relu(&mut encoder, &xv, &y));
            check(
                "activation",
                gpu.record_activation(&mut encoder, activation, &xv, &y, None),
            );
            check(
                "activation with mask",
                gpu.record_activation(&mut encoder, activation, &xv, &y, Some(&mask_out)),
            );
            check(
                "backward from mask",
                gpu.record_activation_backward(&mut encoder, activation, &dyv, &mask_in, &y),
            );
            check(
                "backward from input",
                gpu.record_activation_backward_from_input(&mut encoder, activation, &dyv, &xv, &y),
            );
            check("bias add", gpu.record_bias_add(&mut encoder, &xv, &bv, &y));
            check(
                "bias activation with mask",
                gpu.record_bias_activation(&mut encoder, activation, &xv, &bv, &y, Some(&mask_out)),
            );
            if let Missing::InputCopySrc = missing {
                // Only the mask lacks COPY_SRC: the kernel reads its last
                // word through a copy.
                let dy_full = Tensor::from_slice_with_shape(&gpu, &dy, &[rows, cols]).unwrap();
                check(
                    "backward from a storage-only mask",
                    gpu.record_activation_backward(
                        &mut encoder,
                        activation,
                        &dy_full,
                        &mask_in,
                        &y,
                    ),
                );
            }
            // In place needs both copy usages.
            let (mut in_place, in_place_missing) = match missing {
                Missing::InputCopySrc => (
                    inputs.tensor(&gpu, regions[0], &[len]),
                    Usages::COPY_SRC | Usages::COPY_DST,
                ),
                Missing::OutputCopyDst => (outputs.tensor(&gpu, out[1], &[len]), Usages::COPY_DST),
            };
            match gpu.record_relu_in_place(&mut encoder, &mut in_place) {
                Err(Error::MissingUsage { missing, .. }) if missing == in_place_missing => {}
                other => panic!("{what}: relu in place: {other:?}"),
            }
            // The fused backward reads and writes its operands exactly
            // (no whole-vector kernel, no copy): it needs no copy usage.
            let dx = outputs.tensor(&gpu, out[3], &[rows, cols]);
            let db = gradients.tensor(&gpu, db_region, &[cols]);
            gpu.record_bias_activation_backward(&mut encoder, activation, &dyv, &mask_in, &dx, &db)
                .unwrap();
            // The refused ops recorded nothing that breaks the encoder, and
            // wrote nothing.
            let read_inputs = input_usage
                .contains(Usages::COPY_SRC)
                .then(|| record_read(&gpu, &mut encoder, &inputs.buffer));
            let read_outputs = record_read(&gpu, &mut encoder, &outputs.buffer);
            let read_gradients = record_read(&gpu, &mut encoder, &gradients.buffer);
            gpu.queue().submit([encoder.finish()]);
            if let Some(staging) = read_inputs {
                inputs.assert_unchanged_outside(&what, &finish_read(&gpu, &staging), &[]);
            }
            let got = finish_read(&gpu, &read_outputs);
            outputs.assert_unchanged_outside(&what, &got, &[out[3]]);
            let got_db = finish_read(&gpu, &read_gradients);
            gradients.assert_unchanged_outside(&what, &got_db, &[db_region]);
            let (exact, flushed) = backward_refs(activation, &dy, &mask);
            let dx = outputs.floats(&got, out[3]);
            assert_agrees(&format!("{what}: fused dx"), &dy, &dx, &exact, &flushed);
            let db = gradients.floats(&got_db, db_region);
            assert_db_within_bound(&format!("{what}: db"), &db, &exact, rows);
        }
    }
    // No rows: db is cleared with a copy command, which needs COPY_DST.
    let dy = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let dx = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let mask = Mask::uninit(&gpu, 0).unwrap();
    let mut layout = ArenaLayout::new(&gpu);
    let region = layout.add_output(5);
    let storage_only = layout.build(&gpu, Usages::STORAGE, 0);
    let db = storage_only.tensor(&gpu, region, &[5]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_bias_activation_backward(&mut encoder, Activation::Relu, &dy, &mask, &dx, &db)
        .unwrap_err();
    let cleared_without_copy_dst = matches!(
        error,
        Error::MissingUsage { what: "bias gradient", missing, .. } if missing == Usages::COPY_DST
    );
    assert!(cleared_without_copy_dst, "{error:?}");
}

#[test]
fn record_download_of_views_polled_and_awaited() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: 0.01 };
    for (case, len) in [1001usize, 4, 0].into_iter().enumerate() {
        let what = format!("{len} elements");
        let inputs = ElementwiseInputs::new(&gpu, &[activation], len, 600 + case as u64, FULL, 0);
        let mut layout = ArenaLayout::new(&gpu);
        let y_region = layout.add_output(len);
        let mask_region = layout.add_output(cpu::mask_words(len));
        let outputs = layout.build(&gpu, FULL, 32);
        let x = inputs.x(&gpu);
        let y = outputs.tensor(&gpu, y_region, &[len]);
        let mask = outputs.mask(&gpu, mask_region, len);
        let (expected_y, expected_mask) = cpu::forward_with_mask(activation, &inputs.x);
        let flushed = forward_refs(activation, &inputs.x).1;

        // Polled, as a render loop does: never blocks.
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_activation(&mut encoder, activation, &x, &y, Some(&mask))
            .unwrap();
        let mut pending = y.record_download(&mut encoder).unwrap();
        let mut pending_mask = mask.record_download(&mut encoder).unwrap();
        // Not submitted yet: nothing to take, however often the device is
        // polled.
        gpu.device().poll(wgpu::PollType::Poll).unwrap();
        assert!(
            pending.try_take().is_none(),
            "{what}: data before the submit"
        );
        gpu.queue().submit([encoder.finish()]);
        let started = Instant::now();
        let (mut got, mut got_mask) = (None, None);
        let mut polls = 0;
        while got.is_none() || got_mask.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: no data after {polls} polls"
            );
            gpu.device().poll(wgpu::PollType::Poll).unwrap();
            polls += 1;
            if got.is_none() {
                got = pending.try_take().map(Result::unwrap);
            }
            if got_mask.is_none() {
                got_mask = pending_mask.try_take().map(Result::unwrap);
            }
            std::thread::yield_now();
        }
        let got = got.unwrap();
        assert_agrees(
            &format!("{what}: polled y"),
            &inputs.x,
            &got,
            &expected_y,
            &flushed,
        );
        assert_mask_exact(
            &format!("{what}: polled mask"),
            &got_mask.unwrap(),
            &expected_mask,
        );
        // Taken once: the data is not there twice.
        assert!(pending.try_take().is_none(), "{what}: taken twice");

        // Awaited, after the caller's own wait.
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let pending = y.record_download(&mut encoder).unwrap();
        let pending_mask = mask.record_download(&mut encoder).unwrap();
        gpu.queue().submit([encoder.finish()]);
        gpu.device()
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
        let awaited = pollster::block_on(pending.into_future()).unwrap();
        assert_eq!(bits(&awaited), bits(&got), "{what}: awaited y");
        let awaited_mask = pollster::block_on(pending_mask.into_future()).unwrap();
        assert_eq!(awaited_mask, expected_mask, "{what}: awaited mask");

        // And the blocking and async forms, at the view's offset.
        assert_eq!(bits(&y.download().unwrap()), bits(&got), "{what}: download");
        let async_y = pollster::block_on(y.download_async()).unwrap();
        assert_eq!(bits(&async_y), bits(&got), "{what}: download_async");
        if len == 0 {
            assert!(got.is_empty() && y.download().unwrap().is_empty());
            assert!(mask.download().unwrap().is_empty());
        }

        let got = read_words(&gpu, &outputs.buffer);
        outputs.assert_unchanged_outside(&what, &got, &[y_region, mask_region]);
    }
}

/// wgpu refuses a buffer bound read-only and writable in one dispatch; an
/// output view in the buffer of an input view is refused before anything
/// is recorded, with `Error::Aliasing`, even where the byte ranges are
/// disjoint.
#[test]
fn an_output_view_in_an_inputs_buffer_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: 0.01 };
    let (rows, cols) = (3, 11);
    let len = rows * cols;
    let x = sample::activations(len, 77);
    let mut layout = ArenaLayout::new(&gpu);
    let regions = [
        layout.add_f32(&x),                               // x
        layout.add_f32(&x),                               // dy
        layout.add_f32(&x[..cols]),                       // b
        layout.add(vec![u32::MAX; cpu::mask_words(len)]), // mask
        layout.add_output(len),                           // y in the same buffer
        layout.add_output(cols),                          // db in the same buffer
    ];
    let shared = layout.build(&gpu, FULL, 0);
    let view = |r: usize, shape: &[usize]| shared.tensor(&gpu, regions[r], shape);
    let (xv, dyv, bv, yv) = (
        view(0, &[rows, cols]),
        view(1, &[rows, cols]),
        view(2, &[cols]),
        view(4, &[rows, cols]),
    );
    let db = view(5, &[cols]);
    let mask = shared.mask(&gpu, regions[3], len);
    let own_dx = Tensor::uninit(&gpu, &[rows, cols]).unwrap();
    let own_db = Tensor::uninit(&gpu, &[cols]).unwrap();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let aliasing = |name: &str, result: wgpu_activations::Result<()>, expected: &str| match result {
        Err(Error::Aliasing { what }) if what == expected => {}
        other => panic!("{name}: expected Aliasing {{ what: {expected:?} }}, got {other:?}"),
    };
    aliasing("relu", gpu.record_relu(&mut encoder, &xv, &yv), "output");
    aliasing(
        "activation",
        gpu.record_activation(&mut encoder, activation, &xv, &yv, None),
        "output",
    );
    aliasing(
        "backward",
        gpu.record_activation_backward(&mut encoder, activation, &dyv, &mask, &yv),
        "gradient output",
    );
    aliasing(
        "backward from input",
        gpu.record_activation_backward_from_input(&mut encoder, activation, &dyv, &xv, &yv),
        "gradient output",
    );
    aliasing(
        "bias add",
        gpu.record_bias_add(&mut encoder, &xv, &bv, &yv),
        "output",
    );
    aliasing(
        "bias activation",
        gpu.record_bias_activation(&mut encoder, activation, &xv, &bv, &yv, None),
        "output",
    );
    aliasing(
        "bias backward, dx",
        gpu.record_bias_activation_backward(&mut encoder, activation, &dyv, &mask, &yv, &own_db),
        "gradient output",
    );
    aliasing(
        "bias backward, db",
        gpu.record_bias_activation_backward(&mut encoder, activation, &dyv, &mask, &own_dx, &db),
        "bias gradient",
    );
    // Nothing was recorded: the encoder is still valid and the buffer as made.
    let staging = record_read(&gpu, &mut encoder, &shared.buffer);
    gpu.queue().submit([encoder.finish()]);
    shared.assert_unchanged_outside("after refused ops", &finish_read(&gpu, &staging), &[]);
}

/// An op recorded into an encoder.
type Attempt<'a> = Box<dyn Fn(&mut wgpu::CommandEncoder) -> wgpu_activations::Result<()> + 'a>;

/// A mask the op writes in its input's buffer, or a gradient written into
/// the buffer the mask is read from: the same conflict as any output in an
/// input's buffer, so the same `Error::Aliasing`, not a wgpu error at
/// submit.
#[test]
fn a_mask_view_sharing_a_buffer_with_an_operand_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::Relu;
    let (rows, cols) = (4, 8);
    let len = rows * cols;
    let x = sample::activations(len, 78);
    let mut layout = ArenaLayout::new(&gpu);
    let regions = [
        layout.add_f32(&x),
        layout.add_f32(&x[..cols]),
        layout.add_output(cpu::mask_words(len)),
        layout.add_output(len),
    ];
    let shared = layout.build(&gpu, FULL, 0);
    let xv = shared.tensor(&gpu, regions[0], &[rows, cols]);
    let bv = shared.tensor(&gpu, regions[1], &[cols]);
    let mask = shared.mask(&gpu, regions[2], len);
    let dx_in_mask_buffer = shared.tensor(&gpu, regions[3], &[rows, cols]);
    let y = Tensor::uninit(&gpu, &[rows, cols]).unwrap();
    let dy = Tensor::from_slice_with_shape(&gpu, &x, &[rows, cols]).unwrap();
    let db = Tensor::uninit(&gpu, &[cols]).unwrap();

    let attempts: Vec<(&str, Attempt)> = vec![
        (
            "activation writing its mask into x's buffer",
            Box::new(|e: &mut wgpu::CommandEncoder| {
                gpu.record_activation(e, activation, &xv, &y, Some(&mask))
            }),
        ),
        (
            "bias activation writing its mask into x's buffer",
            Box::new(|e: &mut wgpu::CommandEncoder| {
                gpu.record_bias_activation(e, activation, &xv, &bv, &y, Some(&mask))
            }),
        ),
        (
            "backward writing dx into the mask's buffer",
            Box::new(|e: &mut wgpu::CommandEncoder| {
                gpu.record_activation_backward(e, activation, &dy, &mask, &dx_in_mask_buffer)
            }),
        ),
        (
            "bias backward writing dx into the mask's buffer",
            Box::new(|e: &mut wgpu::CommandEncoder| {
                gpu.record_bias_activation_backward(
                    e,
                    activation,
                    &dy,
                    &mask,
                    &dx_in_mask_buffer,
                    &db,
                )
            }),
        ),
    ];
    let mut failures = Vec::new();
    for (name, attempt) in &attempts {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        match attempt(&mut encoder) {
            Err(Error::Aliasing { .. }) => {}
            other => {
                // Recorded: does the encoder still submit?
                let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
                gpu.queue().submit([encoder.finish()]);
                let scope = pollster::block_on(scope.pop());
                failures.push(format!("{name}: {other:?}; at submit: {scope:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "not refused as aliasing:\n{}",
        failures.join("\n")
    );
}
