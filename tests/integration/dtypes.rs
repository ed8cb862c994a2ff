//! f16 and bf16 tensors: every op that takes them against the CPU reference
//! (`Op::reference_in`: f32 arithmetic rounded once to the type, the rest
//! exact on the 16-bit bits), on every one of the 65,536 bit patterns of
//! each type, at awkward lengths, on a device whose bindings force the split
//! path; the casts against `DType::bits_of`; typed uploads, downloads and
//! views; and the errors for the combinations the crate refuses.

use half::{bf16, f16};
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{
    Activation, DType, Error, Gpu, HostInputs, Op, OpTensors, Tensor, dtype as conversions, verify,
};

use crate::common::counters::{live_objects, own_gpu};
use crate::common::{FULL, bits, caller_buffer_of, gpu, read_words, sample, small_binding_gpu};

const HALF_TYPES: [DType; 2] = [DType::F16, DType::BF16];

/// f32 biases (the mixed-precision layout) that reach every rule of the
/// 16-bit sum: NaN with a payload, both infinities, both zeros, values that
/// overflow f16 or land on its subnormals and ties, a bf16 subnormal.
fn biases() -> Vec<f32> {
    vec![
        f32::from_bits(0x7fc1_2345),
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        65504.0,
        -2f32.powi(-25),
        2f32.powi(-24) * 0.75,
        0.1,
        -1.000_976_6,
        f32::from_bits(0x0001_8000),
        3.0e38,
        1.5,
    ]
}

/// Every bit pattern of `dtype`, widened to f32.
fn every_value(dtype: DType) -> Vec<f32> {
    (0..=u16::MAX)
        .map(|b| dtype.value_of(u32::from(b)))
        .collect()
}

fn assert_op_agrees(gpu: &Gpu, op: Op, inputs: &HostInputs, dtype: DType, what: &str) {
    let comparison = verify::run_in(gpu, op, inputs, dtype)
        .unwrap_or_else(|e| panic!("{dtype} {op} ({what}): {e}"));
    assert!(
        comparison.passed(),
        "{dtype} {op} ({what}): {:?}",
        comparison.first_mismatch
    );
}

#[test]
fn every_op_agrees_on_every_16_bit_value() {
    let Some(gpu) = gpu() else { return };
    for dtype in HALF_TYPES {
        let x = every_value(dtype);
        // dy runs through the patterns backwards, so every dy meets many x.
        let dy: Vec<f32> = x.iter().rev().copied().collect();
        let inputs = HostInputs {
            x,
            dy,
            bias: biases(),
        };
        for op in Op::all_of(dtype) {
            assert_op_agrees(&gpu, op, &inputs, dtype, "every bit pattern");
        }
    }
}

#[test]
fn every_op_agrees_at_awkward_lengths() {
    let Some(gpu) = gpu() else { return };
    // 0 and 1, odd lengths (a last word half used), not whole vectors,
    // chunks or workgroups, primes, and over one 64-workgroup dispatch row.
    let lengths = [0, 1, 2, 3, 5, 7, 8, 31, 33, 97, 257, 1021, 4099, 65_537];
    for dtype in HALF_TYPES {
        for (i, &len) in lengths.iter().enumerate() {
            let inputs = HostInputs {
                x: sample::activations(len, 40 + i as u64),
                dy: sample::activations(len, 80 + i as u64),
                bias: biases()[..len.clamp(1, 7)].to_vec(),
            };
            for op in Op::all_of(dtype) {
                assert_op_agrees(&gpu, op, &inputs, dtype, &format!("{len} elements"));
            }
        }
    }
}

#[test]
fn the_fused_backward_agrees_in_every_tiling() {
    let Some(gpu) = gpu() else { return };
    // Row lengths that pick each first-pass kernel: one element (the sums
    // alone, beside the element-wise backward, for 16-bit data), a vector,
    // a mask word, and runs of two and four panels; and rows enough for
    // several row blocks.
    for dtype in HALF_TYPES {
        for cols in [3, 4, 36, 512, 1024, 2048] {
            let rows = 131;
            let inputs = HostInputs {
                x: sample::activations(rows * cols, cols as u64),
                dy: sample::activations(rows * cols, cols as u64 + 1),
                bias: biases().into_iter().cycle().take(cols).collect(),
            };
            for activation in crate::common::relu_family() {
                let op = Op::BiasBackward(activation);
                assert_op_agrees(&gpu, op, &inputs, dtype, &format!("[{rows}, {cols}]"));
            }
        }
    }
}

