//! Prepared ops, the embedding path: every op bound once and recorded every
//! frame on new data, creating no buffer or bind group; the activation's
//! parameter changed through the queue; recording into an open compute pass;
//! a refused op leaving the frame's other ops intact.

use wgpu_activations::verify::{self, OpOperands};
use wgpu_activations::{Activation, Error, Gpu, HostInputs, Op, Tensor};

use crate::common::counters::{live_objects, own_gpu};
use crate::common::{gpu, sample};

/// Records `record` into a fresh encoder, submits it and waits.
fn run_frame(gpu: &Gpu, record: impl FnOnce(&mut wgpu::CommandEncoder)) {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    record(&mut encoder);
    gpu.submit("frame", encoder).unwrap();
    gpu.wait_idle().unwrap();
}

/// Frame `frame`'s inputs: new forward inputs for a forward op, a new `dy`
/// for a backward op (whose saved mask, from `x` and the bias, stays).
fn frame_inputs(op: Op, first: &HostInputs, frame: u64) -> HostInputs {
    let fresh = sample::inputs(first.x.len(), 1000 + frame);
    HostInputs {
        x: if op.is_backward() {
            first.x.clone()
        } else {
            fresh.x
        },
        dy: fresh.dy,
        bias: first.bias.clone(),
    }
}

#[test]
fn every_op_prepared_once_is_right_on_every_frame() {
    let Some(gpu) = gpu() else { return };
    let first = sample::inputs(10_007, 41);
    for op in Op::all() {
        let operands = OpOperands::upload(&gpu, op, &first).unwrap();
        let prepared = gpu.prepare(op, &operands.tensors(op)).unwrap();
        assert_eq!(prepared.op(), op);
        for frame in 0..3 {
            let inputs = frame_inputs(op, &first, frame);
            let used = inputs.used(op);
            if let (Some(x), false) = (&operands.x, op.is_backward()) {
                x.write(&inputs.x[..used]).unwrap();
            }
            if let Some(dy) = &operands.dy {
                dy.write(&inputs.dy[..used]).unwrap();
            }
            run_frame(&gpu, |encoder| prepared.record(encoder));
            let outputs = operands.download(op).unwrap();
            let comparison = verify::compare(op, &inputs, &outputs).unwrap();
            assert!(
                comparison.passed(),
                "{op}, frame {frame}: {:?}",
                comparison.first_mismatch
            );
        }
    }
}

#[test]
fn recording_a_prepared_op_creates_no_buffer_or_bind_group() {
    let Some(gpu) = own_gpu() else { return };
    let inputs = sample::inputs(4099, 42);
    let ops = Op::all();
    let operands: Vec<OpOperands> = ops
        .iter()
        .map(|&op| OpOperands::upload(&gpu, op, &inputs).unwrap())
        .collect();
    let prepared = gpu
        .prepare_batch(
            &ops.iter()
                .zip(&operands)
                .map(|(&op, o)| (op, o.tensors(op)))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    run_frame(&gpu, |encoder| prepared.record(encoder));
    for frame in 0..5 {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let before = live_objects(&gpu);
        prepared.record(&mut encoder);
        let after = live_objects(&gpu);
        assert_eq!(
            after, before,
            "frame {frame}: (buffers, bind groups) created"
        );
        gpu.submit("frame", encoder).unwrap();
        gpu.wait_idle().unwrap();
    }
    // The same ops through their convenience record_op do create objects:
    // the counters can see what the prepared path avoids.
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let before = live_objects(&gpu);
    gpu.record_op(&mut encoder, ops[3], &operands[3].tensors(ops[3]))
        .unwrap();
    let after = live_objects(&gpu);
    assert!(
        after.0 > before.0 && after.1 > before.1,
        "{:?} -> {after:?}",
        before
    );
}

#[test]
fn a_new_parameter_goes_through_the_queue() {
    let Some(gpu) = own_gpu() else { return };
    let data: Vec<f32> = vec![-4.0, -1.0, 0.5, 3.0, 8.0, -0.0, f32::NEG_INFINITY, 5.5];
    let x = Tensor::from_slice_with_shape(&gpu, &data, &[2, 4]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.0, 1.0, -1.0, 0.5]).unwrap();
    let y = Tensor::uninit(&gpu, &[2, 4]).unwrap();
    let inputs = HostInputs {
        x: data.clone(),
        dy: vec![0.0; 8],
        bias: vec![0.0, 1.0, -1.0, 0.5],
    };
    for (first, second, op_of) in [
        (
            Activation::LeakyRelu { slope: 0.1 },
            Activation::LeakyRelu { slope: -2.0 },
            Op::Forward as fn(Activation) -> Op,
        ),
        (
            Activation::ClippedRelu { cap: 6.0 },
            Activation::ClippedRelu { cap: 1.0 },
            Op::BiasForward,
        ),
    ] {
        let tensors = wgpu_activations::OpTensors {
            x: Some(&x),
            bias: Some(&b),
            y: Some(&y),
            ..Default::default()
        };
        let mut prepared = gpu.prepare(op_of(first), &tensors).unwrap();
        for activation in [first, second, first] {
            prepared.set_activation(activation).unwrap();
            assert_eq!(prepared.op(), op_of(activation));
            let before = live_objects(&gpu);
            run_frame(&gpu, |encoder| prepared.record(encoder));
            assert_eq!(live_objects(&gpu).1, before.1, "a bind group was made");
            let outputs = verify::OpOutputs {
                values: y.download().unwrap(),
                ..Default::default()
            };
            let comparison = verify::compare(op_of(activation), &inputs, &outputs).unwrap();
            assert!(
                comparison.passed(),
                "{activation}: {:?}",
                comparison.first_mismatch
            );
        }
        // Another variant needs other kernels; a bad parameter is refused.
        let error = prepared.set_activation(Activation::Relu).unwrap_err();
        assert!(
            matches!(error, Error::ActivationChanged { .. }),
            "{error:?}"
        );
        let bad = match first {
            Activation::LeakyRelu { .. } => Activation::LeakyRelu { slope: f32::NAN },
            _ => Activation::ClippedRelu { cap: -1.0 },
        };
        let error = prepared.set_activation(bad).unwrap_err();
        assert!(matches!(error, Error::InvalidParameter { .. }), "{error:?}");
    }
}

