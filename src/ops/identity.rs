//! The identity kernel, `y = x`: the element-wise loop with no work in it.

use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::{ElementTypes, IDENTITY, Kind};
use crate::ops::aliasing::{self, Use};
use crate::ops::plan::Plan;
use crate::ops::segments::{self, ElementwiseOp, Operand, Split};
use crate::ops::{same_dtype, same_len};
use crate::tensor::Tensor;

impl Gpu {
    /// `y = x` through a compute kernel, into a new tensor of `x`'s shape:
    /// every bit kept, NaN payloads included. Submits without waiting.
    ///
    /// `copy_buffer_to_buffer` copies faster on most devices; this kernel is
    /// for a copy recorded inside a compute pass ([`Gpu::prepare`] and
    /// `record_in_pass`), and it is the bandwidth baseline of the
    /// benchmarks: it runs the same loop, in the same launch shape, as every
    /// element-wise op.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[-1.0, -0.0, f32::INFINITY])?;
    /// let y = gpu.identity(&x)?.download()?;
    /// assert_eq!(y[0], -1.0);
    /// assert!(y[1].is_sign_negative() && y[2].is_infinite());
    /// # Ok(()) }
    /// ```
    pub fn identity(&self, x: &Tensor) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_identity(&mut encoder, x, &y)?;
        self.submit("identity", encoder)?;
        Ok(y)
    }

    /// Records `y = x` into `encoder`: no submit, no wait. `y` must hold as
    /// many elements as `x` (shapes may differ) and be another buffer.
    pub fn record_identity(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_identity(plan, x, y))
    }

    /// [`record_identity`](Gpu::record_identity)'s checks and commands.
    pub(crate) fn plan_identity(&self, plan: &mut Plan, x: &Tensor, y: &Tensor) -> Result<()> {
        self.ensure_same(x.gpu(), "input")?;
        self.ensure_same(y.gpu(), "output")?;
        same_len("output", x.len(), y.len())?;
        same_dtype("output", x.dtype(), y)?;
        aliasing::check(&[Use::read("input", x), Use::write("output", y)])?;
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel: &IDENTITY,
                kind: Kind::fixed(),
                types: ElementTypes::of(x.dtype()),
                params: Params::default(),
                operands: &[Operand::Input(x), Operand::Output(y)],
                elements: x.len(),
                split: Split::Elements { cols: None },
            },
        )
    }
}