#[test]
fn every_op_agrees_on_the_split_path() {
    // 64 KiB bindings: 16,384 elements a segment, so these run in several
    // segments, the fused ones starting segments mid-row.
    let Some(gpu) = small_binding_gpu(64 * 1024) else {
        return;
    };
    for dtype in HALF_TYPES {
        for (len, cols) in [(16_385, 29), (40_007, 1), (100_013, 13)] {
            let inputs = HostInputs {
                x: sample::activations(len, len as u64),
                dy: sample::activations(len, len as u64 + 1),
                bias: biases().into_iter().cycle().take(cols).collect(),
            };
            for op in Op::all_of(dtype) {
                assert_op_agrees(&gpu, op, &inputs, dtype, &format!("split, {len} elements"));
            }
        }
    }
}

#[test]
fn a_bias_of_the_datas_type_is_the_f32_bias_of_its_values() {
    let Some(gpu) = gpu() else { return };
    for dtype in HALF_TYPES {
        let cols = 11;
        let x_data = every_value(dtype)[..cols * 512].to_vec();
        let bias_data: Vec<f32> = sample::activations(cols, 7)
            .into_iter()
            .map(|v| dtype.round(v))
            .collect();
        let x = Tensor::from_f32_as(&gpu, &x_data, &[512, cols], dtype).unwrap();
        let b16 = Tensor::from_f32_as(&gpu, &bias_data, &[cols], dtype).unwrap();
        let b32 = Tensor::from_slice(&gpu, &bias_data).unwrap();
        for activation in crate::common::relu_family() {
            let (y16, mask16) = gpu.bias_activation_with_mask(activation, &x, &b16).unwrap();
            let (y32, mask32) = gpu.bias_activation_with_mask(activation, &x, &b32).unwrap();
            let y = y16.download().unwrap();
            assert_eq!(
                bits(&y),
                bits(&y32.download().unwrap()),
                "{dtype} {activation}"
            );
            assert_eq!(mask16.download().unwrap(), mask32.download().unwrap());
            let expected = cpu::bias_add_in(&x_data, &bias_data, dtype, Subnormals::Preserve)
                .into_iter()
                .map(|z| cpu::activate_in(activation, z, dtype, Subnormals::Preserve))
                .collect::<Vec<_>>();
            assert_eq!(bits(&y), bits(&expected), "{dtype} {activation}");
        }
        let sum = gpu.bias_add(&x, &b16).unwrap();
        assert_eq!(sum.dtype(), dtype);
    }
}

#[test]
fn the_fused_forward_stores_what_bias_add_then_the_activation_store() {
    let Some(gpu) = gpu() else { return };
    for dtype in HALF_TYPES {
        let x = Tensor::from_f32_as(&gpu, &every_value(dtype), &[4096, 16], dtype).unwrap();
        let b16: Vec<f32> = biases().into_iter().cycle().take(16).collect();
        let b = Tensor::from_slice(&gpu, &b16).unwrap();
        let sum = gpu.bias_add(&x, &b).unwrap();
        for activation in Activation::examples() {
            let fused = gpu.bias_activation(activation, &x, &b).unwrap();
            let unfused = gpu.activation(activation, &sum).unwrap();
            assert_eq!(
                bits(&fused.download().unwrap()),
                bits(&unfused.download().unwrap()),
                "{dtype} {activation}"
            );
        }
    }
}

