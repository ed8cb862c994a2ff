//! Element-type conversion on the GPU.

use crate::dtype::DType;
use crate::error::Result;
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::{CAST, ElementTypes, IDENTITY, Kind};
use crate::ops::aliasing::{self, Use};
use crate::ops::plan::Plan;
use crate::ops::same_len;
use crate::ops::segments::{self, ElementwiseOp, Operand, Split};
use crate::tensor::Tensor;

impl Gpu {
    /// `x` converted to `dtype`, into a new tensor of `x`'s shape: widened
    /// exactly, or rounded to nearest even as [`DType::round`] defines
    /// (overflow to ±inf, f16 subnormals kept, a NaN's sign and top payload
    /// bits kept). The same type copies `x`. Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{DType, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[1.0, 65520.0, 1.0 / 3.0])?;
    /// let y = gpu.cast(&x, DType::F16)?;
    /// assert_eq!(y.dtype(), DType::F16);
    /// assert_eq!(y.download()?, [1.0, f32::INFINITY, DType::F16.round(1.0 / 3.0)]);
    /// # Ok(()) }
    /// ```
    pub fn cast(&self, x: &Tensor, dtype: DType) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), dtype)?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_cast(&mut encoder, x, &y)?;
        self.submit("cast", encoder)?;
        Ok(y)
    }

    /// Records `y = x` converted to `y`'s element type into `encoder`: no
    /// submit, no wait. `y` must hold as many elements as `x` and be another
    /// buffer.
    pub fn record_cast(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_cast(plan, x, y))
    }

    /// [`record_cast`](Gpu::record_cast)'s checks and commands.
    pub(crate) fn plan_cast(&self, plan: &mut Plan, x: &Tensor, y: &Tensor) -> Result<()> {
        self.ensure_same(x.gpu(), "input")?;
        self.ensure_same(y.gpu(), "output")?;
        same_len("output", x.len(), y.len())?;
        aliasing::check(&[Use::read("input", x), Use::write("output", y)])?;
        let (kernel, types) = if x.dtype() == y.dtype() {
            (&IDENTITY, ElementTypes::of(x.dtype()))
        } else {
            (&CAST, ElementTypes::cast(x.dtype(), y.dtype()))
        };
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel,
                kind: Kind::fixed(),
                types,
                params: Params::default(),
                operands: &[Operand::Input(x), Operand::Output(y)],
                elements: x.len(),
                split: Split::Elements { cols: None },
            },
        )
    }
}
