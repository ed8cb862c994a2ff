//! Tensors larger than one storage binding, which the ops split into
//! segments (element-wise ops and the fused forward) or groups of whole
//! rows (the fused backward), on whichever backend WGPU_BACKEND selects (CI
//! runs Vulkan and GL):
//! - on a device opened with 64 KiB storage bindings (16384 elements per
//!   segment), every op at lengths of one, two and several segments with
//!   and without a partial last chunk, on owned tensors and on views; the
//!   fused ops at row lengths whose segments start mid-row, the backward
//!   over several row groups, `db` within `bias_gradient_error_bound` (and
//!   exact where every partial sum is an integer), and `Error::TooLarge`
//!   where even the smallest group of whole rows exceeds a binding;
//! - on the default device, one tensor of more than 160 MiB (larger than
//!   its 128 MiB bindings) through relu, leaky relu with its mask, the
//!   backward from that mask, and the fused forward and backward.

mod parallel;

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Error, Gpu, Mask, Op, Tensor, bias_gradient_error_bound};

use crate::common::recorded::{check_elementwise_recorded, check_fused_recorded};
use crate::common::{
    assert_agrees, assert_bit_exact, assert_db_within_bound, assert_mask_exact,
    assert_mask_within_flush, backward_refs, bias_values, bits, forward_refs, gpu, relu_family,
    sample, small_binding_gpu,
};

/// The small devices' storage binding, in bytes.
const BINDING: u64 = 64 * 1024;

/// Element counts on the 64 KiB device: a segment less one, one, one plus
/// one, two and a partial chunk, and several with a partial last vector.
const LENGTHS: &[usize] = &[16_383, 16_384, 16_385, 32_768 + 31, 40_007, 100_013];

/// Elements of one element-wise segment on `gpu`: whole multiples of 8
/// offset alignments (so that a mask's words start aligned too) within one
/// binding.
fn segment(gpu: &Gpu) -> usize {
    let quantum = 8 * gpu.info().min_storage_buffer_offset_alignment as u64;
    (gpu.info().max_storage_buffer_binding_size / 4 / quantum * quantum) as usize
}

fn small_gpu() -> Option<Gpu> {
    let gpu = small_binding_gpu(BINDING)?;
    assert_eq!(gpu.info().max_storage_buffer_binding_size, BINDING);
    assert_eq!(gpu.limits().max_storage_buffer_binding_size, BINDING);
    Some(gpu)
}

/// Every element-wise op's convenience form on owned tensors of `len`.
fn check_owned_elementwise(gpu: &Gpu, len: usize, seed: u64) {
    let what = format!("owned, {len} elements");
    let x_data = sample::activations(len, seed);
    let dy_data = sample::activations(len, seed + 1);
    let x = Tensor::from_slice(gpu, &x_data).unwrap();
    let dy = Tensor::from_slice(gpu, &dy_data).unwrap();
    let relu = cpu::relu_forward(&x_data);
    assert_bit_exact(
        &format!("{what}: relu"),
        &x_data,
        &gpu.relu(&x).unwrap().download().unwrap(),
        &relu,
    );
    let mut in_place = Tensor::from_slice(gpu, &x_data).unwrap();
    gpu.relu_in_place(&mut in_place).unwrap();
    assert_bit_exact(
        &format!("{what}: relu in place"),
        &x_data,
        &in_place.download().unwrap(),
        &relu,
    );
    for activation in relu_family() {
        let what = format!("{what}, {activation}");
        let (exact, flushed) = forward_refs(activation, &x_data);
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        assert_agrees(&format!("{what}: y"), &x_data, &y, &exact, &flushed);
        let (y, mask) = gpu.activation_with_mask(activation, &x).unwrap();
        let y = y.download().unwrap();
        assert_agrees(&format!("{what}: y (mask)"), &x_data, &y, &exact, &flushed);
        let words = cpu::forward_with_mask(activation, &x_data).1;
        assert_mask_exact(&format!("{what}: mask"), &mask.download().unwrap(), &words);
        let (exact, flushed) = backward_refs(activation, &dy_data, &words);
        let uploaded = Mask::from_words(gpu, &words, len).unwrap();
        for (name, mask) in [
            ("the forward's mask", &mask),
            ("an uploaded mask", &uploaded),
        ] {
            let dx = gpu.activation_backward(activation, &dy, mask).unwrap();
            let dx = dx.download().unwrap();
            assert_agrees(
                &format!("{what}: dx from {name}"),
                &dy_data,
                &dx,
                &exact,
                &flushed,
            );
        }
        let dx = gpu
            .activation_backward_from_input(activation, &dy, &x)
            .unwrap();
        let exact = cpu::backward_from_input(activation, &dy_data, &x_data);
        assert_agrees(
            &format!("{what}: dx from input"),
            &dy_data,
            &dx.download().unwrap(),
            &exact,
            &flushed,
        );
    }
}

