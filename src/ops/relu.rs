//! ReLU forward, out-of-place and in-place.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::{ElementTypes, Kind, RELU_FORWARD, RELU_FORWARD_IN_PLACE};
use crate::ops::aliasing::{self, Use};
use crate::ops::plan::Plan;
use crate::ops::segments::{self, ElementwiseOp, Operand, Split};
use crate::ops::{same_dtype, same_len};
use crate::tensor::Tensor;

impl Gpu {
    /// `y = relu(x)` into a new tensor of `x`'s shape, bit-exact with
    /// [`cpu::relu`](crate::cpu::relu): NaN keeps its payload, -0.0 and -inf
    /// become +0.0.
    ///
    /// Any element type; `y` has `x`'s. Submits without waiting; the result
    /// is ready for further ops at once and [`Tensor::download`] waits for
    /// it.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[-1.0, 0.5, -0.0, f32::NAN])?;
    /// let y = gpu.relu(&x)?.download()?;
    /// assert_eq!(y[..2], [0.0, 0.5]);
    /// assert!(y[2].is_sign_positive() && y[3].is_nan());
    /// # Ok(()) }
    /// ```
    pub fn relu(&self, x: &Tensor) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_relu(&mut encoder, x, &y)?;
        self.submit("relu", encoder)?;
        Ok(y)
    }

    /// `x = relu(x)` in place. Submits without waiting.
    pub fn relu_in_place(&self, x: &mut Tensor) -> Result<()> {
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_relu_in_place(&mut encoder, x)?;
        self.submit("relu in place", encoder)?;
        Ok(())
    }

    /// Records `y = relu(x)` into `encoder`: no submit, no wait. `y` must hold
    /// as many elements as `x` (shapes may differ), of `x`'s type, and be
    /// another buffer.
    pub fn record_relu(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_relu(plan, x, y))
    }

    /// Records `x = relu(x)` into `encoder`: no submit, no wait.
    pub fn record_relu_in_place(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x: &mut Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_relu_in_place(plan, x))
    }

    /// [`record_relu`](Gpu::record_relu)'s checks and commands.
    pub(crate) fn plan_relu(&self, plan: &mut Plan, x: &Tensor, y: &Tensor) -> Result<()> {
        self.ensure_same(x.gpu(), "input")?;
        self.ensure_same(y.gpu(), "output")?;
        same_len("output", x.len(), y.len())?;
        same_dtype("output", x.dtype(), y)?;
        aliasing::check(&[Use::read("input", x), Use::write("output", y)])?;
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel: &RELU_FORWARD,
                kind: Kind::fixed(),
                types: ElementTypes::of(x.dtype()),
                params: Params::default(),
                operands: &[Operand::Input(x), Operand::Output(y)],
                elements: x.len(),
                split: Split::Elements { cols: None },
            },
        )
    }

    /// [`record_relu_in_place`](Gpu::record_relu_in_place)'s checks and
    /// commands; `x` is shared because [`Op`](crate::Op)'s operands are: the
    /// kernel writes the buffer, not the `Tensor` value.
    pub(crate) fn plan_relu_in_place(&self, plan: &mut Plan, x: &Tensor) -> Result<()> {
        self.ensure_same(x.gpu(), "input")?;
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel: &RELU_FORWARD_IN_PLACE,
                kind: Kind::fixed(),
                types: ElementTypes::of(x.dtype()),
                params: Params::default(),
                operands: &[Operand::InOut(x)],
                elements: x.len(),
                split: Split::Elements { cols: None },
            },
        )
    }
}