#[test]
fn casts_round_as_the_reference_does() {
    let Some(gpu) = gpu() else { return };
    // f32 patterns around every rounding edge: specials, f16's and bf16's
    // ties and overflow, subnormals of both, a spread of exponents.
    let mut f32s: Vec<f32> = cpu::special_values();
    for high in (0..1u32 << 16).step_by(3) {
        for low in [0, 1, 0xfff, 0x1000, 0x1001, 0x7fff, 0x8000, 0x8001, 0xffff] {
            f32s.push(f32::from_bits(high << 16 | low));
        }
    }
    // Below f16's smallest normal (2^-14), from 2^-27 up: every top 10 bits
    // of the significand, with low bits that make each subnormal's ties
    // (exact: the bits below a tie bit zero), and values just above and
    // below them.
    for exponent in 100u32..=113 {
        for top in 0..1u32 << 10 {
            for low in [0, 1, 0xfff, 0x1000, 0x1001, 0x1fff] {
                f32s.push(f32::from_bits(exponent << 23 | top << 13 | low));
            }
        }
    }
    let x = Tensor::from_slice(&gpu, &f32s).unwrap();
    for dtype in HALF_TYPES {
        let y = gpu.cast(&x, dtype).unwrap();
        assert_eq!(y.dtype(), dtype);
        let expected: Vec<f32> = f32s.iter().map(|&v| dtype.round(v)).collect();
        assert_eq!(
            bits(&y.download().unwrap()),
            bits(&expected),
            "f32 -> {dtype}"
        );
        // Widening back is exact.
        let back = gpu.cast(&y, DType::F32).unwrap();
        assert_eq!(
            bits(&back.download().unwrap()),
            bits(&expected),
            "{dtype} -> f32"
        );
    }
    // Between the 16-bit types, every pattern (and a cast to the same type
    // copies).
    for (from, to) in [
        (DType::F16, DType::BF16),
        (DType::BF16, DType::F16),
        (DType::F16, DType::F16),
    ] {
        let values = every_value(from);
        let x = Tensor::from_f32_as(&gpu, &values, &[values.len()], from).unwrap();
        let y = gpu.cast(&x, to).unwrap();
        let expected: Vec<f32> = values.iter().map(|&v| to.round(v)).collect();
        assert_eq!(
            bits(&y.download().unwrap()),
            bits(&expected),
            "{from} -> {to}"
        );
    }
}

#[test]
fn typed_uploads_and_downloads_keep_every_bit_at_odd_lengths() {
    let Some(gpu) = gpu() else { return };
    for len in [1usize, 3, 4, 1001] {
        let halves: Vec<f16> = (0..len as u16)
            .map(|i| f16::from_bits(i.wrapping_mul(40_503)))
            .collect();
        let x = Tensor::from_elements(&gpu, &halves, &[len]).unwrap();
        assert_eq!(x.dtype(), DType::F16);
        let half_bits = |v: &[f16]| v.iter().map(|h| h.to_bits()).collect::<Vec<_>>();
        let brain_bits = |v: &[bf16]| v.iter().map(|h| h.to_bits()).collect::<Vec<_>>();
        assert_eq!(
            half_bits(&x.download_elements::<f16>().unwrap()),
            half_bits(&halves)
        );
        let widened: Vec<f32> = halves
            .iter()
            .map(|h| conversions::f16_to_f32(h.to_bits()))
            .collect();
        assert_eq!(bits(&x.download().unwrap()), bits(&widened));
        let mut out = vec![0.0f32; len];
        x.download_into(&mut out).unwrap();
        assert_eq!(bits(&out), bits(&widened));

        let brains: Vec<bf16> = (0..len as u16)
            .map(|i| bf16::from_bits(i.wrapping_mul(7_919)))
            .collect();
        let y = Tensor::uninit_of(&gpu, &[len], DType::BF16).unwrap();
        y.write_elements(&brains).unwrap();
        assert_eq!(
            brain_bits(&y.download_elements::<bf16>().unwrap()),
            brain_bits(&brains)
        );
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let mut pending = y.record_download_elements::<bf16>(&mut encoder).unwrap();
        gpu.queue().submit([encoder.finish()]);
        // The caller polls (a render loop would, once per frame).
        gpu.device()
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
        let pending = pending.try_take().expect("polled past the copy").unwrap();
        assert_eq!(brain_bits(&pending), brain_bits(&brains));
        let asynchronous = pollster::block_on(y.download_async()).unwrap();
        assert_eq!(asynchronous.len(), len);
        // `write` rounds f32 data to the tensor's type.
        y.write(&vec![1.0 + 1.0 / 256.0; len]).unwrap();
        assert_eq!(y.download().unwrap(), vec![1.0; len]);
    }
}

