//! The CPU cost of recording an op into an engine's encoder: a prepared op,
//! the convenience `record_op`, and a bare dispatch of the engine's own.

use std::time::{Duration, Instant};

use wgpu_activations::{Gpu, Op, OpTensors, PreparedOp, Tensor};

use crate::error::Result;

/// Recordings per sample.
const RECORDINGS: u32 = 500;

/// Median CPU times of recording one op, sampled alternately in one run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RecordingCosts {
    /// A bare dispatch: the engine's own pipeline and a bind group made
    /// once, in a pass of its own.
    pub bare: Duration,
    /// A [`PreparedOp`] of one dispatch (relu on padded tensors).
    pub prepared: Duration,
    /// The same op through the convenience `record_op`, which checks and
    /// builds its bind group on every call.
    pub convenience: Duration,
    /// Median of the per-sample ratios prepared / bare.
    pub prepared_to_bare: f64,
    /// Median of the per-sample ratios convenience / bare.
    pub convenience_to_bare: f64,
}

/// Measures [`RecordingCosts`] over `samples` alternating samples of
/// 500 recordings each (into encoders that are then dropped:
/// recording alone is timed).
pub fn measure_recording(gpu: &Gpu, samples: usize) -> Result<RecordingCosts> {
    let device = gpu.device();
    let module = device.create_shader_module(wgpu::include_wgsl!("bare_dispatch.wgsl"));
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("bare dispatch"),
        layout: None,
        module: &module,
        entry_point: Some("step"),
        compilation_options: Default::default(),
        cache: None,
    });
    let x = Tensor::from_slice(gpu, &vec![1.0f32; 4096])?;
    let y = Tensor::uninit(gpu, &[4096])?;
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("bare dispatch"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: y.buffer().as_entire_binding(),
        }],
    });
    let tensors = OpTensors {
        x: Some(&x),
        y: Some(&y),
        ..Default::default()
    };
    let prepared: PreparedOp = gpu.prepare(Op::ReluForward, &tensors)?;
    let time =
        |record: &mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>| -> Result<Duration> {
            let mut encoder = device.create_command_encoder(&Default::default());
            let started = Instant::now();
            for _ in 0..RECORDINGS {
                record(&mut encoder)?;
            }
            Ok(started.elapsed() / RECORDINGS)
        };
    let mut bare = Vec::new();
    let mut prepared_times = Vec::new();
    let mut convenience = Vec::new();
    for _ in 0..samples.max(1) {
        bare.push(time(&mut |encoder| {
            let mut pass = encoder.begin_compute_pass(&Default::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(64, 1, 1);
            Ok(())
        })?);
        prepared_times.push(time(&mut |encoder| {
            prepared.record(encoder);
            Ok(())
        })?);
        convenience.push(time(&mut |encoder| {
            Ok(gpu.record_op(encoder, Op::ReluForward, &tensors)?)
        })?);
    }
    let ratio = |times: &[Duration]| {
        median(
            times
                .iter()
                .zip(&bare)
                .map(|(t, b)| t.as_secs_f64() / b.as_secs_f64().max(1e-12))
                .collect(),
        )
    };
    Ok(RecordingCosts {
        prepared_to_bare: ratio(&prepared_times),
        convenience_to_bare: ratio(&convenience),
        bare: median_duration(bare),
        prepared: median_duration(prepared_times),
        convenience: median_duration(convenience),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn median_duration(mut values: Vec<Duration>) -> Duration {
    values.sort();
    values[values.len() / 2]
}