/// `len` upstream gradients that are small positive integers: every f32
/// partial sum of a column of up to 2^22 rows is exact, so any summation
/// order gives the f64 sum exactly (where no multiply is involved), and a
/// missing or doubled row block moves `db` far outside its error bound.
fn integer_gradients(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(1..=3u8) as f32).collect()
}

/// Asserts the GPU's `db` against the reference `dx` of `rows` rows: within
/// the documented bound, and where the backward does no arithmetic (no
/// leaky multiply: every `dx` a small integer) exactly the f64 column sums.
fn assert_db(what: &str, activation: Activation, db: &[f32], dx: &[f32], rows: usize) {
    assert_db_within_bound(what, db, dx, rows);
    if !Op::BiasBackward(activation).may_flush() {
        let sums = cpu::column_sums(dx, db.len());
        let exact: Vec<f32> = sums.iter().map(|&s| s as f32).collect();
        assert_eq!(bits(db), bits(&exact), "{what}: integer column sums");
    }
}

/// The fused ops' convenience forms on owned tensors of `shape`; the
/// backward only where `backward` is set.
fn check_owned_fused(gpu: &Gpu, activations: &[Activation], shape: [usize; 2], backward: bool) {
    let [rows, cols] = shape;
    let len = rows * cols;
    let what = format!("owned, {rows}x{cols}");
    let seed = (rows * 31 + cols) as u64;
    let x_data = sample::activations(len, seed);
    let b_data = bias_values(cols, seed + 1);
    let dy_data = integer_gradients(len, seed + 2);
    let x = Tensor::from_slice_with_shape(gpu, &x_data, &shape).unwrap();
    let b = Tensor::from_slice(gpu, &b_data).unwrap();
    let dy = Tensor::from_slice_with_shape(gpu, &dy_data, &shape).unwrap();

    let y = gpu.bias_add(&x, &b).unwrap().download().unwrap();
    assert_agrees(
        &format!("{what}: bias add"),
        &x_data,
        &y,
        &cpu::bias_add(&x_data, &b_data, Subnormals::Preserve),
        &cpu::bias_add(&x_data, &b_data, Subnormals::FlushToZero),
    );
    for &activation in activations {
        let what = format!("{what}, {activation}");
        let refs = crate::common::BiasRefs::new(activation, &x_data, &b_data);
        let y = gpu.bias_activation(activation, &x, &b).unwrap();
        let y = y.download().unwrap();
        assert_agrees(&format!("{what}: y"), &x_data, &y, &refs.y, &refs.y_flushed);
        let (y_masked, mask) = gpu.bias_activation_with_mask(activation, &x, &b).unwrap();
        let y_masked = y_masked.download().unwrap();
        assert_agrees(
            &format!("{what}: y (mask)"),
            &x_data,
            &y_masked,
            &refs.y,
            &refs.y_flushed,
        );
        assert_bit_exact(
            &format!("{what}: y without vs with mask"),
            &x_data,
            &y,
            &y_masked,
        );
        let words = mask.download().unwrap();
        assert_mask_within_flush(
            &format!("{what}: mask"),
            len,
            &words,
            &refs.mask,
            &refs.mask_flushed,
        );
        if !backward {
            continue;
        }
        let uploaded = Mask::from_words(gpu, &refs.mask, len).unwrap();
        for (name, mask, words) in [
            ("the forward's mask", &mask, &words),
            ("an uploaded mask", &uploaded, &refs.mask),
        ] {
            let (dx, db) = gpu.bias_activation_backward(activation, &dy, mask).unwrap();
            let (exact, flushed) = backward_refs(activation, &dy_data, words);
            let dx = dx.download().unwrap();
            assert_agrees(
                &format!("{what}: dx from {name}"),
                &dy_data,
                &dx,
                &exact,
                &flushed,
            );
            assert_db(
                &format!("{what}: db from {name}"),
                activation,
                &db.download().unwrap(),
                &exact,
                rows,
            );
        }
    }
}

