//! An op's GPU operands by role, as [`Op`] says it reads and writes them:
//! uploaded once, recorded through [`Gpu::record_op`], read back. The
//! `check` runner and the benchmarks' workloads share them.

use wgpu_activations::{Gpu, HostInputs, Mask, Op, OpTensors, Tensor};

use crate::error::Result;

/// Whether `op` reads `x`: every forward op, the in-place one (its data),
/// and the backward op that recomputes the mask from `x`.
pub(crate) fn reads_x(op: Op) -> bool {
    !op.is_backward() || matches!(op, Op::BackwardFromInput(_))
}

/// An op's tensors, uploaded and allocated before anything is timed.
pub(crate) struct Operands {
    /// `x`: the forward input, the saved input, or the data of the in-place op.
    pub x: Option<Tensor>,
    pub dy: Option<Tensor>,
    pub bias: Option<Tensor>,
    /// The mask a backward op reads or a forward op writes.
    pub mask: Option<Mask>,
    /// `y` or `dx`; `None` in place.
    pub output: Option<Tensor>,
    pub db: Option<Tensor>,
}

/// What came back from the GPU.
pub(crate) struct Results {
    /// `y`, `dx`, or the in-place op's data.
    pub values: Vec<f32>,
    pub mask: Option<Vec<u32>>,
    pub db: Option<Vec<f32>>,
}

impl Operands {
    /// Uploads what `op` reads of `inputs` (and `saved_mask`, for the ops
    /// that [read one](Op::reads_mask)) and allocates what it writes.
    pub fn upload(gpu: &Gpu, op: Op, inputs: &HostInputs, saved_mask: &[u32]) -> Result<Self> {
        let used = inputs.used(op);
        let shape = inputs.shape(op);
        let (x, dy) = (&inputs.x[..used], &inputs.dy[..used]);
        let mask = if op.reads_mask() {
            let saved = Mask::from_words(gpu, saved_mask, used)?;
            // The fused backward checks the mask's row length against dy's;
            // a mask of a one-dimensional tensor has none.
            Some(if op.uses_bias() {
                saved.with_row_length(inputs.cols())?
            } else {
                saved
            })
        } else if op.writes_mask() {
            Some(Mask::uninit(gpu, used)?)
        } else {
            None
        };
        Ok(Self {
            x: reads_x(op)
                .then(|| Tensor::from_slice_with_shape(gpu, x, &shape))
                .transpose()?,
            dy: op
                .is_backward()
                .then(|| Tensor::from_slice_with_shape(gpu, dy, &shape))
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

    /// The operands by role, for [`Gpu::record_op`].
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

    /// Records the op into `encoder`.
    pub fn record(&self, gpu: &Gpu, op: Op, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        Ok(gpu.record_op(encoder, op, &self.tensors(op))?)
    }

    /// Records the op into a fresh encoder and submits it, without waiting.
    pub fn submit(&self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        self.record(gpu, op, &mut encoder)?;
        gpu.submit("wgpu-activations-harness", encoder)?;
        Ok(())
    }

    /// The output (`y`, `dx`, or the in-place op's data).
    pub fn values(&self) -> Option<&Tensor> {
        self.output.as_ref().or(self.x.as_ref())
    }

    /// Reads back the outputs of `op`.
    pub fn download(&self, op: Op) -> Result<Results> {
        Ok(Results {
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
        })
    }
}