#[test]
fn a_view_of_16_bit_elements_is_written_only_in_its_own_bytes() {
    let Some(gpu) = gpu() else { return };
    let alignment = u64::from(gpu.info().min_storage_buffer_offset_alignment);
    let guard = 0xdead_beef_u32;
    let words = (4 * alignment / 4) as usize;
    let first = (alignment / 4) as usize;
    // Even and odd lengths, under and over a chunk: an odd one's last
    // element is the low half of a word whose high half is the caller's.
    for (len, dtype) in [
        (6, DType::F16),
        (7, DType::BF16),
        (37, DType::F16),
        (1, DType::BF16),
    ] {
        let what = format!("{dtype} view of {len}");
        let values: Vec<f32> = (0..len).map(|i| (i as f32 - 3.0) * 0.75).collect();
        let expected: Vec<f32> = values.iter().map(|&v| cpu::relu(dtype.round(v))).collect();
        let inputs = caller_buffer_of(&gpu, FULL, &vec![guard; words]);
        let outputs = caller_buffer_of(&gpu, FULL, &vec![guard; words]);
        let x = Tensor::from_buffer_of(&gpu, &inputs, alignment, &[len], dtype).unwrap();
        let y = Tensor::from_buffer_of(&gpu, &outputs, alignment, &[len], dtype).unwrap();
        x.write(&values).unwrap();
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_relu(&mut encoder, &x, &y).unwrap();
        gpu.queue().submit([encoder.finish()]);
        assert_eq!(bits(&y.download().unwrap()), bits(&expected), "{what}");
        let mut in_place = Tensor::from_buffer_of(&gpu, &inputs, alignment, &[len], dtype).unwrap();
        gpu.relu_in_place(&mut in_place).unwrap();
        assert_eq!(
            bits(&in_place.download().unwrap()),
            bits(&expected),
            "{what} in place"
        );
        // Outside each view's own bytes every word, and the high half of an
        // odd view's last word, still hold the guard.
        let own_words = len / 2;
        for buffer in [&inputs, &outputs] {
            let all = read_words(&gpu, buffer);
            assert!(all[..first].iter().all(|&w| w == guard), "{what}: before");
            assert!(
                all[first + len.div_ceil(2)..].iter().all(|&w| w == guard),
                "{what}: after"
            );
            if len % 2 == 1 {
                assert_eq!(
                    all[first + own_words] >> 16,
                    guard >> 16,
                    "{what}: the caller's half"
                );
            }
        }
    }
    // The word holding an odd view's last element must lie in the buffer.
    let small = caller_buffer_of(&gpu, FULL, &[guard; 2]);
    let error = Tensor::from_buffer_of(&gpu, &small, 0, &[5], DType::BF16).unwrap_err();
    assert!(matches!(error, Error::OutOfBounds { .. }), "{error}");
    assert!(Tensor::from_buffer_of(&gpu, &small, 0, &[4], DType::BF16).is_ok());
}