#[test]
fn small_binding_device_splits_at_the_expected_segment() {
    let Some(gpu) = small_gpu() else { return };
    let alignment = gpu.info().min_storage_buffer_offset_alignment;
    eprintln!(
        "small device: {} bindings, offset alignment {alignment} B, {} elements per segment",
        BINDING,
        segment(&gpu)
    );
    // The lengths reach past one, two and several segments.
    let segment = segment(&gpu);
    assert!(LENGTHS[0] < segment && LENGTHS[2] > segment);
    assert!(*LENGTHS.last().unwrap() > 5 * segment);
    // A plain op on a tensor of several bindings still runs (the binding
    // limit is enforced: a single dispatch over all of it would fail).
    let x = sample::activations(3 * segment + 5, 1);
    let y = gpu
        .relu(&Tensor::from_slice(&gpu, &x).unwrap())
        .unwrap()
        .download()
        .unwrap();
    assert_bit_exact("relu of three segments", &x, &y, &cpu::relu_forward(&x));
}

#[test]
fn elementwise_ops_over_several_segments() {
    let Some(gpu) = small_gpu() else { return };
    for (case, &len) in LENGTHS.iter().enumerate() {
        check_owned_elementwise(&gpu, len, case as u64 * 3);
    }
}

#[test]
fn elementwise_ops_over_several_segments_on_views() {
    let Some(gpu) = small_gpu() else { return };
    for (case, &len) in LENGTHS.iter().enumerate() {
        check_elementwise_recorded(&gpu, &relu_family(), len, case);
    }
}

/// `[rows, cols]` over several segments and row groups on the 64 KiB
/// device: a segment of 16384 elements starts at column 16384 % cols (1, 4,
/// 84 for 3, 7, 100 columns); the backward's row groups hold 16384, 4096,
/// 2048, 256 and 128 rows.
const FUSED_SHAPES: &[[usize; 2]] = &[
    [50_003, 1],
    [16_667, 3],
    [7_001, 7],
    [1_001, 64],
    [700, 100],
];

#[test]
fn fused_ops_over_several_segments_and_row_groups() {
    let Some(gpu) = small_gpu() else { return };
    for &shape in FUSED_SHAPES {
        check_owned_fused(&gpu, &relu_family(), shape, true);
    }
}

#[test]
fn fused_ops_over_several_segments_and_row_groups_on_views() {
    let Some(gpu) = small_gpu() else { return };
    for (case, &shape) in FUSED_SHAPES.iter().enumerate() {
        check_fused_recorded(&gpu, &relu_family(), shape, case);
    }
}

/// Rows of 1000 and 4099 columns: the forward over several segments on the
/// 64 KiB device (each starting mid-row), the backward on devices whose
/// binding holds a group of whole rows (256 rows at 1 MiB and 8 MiB); rows
/// of 512 and 1024 columns (the backward's kernels of runs) over two row
/// groups of 512 and 256 rows at 1 MiB.
#[test]
fn fused_ops_on_long_rows() {
    let Some(gpu) = small_gpu() else { return };
    for shape in [[67, 1000], [13, 4099]] {
        check_owned_fused(&gpu, &relu_family(), shape, false);
    }
    let Some(gpu) = small_binding_gpu(1 << 20) else {
        return;
    };
    check_owned_fused(&gpu, &relu_family(), [700, 1000], true);
    check_fused_recorded(&gpu, &relu_family(), [700, 1000], 0);
    for shape in [[600, 512], [300, 1024]] {
        check_owned_fused(&gpu, &relu_family(), shape, true);
        check_fused_recorded(&gpu, &relu_family(), shape, 1);
    }
    let Some(gpu) = small_binding_gpu(8 << 20) else {
        return;
    };
    check_owned_fused(&gpu, &[Activation::relu6()], [520, 4099], true);
}

/// Whether `result` is exactly the fused backward's `TooLarge` for a
/// smallest row group of `bytes`.
fn assert_row_group_too_large<T: std::fmt::Debug>(
    what: &str,
    result: wgpu_activations::Result<T>,
    bytes: u64,
) {
    match result {
        Err(Error::TooLarge {
            what: "the fused backward's smallest group of whole rows",
            bytes: b,
            limit_name: "max_storage_buffer_binding_size",
            limit: BINDING,
        }) if b == bytes => {}
        other => panic!("{what}: expected TooLarge of {bytes} bytes, got {other:?}"),
    }
}

