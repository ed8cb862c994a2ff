//! Many ops recorded into one command encoder and submitted once.
//!
//! Every convenience op (`gpu.relu(&x)`) pays a submit, and whoever reads the
//! result pays a wait. For tensors of a few thousand elements those costs are
//! larger than the kernel itself; a [`Batch`] records any number of ops and
//! submits them together. `wgpu-activations bench` measures the difference
//! (the "small ops" table).

use crate::activation::Activation;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::mask::Mask;
use crate::op::{Op, OpTensors};
use crate::tensor::Tensor;

/// Ops recorded into one `wgpu::CommandEncoder`, submitted by
/// [`submit`](Batch::submit).
///
/// Each method checks its operands exactly as the op's `record_*` form on
/// [`Gpu`] does; an op that fails its checks records nothing and leaves the
/// batch usable. Ops run in the order they were recorded, each seeing the
/// results of the ones before. Dropping a batch without submitting discards
/// it.
///
/// ```no_run
/// use wgpu_activations::{Activation, Gpu, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let inputs: Vec<Tensor> = (0..100)
///     .map(|i| Tensor::from_slice(&gpu, &vec![i as f32 - 50.0; 1024]))
///     .collect::<Result<_, _>>()?;
/// let outputs: Vec<Tensor> = inputs
///     .iter()
///     .map(|x| Tensor::uninit(&gpu, x.shape()))
///     .collect::<Result<_, _>>()?;
///
/// let mut batch = gpu.batch();
/// for (x, y) in inputs.iter().zip(&outputs) {
///     batch.activation(Activation::Relu, x, y, None)?;
/// }
/// assert_eq!(batch.len(), 100);
/// batch.submit()?; // one submit for all 100 ops
///
/// assert_eq!(outputs[10].download()?[0], 0.0);
/// assert_eq!(outputs[60].download()?[0], 10.0);
/// # Ok(()) }
/// ```
pub struct Batch {
    gpu: Gpu,
    encoder: wgpu::CommandEncoder,
    ops: usize,
}

impl Gpu {
    /// An empty [`Batch`] on this device.
    pub fn batch(&self) -> Batch {
        Batch {
            gpu: self.clone(),
            encoder: self
                .device()
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("wgpu-activations batch"),
                }),
            ops: 0,
        }
    }
}

impl Batch {
    /// Ops recorded so far.
    pub fn len(&self) -> usize {
        self.ops
    }

    /// Whether nothing has been recorded.
    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// The encoder, to record work of your own between ops (copies, your own
    /// passes); it is submitted with the batch.
    pub fn encoder(&mut self) -> &mut wgpu::CommandEncoder {
        &mut self.encoder
    }

    fn recorded(&mut self, result: Result<()>) -> Result<&mut Self> {
        result?;
        self.ops += 1;
        Ok(self)
    }

    /// Records any [`Op`] on its operands ([`Gpu::record_op`]).
    pub fn op(&mut self, op: Op, tensors: &OpTensors<'_>) -> Result<&mut Self> {
        let result = self.gpu.record_op(&mut self.encoder, op, tensors);
        self.recorded(result)
    }

    /// Records `y = relu(x)` ([`Gpu::record_relu`]).
    pub fn relu(&mut self, x: &Tensor, y: &Tensor) -> Result<&mut Self> {
        let result = self.gpu.record_relu(&mut self.encoder, x, y);
        self.recorded(result)
    }

    /// Records `x = relu(x)` ([`Gpu::record_relu_in_place`]).
    pub fn relu_in_place(&mut self, x: &mut Tensor) -> Result<&mut Self> {
        let result = self.gpu.record_relu_in_place(&mut self.encoder, x);
        self.recorded(result)
    }

    /// Records `y = activation(x)`, and the mask if given
    /// ([`Gpu::record_activation`]).
    pub fn activation(
        &mut self,
        activation: Activation,
        x: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<&mut Self> {
        let result = self
            .gpu
            .record_activation(&mut self.encoder, activation, x, y, mask);
        self.recorded(result)
    }

    /// Records the backward pass from a mask
    /// ([`Gpu::record_activation_backward`]).
    pub fn activation_backward(
        &mut self,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
    ) -> Result<&mut Self> {
        let result =
            self.gpu
                .record_activation_backward(&mut self.encoder, activation, dy, mask, dx);
        self.recorded(result)
    }

    /// Records the backward pass from the saved input
    /// ([`Gpu::record_activation_backward_from_input`]).
    pub fn activation_backward_from_input(
        &mut self,
        activation: Activation,
        dy: &Tensor,
        x: &Tensor,
        dx: &Tensor,
    ) -> Result<&mut Self> {
        let result = self.gpu.record_activation_backward_from_input(
            &mut self.encoder,
            activation,
            dy,
            x,
            dx,
        );
        self.recorded(result)
    }

    /// Records `y = x + b` ([`Gpu::record_bias_add`]).
    pub fn bias_add(&mut self, x: &Tensor, b: &Tensor, y: &Tensor) -> Result<&mut Self> {
        let result = self.gpu.record_bias_add(&mut self.encoder, x, b, y);
        self.recorded(result)
    }

    /// Records the fused bias + activation forward
    /// ([`Gpu::record_bias_activation`]).
    pub fn bias_activation(
        &mut self,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<&mut Self> {
        let result = self
            .gpu
            .record_bias_activation(&mut self.encoder, activation, x, b, y, mask);
        self.recorded(result)
    }

    /// Records the fused backward, `dx` and `db`
    /// ([`Gpu::record_bias_activation_backward`]).
    pub fn bias_activation_backward(
        &mut self,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
        db: &Tensor,
    ) -> Result<&mut Self> {
        let result = self.gpu.record_bias_activation_backward(
            &mut self.encoder,
            activation,
            dy,
            mask,
            dx,
            db,
        );
        self.recorded(result)
    }

    /// Submits everything recorded, without waiting; returns the submission
    /// to wait for ([`Gpu::wait_for_submission`]) if needed. Downloads wait
    /// on their own.
    pub fn submit(self) -> Result<wgpu::SubmissionIndex> {
        self.gpu.submit("submitting a batch", self.encoder)
    }

    /// Submits and blocks until the batch has finished on the device.
    pub fn submit_and_wait(self) -> Result<()> {
        let gpu = self.gpu.clone();
        let submission = self.submit()?;
        gpu.wait_for_submission(submission)
    }
}
