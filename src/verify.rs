//! Any op run end to end and checked against the CPU reference, knowing
//! nothing of the op but what [`Op`] says: its operands uploaded by role,
//! recorded with [`Gpu::record_op`], read back, and compared with
//! [`Op::reference`] as the contract defines "agrees" (bit for bit, flushed
//! subnormals allowed where [`Op::may_flush`], the bias gradient within its
//! bound and the same bits on a second run).
//!
//! ```no_run
//! use wgpu_activations::{verify, Activation, Gpu, HostInputs, Op};
//! # fn main() -> wgpu_activations::Result<()> {
//! let gpu = Gpu::new()?;
//! let inputs = HostInputs {
//!     x: vec![-1.0, 2.0, f32::NAN, -0.0, 7.5, 3.0],
//!     dy: vec![1.0; 6],
//!     bias: vec![0.5, -0.5, 1.0],
//! };
//! for op in Op::all() {
//!     let comparison = verify::run(&gpu, op, &inputs)?;
//!     assert!(comparison.passed(), "{op}: {:?}", comparison.first_mismatch);
//! }
//! # Ok(()) }
//! ```

use crate::compare::{Comparison, Tolerance};
use crate::cpu::Subnormals;
use crate::dtype::DType;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::mask::Mask;
use crate::op::{HostInputs, Op, OpTensors};
use crate::tensor::Tensor;

/// What an op wrote, read back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OpOutputs {
    /// `y`, or `dx` for a backward op.
    pub values: Vec<f32>,
    /// The mask, for the ops that write one.
    pub mask: Option<Vec<u32>>,
    /// The bias gradient, for the op that writes one.
    pub db: Option<Vec<f32>>,
    /// The pre-activation, for the op that writes it.
    pub preactivation: Option<Vec<f32>>,
}

/// Compares `outputs` of `op` on `inputs` with the reference. A mask or
/// bias gradient the op writes but `outputs` lacks is a mismatch.
pub fn compare(op: Op, inputs: &HostInputs, outputs: &OpOutputs) -> Result<Comparison> {
    compare_in(op, inputs, outputs, DType::F32)
}

/// [`compare`] for data of `dtype` (`inputs` holding values of `dtype`,
/// [`HostInputs::rounded_to`]); the outputs widened to f32, as
/// [`Tensor::download`] gives them, so equal bits mean equal 16-bit bits.
pub fn compare_in(
    op: Op,
    inputs: &HostInputs,
    outputs: &OpOutputs,
    dtype: DType,
) -> Result<Comparison> {
    let used = inputs.used(op);
    let expected = op.reference_in(inputs, Subnormals::Preserve, dtype)?;
    let flushed = op
        .may_flush()
        .then(|| op.reference_in(inputs, Subnormals::FlushToZero, dtype))
        .transpose()?;
    let mut comparison = Comparison::default();
    let (input, output) = if op.is_backward() {
        (&inputs.dy[..used], "dx")
    } else {
        (&inputs.x[..used], "y")
    };
    // Where the bound holds matters only to a bound: the exact ops skip the
    // pass over their inputs (a bias add, for the fused ones).
    let tolerance = op.tolerance(dtype);
    let bounded = op
        .activation()
        .filter(|_| tolerance != Tolerance::Exact)
        .map(|activation| {
            let at = if op.uses_bias() {
                inputs.saved_preactivation_in(op, dtype)
            } else {
                inputs.x[..used].to_vec()
            };
            at.iter()
                .map(|&v| activation.bound_holds_at(v))
                .collect::<Vec<bool>>()
        });
    comparison.values_within(
        output,
        input,
        &outputs.values,
        &expected.values,
        flushed.as_ref().map(|f| f.values.as_slice()),
        tolerance,
        dtype,
        bounded.as_deref(),
    );
    if let Some(cpu_z) = &expected.preactivation {
        comparison.values(
            "z",
            &inputs.x[..used],
            outputs.preactivation.as_deref().unwrap_or_default(),
            cpu_z,
            flushed.as_ref().and_then(|f| f.preactivation.as_deref()),
        );
    }
    if let Some(cpu_mask) = &expected.mask {
        comparison.mask(
            &inputs.x[..used],
            outputs.mask.as_deref().unwrap_or_default(),
            cpu_mask,
            flushed.as_ref().and_then(|f| f.mask.as_deref()),
        );
    }
    if op.writes_bias_gradient() {
        let db = outputs.db.as_deref().unwrap_or_default();
        // A smooth dx agrees within a bound: db is the sum of the GPU's.
        let dx = match op.tolerance(dtype) {
            Tolerance::Exact => &expected.values,
            Tolerance::Ulps(_) => &outputs.values,
        };
        if db.len() == inputs.cols() {
            comparison.bias_gradient(db, dx, inputs.rows());
        } else {
            comparison.values("db", &inputs.bias, db, &inputs.bias, None);
        }
    }
    Ok(comparison)
}

