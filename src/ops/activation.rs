//! Element-wise activations: forward (the ReLU family optionally saving the
//! mask) and backward (from the mask, or from the saved input for every
//! activation).

use crate::activation::Activation;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::{
    ACTIVATION_BACKWARD_FROM_INPUT, ACTIVATION_BACKWARD_FROM_MASK, ACTIVATION_BACKWARD_FROM_OUTPUT,
    ACTIVATION_FORWARD, ACTIVATION_FORWARD_MASK, ElementTypes, Kernel, Kind,
};
use crate::mask::Mask;
use crate::ops::aliasing::{self, Use};
use crate::ops::plan::Plan;
use crate::ops::segments::{self, ElementwiseOp, Operand, Split};
use crate::ops::{ForwardKernels, check_mask, plan_forward, same_dtype, same_len, saves_mask};
use crate::tensor::Tensor;

impl Gpu {
    /// `y = activation(x)` into a new tensor of `x`'s shape, bit-exact with
    /// [`cpu::forward`](crate::cpu::forward) for the ReLU family (a GPU may
    /// flush subnormal results of the leaky multiply to zero), within
    /// [`Activation::max_error_ulps`] of it for a smooth activation. Submits
    /// without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[-2.0, 0.5, 8.0])?;
    /// let leaky = gpu.activation(Activation::LeakyRelu { slope: 0.25 }, &x)?;
    /// assert_eq!(leaky.download()?, vec![-0.5, 0.5, 8.0]);
    /// let relu6 = gpu.activation(Activation::relu6(), &x)?;
    /// assert_eq!(relu6.download()?, vec![0.0, 0.5, 6.0]);
    /// # Ok(()) }
    /// ```
    pub fn activation(&self, activation: Activation, x: &Tensor) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_activation(&mut encoder, activation, x, &y, None)?;
        self.submit("activation", encoder)?;
        Ok(y)
    }

    /// `y = activation(x)` and the [`Mask`] the backward pass needs, in one
    /// pass over `x`: the ReLU family only ([`Error::NoMask`](crate::Error::NoMask)
    /// for a smooth activation, whose backward reads its input). Submits
    /// without waiting.
    pub fn activation_with_mask(
        &self,
        activation: Activation,
        x: &Tensor,
    ) -> Result<(Tensor, Mask)> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mask = Mask::uninit(self, x.len())?.with_row_length(x.cols())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_activation(&mut encoder, activation, x, &y, Some(&mask))?;
        self.submit("activation with mask", encoder)?;
        Ok((y, mask))
    }

    /// [`activation_with_mask`](Gpu::activation_with_mask) for plain ReLU.
    pub fn relu_with_mask(&self, x: &Tensor) -> Result<(Tensor, Mask)> {
        self.activation_with_mask(Activation::Relu, x)
    }

    /// `dx = bit ? dy : 0` (leaky: `slope * dy`) from the mask the forward
    /// pass saved; bit-exact with [`cpu::backward`](crate::cpu::backward).
    /// `dy` must have as many elements as the mask. Submits without waiting.
    pub fn activation_backward(
        &self,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
    ) -> Result<Tensor> {
        let dx = Tensor::uninit_of(self, dy.shape(), dy.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_activation_backward(&mut encoder, activation, dy, mask, &dx)?;
        self.submit("activation backward", encoder)?;
        Ok(dx)
    }

    /// [`activation_backward`](Gpu::activation_backward) for plain ReLU.
    pub fn relu_backward(&self, dy: &Tensor, mask: &Mask) -> Result<Tensor> {
        self.activation_backward(Activation::Relu, dy, mask)
    }

    /// The backward pass from the forward pass's input `x`: a smooth
    /// activation's backward, `dx = dy * f'(x)` within its bound of
    /// [`cpu::backward_from_input`](crate::cpu::backward_from_input), and the
    /// ReLU family's for callers that kept `x` instead of a mask (bit-exact).
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[0.0, f32::INFINITY])?;
    /// let dy = Tensor::from_slice(&gpu, &[2.0, 2.0])?;
    /// let dx = gpu.activation_backward_from_input(Activation::Tanh, &dy, &x)?;
    /// assert_eq!(dx.download()?, vec![2.0, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn activation_backward_from_input(
        &self,
        activation: Activation,
        dy: &Tensor,
        x: &Tensor,
    ) -> Result<Tensor> {
        let dx = Tensor::uninit_of(self, dy.shape(), dy.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_activation_backward_from_input(&mut encoder, activation, dy, x, &dx)?;
        self.submit("activation backward from input", encoder)?;
        Ok(dx)
    }

    /// The backward pass from the forward pass's output `y`, for sigmoid
    /// (`dx = dy * y * (1 - y)`) and tanh (`dx = dy * (1 - y^2)`), the
    /// activations whose derivative is a function of their output
    /// ([`Activation::has_backward_from_output`]; the others refuse with
    /// [`Error::NoBackwardFromOutput`](crate::Error::NoBackwardFromOutput)).
    /// Within the derivative's bound of
    /// [`cpu::gradient_from_output_in`](crate::cpu::gradient_from_output_in),
    /// which defines it on `y` exactly. Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[0.0, 40.0])?;
    /// let y = gpu.activation(Activation::Sigmoid, &x)?;
    /// let dy = Tensor::from_slice(&gpu, &[1.0, 1.0])?;
    /// let dx = gpu.activation_backward_from_output(Activation::Sigmoid, &dy, &y)?;
    /// assert_eq!(dx.download()?, vec![0.25, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn activation_backward_from_output(
        &self,
        activation: Activation,
        dy: &Tensor,
        y: &Tensor,
    ) -> Result<Tensor> {
        let dx = Tensor::uninit_of(self, dy.shape(), dy.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_activation_backward_from_output(&mut encoder, activation, dy, y, &dx)?;
        self.submit("activation backward from output", encoder)?;
        Ok(dx)
    }

    /// Records the backward pass from the saved output into `encoder`: no
    /// submit, no wait. `dy`, `y` and `dx` must have the same element count
    /// and type.
    pub fn record_activation_backward_from_output(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        dy: &Tensor,
        y: &Tensor,
        dx: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_activation_backward_from_output(plan, activation, dy, y, dx)
        })
    }

    /// [`record_activation_backward_from_output`](Gpu::record_activation_backward_from_output)'s checks and commands.
    pub(crate) fn plan_activation_backward_from_output(
        &self,
        plan: &mut Plan,
        activation: Activation,
        dy: &Tensor,
        y: &Tensor,
        dx: &Tensor,
    ) -> Result<()> {
        if !activation.has_backward_from_output() {
            return Err(Error::NoBackwardFromOutput {
                activation: activation.to_string(),
            });
        }
        self.ensure_same(y.gpu(), "saved output")?;
        same_dtype("saved output", dy.dtype(), y)?;
        same_len(
            "upstream gradient (as many elements as the saved output)",
            y.len(),
            dy.len(),
        )?;
        self.plan_backward(
            plan,
            activation,
            &ACTIVATION_BACKWARD_FROM_OUTPUT,
            dy,
            (Operand::Input(y), Use::read("saved output", y)),
            dx,
        )
    }

    /// Records `y = activation(x)` (and the mask, if given) into `encoder`:
    /// no submit, no wait. `y` and `mask` must cover as many elements as `x`.
    pub fn record_activation(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        x: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_activation(plan, activation, x, y, mask)
        })
    }

    /// [`record_activation`](Gpu::record_activation)'s checks and commands.
    pub(crate) fn plan_activation(
        &self,
        plan: &mut Plan,
        activation: Activation,
        x: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<()> {
        activation.validate()?;
        if mask.is_some() {
            saves_mask(activation)?;
        }
        self.ensure_same(x.gpu(), "input")?;
        self.ensure_same(y.gpu(), "output")?;
        same_len("output", x.len(), y.len())?;
        same_dtype("output", x.dtype(), y)?;
        check_mask(self, mask, x.len())?;
        let mut uses = vec![Use::read("input", x), Use::write("output", y)];
        uses.extend(mask.map(Use::write_mask));
        aliasing::check(&uses)?;
        plan_forward(
            self,
            plan,
            ForwardKernels {
                kind: Kind::of(activation)?,
                types: ElementTypes::of(x.dtype()),
                plain: &ACTIVATION_FORWARD,
                with_mask: &ACTIVATION_FORWARD_MASK,
                cols: None,
            },
            Params::new(activation, x.dtype()),
            &[Operand::Input(x), Operand::Output(y), Operand::Params],
            x.len(),
            mask,
        )
    }

    /// Records the backward pass from a mask into `encoder`: no submit, no
    /// wait. `dy`, `mask` and `dx` must cover the same number of elements.
    pub fn record_activation_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_activation_backward(plan, activation, dy, mask, dx)
        })
    }

    /// [`record_activation_backward`](Gpu::record_activation_backward)'s checks and commands.
    pub(crate) fn plan_activation_backward(
        &self,
        plan: &mut Plan,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
    ) -> Result<()> {
        saves_mask(activation)?;
        self.ensure_same(mask.gpu(), "mask")?;
        same_len(
            "upstream gradient (as many elements as the mask)",
            mask.len(),
            dy.len(),
        )?;
        self.plan_backward(
            plan,
            activation,
            &ACTIVATION_BACKWARD_FROM_MASK,
            dy,
            (Operand::MaskIn(mask), Use::read_mask(mask)),
            dx,
        )
    }

    /// Records the backward pass from the saved input into `encoder`: no
    /// submit, no wait. `dy`, `x` and `dx` must have the same element count.
    pub fn record_activation_backward_from_input(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        dy: &Tensor,
        x: &Tensor,
        dx: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_activation_backward_from_input(plan, activation, dy, x, dx)
        })
    }

    /// [`record_activation_backward_from_input`](Gpu::record_activation_backward_from_input)'s checks and commands.
    pub(crate) fn plan_activation_backward_from_input(
        &self,
        plan: &mut Plan,
        activation: Activation,
        dy: &Tensor,
        x: &Tensor,
        dx: &Tensor,
    ) -> Result<()> {
        self.ensure_same(x.gpu(), "saved input")?;
        same_dtype("saved input", dy.dtype(), x)?;
        same_len(
            "upstream gradient (as many elements as the saved input)",
            x.len(),
            dy.len(),
        )?;
        self.plan_backward(
            plan,
            activation,
            &ACTIVATION_BACKWARD_FROM_INPUT,
            dy,
            (Operand::Input(x), Use::read("saved input", x)),
            dx,
        )
    }

    fn plan_backward(
        &self,
        plan: &mut Plan,
        activation: Activation,
        kernel: Kernel,
        dy: &Tensor,
        // The operand the bit comes from, as bound and as the aliasing
        // rules see it.
        saved: (Operand<'_>, Use<'_>),
        dx: &Tensor,
    ) -> Result<()> {
        activation.validate()?;
        self.ensure_same(dy.gpu(), "upstream gradient")?;
        self.ensure_same(dx.gpu(), "gradient output")?;
        same_len("gradient output", dy.len(), dx.len())?;
        same_dtype("gradient output", dy.dtype(), dx)?;
        let (saved, saved_use) = saved;
        aliasing::check(&[
            Use::read("upstream gradient", dy),
            saved_use,
            Use::write("gradient output", dx),
        ])?;
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel,
                kind: Kind::of(activation)?,
                types: ElementTypes::of(dy.dtype()),
                params: Params::new(activation, dy.dtype()),
                operands: &[
                    Operand::Input(dy),
                    saved,
                    Operand::Output(dx),
                    Operand::Params,
                ],
                elements: dy.len(),
                split: Split::Elements { cols: None },
            },
        )
    }
}