#[test]
fn a_prepared_op_records_into_the_callers_open_pass() {
    let Some(gpu) = gpu() else { return };
    let data = sample::activations(1 << 12, 43);
    let x = Tensor::from_slice(&gpu, &data).unwrap();
    let y = Tensor::uninit(&gpu, &[data.len()]).unwrap();
    let z = Tensor::uninit(&gpu, &[data.len()]).unwrap();
    let leaky = Activation::LeakyRelu { slope: 0.5 };
    let relu = gpu
        .prepare(
            Op::ReluForward,
            &wgpu_activations::OpTensors {
                x: Some(&x),
                y: Some(&y),
                ..Default::default()
            },
        )
        .unwrap();
    let then_leaky = gpu
        .prepare(
            Op::Forward(leaky),
            &wgpu_activations::OpTensors {
                x: Some(&y),
                y: Some(&z),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(relu.records_in_pass() && then_leaky.records_in_pass());
    assert_eq!(relu.dispatches(), 1);
    run_frame(&gpu, |encoder| {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        relu.record_in_pass(&mut pass).unwrap();
        then_leaky.record_in_pass(&mut pass).unwrap();
    });
    let expected: Vec<f32> = wgpu_activations::cpu::relu_forward(&data)
        .into_iter()
        .map(|v| wgpu_activations::cpu::activate(leaky, v))
        .collect();
    crate::common::assert_bit_exact(
        "relu then leaky in one pass",
        &data,
        &z.download().unwrap(),
        &expected,
    );

    // A view whose length is not whole vectors copies its tail: not for a pass.
    let odd = Tensor::from_slice(&gpu, &data[..4 * 9 + 1]).unwrap();
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: 4 * 37,
        usage,
        mapped_at_creation: false,
    });
    let view = Tensor::from_buffer(&gpu, &buffer, 0, &[37]).unwrap();
    let tail = gpu
        .prepare(
            Op::ReluForward,
            &wgpu_activations::OpTensors {
                x: Some(&odd),
                y: Some(&view),
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!tail.records_in_pass());
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        let error = tail.record_in_pass(&mut pass).unwrap_err();
        assert!(matches!(error, Error::NeedsEncoder { .. }), "{error:?}");
    }
    tail.record(&mut encoder);
    gpu.submit("tail", encoder).unwrap();
    let expected = wgpu_activations::cpu::relu_forward(&data[..37]);
    crate::common::assert_bit_exact("tail op", &data[..37], &view.download().unwrap(), &expected);
}