/// An op's GPU operands, by the roles [`Op`] says it reads and writes.
#[derive(Debug)]
pub struct OpOperands {
    /// The forward input, the saved input, or the data of the in-place op.
    pub x: Option<Tensor>,
    /// The upstream gradient of a backward op.
    pub dy: Option<Tensor>,
    /// The bias of a forward bias op.
    pub bias: Option<Tensor>,
    /// The mask a backward op reads (the reference's) or a forward op writes.
    pub mask: Option<Mask>,
    /// `y` or `dx`; `None` for the in-place op.
    pub output: Option<Tensor>,
    /// The bias gradient of the fused backward.
    pub db: Option<Tensor>,
    /// The pre-activation a fused forward writes (uninitialised) or a
    /// backward reads (the reference's, [`HostInputs::saved_preactivation_in`]).
    pub z: Option<Tensor>,
}

impl OpOperands {
    /// Uploads what `op` reads of `inputs` (shaped as [`HostInputs::shape`]
    /// says) and allocates what it writes. A backward op's mask is the
    /// reference's ([`HostInputs::saved_mask`]).
    pub fn upload(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Self> {
        Self::upload_in(gpu, op, inputs, DType::F32)
    }

    /// [`upload`](OpOperands::upload) with `x`, `dy` and the outputs of
    /// `dtype` (each value rounded to it), the bias f32 and the mask the
    /// reference's of data of `dtype` ([`HostInputs::saved_mask_in`]).
    pub fn upload_in(gpu: &Gpu, op: Op, inputs: &HostInputs, dtype: DType) -> Result<Self> {
        let saved_mask = match op.reads_mask() {
            true => inputs.saved_mask_in(op, dtype),
            false => Vec::new(),
        };
        Self::upload_typed(gpu, op, inputs, &saved_mask, dtype)
    }

    /// [`upload`](OpOperands::upload) with the mask a backward op reads
    /// given (packed words, as [`cpu::pack_mask`](crate::cpu::pack_mask)
    /// makes them); ignored by the other ops.
    pub fn upload_with_mask(
        gpu: &Gpu,
        op: Op,
        inputs: &HostInputs,
        saved_mask: &[u32],
    ) -> Result<Self> {
        Self::upload_typed(gpu, op, inputs, saved_mask, DType::F32)
    }

    fn upload_typed(
        gpu: &Gpu,
        op: Op,
        inputs: &HostInputs,
        saved_mask: &[u32],
        dtype: DType,
    ) -> Result<Self> {
        let used = inputs.used(op);
        let shape = inputs.shape(op);
        let mask = if op.reads_mask() {
            let mask = Mask::from_words(gpu, saved_mask, used)?;
            // The fused backward's mask carries the forward's row length.
            Some(if op.uses_bias() {
                mask.with_row_length(inputs.cols())?
            } else {
                mask
            })
        } else if op.writes_mask() {
            Some(Mask::uninit(gpu, used)?)
        } else {
            None
        };
        let dy = match op.is_backward() {
            true => Some(Tensor::from_f32_as(
                gpu,
                inputs.dy.get(..used).unwrap_or(&inputs.dy),
                &shape,
                dtype,
            )?),
            false => None,
        };
        Ok(Self {
            x: match (op.reads_output(), op.reads_x()) {
                (true, _) => {
                    let y = inputs.saved_output_in(op, dtype);
                    Some(Tensor::from_f32_as(gpu, &y, &shape, dtype)?)
                }
                (false, true) => Some(Tensor::from_f32_as(gpu, &inputs.x[..used], &shape, dtype)?),
                (false, false) => None,
            },
            dy,
            bias: (op.uses_bias() && !op.is_backward())
                .then(|| Tensor::from_slice(gpu, &inputs.bias))
                .transpose()?,
            mask,
            output: (op != Op::ReluForwardInPlace)
                .then(|| Tensor::uninit_of(gpu, &shape, dtype))
                .transpose()?,
            db: op
                .writes_bias_gradient()
                .then(|| Tensor::uninit(gpu, &[inputs.cols()]))
                .transpose()?,
            z: if op.reads_preactivation() {
                let z = inputs.saved_preactivation_in(op, dtype);
                Some(Tensor::from_f32_as(gpu, &z, &shape, dtype)?)
            } else if op.writes_preactivation() {
                Some(Tensor::uninit_of(gpu, &shape, dtype)?)
            } else {
                None
            },
        })
    }

    /// The operands as [`Gpu::record_op`] and
    /// [`Batch::op`](crate::Batch::op) take them.
    pub fn tensors(&self, op: Op) -> OpTensors<'_> {
        let output = self.output.as_ref();
        OpTensors {
            x: self.x.as_ref(),
            dy: self.dy.as_ref(),
            bias: self.bias.as_ref(),
            mask: self.mask.as_ref(),
            y: output.filter(|_| !op.is_backward()),
            dx: output.filter(|_| op.is_backward()),
            db: self.db.as_ref(),
            z: self.z.as_ref(),
        }
    }

