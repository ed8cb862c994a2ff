//! Outputs in an input's buffer, and masks sharing a buffer with an
//! operand: `Error::Aliasing`, before anything is recorded.

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
