//! Ops bound once to their operands and recorded every frame, creating
//! nothing: what an engine runs in its render loop.

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::op::{Op, OpTensors};
use crate::ops::plan::Plan;

/// An op bound to its operands once, by [`Gpu::prepare`], and recorded any
/// number of times.
///
/// Preparing does all the checking, compiling and allocating (parameter
/// blocks, bind groups, scratch buffers); [`record`](PreparedOp::record)
/// then only replays commands into the caller's encoder: no buffer or bind
/// group is created, no error scope pushed, nothing waited for.
/// [`record_in_pass`](PreparedOp::record_in_pass) records into a compute pass
/// the caller already has open, where the op is dispatches alone.
///
/// The operands' bytes are read and written at each replay, so the engine
/// updates them between frames as it likes; the prepared op keeps its
/// buffers alive. Preparing again is needed only for other operands. A
/// buffer the engine destroys after preparing is reported by wgpu when the
/// engine submits the frame, as for its own commands: recording checks
/// nothing.
///
/// ```no_run
/// use wgpu_activations::{Activation, Gpu, Op, OpTensors, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let x = Tensor::from_slice_with_shape(&gpu, &[-1.0, 2.0, 3.0, -4.0], &[2, 2])?;
/// let b = Tensor::from_slice(&gpu, &[0.5, 0.5])?;
/// let y = Tensor::uninit(&gpu, &[2, 2])?;
/// // Once, at load time.
/// let tensors = OpTensors { x: Some(&x), bias: Some(&b), y: Some(&y), ..Default::default() };
/// let mut op = gpu.prepare(Op::BiasForward(Activation::LeakyRelu { slope: 0.1 }), &tensors)?;
/// // Every frame.
/// let mut encoder = gpu.device().create_command_encoder(&Default::default());
/// op.record(&mut encoder);
/// gpu.queue().submit([encoder.finish()]);
/// assert_eq!(y.download()?, vec![-0.05, 2.5, 3.5, -0.35]);
/// // A new slope goes through the queue; no new bind group.
/// op.set_activation(Activation::LeakyRelu { slope: 0.0 })?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct PreparedOp {
    gpu: Gpu,
    op: Op,
    plan: Plan,
}

impl Gpu {
    /// Checks `op`'s operands exactly as [`record_op`](Gpu::record_op) does
    /// and builds everything its recording needs, once. A refused op creates
    /// nothing that outlives the call.
    pub fn prepare(&self, op: Op, tensors: &OpTensors<'_>) -> Result<PreparedOp> {
        let mut plan = Plan::default();
        self.plan_op(&mut plan, op, tensors)?;
        Ok(PreparedOp {
            gpu: self.clone(),
            op,
            plan,
        })
    }

    /// [`prepare`](Gpu::prepare) for several ops, recorded in order (each
    /// sees the results of the ones before), like a [`Batch`](crate::Batch)
    /// prepared once.
    pub fn prepare_batch(&self, ops: &[(Op, OpTensors<'_>)]) -> Result<PreparedBatch> {
        let ops = ops
            .iter()
            .map(|(op, tensors)| self.prepare(*op, tensors))
            .collect::<Result<_>>()?;
        Ok(PreparedBatch { ops })
    }
}

impl PreparedOp {
    /// The op, with the activation it now applies.
    pub fn op(&self) -> Op {
        self.op
    }

    /// Records the op into `encoder`: commands only, nothing created.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        self.plan.record(encoder);
    }

    /// Whether the op is dispatches alone, which
    /// [`record_in_pass`](PreparedOp::record_in_pass) takes. It is not where
    /// the op copies: a view whose length is not a multiple of 4 elements
    /// (its tail runs in scratch), the bias staged into a uniform buffer (CPU
    /// adapters), the bias gradient of zero rows (a clear).
    pub fn records_in_pass(&self) -> bool {
        self.plan.is_dispatches_only()
    }

    /// Records the op's dispatches into a compute pass the caller has open;
    /// [`Error::NeedsEncoder`] (and nothing recorded) where the op also
    /// copies ([`records_in_pass`](PreparedOp::records_in_pass)). The pass's
    /// pipeline and bind group 0 are the op's afterwards.
    pub fn record_in_pass(&self, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        self.plan.record_in_pass(&self.op.name(), pass)
    }

    /// Compute dispatches one recording makes.
    pub fn dispatches(&self) -> usize {
        self.plan.dispatches()
    }

    /// Commands one recording makes: the dispatches, and the copies of an
    /// unpadded view's tail or of a bias staged into a uniform buffer.
    pub fn commands(&self) -> usize {
        self.plan.commands()
    }

    /// Changes the activation's parameter (the leaky slope, the cap) for the
    /// recordings after the queue's next submit, through the queue: no new
    /// bind group. The variant must stay the same (its kernels were chosen
    /// when the op was prepared): another is [`Error::ActivationChanged`].
    pub fn set_activation(&mut self, activation: Activation) -> Result<()> {
        activation.validate()?;
        let prepared = self.op.activation();
        let same_variant = prepared
            .is_some_and(|p| std::mem::discriminant(&p) == std::mem::discriminant(&activation));
        if !same_variant {
            return Err(Error::ActivationChanged {
                op: self.op.name(),
                activation: activation.to_string(),
            });
        }
        self.gpu.ensure_alive()?;
        self.plan.set_activation(self.gpu.queue(), activation);
        self.op = self.op.with_activation(activation);
        Ok(())
    }
}

/// Several prepared ops recorded in order, by [`Gpu::prepare_batch`].
#[derive(Debug)]
pub struct PreparedBatch {
    ops: Vec<PreparedOp>,
}

impl PreparedBatch {
    /// Records every op, in order, into `encoder`: commands only.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) {
        for op in &self.ops {
            op.record(encoder);
        }
    }

    /// Records every op's dispatches into an open compute pass; refuses
    /// (recording nothing) unless [every op takes it](PreparedOp::records_in_pass).
    pub fn record_in_pass(&self, pass: &mut wgpu::ComputePass<'_>) -> Result<()> {
        if let Some(op) = self.ops.iter().find(|op| !op.records_in_pass()) {
            return Err(Error::NeedsEncoder { op: op.op.name() });
        }
        for op in &self.ops {
            op.record_in_pass(pass)?;
        }
        Ok(())
    }

    /// Commands one recording of every op makes.
    pub fn commands(&self) -> usize {
        self.ops.iter().map(PreparedOp::commands).sum()
    }

    /// The ops, in recording order.
    pub fn ops(&self) -> &[PreparedOp] {
        &self.ops
    }

    /// The ops, to [change an activation](PreparedOp::set_activation).
    pub fn ops_mut(&mut self) -> &mut [PreparedOp] {
        &mut self.ops
    }
}