/// A group of rows must start where every operand can be bound: at a
/// multiple of 256 elements (8 offset alignments) and of a row block (64
/// rows here). With 1000 columns that is 64 rows (256000 bytes), with 4099
/// columns 256 rows (4197376 bytes): more than a 64 KiB binding once the
/// tensor itself is.
#[test]
fn fused_backward_whose_smallest_row_group_exceeds_a_binding_is_too_large() {
    let Some(gpu) = small_gpu() else { return };
    assert_eq!(
        gpu.info().min_storage_buffer_offset_alignment,
        32,
        "the byte counts below assume it"
    );
    let activation = Activation::LeakyRelu { slope: 0.01 };
    for (cols, fits, group_bytes) in [(1000, 16, 64 * 1000 * 4), (4099, 3, 256 * 4099 * 4)] {
        // As many rows as one binding holds: one group, no split needed.
        let shape = [fits, cols];
        let len = fits * cols;
        assert!(len as u64 * 4 <= BINDING && (len + cols) as u64 * 4 > BINDING);
        let dy_data = integer_gradients(len, cols as u64);
        let mut words: Vec<u32> = (0..cpu::mask_words(len))
            .map(|w| 0x9249_2492u32.rotate_left(w as u32))
            .collect();
        if !len.is_multiple_of(32) {
            *words.last_mut().unwrap() &= (1 << (len % 32)) - 1;
        }
        let dy = Tensor::from_slice_with_shape(&gpu, &dy_data, &shape).unwrap();
        let mask = Mask::from_words(&gpu, &words, len).unwrap();
        let (dx, db) = gpu
            .bias_activation_backward(activation, &dy, &mask)
            .unwrap();
        let (exact, flushed) = backward_refs(activation, &dy_data, &words);
        assert_agrees(
            &format!("{cols} columns, one binding"),
            &dy_data,
            &dx.download().unwrap(),
            &exact,
            &flushed,
        );
        assert_db(
            "one binding",
            activation,
            &db.download().unwrap(),
            &exact,
            fits,
        );

        // One row more: split, and no group of whole rows fits.
        let shape = [fits + 1, cols];
        let len = (fits + 1) * cols;
        let dy = Tensor::from_slice_with_shape(&gpu, &vec![1.0; len], &shape).unwrap();
        let mask = Mask::from_words(&gpu, &vec![u32::MAX; cpu::mask_words(len)], len).unwrap();
        assert_row_group_too_large(
            &format!("{cols} columns"),
            gpu.bias_activation_backward(activation, &dy, &mask),
            group_bytes,
        );
        let dx = Tensor::from_slice_with_shape(&gpu, &vec![-7.0; len], &shape).unwrap();
        let db = Tensor::from_slice(&gpu, &vec![-7.0; cols]).unwrap();
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        assert_row_group_too_large(
            &format!("{cols} columns, recorded"),
            gpu.record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dx, &db),
            group_bytes,
        );
        // Nothing was recorded: the encoder submits, the outputs are as they were.
        gpu.queue().submit([encoder.finish()]);
        assert!(dx.download().unwrap().iter().all(|&v| v == -7.0));
        assert!(db.download().unwrap().iter().all(|&v| v == -7.0));
        // The forward splits anywhere: it still runs.
        let x_data = sample::activations(len, 5);
        let b_data = bias_values(cols, 6);
        let x = Tensor::from_slice_with_shape(&gpu, &x_data, &shape).unwrap();
        let b = Tensor::from_slice(&gpu, &b_data).unwrap();
        let refs = crate::common::BiasRefs::new(activation, &x_data, &b_data);
        let y = gpu
            .bias_activation(activation, &x, &b)
            .unwrap()
            .download()
            .unwrap();
        assert_agrees(
            &format!("{cols} columns: forward"),
            &x_data,
            &y,
            &refs.y,
            &refs.y_flushed,
        );
    }
}

/// Asserts `got` equals `exact` bit for bit, or else the flushed value
/// `flushed(i)` where they differ: [`assert_agrees`] for tensors of tens of
/// millions of elements, comparing blocks with `memcmp` first.
fn assert_agrees_large(
    what: &str,
    got: &[f32],
    exact: &[f32],
    flushed: impl Fn(usize) -> f32,
) -> usize {
    assert_eq!(got.len(), exact.len(), "{what}: length");
    let got: &[u32] = bytemuck::cast_slice(got);
    let exact: &[u32] = bytemuck::cast_slice(exact);
    const BLOCK: usize = 1 << 14;
    let mut allowed = 0;
    for (k, (g, e)) in got.chunks(BLOCK).zip(exact.chunks(BLOCK)).enumerate() {
        if g == e {
            continue;
        }
        for (j, (&g, &e)) in g.iter().zip(e).enumerate() {
            let i = k * BLOCK + j;
            if g != e {
                let f = flushed(i).to_bits();
                assert_eq!(
                    g, f,
                    "{what}: element {i}: gpu {g:#010x}, cpu {e:#010x} (flushed {f:#010x})"
                );
                allowed += 1;
            }
        }
    }
    allowed
}