    /// What `op` writes its values to: `y`, `dx`, or the in-place op's data.
    pub fn values(&self) -> Option<&Tensor> {
        self.output.as_ref().or(self.x.as_ref())
    }

    /// Records `op` into a fresh encoder and submits it, without waiting.
    pub fn submit(&self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_op(&mut encoder, op, &self.tensors(op))?;
        gpu.submit(&op.name(), encoder)?;
        Ok(())
    }

    /// Writes `inputs` (and a backward op's `saved_mask`, or `saved_values`:
    /// the pre-activation or output it reads) into the operands
    /// [`upload_with_mask`](OpOperands::upload_with_mask) made from inputs
    /// of the same shapes: the repeated step of a round trip, which
    /// allocates nothing once the `Gpu`'s staging pool holds its buffers.
    pub fn write(
        &self,
        op: Op,
        inputs: &HostInputs,
        saved_mask: &[u32],
        saved_values: &[f32],
    ) -> Result<()> {
        let used = inputs.used(op);
        if let (Some(x), true) = (&self.x, op.reads_x()) {
            if op.reads_output() {
                x.write(saved_values)?;
            } else {
                x.write(&inputs.x[..used])?;
            }
        }
        if let Some(dy) = &self.dy {
            dy.write(inputs.dy.get(..used).unwrap_or(&inputs.dy))?;
        }
        if let Some(bias) = &self.bias {
            bias.write(&inputs.bias)?;
        }
        if let (Some(mask), true) = (&self.mask, op.reads_mask()) {
            mask.write(saved_mask)?;
        }
        if let (Some(z), true) = (&self.z, op.reads_preactivation()) {
            z.write(saved_values)?;
        }
        Ok(())
    }

    /// Reads back what `op` wrote into `outputs`, sized by an earlier
    /// [`download`](OpOperands::download) of the same op: no host
    /// allocation, staging buffers from the `Gpu`'s pool.
    pub fn download_into(&self, op: Op, outputs: &mut OpOutputs) -> Result<()> {
        if let Some(values) = self.values() {
            values.download_into(&mut outputs.values)?;
        }
        if let (Some(mask), Some(out), true) = (&self.mask, &mut outputs.mask, op.writes_mask()) {
            mask.download_into(out)?;
        }
        if let (Some(db), Some(out)) = (&self.db, &mut outputs.db) {
            db.download_into(out)?;
        }
        if let (Some(z), Some(out), true) = (
            &self.z,
            &mut outputs.preactivation,
            op.writes_preactivation(),
        ) {
            z.download_into(out)?;
        }
        Ok(())
    }

    /// Reads back what `op` wrote.
    pub fn download(&self, op: Op) -> Result<OpOutputs> {
        Ok(OpOutputs {
            values: self
                .values()
                .map(Tensor::download)
                .transpose()?
                .unwrap_or_default(),
            mask: self
                .mask
                .as_ref()
                .filter(|_| op.writes_mask())
                .map(Mask::download)
                .transpose()?,
            db: self.db.as_ref().map(Tensor::download).transpose()?,
            preactivation: self
                .z
                .as_ref()
                .filter(|_| op.writes_preactivation())
                .map(Tensor::download)
                .transpose()?,
        })
    }
}

/// Runs `op` on `inputs` on the GPU and compares its outputs with the
/// reference. The bias gradient is computed twice and must have the same
/// bits both times (its summation order is fixed).
pub fn run(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Comparison> {
    run_in(gpu, op, inputs, DType::F32)
}

/// [`run`] with data of `dtype`: `inputs` rounded to it
/// ([`HostInputs::rounded_to`]), uploaded, run, and compared with
/// [`Op::reference_in`].
pub fn run_in(gpu: &Gpu, op: Op, inputs: &HostInputs, dtype: DType) -> Result<Comparison> {
    let inputs = &inputs.rounded_to(dtype);
    let operands = OpOperands::upload_in(gpu, op, inputs, dtype)?;
    operands.submit(gpu, op)?;
    let outputs = operands.download(op)?;
    let mut comparison = compare_in(op, inputs, &outputs, dtype)?;
    if let (Some(db), Some(tensor)) = (&outputs.db, &operands.db) {
        operands.submit(gpu, op)?;
        let again = tensor.download()?;
        comparison.values("db (second run)", &inputs.bias, &again, db, None);
    }
    Ok(comparison)
}
