//! Any op of [`Op::all`] end to end, knowing nothing of the op but what
//! [`Op`] says: its operands uploaded by role, recorded with
//! [`Gpu::record_op`], read back, and compared with [`Op::reference`] through
//! [`Comparison`] (bit for bit, flushed subnormals allowed where
//! [`Op::may_flush`], the bias gradient within its bound). A new op or
//! activation is covered here without editing the tests.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::compare::Comparison;
use wgpu_activations::{Gpu, HostInputs, Mask, Op, OpTensors, Result, Tensor};

use super::outputs::{Outputs, compare};
use super::sample;

/// Seeded inputs of `len` elements with special values mixed in
/// ([`sample::activations`]), and a seeded row length between 1 and 1031
/// (never more than `len`) for the bias ops.
pub fn generate_inputs(len: usize, seed: u64) -> HostInputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c015);
    let cols = rng.random_range(1..=1031usize).min(len.max(1));
    HostInputs {
        x: sample::activations(len, seed),
        dy: sample::activations(len, seed.wrapping_add(1)),
        bias: sample::activations(cols, seed.wrapping_add(2)),
    }
}

/// An op's GPU operands, by the roles [`Op`] says it reads and writes.
pub struct Operands {
    /// The forward input, the saved input, or the data of the in-place op.
    pub x: Option<Tensor>,
    pub dy: Option<Tensor>,
    pub bias: Option<Tensor>,
    /// The mask a backward op reads (the reference's) or a forward op writes.
    pub mask: Option<Mask>,
    /// `y` or `dx`; `None` for the in-place op.
    pub output: Option<Tensor>,
    pub db: Option<Tensor>,
}

impl Operands {
    /// Uploads what `op` reads of `inputs` (as [`HostInputs::shape`] shapes
    /// it) and allocates what it writes.
    pub fn upload(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Self> {
        let used = inputs.used(op);
        let shape = inputs.shape(op);
        let reads_x = !op.is_backward() || matches!(op, Op::BackwardFromInput(_));
        let mask = if op.reads_mask() {
            let mask = Mask::from_words(gpu, &inputs.saved_mask(op), used)?;
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
        Ok(Self {
            x: reads_x
                .then(|| Tensor::from_slice_with_shape(gpu, &inputs.x[..used], &shape))
                .transpose()?,
            dy: op
                .is_backward()
                .then(|| Tensor::from_slice_with_shape(gpu, &inputs.dy[..used], &shape))
                .transpose()?,
            bias: (op.uses_bias() && !op.is_backward())
                .then(|| Tensor::from_slice(gpu, &inputs.bias))
                .transpose()?,
            mask,
            output: (op != Op::ReluForwardInPlace)
                .then(|| Tensor::uninit(gpu, &shape))
                .transpose()?,
            db: op
                .writes_bias_gradient()
                .then(|| Tensor::uninit(gpu, &[inputs.cols()]))
                .transpose()?,
        })
    }

    /// The operands as [`Gpu::record_op`] and `Batch::op` take them.
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
        }
    }

    /// Records `op` into a fresh encoder and submits it, without waiting.
    pub fn submit(&self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_op(&mut encoder, op, &self.tensors(op))?;
        gpu.submit(&op.name(), encoder)?;
        Ok(())
    }

    /// Reads back what `op` wrote.
    pub fn download(&self, op: Op) -> Result<Outputs> {
        let values = match (&self.output, &self.x) {
            (Some(output), _) | (None, Some(output)) => output.download()?,
            (None, None) => Vec::new(),
        };
        Ok(Outputs {
            values,
            mask: self
                .mask
                .as_ref()
                .filter(|_| op.writes_mask())
                .map(Mask::download)
                .transpose()?,
            db: self.db.as_ref().map(Tensor::download).transpose()?,
        })
    }
}

/// Runs `op` on `inputs` on the GPU and compares its outputs with the
/// reference. The bias gradient is computed twice and must have the same
/// bits both times (its summation order is fixed).
pub fn run(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Comparison> {
    let operands = Operands::upload(gpu, op, inputs)?;
    operands.submit(gpu, op)?;
    let outputs = operands.download(op)?;
    let mut comparison = compare(op, inputs, &outputs);
    if let (Some(db), Some(tensor)) = (&outputs.db, &operands.db) {
        operands.submit(gpu, op)?;
        let again = tensor.download()?;
        comparison.values("db (second run)", &inputs.bias, &again, db, None);
    }
    Ok(comparison)
}