#[test]
fn odd_16_bit_views_run_every_op() {
    let Some(gpu) = gpu() else { return };
    let alignment = u64::from(gpu.info().min_storage_buffer_offset_alignment);
    let guard = 0xdead_beef_u32;
    // [3, 7] and [1, 33]: odd lengths, rows that are not whole vectors (the
    // fused backward's sums-only path), a partial last chunk.
    for (dtype, shape) in [(DType::F16, [3usize, 7]), (DType::BF16, [1, 33])] {
        let len = shape[0] * shape[1];
        let inputs = HostInputs {
            x: sample::activations(len, 5),
            dy: sample::activations(len, 6),
            bias: biases()[..shape[1].min(13)]
                .iter()
                .copied()
                .cycle()
                .take(shape[1])
                .collect(),
        }
        .rounded_to(dtype);
        for op in Op::all() {
            // Every operand a view of its own guarded buffer.
            let buffers: Vec<wgpu::Buffer> = (0..4)
                .map(|_| caller_buffer_of(&gpu, FULL, &vec![guard; (4 * alignment / 4) as usize]))
                .collect();
            let view = |i: usize| {
                Tensor::from_buffer_of(&gpu, &buffers[i], alignment, &shape, dtype).unwrap()
            };
            let (x, dy, out, z) = (view(0), view(1), view(2), view(3));
            if op.reads_output() {
                x.write(&inputs.saved_output_in(op, dtype)).unwrap();
            } else {
                x.write(&inputs.x).unwrap();
            }
            dy.write(&inputs.dy).unwrap();
            z.write(&inputs.saved_preactivation_in(op, dtype)).unwrap();
            let bias = Tensor::from_slice(&gpu, &inputs.bias).unwrap();
            let mask = if op.reads_mask() {
                let saved = inputs.saved_mask_in(op, dtype);
                wgpu_activations::Mask::from_words(&gpu, &saved, len).unwrap()
            } else {
                wgpu_activations::Mask::uninit(&gpu, len).unwrap()
            }
            .with_row_length(shape[1])
            .unwrap();
            let db = Tensor::uninit(&gpu, &[shape[1]]).unwrap();
            let tensors = OpTensors {
                x: op.reads_x().then_some(&x),
                dy: op.is_backward().then_some(&dy),
                bias: (op.uses_bias() && !op.is_backward()).then_some(&bias),
                mask: (op.reads_mask() || op.writes_mask()).then_some(&mask),
                y: (!op.is_backward() && op != Op::ReluForwardInPlace).then_some(&out),
                dx: op.is_backward().then_some(&out),
                db: op.writes_bias_gradient().then_some(&db),
                z: (op.reads_preactivation() || op.writes_preactivation()).then_some(&z),
            };
            let mut encoder = gpu.device().create_command_encoder(&Default::default());
            gpu.record_op(&mut encoder, op, &tensors).unwrap();
            gpu.queue().submit([encoder.finish()]);
            let values = if op == Op::ReluForwardInPlace {
                &x
            } else {
                &out
            };
            let outputs = verify::OpOutputs {
                values: values.download().unwrap(),
                mask: op.writes_mask().then(|| mask.download().unwrap()),
                db: op.writes_bias_gradient().then(|| db.download().unwrap()),
                preactivation: op.writes_preactivation().then(|| z.download().unwrap()),
            };
            let comparison = verify::compare_in(op, &inputs, &outputs, dtype).unwrap();
            assert!(
                comparison.passed(),
                "{dtype} {op} {shape:?}: {:?}",
                comparison.first_mismatch
            );
            for buffer in &buffers {
                let all = read_words(&gpu, buffer);
                let first = (alignment / 4) as usize;
                assert_eq!(
                    all[first + len / 2] >> 16,
                    guard >> 16,
                    "{dtype} {op}: the caller's half"
                );
                assert!(
                    all[first + len.div_ceil(2)..].iter().all(|&w| w == guard),
                    "{dtype} {op}"
                );
            }
        }
    }
}

#[test]
fn mismatched_types_are_clear_errors() {
    let Some(gpu) = gpu() else { return };
    let x16 = Tensor::from_f32_as(&gpu, &[1.0; 8], &[2, 4], DType::F16).unwrap();
    let x32 = Tensor::from_slice_with_shape(&gpu, &[1.0; 8], &[2, 4]).unwrap();
    let bf = Tensor::from_f32_as(&gpu, &[1.0; 4], &[4], DType::BF16).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mismatch = |result: wgpu_activations::Result<()>| {
        let error = result.unwrap_err();
        assert!(matches!(error, Error::DTypeMismatch { .. }), "{error}");
    };
    mismatch(gpu.record_relu(&mut encoder, &x16, &x32));
    mismatch(gpu.record_activation(&mut encoder, Activation::Relu, &x16, &x32, None));
    // A bias of a third type.
    let y16 = Tensor::uninit_of(&gpu, &[2, 4], DType::F16).unwrap();
    mismatch(gpu.record_bias_activation(&mut encoder, Activation::Relu, &x16, &bf, &y16, None));
    mismatch(gpu.record_bias_activation(&mut encoder, Activation::Relu, &x32, &bf, &y16, None));
    mismatch(x16.write_elements(&[1.0f32; 8]));
    assert!(matches!(
        x16.download_elements::<bf16>().unwrap_err(),
        Error::DTypeMismatch { .. }
    ));
    let error = x16.record_download(&mut encoder).err().unwrap();
    assert!(matches!(error, Error::DTypeMismatch { .. }), "{error}");
    // The bias gradient is f32 whatever dy's type.
    let (_, mask) = gpu
        .bias_relu_with_mask(
            &x16,
            &Tensor::from_f32_as(&gpu, &[0.0; 4], &[4], DType::F16).unwrap(),
        )
        .unwrap();
    let dx = Tensor::uninit_of(&gpu, &[2, 4], DType::F16).unwrap();
    let db16 = Tensor::uninit_of(&gpu, &[4], DType::F16).unwrap();
    mismatch(gpu.record_bias_activation_backward(
        &mut encoder,
        Activation::Relu,
        &x16,
        &mask,
        &dx,
        &db16,
    ));
    let (dx, db) = gpu.bias_relu_backward(&x16, &mask).unwrap();
    assert_eq!((dx.dtype(), db.dtype()), (DType::F16, DType::F32));
}

