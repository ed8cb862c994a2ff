//! Errors of the environment rather than of the arguments: no adapter, and a
//! lost device, which every entry point must report without panicking.
//!
//! Bad arguments to each entry point are in `bad_inputs`; running out of
//! memory is tests/out_of_memory.rs.

use std::panic::{AssertUnwindSafe, catch_unwind};

use wgpu_activations::{
    Activation, Error, Gpu, GpuOptions, Mask, Op, OpTensors, PendingDownload, Result, Tensor,
};

use crate::common::gpu;

#[test]
fn adapter_name_that_matches_nothing_is_no_adapter() {
    let options = GpuOptions {
        adapter_name: Some("no adapter is called this".to_string()),
        ..GpuOptions::default()
    };
    let error = Gpu::with_options(&options).unwrap_err();
    assert!(
        matches!(&error, Error::NoAdapter(message) if message.contains("no adapter is called this")),
        "{error:?}"
    );
}

// ---------------------------------------------------------------------------
// A lost device.

/// Operands of every entry point, made while the device was alive: `[4, 8]`
/// tensors, an 8-column bias, a mask of 32 elements with rows of 8.
struct Fixture {
    gpu: Gpu,
    x: Tensor,
    y: Tensor,
    b: Tensor,
    dy: Tensor,
    dx: Tensor,
    db: Tensor,
    mask: Mask,
    /// A caller's buffer for views (STORAGE, COPY_SRC, COPY_DST).
    buffer: wgpu::Buffer,
    /// A submission of this device.
    submission: wgpu::SubmissionIndex,
    /// A download of `x` submitted before the loss and never taken.
    pending: PendingDownload<f32>,
}

