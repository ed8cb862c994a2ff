//! Operands sharing a buffer: exactly wgpu's rule (no buffer bound
//! read-only and writable in one dispatch) and no overlapping bytes where
//! one side is written are refused with `Error::Aliasing`, before anything
//! is recorded; disjoint writable views of one buffer work.

use wgpu_activations::verify::{self, OpOutputs};
use wgpu_activations::{HostInputs, Op};

use super::*;

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
    let mask = shared.mask(&gpu, regions[3], &[rows, cols]);
    let own_db = Tensor::uninit(&gpu, &[cols]).unwrap();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let aliasing = |name: &str, result: wgpu_activations::Result<()>, expected: &str| match result {
        Err(Error::Aliasing { what, .. }) if what == expected => {}
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
    let mask = shared.mask(&gpu, regions[2], &[rows, cols]);
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

/// Disjoint writable views of one buffer, as wgpu allows: `y` and its mask
/// from the fused forward, `dx` and `db` from the fused backward. The
/// results are the reference's.
#[test]
fn disjoint_writable_views_of_one_buffer_work() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: 0.25 };
    let (rows, cols) = (5, 7);
    let len = rows * cols;
    let x = sample::activations(len, 91);
    let dy = sample::activations(len, 92);
    let b = sample::activations(cols, 93);
    let inputs = HostInputs {
        x: x.clone(),
        dy: dy.clone(),
        bias: b.clone(),
    };
    let mut layout = ArenaLayout::new(&gpu);
    let regions = [layout.add_f32(&x), layout.add_f32(&b)];
    let forward = layout.build(&gpu, FULL, 0);
    let mut layout = ArenaLayout::new(&gpu);
    let grads = [
        layout.add_f32(&dy),
        layout.add(inputs.saved_mask(Op::BiasBackward(activation))),
    ];
    let backward = layout.build(&gpu, FULL, 0);
    // dx and db: one buffer of outputs, disjoint views.
    let mut layout = ArenaLayout::new(&gpu);
    let gradient_outs = [layout.add_output(len), layout.add_output(cols)];
    let gradients = layout.build(&gpu, FULL, 0);
    let xv = forward.tensor(&gpu, regions[0], &[rows, cols]);
    let bv = forward.tensor(&gpu, regions[1], &[cols]);
    // y and its mask: one buffer of outputs, disjoint views.
    let mut layout = ArenaLayout::new(&gpu);
    let outs = [
        layout.add_output(len),
        layout.add_output(cpu::mask_words(len)),
    ];
    let outputs = layout.build(&gpu, FULL, 0);
    let yv = outputs.tensor(&gpu, outs[0], &[rows, cols]);
    let mask_out = outputs.mask(&gpu, outs[1], &[rows, cols]);
    let dyv = backward.tensor(&gpu, grads[0], &[rows, cols]);
    let mask_in = backward.mask(&gpu, grads[1], &[rows, cols]);
    let dx = gradients.tensor(&gpu, gradient_outs[0], &[rows, cols]);
    let db = gradients.tensor(&gpu, gradient_outs[1], &[cols]);

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_activation(&mut encoder, activation, &xv, &bv, &yv, Some(&mask_out))
        .unwrap();
    gpu.record_bias_activation_backward(&mut encoder, activation, &dyv, &mask_in, &dx, &db)
        .unwrap();
    gpu.queue().submit([encoder.finish()]);

    let forward_out = OpOutputs {
        values: yv.download().unwrap(),
        mask: Some(mask_out.download().unwrap()),
        db: None,
        preactivation: None,
    };
    let comparison =
        verify::compare(Op::BiasForwardWithMask(activation), &inputs, &forward_out).unwrap();
    assert!(
        comparison.passed(),
        "y and mask: {:?}",
        comparison.first_mismatch
    );
    let backward_out = OpOutputs {
        values: dx.download().unwrap(),
        mask: None,
        db: Some(db.download().unwrap()),
        preactivation: None,
    };
    let comparison = verify::compare(Op::BiasBackward(activation), &inputs, &backward_out).unwrap();
    assert!(
        comparison.passed(),
        "dx and db: {:?}",
        comparison.first_mismatch
    );
}

/// Outputs whose bytes overlap are refused, naming both and the rule, and
/// nothing is recorded.
#[test]
fn overlapping_outputs_are_refused_naming_both() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::Relu;
    let (rows, cols) = (4, 8);
    let len = rows * cols;
    let x =
        Tensor::from_slice_with_shape(&gpu, &sample::activations(len, 95), &[rows, cols]).unwrap();
    let dy =
        Tensor::from_slice_with_shape(&gpu, &sample::activations(len, 96), &[rows, cols]).unwrap();
    let mask_in = Mask::from_words(&gpu, &vec![u32::MAX; cpu::mask_words(len)], len)
        .unwrap()
        .with_row_length(cols)
        .unwrap();
    let mut layout = ArenaLayout::new(&gpu);
    let region = layout.add_output(len);
    let shared = layout.build(&gpu, FULL, 0);
    // y over the whole region, the mask over its first words.
    let y = shared.tensor(&gpu, region, &[rows, cols]);
    let mask =
        Mask::from_buffer(&gpu, &shared.buffer, shared.offset(region), &[rows, cols]).unwrap();
    // dx over the region, db over its first columns.
    let dx = shared.tensor(&gpu, region, &[rows, cols]);
    let db = Tensor::from_buffer(&gpu, &shared.buffer, shared.offset(region), &[cols]).unwrap();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_activation(&mut encoder, activation, &x, &y, Some(&mask))
        .unwrap_err();
    match &error {
        Error::Aliasing {
            what: "mask",
            other: "output",
            rule,
        } => assert!(rule.contains("overlap"), "{rule}"),
        other => panic!("y and mask overlapping: {other:?}"),
    }
    assert!(
        error.to_string().starts_with("mask and output overlap"),
        "{error}"
    );
    let error = gpu
        .record_bias_activation_backward(&mut encoder, activation, &dy, &mask_in, &dx, &db)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Aliasing {
                what: "bias gradient",
                other: "gradient output",
                ..
            }
        ),
        "dx and db overlapping: {error:?}"
    );
    // Nothing was recorded: the encoder submits and the buffer is as made.
    let staging = record_read(&gpu, &mut encoder, &shared.buffer);
    gpu.queue().submit([encoder.finish()]);
    shared.assert_unchanged_outside("after refused ops", &finish_read(&gpu, &staging), &[]);
}