/// One row of README's special-value tables for f16 and bf16: an op on one
/// 16-bit input (and an f32 bias or cap where the op has one), and the bits
/// it must give.
struct Row {
    dtype: DType,
    what: &'static str,
    input: u16,
    op: SpecialOp,
    expected: u16,
}

#[derive(Clone, Copy)]
enum SpecialOp {
    Relu,
    Leaky(f32),
    Clipped(f32),
    /// The mask bit of clipped relu with this cap (expected 0 or 1).
    ClippedBit(f32),
    BiasAdd(f32),
    /// A cast of the f32 with these bits (the row's input is unused).
    CastFromF32(u32),
}

/// README's tables, row for row.
fn special_rows() -> Vec<Row> {
    use DType::{BF16, F16};
    use SpecialOp::*;
    let row = |dtype, what, input, op, expected| Row {
        dtype,
        what,
        input,
        op,
        expected,
    };
    vec![
        row(F16, "relu(-0.0) = +0.0", 0x8000, Relu, 0x0000),
        row(
            F16,
            "relu of a signalling NaN keeps it",
            0x7d01,
            Relu,
            0x7d01,
        ),
        row(F16, "relu of -NaN keeps it", 0xfe00, Relu, 0xfe00),
        row(F16, "relu keeps subnormals", 0x0001, Relu, 0x0001),
        row(F16, "relu of a negative subnormal", 0x8001, Relu, 0x0000),
        row(F16, "relu(-inf) = +0.0", 0xfc00, Relu, 0x0000),
        row(
            F16,
            "leaky 0.5 of -2^-24 ties to -0.0",
            0x8001,
            Leaky(0.5),
            0x8000,
        ),
        row(
            F16,
            "leaky 0.75 of -2^-23 rounds to -2^-24",
            0x8002,
            Leaky(0.75),
            0x8002,
        ),
        row(
            F16,
            "leaky -2 of -65504 overflows to +inf",
            0xfbff,
            Leaky(-2.0),
            0x7c00,
        ),
        row(F16, "leaky of NaN passes it", 0xfd55, Leaky(0.1), 0xfd55),
        row(
            F16,
            "clip 7 at a cap of 6.001: f16's nearest, 6",
            0x4700,
            Clipped(6.001),
            0x4600,
        ),
        row(F16, "6 < 6.001: the bit is 1", 0x4600, ClippedBit(6.001), 1),
        row(
            F16,
            "6.0039 > 6.001: the bit is 0",
            0x4601,
            ClippedBit(6.001),
            0,
        ),
        row(
            F16,
            "a cap past 65504 clips inf to inf",
            0x7c00,
            Clipped(1.0e6),
            0x7c00,
        ),
        row(
            F16,
            "65504 + 16 = 65520 rounds to +inf",
            0x7bff,
            BiasAdd(16.0),
            0x7c00,
        ),
        row(
            F16,
            "65504 + 15.99 stays the largest finite",
            0x7bff,
            BiasAdd(15.99),
            0x7bff,
        ),
        row(F16, "x's NaN passes the add", 0x7d01, BiasAdd(1.0), 0x7d01),
        row(
            F16,
            "inf - inf is the canonical NaN",
            0x7c00,
            BiasAdd(f32::NEG_INFINITY),
            0x7e00,
        ),
        row(F16, "-0.0 + -0.0 = -0.0", 0x8000, BiasAdd(-0.0), 0x8000),
        row(
            F16,
            "a tiny f32 bias lands on a subnormal",
            0x0000,
            BiasAdd(3.0 * 2f32.powi(-26)),
            0x0001,
        ),
        row(
            F16,
            "f32 2^-25 ties to +0.0",
            0,
            CastFromF32(0x3300_0000),
            0x0000,
        ),
        row(
            F16,
            "f32 NaN, payload below f16's: quiet bit set",
            0,
            CastFromF32(0x7f80_0001),
            0x7e00,
        ),
        row(
            F16,
            "f32 NaN: sign and top 10 payload bits kept",
            0,
            CastFromF32(0xffc1_2345),
            0xfe09,
        ),
        row(
            F16,
            "f32 signalling NaN with a kept payload stays signalling",
            0,
            CastFromF32(0x7fa0_2000),
            0x7d01,
        ),
        row(BF16, "relu of a negative subnormal", 0x8001, Relu, 0x0000),
        row(BF16, "relu keeps subnormals", 0x0001, Relu, 0x0001),
        row(
            BF16,
            "relu of a signalling NaN keeps it",
            0x7f81,
            Relu,
            0x7f81,
        ),
        row(
            BF16,
            "3e38 + 3e38 rounds to +inf",
            0x7f62,
            BiasAdd(3.0e38),
            0x7f80,
        ),
        row(
            BF16,
            "1 + 2^-8 ties to even: 1",
            0x3f80,
            BiasAdd(1.0 / 256.0),
            0x3f80,
        ),
        row(
            BF16,
            "inf - inf is the canonical NaN",
            0x7f80,
            BiasAdd(f32::NEG_INFINITY),
            0x7fc0,
        ),
        row(
            BF16,
            "leaky 0.5 of the smallest -subnormal ties to -0.0",
            0x8001,
            Leaky(0.5),
            0x8000,
        ),
        row(
            BF16,
            "clip at a cap of 6.01: bf16's nearest, 6",
            0x40f0,
            Clipped(6.01),
            0x40c0,
        ),
        row(
            BF16,
            "f32::MAX rounds to +inf",
            0,
            CastFromF32(0x7f7f_ffff),
            0x7f80,
        ),
        row(
            BF16,
            "the largest f32 below the tie stays finite",
            0,
            CastFromF32(0x7f7f_7fff),
            0x7f7f,
        ),
        row(
            BF16,
            "f32 NaN, payload below bf16's: quiet bit set",
            0,
            CastFromF32(0x7f80_0001),
            0x7fc0,
        ),
        row(
            BF16,
            "f32 signalling NaN with a kept payload stays signalling",
            0,
            CastFromF32(0x7f81_0000),
            0x7f81,
        ),
    ]
}

