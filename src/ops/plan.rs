//! An op's commands, built before any of them is recorded.
//!
//! Building a [`Plan`] does everything that can fail or allocate: it checks
//! the operands, compiles the pipelines, creates the parameter blocks,
//! scratch buffers and bind groups, inside error scopes. Recording it into
//! an encoder then only replays commands: nothing is created, nothing can be
//! refused halfway, and a refused op has recorded nothing. The `record_*`
//! ops build a plan and record it at once; a [`PreparedOp`](crate::PreparedOp)
//! keeps it and records it every frame.

use std::sync::Arc;

use crate::activation::Activation;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::kernels::params::Params;
use crate::pipeline::CompiledKernel;

/// One command of a plan.
#[derive(Debug)]
pub(crate) enum Step {
    /// A kernel over a grid of workgroups, with its bind group.
    Dispatch {
        label: &'static str,
        kernel: Arc<CompiledKernel>,
        bind_group: wgpu::BindGroup,
        workgroups: (u32, u32),
    },
    /// `copy_buffer_to_buffer` (a view's tail to or from its scratch, the
    /// bias into its uniform staging).
    Copy {
        source: wgpu::Buffer,
        source_offset: u64,
        destination: wgpu::Buffer,
        destination_offset: u64,
        bytes: u64,
    },
    /// `clear_buffer` (the bias gradient of zero rows).
    Clear {
        buffer: wgpu::Buffer,
        offset: u64,
        bytes: u64,
    },
}

/// The commands of one op (or several, recorded in order).
#[derive(Debug, Default)]
pub(crate) struct Plan {
    steps: Vec<Step>,
    /// The parameter blocks the dispatches read, with what each holds, so a
    /// prepared op can change its activation's parameter in place.
    params: Vec<(wgpu::Buffer, Params, DType)>,
}

impl Plan {
    pub fn push(&mut self, step: Step) {
        self.steps.push(step);
    }

    /// Keeps `buffer`, which holds `params` of a kernel over `dtype` data,
    /// for [`set_activation`](Plan::set_activation).
    pub fn add_params(&mut self, buffer: &wgpu::Buffer, params: Params, dtype: DType) {
        self.params.push((buffer.clone(), params, dtype));
    }

    /// Dispatches the plan records.
    pub fn dispatches(&self) -> usize {
        self.steps
            .iter()
            .filter(|step| matches!(step, Step::Dispatch { .. }))
            .count()
    }

    /// Commands the plan records: dispatches, copies and clears.
    pub fn commands(&self) -> usize {
        self.steps.len()
    }

    /// Whether the plan is dispatches alone, so that it can be recorded into
    /// an open compute pass.
    pub fn is_dispatches_only(&self) -> bool {
        self.dispatches() == self.steps.len()
    }

    /// Records the commands into `encoder`; consecutive dispatches share one
    /// compute pass (each dispatch is its own synchronisation scope, so a
    /// dispatch sees the writes of the one before).
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        for run in self.steps.chunk_by(|a, b| {
            matches!(a, Step::Dispatch { .. }) && matches!(b, Step::Dispatch { .. })
        }) {
            match &run[0] {
                Step::Dispatch { label, .. } => {
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: Some(label),
                        timestamp_writes: None,
                    });
                    record_dispatches(run, &mut pass);
                }
                Step::Copy {
                    source,
                    source_offset,
                    destination,
                    destination_offset,
                    bytes,
                } => encoder.copy_buffer_to_buffer(
                    source,
                    *source_offset,
                    destination,
                    *destination_offset,
                    *bytes,
                ),
                Step::Clear {
                    buffer,
                    offset,
                    bytes,
                } => encoder.clear_buffer(buffer, *offset, Some(*bytes)),
            }
        }
    }

    /// Records the dispatches into an open compute pass; errors with
    /// [`Error::NeedsEncoder`] (recording nothing) if the plan also copies
    /// or clears, which a compute pass cannot.
    pub fn record_in_pass(&self, op: &str, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        if !self.is_dispatches_only() {
            return Err(Error::NeedsEncoder { op: op.to_string() });
        }
        record_dispatches(&self.steps, pass);
        Ok(())
    }

    /// Writes `activation`'s parameter into every parameter block through
    /// `queue`: it takes effect at the queue's next submit.
    pub fn set_activation(&mut self, queue: &wgpu::Queue, activation: Activation) {
        for (buffer, params, dtype) in &mut self.params {
            *params = params.with_activation(activation, *dtype);
            queue.write_buffer(buffer, 0, bytemuck::bytes_of(params));
        }
    }
}

fn record_dispatches(steps: &[Step], pass: &mut wgpu::ComputePass<'_>) {
    for step in steps {
        if let Step::Dispatch {
            kernel,
            bind_group,
            workgroups: (x, y),
            ..
        } = step
        {
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, bind_group, &[]);
            pass.dispatch_workgroups(*x, *y, 1);
        }
    }
}