impl Fixture {
    /// Operands on `gpu`. Runs no kernel (nothing is compiled), so that a
    /// test can make one per entry point cheaply.
    fn new(gpu: Gpu) -> Self {
        let data: Vec<f32> = (0..32).map(|i| i as f32 - 16.0).collect();
        let tensor = |shape: &[usize]| {
            let n = shape.iter().product();
            Tensor::from_slice_with_shape(&gpu, &data[..n], shape).unwrap()
        };
        let x = tensor(&[4, 8]);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let download = x.record_download(&mut encoder).unwrap();
        gpu.queue().submit([encoder.finish()]);
        Self {
            y: tensor(&[4, 8]),
            b: tensor(&[8]),
            dy: tensor(&[4, 8]),
            dx: tensor(&[4, 8]),
            db: tensor(&[8]),
            mask: Mask::from_words(&gpu, &[0x0f0f_0f0f], 32)
                .unwrap()
                .with_row_length(8)
                .unwrap(),
            buffer: gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("caller's buffer"),
                size: 1024,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }),
            submission: gpu.batch().submit().unwrap(),
            pending: download,
            x,
            gpu,
        }
    }

    /// Records with `record` into a fresh encoder, then submits it as a
    /// caller would.
    fn record(
        &self,
        record: impl FnOnce(&Gpu, &mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Option<Result<()>> {
        let mut encoder = self
            .gpu
            .device()
            .create_command_encoder(&Default::default());
        let result = record(&self.gpu, &mut encoder);
        self.gpu.queue().submit([encoder.finish()]);
        Some(result)
    }
}

/// An entry point: its name and a call of it on a fixture; `None` for calls
/// that return no `Result`.
type EntryPoint = (&'static str, fn(&mut Fixture) -> Option<Result<()>>);

const LEAKY: Activation = Activation::LeakyRelu { slope: 0.1 };

fn ok<T>(result: Result<T>) -> Option<Result<()>> {
    Some(result.map(drop))
}

/// Every public call that needs the device.
fn entry_points() -> Vec<EntryPoint> {
    vec![
        ("Gpu::precompile", |f| ok(f.gpu.precompile())),
        ("Gpu::wait_idle", |f| ok(f.gpu.wait_idle())),
        ("Gpu::wait_for_submission", |f| {
            ok(f.gpu.wait_for_submission(f.submission.clone()))
        }),
        ("Gpu::relu", |f| ok(f.gpu.relu(&f.x))),
        ("Gpu::relu_in_place", |f| ok(f.gpu.relu_in_place(&mut f.y))),
        ("Gpu::record_relu", |f| {
            f.record(|g, e| g.record_relu(e, &f.x, &f.y))
        }),
        ("Gpu::record_relu_in_place", |f| {
            let mut encoder = f.gpu.device().create_command_encoder(&Default::default());
            let result = f.gpu.record_relu_in_place(&mut encoder, &mut f.y);
            f.gpu.queue().submit([encoder.finish()]);
            Some(result)
        }),
        ("Gpu::activation", |f| ok(f.gpu.activation(LEAKY, &f.x))),
        ("Gpu::activation_with_mask", |f| {
            ok(f.gpu.activation_with_mask(LEAKY, &f.x))
        }),
        ("Gpu::relu_with_mask", |f| ok(f.gpu.relu_with_mask(&f.x))),
        ("Gpu::activation_backward", |f| {
            ok(f.gpu.activation_backward(LEAKY, &f.dy, &f.mask))
        }),
        ("Gpu::relu_backward", |f| {
            ok(f.gpu.relu_backward(&f.dy, &f.mask))
        }),
        ("Gpu::activation_backward_from_input", |f| {
            ok(f.gpu.activation_backward_from_input(LEAKY, &f.dy, &f.x))
        }),
        ("Gpu::record_activation", |f| {
            f.record(|g, e| g.record_activation(e, LEAKY, &f.x, &f.y, Some(&f.mask)))
        }),
        ("Gpu::record_activation_backward", |f| {
            f.record(|g, e| g.record_activation_backward(e, LEAKY, &f.dy, &f.mask, &f.dx))
        }),
        ("Gpu::record_activation_backward_from_input", |f| {
            f.record(|g, e| g.record_activation_backward_from_input(e, LEAKY, &f.dy, &f.x, &f.dx))
        }),
        ("Gpu::bias_activation", |f| {
            ok(f.gpu.bias_activation(LEAKY, &f.x, &f.b))
        }),
        ("Gpu::bias_activation_with_mask", |f| {
            ok(f.gpu.bias_activation_with_mask(LEAKY, &f.x, &f.b))
        }),
        ("Gpu::bias_relu", |f| ok(f.gpu.bias_relu(&f.x, &f.b))),
        ("Gpu::bias_relu_with_mask", |f| {
            ok(f.gpu.bias_relu_with_mask(&f.x, &f.b))
        }),
        ("Gpu::bias_activation_backward", |f| {
            ok(f.gpu.bias_activation_backward(LEAKY, &f.dy, &f.mask))
        }),
        ("Gpu::bias_relu_backward", |f| {
            ok(f.gpu.bias_relu_backward(&f.dy, &f.mask))
        }),
        ("Gpu::record_bias_activation", |f| {
            f.record(|g, e| g.record_bias_activation(e, LEAKY, &f.x, &f.b, &f.y, Some(&f.mask)))
        }),
        ("Gpu::bias_add", |f| ok(f.gpu.bias_add(&f.x, &f.b))),
        ("Gpu::record_bias_add", |f| {
            f.record(|g, e| g.record_bias_add(e, &f.x, &f.b, &f.y))
        }),
        ("Gpu::record_bias_activation_backward", |f| {
            f.record(|g, e| {
                g.record_bias_activation_backward(e, LEAKY, &f.dy, &f.mask, &f.dx, &f.db)
            })
        }),
        ("Batch::relu", |f| {
            ok(f.gpu.batch().relu(&f.x, &f.y).map(drop))
        }),
        ("Batch::relu_in_place", |f| {
            ok(f.gpu.batch().relu_in_place(&mut f.y).map(drop))
        }),
        ("Batch::activation", |f| {
            ok(f.gpu.batch().activation(LEAKY, &f.x, &f.y, None).map(drop))
        }),
        ("Batch::activation_backward", |f| {
            let mut batch = f.gpu.batch();
            ok(batch
                .activation_backward(LEAKY, &f.dy, &f.mask, &f.dx)
                .map(drop))
        }),
        ("Batch::activation_backward_from_input", |f| {
            let mut batch = f.gpu.batch();
            ok(batch
                .activation_backward_from_input(LEAKY, &f.dy, &f.x, &f.dx)
                .map(drop))
        }),
        ("Batch::bias_add", |f| {
            ok(f.gpu.batch().bias_add(&f.x, &f.b, &f.y).map(drop))
        }),
        ("Batch::bias_activation", |f| {
            let mut batch = f.gpu.batch();
            ok(batch
                .bias_activation(LEAKY, &f.x, &f.b, &f.y, Some(&f.mask))
                .map(drop))
        }),
        ("Batch::bias_activation_backward", |f| {
            let mut batch = f.gpu.batch();
            ok(batch
                .bias_activation_backward(LEAKY, &f.dy, &f.mask, &f.dx, &f.db)
                .map(drop))
        }),
        ("Batch::submit", |f| ok(f.gpu.batch().submit())),
        ("Batch::submit_and_wait", |f| {
            ok(f.gpu.batch().submit_and_wait())
        }),
        ("Tensor::from_slice", |f| {
            ok(Tensor::from_slice(&f.gpu, &[1.0, -1.0]))
        }),
        ("Tensor::from_slice_with_shape", |f| {
            ok(Tensor::from_slice_with_shape(&f.gpu, &[1.0; 4], &[2, 2]))
        }),
        ("Tensor::uninit", |f| ok(Tensor::uninit(&f.gpu, &[4, 8]))),
        ("Tensor::from_buffer", |f| {
            ok(Tensor::from_buffer(&f.gpu, &f.buffer, 0, &[8]))
        }),
        ("Tensor::write", |f| ok(f.y.write(&[0.5; 32]))),
        ("Tensor::download", |f| ok(f.x.download())),
        ("Tensor::download_async", |f| {
            ok(pollster::block_on(f.x.download_async()))
        }),
        ("Tensor::record_download", |f| {
            let mut encoder = f.gpu.device().create_command_encoder(&Default::default());
            let download = match f.x.record_download(&mut encoder) {
                Ok(download) => download,
                Err(error) => return Some(Err(error)),
            };
            f.gpu.queue().submit([encoder.finish()]);
            let _ = f.gpu.device().poll(wgpu::PollType::Poll);
            // The map fails or never completes; either way, not data.
            let mut download = download;
            match download.try_take() {
                Some(Ok(data)) => panic!("data from a lost device: {data:?}"),
                Some(Err(error)) => Some(Err(error)),
                None => Some(Ok(())),
            }
        }),
        ("Mask::uninit", |f| ok(Mask::uninit(&f.gpu, 64))),
        ("Mask::from_words", |f| {
            ok(Mask::from_words(&f.gpu, &[1, 2], 64))
        }),
        ("Mask::from_buffer", |f| {
            ok(Mask::from_buffer(&f.gpu, &f.buffer, 0, &[64]))
        }),
        ("Mask::download", |f| ok(f.mask.download())),
        ("Mask::record_download", |f| {
            let mut encoder = f.gpu.device().create_command_encoder(&Default::default());
            ok(f.mask.record_download(&mut encoder))
        }),
        ("Gpu::record_op", |f| {
            f.record(|g, e| {
                let tensors = OpTensors {
                    dy: Some(&f.dy),
                    mask: Some(&f.mask),
                    dx: Some(&f.dx),
                    db: Some(&f.db),
                    ..OpTensors::default()
                };
                g.record_op(e, Op::BiasBackward(LEAKY), &tensors)
            })
        }),
        ("Batch::op", |f| {
            let tensors = OpTensors {
                x: Some(&f.x),
                y: Some(&f.y),
                ..OpTensors::default()
            };
            ok(f.gpu.batch().op(Op::Forward(LEAKY), &tensors).map(drop))
        }),
        ("Gpu::capture", |f| {
            ok(f.gpu.capture("a lost device", || ()))
        }),
        ("Gpu::submit", |f| {
            let encoder = f.gpu.device().create_command_encoder(&Default::default());
            ok(f.gpu.submit("a lost device", encoder))
        }),
    ]
}

/// Calls that need no device, and the accessors: they keep working.
fn host_only(f: &mut Fixture) {
    let _ = (f.gpu.info(), f.gpu.limits(), f.gpu.device(), f.gpu.queue());
    let _ = (f.x.shape(), f.x.len(), f.x.cols(), f.x.buffer(), f.x.gpu());
    let _ = (
        f.mask.len(),
        f.mask.words(),
        f.mask.row_length(),
        f.mask.buffer(),
    );
    let mut batch = f.gpu.batch();
    let _ = (batch.len(), batch.is_empty(), batch.encoder());
}

/// Calls `entry`, turning a panic into a message naming the entry point.
fn call(
    name: &str,
    entry: fn(&mut Fixture) -> Option<Result<()>>,
    f: &mut Fixture,
) -> Option<Result<()>> {
    match catch_unwind(AssertUnwindSafe(|| entry(f))) {
        Ok(outcome) => outcome,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            panic!("{name} panicked on a lost device: {message:?}");
        }
    }
}

/// Asserts `result` failed with `DeviceLost`.
#[track_caller]
fn assert_device_lost<T: std::fmt::Debug>(what: &str, result: Result<T>) {
    match result {
        Err(error @ Error::DeviceLost(_)) => {
            assert!(error.to_string().starts_with("device lost: "), "{error}");
        }
        other => panic!("{what} on a lost device: {other:?}, expected DeviceLost"),
    }
}

/// After `gpu.device().destroy()` on a device `Gpu::new` opened: downloads
/// fail, the wait that follows reports `DeviceLost`, and from then on every
/// call that needs the device returns `DeviceLost`, and none panics.
#[test]
fn lost_device_is_device_lost_from_every_call() {
    let Some(_) = gpu() else { return };
    let mut f = Fixture::new(Gpu::new().unwrap());
    f.gpu.device().destroy();
    // Until a poll runs wgpu's device-lost callback the crate does not know;
    // this first download fails on the failed submit of its copy (see
    // first_download_after_destroy_is_device_lost).
    let first = f.x.download();
    assert!(first.is_err(), "data from a destroyed device: {first:?}");
    assert_device_lost("the wait after it", f.gpu.wait_idle());
    assert_device_lost("Tensor::download", f.x.download());

    let mut wrong = Vec::new();
    for (name, entry) in entry_points() {
        match call(name, entry, &mut f) {
            Some(Err(Error::DeviceLost(_))) | None => {}
            Some(other) => wrong.push(format!("{name}: {other:?}")),
        }
    }
    assert!(
        wrong.is_empty(),
        "calls on a lost device that did not return DeviceLost:\n{}",
        wrong.join("\n")
    );
    // A copy submitted before the loss may have finished before it; if the
    // pending download yields data at all, it is that copy's.
    if let Some(Ok(data)) = f.pending.try_take() {
        assert_eq!(data, (0..32).map(|i| i as f32 - 16.0).collect::<Vec<_>>());
    }
    // Calls that need no device still work.
    host_only(&mut f);
    let Fixture { x, mask, .. } = f;
    assert_eq!(x.reshape(&[32]).unwrap().shape(), &[32]);
    assert_eq!(mask.with_row_length(4).unwrap().row_length(), Some(4));
}

/// Each entry point as the very first call after `destroy()`, before
/// anything has polled the device (so before the crate knows of the loss):
/// none panics, a download after it yields no data, and by the wait after
/// that the crate reports `DeviceLost`.
#[test]
fn first_call_after_destroy_does_not_panic() {
    let Some(_) = gpu() else { return };
    for (name, entry) in entry_points() {
        let mut f = Fixture::new(Gpu::new().unwrap());
        f.gpu.device().destroy();
        call(name, entry, &mut f);
        let download = f.x.download();
        assert!(download.is_err(), "{name}, then a download: {download:?}");
        let _ = f.gpu.wait_idle();
        assert_device_lost(&format!("{name}, then a download"), f.x.download());
    }
}

/// Calls that return before asking the device anything do not report its
/// loss: `precompile` (wgpu does not report pipeline creation on a lost
/// device; the crate never checks its lost flag there) and calls on empty
/// tensors (which return early).
#[test]
fn every_call_on_a_lost_device_is_device_lost() {
    let Some(_) = gpu() else { return };
    let gpu = Gpu::new().unwrap();
    let empty = Tensor::uninit(&gpu, &[0]).unwrap();
    let empty_out = Tensor::uninit(&gpu, &[0]).unwrap();
    let empty_mask = Mask::uninit(&gpu, 0).unwrap();
    gpu.device().destroy();
    assert_device_lost("Gpu::wait_idle", gpu.wait_idle());
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let outcomes = [
        ("Gpu::precompile", gpu.precompile()),
        ("Tensor::download of []", empty.download().map(drop)),
        ("Tensor::write of []", empty.write(&[])),
        ("Mask::download of []", empty_mask.download().map(drop)),
        (
            "Gpu::record_relu of []",
            gpu.record_relu(&mut encoder, &empty, &empty_out),
        ),
    ];
    let wrong: Vec<String> = outcomes
        .iter()
        .filter(|(_, outcome)| !matches!(outcome, Err(Error::DeviceLost(_))))
        .map(|(name, outcome)| format!("{name}: {outcome:?}"))
        .collect();
    assert!(wrong.is_empty(), "not DeviceLost:\n{}", wrong.join("\n"));
}

/// `Gpu::wait_for` returns wgpu's error for a submission the lost device
/// refused before checking whether the device was lost.
#[test]
fn first_download_after_destroy_is_device_lost() {
    let Some(_) = gpu() else { return };
    let f = Fixture::new(Gpu::new().unwrap());
    f.gpu.device().destroy();
    assert_device_lost("the first download", f.x.download());
}

/// A caller's device wrapped with `Gpu::from_device` keeps the caller's
/// device-lost callback, so the crate is never told of the loss: calls fail
/// with wgpu's own errors instead (or succeed without effect), but none
/// panics and no download yields data.
#[test]
fn lost_caller_device_fails_without_panicking() {
    let Some((_instance, adapter)) = crate::common::instance_and_adapter() else {
        return;
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    // A caller who does not want wgpu's default (panicking) handler.
    device.on_uncaptured_error(std::sync::Arc::new(|_| {}));
    let mut f = Fixture::new(Gpu::from_device(device, queue).unwrap());
    f.gpu.device().destroy();
    let _ = f.gpu.device().poll(wgpu::PollType::wait_indefinitely());
    for (name, entry) in entry_points() {
        let outcome = call(name, entry, &mut f);
        if [
            "Tensor::download",
            "Tensor::download_async",
            "Mask::download",
        ]
        .contains(&name)
        {
            assert!(
                matches!(outcome, Some(Err(_))),
                "{name} on a lost caller's device: {outcome:?}"
            );
        }
    }
}