#[test]
fn a_refused_op_between_two_valid_ones_leaves_the_frame_intact() {
    let Some(gpu) = gpu() else { return };
    let data = sample::activations(1000, 44);
    let x = Tensor::from_slice(&gpu, &data).unwrap();
    let (first, last) = (
        Tensor::uninit(&gpu, &[1000]).unwrap(),
        Tensor::uninit(&gpu, &[1000]).unwrap(),
    );
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let doomed = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("destroyed by its owner"),
        size: 4000,
        usage,
        mapped_at_creation: false,
    });
    let doomed_view = Tensor::from_buffer(&gpu, &doomed, 0, &[1000]).unwrap();
    doomed.destroy();

    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_relu(&mut encoder, &x, &first).unwrap();
    let refused = gpu.record_relu(&mut encoder, &x, &doomed_view);
    assert!(
        matches!(refused, Err(Error::Wgpu { .. })),
        "an op on a destroyed buffer: {refused:?}"
    );
    let refused = gpu.prepare(
        Op::ReluForward,
        &wgpu_activations::OpTensors {
            x: Some(&doomed_view),
            y: Some(&last),
            ..Default::default()
        },
    );
    assert!(
        refused.is_err(),
        "a prepared op on a destroyed buffer was accepted"
    );
    gpu.record_activation(&mut encoder, Activation::relu6(), &x, &last, None)
        .unwrap();
    // The engine's one submit of the frame goes through.
    let scope = gpu.device().push_error_scope(wgpu::ErrorFilter::Validation);
    gpu.queue().submit([encoder.finish()]);
    assert!(
        pollster::block_on(scope.pop()).is_none(),
        "the frame's submit failed"
    );
    crate::common::assert_bit_exact(
        "first",
        &data,
        &first.download().unwrap(),
        &wgpu_activations::cpu::relu_forward(&data),
    );
    let relu6 = wgpu_activations::cpu::forward(Activation::relu6(), &data);
    crate::common::assert_bit_exact("last", &data, &last.download().unwrap(), &relu6);
}

#[test]
fn repeated_downloads_reuse_their_staging_buffers() {
    let Some(gpu) = own_gpu() else { return };
    let data = sample::activations(3001, 45);
    let x = Tensor::from_slice(&gpu, &data).unwrap();
    let mut host = vec![0.0f32; data.len()];
    x.download_into(&mut host).unwrap();
    crate::common::assert_bit_exact("download_into", &data, &host, &data);
    // Each round trip, blocking or recorded, takes its staging buffer from
    // the pool once the first has returned one.
    let _ = x.download().unwrap();
    let before = live_objects(&gpu);
    for _ in 0..20 {
        x.download_into(&mut host).unwrap();
        let _ = x.download().unwrap();
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let quiescent = live_objects(&gpu).0;
        let mut pending = x.record_download(&mut encoder).unwrap();
        // Counted before the copy runs: a new staging buffer would be alive.
        assert_eq!(
            live_objects(&gpu).0,
            quiescent,
            "the download made a buffer"
        );
        gpu.submit("download", encoder).unwrap();
        gpu.wait_idle().unwrap();
        assert_eq!(pending.try_take().unwrap().unwrap().len(), data.len());
    }
    assert_eq!(
        live_objects(&gpu).0,
        before.0,
        "staging buffers were created"
    );
    let error = x.download_into(&mut host[..10]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 3001,
                actual: 10,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn repeated_writes_and_uploads_reuse_their_staging_buffers() {
    let Some(gpu) = own_gpu() else { return };
    let first = sample::activations(4099, 46);
    let second = sample::activations(4099, 47);
    let x = Tensor::from_slice(&gpu, &first).unwrap();
    let y = Tensor::uninit(&gpu, &[first.len()]).unwrap();
    let mut host = vec![0.0f32; first.len()];
    // The first rounds fill the pool; a download's wait polls the device,
    // which maps each used staging buffer again for the next write.
    for data in [&first, &second] {
        crate::common::write_relu_download(&gpu, &x, data, &y, &mut host);
    }
    let start = live_objects(&gpu).0;
    for round in 0..20 {
        let data = if round % 2 == 0 { &first } else { &second };
        // Counted before the device is polled again: a staging buffer made
        // for this write would still be alive, waiting for its copy.
        let quiescent = live_objects(&gpu).0;
        x.write(data).unwrap();
        assert_eq!(live_objects(&gpu).0, quiescent, "the write made a buffer");
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_relu(&mut encoder, &x, &y).unwrap();
        gpu.submit("relu", encoder).unwrap();
        y.download_into(&mut host).unwrap();
        let expected = wgpu_activations::cpu::relu_forward(data);
        crate::common::assert_bit_exact("relu of the written data", data, &host, &expected);
        // A new tensor's upload: its storage buffer is the one new buffer.
        let quiescent = live_objects(&gpu).0;
        let z = Tensor::from_slice(&gpu, data).unwrap();
        assert_eq!(
            live_objects(&gpu).0,
            quiescent + 1,
            "the upload made a staging buffer"
        );
        z.download_into(&mut host).unwrap();
        crate::common::assert_bit_exact("uploaded", data, &host, data);
    }
    assert_eq!(live_objects(&gpu).0, start, "buffers leaked");
}