#[test]
fn every_row_of_the_special_value_tables_holds() {
    let Some(gpu) = gpu() else { return };
    for row in special_rows() {
        let dtype = row.dtype;
        let input = [dtype.value_of(u32::from(row.input))];
        let x = Tensor::from_f32_as(&gpu, &input, &[1], dtype).unwrap();
        let got = match row.op {
            SpecialOp::Relu => gpu.relu(&x).unwrap(),
            SpecialOp::Leaky(slope) => gpu.activation(Activation::LeakyRelu { slope }, &x).unwrap(),
            SpecialOp::Clipped(cap) => gpu.activation(Activation::ClippedRelu { cap }, &x).unwrap(),
            SpecialOp::ClippedBit(cap) => {
                let (_, mask) = gpu
                    .activation_with_mask(Activation::ClippedRelu { cap }, &x)
                    .unwrap();
                let bit = mask.download().unwrap()[0];
                assert_eq!(bit, u32::from(row.expected), "{dtype}: {}", row.what);
                continue;
            }
            SpecialOp::BiasAdd(b) => gpu
                .bias_add(&x, &Tensor::from_slice(&gpu, &[b]).unwrap())
                .unwrap(),
            SpecialOp::CastFromF32(bits) => {
                let source = Tensor::from_slice(&gpu, &[f32::from_bits(bits)]).unwrap();
                gpu.cast(&source, dtype).unwrap()
            }
        };
        let value = got.download().unwrap()[0];
        assert_eq!(
            dtype.bits_of(value),
            u32::from(row.expected),
            "{dtype}: {} (got {:#06x})",
            row.what,
            dtype.bits_of(value)
        );
    }
}