/// `len` values of `source` repeated: tens of millions of values at the
/// cost of a copy (the reference's generator runs per element, slowly in
/// a debug build). `source`'s length is prime, so no power-of-two offset
/// error can map a value onto its own copy.
fn tiled(source: &[f32], len: usize) -> Vec<f32> {
    let mut data = Vec::with_capacity(len);
    while data.len() < len {
        let take = source.len().min(len - data.len());
        data.extend_from_slice(&source[..take]);
    }
    data
}

/// One tensor of more than 160 MiB per buffer on the default device, whose
/// bindings hold 128 MiB: two segments for the element-wise ops and the
/// fused forward, two row groups for the fused backward.
#[test]
fn tensors_larger_than_one_binding_on_the_default_device() {
    let Some(gpu) = gpu() else { return };
    let started = Instant::now();
    let binding = gpu.info().max_storage_buffer_binding_size;
    // 6,000,001 rows of 7: 42,000,007 elements, 168,000,028 bytes; the
    // second segment starts at a column other than 0.
    let (rows, cols): (usize, usize) = (6_000_001, 7);
    let len = rows * cols;
    let bytes = len as u64 * 4;
    if bytes > gpu.info().max_buffer_size {
        panic!(
            "{len} elements exceed the device's buffers ({} bytes)",
            gpu.info().max_buffer_size
        );
    }
    assert!(bytes >= 160 << 20 && bytes > binding && !len.is_multiple_of(32));
    let segment = segment(&gpu);
    assert!(
        !segment.is_multiple_of(cols) && len > segment,
        "a segment starts mid-row"
    );
    let mut phases = Vec::new();
    let mut phase = |name: &str, since: &mut Instant| {
        phases.push(format!("{name} {:.1}s", since.elapsed().as_secs_f64()));
        *since = Instant::now();
    };
    let mut since = Instant::now();

    let x_data = tiled(&sample::activations(1_000_003, 11), len);
    let x = Tensor::from_slice(&gpu, &x_data).unwrap();
    phase("data", &mut since);

    // relu
    let y = gpu.relu(&x).unwrap().download().unwrap();
    let expected = parallel::relu_forward(&x_data);
    assert_agrees_large("relu", &y, &expected, |i| expected[i]);
    drop((y, expected));
    phase("relu", &mut since);

    // leaky relu with its mask, then the backward from that mask.
    let leaky = Activation::LeakyRelu { slope: 0.01 };
    let (y, mask) = gpu.activation_with_mask(leaky, &x).unwrap();
    let got = y.download().unwrap();
    drop(y);
    let (expected, words) = parallel::forward_with_mask(leaky, &x_data);
    let flush = |i: usize| cpu::activate_with(leaky, x_data[i], Subnormals::FlushToZero);
    let flushed = assert_agrees_large("leaky relu", &got, &expected, flush);
    drop((got, expected));
    let got_words = mask.download().unwrap();
    assert!(got_words == words, "leaky relu mask differs");
    drop(got_words);
    phase("leaky relu with mask", &mut since);

    let dy_data = tiled(&sample::activations(1_000_033, 12), len);
    let dy = Tensor::from_slice(&gpu, &dy_data).unwrap();
    let dx = gpu.activation_backward(leaky, &dy, &mask).unwrap();
    let got = dx.download().unwrap();
    drop((dx, mask));
    let expected = parallel::backward(leaky, &dy_data, &words);
    let flush = |i: usize| {
        cpu::backward_element(
            leaky,
            cpu::mask_bit_at(&words, i),
            dy_data[i],
            Subnormals::FlushToZero,
        )
    };
    let flushed_dx = assert_agrees_large("leaky relu backward", &got, &expected, flush);
    drop((got, expected, dy, dy_data, words));
    phase("backward from the mask", &mut since);

    // The fused forward with its mask, and the backward from that mask.
    let clipped = Activation::relu6();
    let x = x.reshape(&[rows, cols]).unwrap();
    let b_data = bias_values(cols, 13);
    let b = Tensor::from_slice(&gpu, &b_data).unwrap();
    let (y, mask) = gpu.bias_activation_with_mask(clipped, &x, &b).unwrap();
    let got = y.download().unwrap();
    drop((y, x));
    let (expected, words) = parallel::bias_forward_with_mask(clipped, &x_data, &b_data);
    let flush = |i: usize| {
        let sum = cpu::add(x_data[i], b_data[i % cols], Subnormals::FlushToZero);
        cpu::activate_with(clipped, sum, Subnormals::FlushToZero)
    };
    let flushed_bias = assert_agrees_large("bias relu6", &got, &expected, flush);
    drop((got, expected));
    let got_words = mask.download().unwrap();
    if got_words != words {
        // Only a flushed sum may decide a bit differently.
        for i in
            (0..len).filter(|&i| cpu::mask_bit_at(&got_words, i) != cpu::mask_bit_at(&words, i))
        {
            let sum = cpu::add(x_data[i], b_data[i % cols], Subnormals::FlushToZero);
            assert_eq!(
                cpu::mask_bit_at(&got_words, i),
                cpu::mask_bit(clipped, sum),
                "bias mask element {i}"
            );
        }
    }
    drop((words, x_data));
    phase("bias relu6 with mask", &mut since);

    let dy_data = integer_gradients(1_000_003, 14);
    let dy_data = tiled(&dy_data, len);
    let dy = Tensor::from_slice_with_shape(&gpu, &dy_data, &[rows, cols]).unwrap();
    let (dx, db) = gpu.bias_activation_backward(clipped, &dy, &mask).unwrap();
    let got = dx.download().unwrap();
    let got_db = db.download().unwrap();
    drop((dx, db, dy, mask));
    let expected = parallel::backward(clipped, &dy_data, &got_words);
    assert_agrees_large("bias relu6 backward", &got, &expected, |i| expected[i]);
    drop(got);
    // Integer gradients: the f64 column sums are exact, and so is every f32
    // partial sum (each column sums to less than 2^24).
    let sums = parallel::column_sums(&expected, cols);
    let abs_sums = sums.clone(); // every dx is +0.0 or positive
    for c in 0..cols {
        let bound = bias_gradient_error_bound(rows, abs_sums[c]);
        let error = (f64::from(got_db[c]) - sums[c]).abs();
        assert!(
            error <= bound && got_db[c] == sums[c] as f32,
            "db column {c}: gpu {}, exact {}, bound {bound:e}",
            got_db[c],
            sums[c]
        );
        assert!(sums[c] < f64::from(1 << 24) && sums[c] > 0.0);
    }
    phase("bias relu6 backward", &mut since);

    eprintln!(
        "largest tensor verified: {len} elements ({:.1} MiB, {rows}x{cols}) on bindings of {} MiB; \
         flushed: {flushed} y, {flushed_dx} dx, {flushed_bias} bias y; {:.1}s ({})",
        bytes as f64 / (1 << 20) as f64,
        binding >> 20,
        started.elapsed().as_secs_f64(),
        phases.join(", ")
    );
}

/// The backward's first pass writes one partial sum per row block and
/// column, all of them into one buffer that every row group's dispatch
/// binds. At 10500 rows of 100 columns (64 rows per block) those are 66000
/// bytes, more than a 64 KiB binding, though each group of 128 rows (51200
/// bytes) fits: a clear `TooLarge` naming them, not a wgpu error. (Reached
/// only by tensors 32 or more times one binding.) One row block less works.
#[test]
fn fused_backward_with_more_block_sums_than_one_binding_is_too_large() {
    let Some(gpu) = small_gpu() else { return };
    let dy = Tensor::from_slice_with_shape(&gpu, &vec![1.0; 10_500 * 100], &[10_500, 100]).unwrap();
    let mask =
        Mask::from_words(&gpu, &vec![u32::MAX; 10_500 * 100 / 32 + 1], 10_500 * 100).unwrap();
    let error = gpu.bias_relu_backward(&dy, &mask).unwrap_err();
    assert!(
        matches!(
            error,
            Error::TooLarge {
                bytes: 66_000,
                limit_name: "max_storage_buffer_binding_size",
                limit: 65_536,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(error.to_string().contains("partial sums"), "{error}");
    check_owned_fused(&gpu, &[Activation::Relu], [10_400, 100], true);
}