#[test]
fn prepared_16_bit_ops_on_views_create_nothing_per_frame() {
    let Some(gpu) = own_gpu() else { return };
    let alignment = u64::from(gpu.info().min_storage_buffer_offset_alignment);
    let (rows, cols) = (37, 12);
    let len = rows * cols;
    for dtype in HALF_TYPES {
        // Views in the caller's buffers: x and the bias (an f16/bf16 view,
        // cast into the plan's f32 scratch every frame) read from one, y
        // written to another (wgpu refuses one buffer both read and written
        // in a dispatch), dy in a third.
        let region = (len as u64 * 2).next_multiple_of(alignment);
        let buffer = || caller_buffer_of(&gpu, FULL, &vec![0u32; (2 * region / 4) as usize]);
        let (inputs_buffer, output_buffer, dy_buffer) = (buffer(), buffer(), buffer());
        let view = |buffer: &wgpu::Buffer, i: u64, shape: &[usize]| {
            Tensor::from_buffer_of(&gpu, buffer, i * region, shape, dtype).unwrap()
        };
        let (x, b) = (
            view(&inputs_buffer, 0, &[rows, cols]),
            view(&inputs_buffer, 1, &[cols]),
        );
        let (y, dy) = (
            view(&output_buffer, 1, &[rows, cols]),
            view(&dy_buffer, 0, &[rows, cols]),
        );
        let dx = Tensor::uninit_of(&gpu, &[rows, cols], dtype).unwrap();
        let db = Tensor::uninit(&gpu, &[cols]).unwrap();
        let mask = wgpu_activations::Mask::uninit(&gpu, len)
            .unwrap()
            .with_row_length(cols)
            .unwrap();
        let activation = Activation::LeakyRelu { slope: 0.25 };
        let forward = gpu
            .prepare(
                Op::BiasForwardWithMask(activation),
                &OpTensors {
                    x: Some(&x),
                    bias: Some(&b),
                    y: Some(&y),
                    mask: Some(&mask),
                    ..Default::default()
                },
            )
            .unwrap();
        let backward = gpu
            .prepare(
                Op::BiasBackward(activation),
                &OpTensors {
                    dy: Some(&dy),
                    mask: Some(&mask),
                    dx: Some(&dx),
                    db: Some(&db),
                    ..Default::default()
                },
            )
            .unwrap();
        let bias_values: Vec<f32> = (0..cols).map(|c| c as f32 * 0.37 - 2.0).collect();
        b.write(&bias_values).unwrap();
        for frame in 0..4u64 {
            let x_values = sample::activations(len, frame);
            let dy_values = sample::activations(len, 100 + frame);
            x.write(&x_values).unwrap();
            dy.write(&dy_values).unwrap();
            gpu.wait_idle().unwrap();
            let before = live_objects(&gpu);
            let mut encoder = gpu.device().create_command_encoder(&Default::default());
            forward.record(&mut encoder);
            backward.record(&mut encoder);
            gpu.queue().submit([encoder.finish()]);
            gpu.wait_idle().unwrap();
            if frame > 0 {
                assert_eq!(
                    live_objects(&gpu),
                    before,
                    "{dtype}: frame {frame} created objects"
                );
            }
            let inputs = HostInputs {
                x: x_values,
                dy: dy_values,
                bias: bias_values.iter().map(|&v| dtype.round(v)).collect(),
            }
            .rounded_to(dtype);
            let outputs = verify::OpOutputs {
                values: y.download().unwrap(),
                mask: Some(mask.download().unwrap()),
                db: None,
                preactivation: None,
            };
            let op = Op::BiasForwardWithMask(activation);
            let comparison = verify::compare_in(op, &inputs, &outputs, dtype).unwrap();
            assert!(
                comparison.passed(),
                "{dtype} {op}: {:?}",
                comparison.first_mismatch
            );
            let backward_outputs = verify::OpOutputs {
                values: dx.download().unwrap(),
                mask: None,
                db: Some(db.download().unwrap()),
                preactivation: None,
            };
            let op = Op::BiasBackward(activation);
            let comparison = verify::compare_in(op, &inputs, &backward_outputs, dtype).unwrap();
            assert!(
                comparison.passed(),
                "{dtype} {op}: {:?}",
                comparison.first_mismatch
            );
        }
    }
}
