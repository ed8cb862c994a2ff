//! One description of every op: its name, what it reads and writes, its CPU
//! reference and how it is recorded.
//!
//! The `check` and `bench` commands, the stress and property tests and
//! [`Batch::op`](crate::Batch::op) all iterate [`Op::all`] and go through
//! [`Op::reference`] and [`Gpu::record_op`], so an op or an activation added
//! here is covered everywhere without another list to keep in step.

use std::fmt;

use crate::activation::{Activation, Saved};
use crate::compare::Tolerance;
use crate::cpu::{self, Subnormals};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::mask::Mask;
use crate::ops::plan::Plan;
use crate::tensor::Tensor;

/// An op of the crate, with its activation.
///
/// Not `#[non_exhaustive]`: code that matches on every op (the harness's CPU
/// baseline, for one) should fail to compile when an op is added.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Op {
    /// [`Gpu::identity`] (`y = x` through a kernel: the bandwidth baseline)
    /// against a copy of `x`.
    Identity,
    /// [`Gpu::relu`] (the plain kernel) against [`cpu::relu_forward`].
    ReluForward,
    /// [`Gpu::relu_in_place`] against [`cpu::relu_forward_in_place`].
    ReluForwardInPlace,
    /// [`Gpu::activation`] against [`cpu::forward`].
    Forward(Activation),
    /// [`Gpu::activation_with_mask`] against [`cpu::forward_with_mask`].
    ForwardWithMask(Activation),
    /// [`Gpu::activation_backward`] against [`cpu::backward`], from the
    /// reference's mask of `x`.
    BackwardFromMask(Activation),
    /// [`Gpu::activation_backward_from_input`] against [`cpu::backward_from_input`].
    BackwardFromInput(Activation),
    /// [`Gpu::activation_backward_from_output`] against
    /// [`cpu::gradient_from_output_in`], from the reference's `y`.
    BackwardFromOutput(Activation),
    /// [`Gpu::bias_add`] against [`cpu::bias_add`].
    BiasAdd,
    /// [`Gpu::bias_activation`] against [`cpu::bias_forward`].
    BiasForward(Activation),
    /// [`Gpu::bias_activation_with_mask`] against [`cpu::bias_forward_with_mask`].
    BiasForwardWithMask(Activation),
    /// [`Gpu::bias_activation_backward`] against [`cpu::bias_backward`], from
    /// the reference's mask of `x + b`.
    BiasBackward(Activation),
    /// [`Gpu::bias_activation_with_preactivation`]: `y` against
    /// [`cpu::bias_forward`], `z` against [`cpu::bias_add`].
    BiasForwardWithPreactivation(Activation),
    /// [`Gpu::bias_activation_backward_from_preactivation`]: `dx` against
    /// [`cpu::gradient_in`] of the reference's `z = x + b`, `db` against
    /// its column sums.
    BiasBackwardFromPreactivation(Activation),
}

impl Op {
    /// The ops of one activation, in the order reports list them: the mask
    /// ops only for an activation that [saves a mask](Activation::saves).
    ///
    /// ```
    /// use wgpu_activations::{Activation, Op};
    /// assert_eq!(Op::of_activation(Activation::Relu).len(), 9);
    /// assert!(!Op::of_activation(Activation::Gelu).contains(&Op::ForwardWithMask(Activation::Gelu)));
    /// ```
    pub fn of_activation(activation: Activation) -> Vec<Op> {
        let all = [
            Op::Forward(activation),
            Op::ForwardWithMask(activation),
            Op::BackwardFromMask(activation),
            Op::BackwardFromInput(activation),
            Op::BackwardFromOutput(activation),
            Op::BiasForward(activation),
            Op::BiasForwardWithMask(activation),
            Op::BiasBackward(activation),
            Op::BiasForwardWithPreactivation(activation),
            Op::BiasBackwardFromPreactivation(activation),
        ];
        let masked = activation.saves() == Saved::Mask;
        all.into_iter()
            .filter(|op| masked || !(op.writes_mask() || op.reads_mask()))
            .filter(|op| activation.has_backward_from_output() || !op.reads_output())
            .collect()
    }

    /// Every op: the four without an activation parameter, then
    /// [`of_activation`](Op::of_activation) for each of
    /// [`Activation::examples`].
    ///
    /// ```
    /// use wgpu_activations::{Activation, Op};
    /// let all = Op::all();
    /// assert!(all.contains(&Op::BiasBackward(Activation::relu6())));
    /// assert!(all.contains(&Op::BiasBackwardFromPreactivation(Activation::Gelu)));
    /// ```
    pub fn all() -> Vec<Op> {
        let mut ops = vec![
            Op::Identity,
            Op::ReluForward,
            Op::ReluForwardInPlace,
            Op::BiasAdd,
        ];
        for activation in Activation::examples() {
            ops.extend(Op::of_activation(activation));
        }
        ops
    }

    /// The ops of [`Op::all`] that take data of `dtype` ([`Op::dtypes`]).
    ///
    /// ```
    /// use wgpu_activations::{DType, Op};
    /// assert!(Op::all_of(DType::F16).contains(&Op::ReluForward));
    /// assert!(Op::all_of(DType::BF16).iter().all(|op| op.dtypes().contains(&DType::BF16)));
    /// ```
    pub fn all_of(dtype: DType) -> Vec<Op> {
        Op::all()
            .into_iter()
            .filter(|op| op.dtypes().contains(&dtype))
            .collect()
    }

    /// Name as reports print it, e.g. `bias_leaky_relu(0.01)+mask`.
    pub fn name(self) -> String {
        match self {
            Op::Identity => "identity".to_string(),
            Op::ReluForward => "relu (plain kernel)".to_string(),
            Op::ReluForwardInPlace => "relu_in_place".to_string(),
            Op::Forward(a) => format!("{a}"),
            Op::ForwardWithMask(a) => format!("{a}+mask"),
            Op::BackwardFromMask(a) => format!("{a}_backward(mask)"),
            Op::BackwardFromInput(a) => format!("{a}_backward(x)"),
            Op::BackwardFromOutput(a) => format!("{a}_backward(y)"),
            Op::BiasAdd => "bias_add".to_string(),
            Op::BiasForward(a) => format!("bias_{a}"),
            Op::BiasForwardWithMask(a) => format!("bias_{a}+mask"),
            Op::BiasBackward(a) => format!("bias_{a}_backward(dx,db)"),
            Op::BiasForwardWithPreactivation(a) => format!("bias_{a}+z"),
            Op::BiasBackwardFromPreactivation(a) => format!("bias_{a}_backward(z)(dx,db)"),
        }
    }

    /// The activation the op applies; `None` for the identity and the bias
    /// add alone. The plain relu kernels apply [`Activation::Relu`].
    pub fn activation(self) -> Option<Activation> {
        match self {
            Op::ReluForward | Op::ReluForwardInPlace => Some(Activation::Relu),
            Op::Identity | Op::BiasAdd => None,
            Op::Forward(a)
            | Op::ForwardWithMask(a)
            | Op::BackwardFromMask(a)
            | Op::BackwardFromInput(a)
            | Op::BackwardFromOutput(a)
            | Op::BiasForward(a)
            | Op::BiasForwardWithMask(a)
            | Op::BiasBackward(a)
            | Op::BiasForwardWithPreactivation(a)
            | Op::BiasBackwardFromPreactivation(a) => Some(a),
        }
    }

    /// The same op applying `activation` instead; the ops without an
    /// activation parameter are returned unchanged.
    pub fn with_activation(self, activation: Activation) -> Op {
        match self {
            Op::Identity | Op::ReluForward | Op::ReluForwardInPlace | Op::BiasAdd => self,
            Op::Forward(_) => Op::Forward(activation),
            Op::ForwardWithMask(_) => Op::ForwardWithMask(activation),
            Op::BackwardFromMask(_) => Op::BackwardFromMask(activation),
            Op::BackwardFromInput(_) => Op::BackwardFromInput(activation),
            Op::BackwardFromOutput(_) => Op::BackwardFromOutput(activation),
            Op::BiasForward(_) => Op::BiasForward(activation),
            Op::BiasForwardWithMask(_) => Op::BiasForwardWithMask(activation),
            Op::BiasBackward(_) => Op::BiasBackward(activation),
            Op::BiasForwardWithPreactivation(_) => Op::BiasForwardWithPreactivation(activation),
            Op::BiasBackwardFromPreactivation(_) => Op::BiasBackwardFromPreactivation(activation),
        }
    }

    /// The element types the op takes: every [`DType`] (`check` and the
    /// tests iterate these pairs, so an op that took fewer would say so
    /// here).
    pub fn dtypes(self) -> &'static [DType] {
        &DType::ALL
    }

    /// Whether the op sees its data as `[rows, cols]` with one bias (or
    /// bias gradient) per column.
    pub fn uses_bias(self) -> bool {
        matches!(
            self,
            Op::BiasAdd
                | Op::BiasForward(_)
                | Op::BiasForwardWithMask(_)
                | Op::BiasBackward(_)
                | Op::BiasForwardWithPreactivation(_)
                | Op::BiasBackwardFromPreactivation(_)
        )
    }

    /// Whether the op reads `dy` and writes `dx`.
    pub fn is_backward(self) -> bool {
        matches!(
            self,
            Op::BackwardFromMask(_)
                | Op::BackwardFromInput(_)
                | Op::BackwardFromOutput(_)
                | Op::BiasBackward(_)
                | Op::BiasBackwardFromPreactivation(_)
        )
    }

    /// Whether the op reads the output `y` a forward op saved (in the
    /// operand role of `x`).
    pub fn reads_output(self) -> bool {
        matches!(self, Op::BackwardFromOutput(_))
    }

    /// Whether the op reads `x`: every forward op (the in-place one's data
    /// included), the backward op from the input, and the one from the
    /// output, whose saved `y` takes `x`'s operand role
    /// ([`OpTensors::x`]).
    pub fn reads_x(self) -> bool {
        !self.is_backward() || matches!(self, Op::BackwardFromInput(_) | Op::BackwardFromOutput(_))
    }

    /// Whether the op reads the mask a forward pass saved.
    pub fn reads_mask(self) -> bool {
        matches!(self, Op::BackwardFromMask(_) | Op::BiasBackward(_))
    }

    /// Whether the op writes a mask.
    pub fn writes_mask(self) -> bool {
        matches!(self, Op::ForwardWithMask(_) | Op::BiasForwardWithMask(_))
    }

    /// Whether the op writes the bias gradient `db`.
    pub fn writes_bias_gradient(self) -> bool {
        matches!(
            self,
            Op::BiasBackward(_) | Op::BiasBackwardFromPreactivation(_)
        )
    }

    /// Whether the op writes the pre-activation `z = x + b`.
    pub fn writes_preactivation(self) -> bool {
        matches!(self, Op::BiasForwardWithPreactivation(_))
    }

    /// Whether the op reads the pre-activation a forward op saved.
    pub fn reads_preactivation(self) -> bool {
        matches!(self, Op::BiasBackwardFromPreactivation(_))
    }

    /// How the op's values (`y` or `dx`) must agree with the reference's:
    /// bit for bit, or within the activation's bound for a smooth one
    /// ([`Activation::max_error_ulps`]: the forward's, or the derivative's
    /// plus one for the product with `dy`).
    ///
    /// ```
    /// use wgpu_activations::compare::Tolerance;
    /// use wgpu_activations::{Activation, DType, Op};
    /// assert_eq!(Op::Forward(Activation::Gelu).tolerance(DType::F32), Tolerance::Ulps(2));
    /// assert_eq!(Op::BackwardFromInput(Activation::Gelu).tolerance(DType::F32), Tolerance::Ulps(5));
    /// assert_eq!(Op::Forward(Activation::Relu).tolerance(DType::F32), Tolerance::Exact);
    /// ```
    pub fn tolerance(self, dtype: DType) -> Tolerance {
        match self.activation() {
            Some(a) if a.is_smooth() => {
                let derivative = self.is_backward();
                let product = u32::from(derivative && dtype == DType::F32);
                Tolerance::Ulps(a.max_error_ulps(dtype, derivative) + product)
            }
            _ => Tolerance::Exact,
        }
    }

    /// Whether the op does float arithmetic a GPU may flush subnormals in:
    /// the bias add, and the leaky slope multiply.
    pub fn may_flush(self) -> bool {
        let arithmetic = self.activation().is_some_and(Activation::does_arithmetic);
        match self {
            Op::BiasAdd
            | Op::BiasForward(_)
            | Op::BiasForwardWithMask(_)
            | Op::BiasForwardWithPreactivation(_) => true,
            _ => arithmetic,
        }
    }

    /// What the CPU reference computes for this op on `inputs`, with
    /// subnormals kept (the reference's own mode) or flushed (the one
    /// alternative a GPU may produce). Errors with [`Error::ShapeMismatch`]
    /// if a backward op's `dy` is shorter than `x`.
    ///
    /// ```
    /// use wgpu_activations::cpu::Subnormals;
    /// use wgpu_activations::{Activation, HostInputs, Op};
    /// let inputs = HostInputs {
    ///     x: vec![-1.0, 2.0, 3.0, -4.0],
    ///     dy: vec![1.0; 4],
    ///     bias: vec![0.5, -2.5],
    /// };
    /// let expected = Op::BiasForwardWithMask(Activation::Relu).reference(&inputs, Subnormals::Preserve)?;
    /// assert_eq!(expected.values, vec![0.0, 0.0, 3.5, 0.0]);
    /// assert_eq!(expected.mask, Some(vec![0b0100]));
    /// # Ok::<(), wgpu_activations::Error>(())
    /// ```
    pub fn reference(self, inputs: &HostInputs, subnormals: Subnormals) -> Result<Expected> {
        self.reference_in(inputs, subnormals, DType::F32)
    }

    /// [`reference`](Op::reference) for data of `dtype`: `x` and `dy` must
    /// hold values of `dtype` ([`HostInputs::rounded_to`]); the bias is
    /// f32. Every arithmetic result is rounded to `dtype` (the `*_in`
    /// functions of [`cpu`]).
    pub fn reference_in(
        self,
        inputs: &HostInputs,
        subnormals: Subnormals,
        dtype: DType,
    ) -> Result<Expected> {
        let activation = self.activation().unwrap_or(Activation::Relu);
        let used = inputs.used(self);
        if self.is_backward() && inputs.dy.len() < used {
            return Err(Error::ShapeMismatch {
                what: "upstream gradient dy of the reference's inputs (as long as x)",
                expected: used,
                actual: inputs.dy.len(),
            });
        }
        let (x, dy) = (&inputs.x[..used], &inputs.dy[..used.min(inputs.dy.len())]);
        let forward = |v: &[f32]| -> Vec<f32> {
            v.iter()
                .map(|&e| cpu::activate_in(activation, e, dtype, subnormals))
                .collect()
        };
        let mask_of = |v: &[f32]| cpu::pack_mask(v.iter().map(|&e| cpu::mask_bit(activation, e)));
        let biased = || cpu::bias_add_in(x, &inputs.bias, dtype, subnormals);
        let gradient = |saved: &[f32]| -> Vec<f32> {
            saved
                .iter()
                .zip(dy)
                .map(|(&s, &d)| cpu::gradient_in(activation, s, d, dtype, subnormals))
                .collect()
        };
        let mut preactivation = None;
        let (values, mask) = match self {
            Op::Identity => (x.to_vec(), None),
            Op::ReluForward | Op::ReluForwardInPlace => (cpu::relu_forward(x), None),
            Op::Forward(_) => (forward(x), None),
            Op::ForwardWithMask(_) => (forward(x), Some(mask_of(x))),
            Op::BackwardFromInput(_) => (gradient(x), None),
            Op::BackwardFromOutput(_) => {
                let y = inputs.saved_output_in(self, dtype);
                let dx = y
                    .iter()
                    .zip(dy)
                    .map(|(&y, &d)| {
                        cpu::gradient_from_output_in(activation, y, d, dtype).ok_or_else(|| {
                            Error::NoBackwardFromOutput {
                                activation: activation.to_string(),
                            }
                        })
                    })
                    .collect::<Result<Vec<f32>>>()?;
                (dx, None)
            }
            Op::BiasBackwardFromPreactivation(_) => {
                (gradient(&inputs.saved_preactivation_in(self, dtype)), None)
            }
            Op::BiasForwardWithPreactivation(_) => {
                let sums = biased();
                let y = forward(&sums);
                preactivation = Some(sums);
                (y, None)
            }
            Op::BackwardFromMask(_) | Op::BiasBackward(_) => {
                let bits = inputs.saved_mask_in(self, dtype);
                let dx = dy
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| {
                        let bit = cpu::mask_bit_at(&bits, i);
                        cpu::backward_element_in(activation, bit, d, dtype, subnormals)
                    })
                    .collect();
                (dx, None)
            }
            Op::BiasAdd => (biased(), None),
            Op::BiasForward(_) => (forward(&biased()), None),
            Op::BiasForwardWithMask(_) => {
                let sums = biased();
                (forward(&sums), Some(mask_of(&sums)))
            }
        };
        Ok(Expected {
            values,
            mask,
            preactivation,
        })
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Host data an op runs on: `x`, an upstream gradient `dy` of the same
/// length, and a bias for the ops that [use one](Op::uses_bias), which see
/// `x` and `dy` as `[rows, cols]` (their first `rows * cols` elements).
#[derive(Clone, Debug, Default)]
pub struct HostInputs {
    /// The forward input.
    pub x: Vec<f32>,
    /// The upstream gradient, as long as `x`.
    pub dy: Vec<f32>,
    /// One bias per column.
    pub bias: Vec<f32>,
}

impl HostInputs {
    /// Row length of the bias ops.
    pub fn cols(&self) -> usize {
        self.bias.len()
    }

    /// Whole rows of `x` the bias ops use.
    pub fn rows(&self) -> usize {
        self.x.len().checked_div(self.cols()).unwrap_or(0)
    }

    /// The elements `op` reads of `x` and `dy`: all of them, or whole rows.
    pub fn used(&self, op: Op) -> usize {
        if op.uses_bias() {
            self.rows() * self.cols()
        } else {
            self.x.len()
        }
    }

    /// The shape `op` sees its data in: `[rows, cols]` for the bias ops,
    /// else one dimension.
    pub fn shape(&self, op: Op) -> Vec<usize> {
        if op.uses_bias() {
            vec![self.rows(), self.cols()]
        } else {
            vec![self.used(op)]
        }
    }

    /// The mask a backward op reads: the reference's mask of `x`, or of
    /// `x + b` for the fused op. The GPU gets it too, so `dx` depends only on
    /// the backward kernel.
    pub fn saved_mask(&self, op: Op) -> Vec<u32> {
        self.saved_mask_in(op, DType::F32)
    }

    /// [`saved_mask`](HostInputs::saved_mask) of data of `dtype`: the mask
    /// of `x + b` rounded to `dtype`, for the fused op.
    pub fn saved_mask_in(&self, op: Op, dtype: DType) -> Vec<u32> {
        let activation = op.activation().unwrap_or(Activation::Relu);
        let x = &self.x[..self.used(op)];
        let source = if op.uses_bias() {
            cpu::bias_add_in(x, &self.bias, dtype, Subnormals::Preserve)
        } else {
            x.to_vec()
        };
        cpu::pack_mask(source.iter().map(|&v| cpu::mask_bit(activation, v)))
    }

    /// The output a backward op from `y` reads: the reference's forward of
    /// `x` in `dtype`. The GPU gets it too, so `dx` depends only on the
    /// backward.
    pub fn saved_output_in(&self, op: Op, dtype: DType) -> Vec<f32> {
        let activation = op.activation().unwrap_or(Activation::Relu);
        self.x[..self.used(op)]
            .iter()
            .map(|&v| cpu::activate_in(activation, v, dtype, Subnormals::Preserve))
            .collect()
    }

    /// The pre-activation a backward op from `z` reads: the reference's
    /// `x + b` rounded to `dtype`, as the fused forward saves it (subnormals
    /// kept). The GPU gets it too, so `dx` depends only on the backward.
    pub fn saved_preactivation_in(&self, op: Op, dtype: DType) -> Vec<f32> {
        let x = &self.x[..self.used(op)];
        cpu::bias_add_in(x, &self.bias, dtype, Subnormals::Preserve)
    }

    /// `x` and `dy` rounded to `dtype` ([`DType::round`]), so that they are
    /// the values a tensor of `dtype` holds; the bias stays f32 (the mixed
    /// precision layout: 16-bit data, f32 parameters).
    pub fn rounded_to(&self, dtype: DType) -> Self {
        let round = |v: &[f32]| v.iter().map(|&e| dtype.round(e)).collect();
        Self {
            x: round(&self.x),
            dy: round(&self.dy),
            bias: self.bias.clone(),
        }
    }

    /// The first `len` elements of `x` and `dy`, the same bias.
    pub fn prefix(&self, len: usize) -> Self {
        Self {
            x: self.x[..len].to_vec(),
            dy: self.dy[..len].to_vec(),
            bias: self.bias.clone(),
        }
    }
}

/// The reference's outputs of an op.
#[derive(Clone, Debug, PartialEq)]
pub struct Expected {
    /// `y` (forward ops) or `dx` (backward ops). The bias gradient is not
    /// here: it is compared as the f64 column sums of `dx`
    /// ([`Comparison::bias_gradient`](crate::compare::Comparison::bias_gradient)).
    pub values: Vec<f32>,
    /// The mask, for the ops that [write one](Op::writes_mask).
    pub mask: Option<Vec<u32>>,
    /// The pre-activation `z`, for the ops that [write
    /// it](Op::writes_preactivation).
    pub preactivation: Option<Vec<f32>>,
}

/// The GPU operands of one op, by role. [`Gpu::record_op`] takes the ones
/// the op needs and refuses a missing one with [`Error::MissingOperand`].
#[derive(Clone, Copy, Debug, Default)]
pub struct OpTensors<'a> {
    /// The forward input; the saved input of
    /// [`BackwardFromInput`](Op::BackwardFromInput); the saved output `y`
    /// of [`BackwardFromOutput`](Op::BackwardFromOutput); the data itself
    /// for [`ReluForwardInPlace`](Op::ReluForwardInPlace).
    pub x: Option<&'a Tensor>,
    /// The upstream gradient of a backward op.
    pub dy: Option<&'a Tensor>,
    /// The bias of a bias op.
    pub bias: Option<&'a Tensor>,
    /// The mask a backward op reads, or a forward op writes.
    pub mask: Option<&'a Mask>,
    /// The output of a forward op.
    pub y: Option<&'a Tensor>,
    /// The gradient output of a backward op.
    pub dx: Option<&'a Tensor>,
    /// The bias gradient of [`BiasBackward`](Op::BiasBackward).
    pub db: Option<&'a Tensor>,
    /// The pre-activation `z = x + b` a fused forward writes, or its
    /// backward reads.
    pub z: Option<&'a Tensor>,
}

fn operand<'a, T>(op: Op, value: Option<&'a T>, name: &'static str) -> Result<&'a T> {
    value.ok_or_else(|| Error::MissingOperand {
        op: op.name(),
        operand: name,
    })
}

impl Gpu {
    /// Records `op` on `tensors` into `encoder` through the op's own
    /// `record_*` method, with its checks: no submit, no wait.
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Op, OpTensors, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[-1.0, 2.0])?;
    /// let y = Tensor::uninit(&gpu, &[2])?;
    /// let mut encoder = gpu.device().create_command_encoder(&Default::default());
    /// let tensors = OpTensors { x: Some(&x), y: Some(&y), ..Default::default() };
    /// gpu.record_op(&mut encoder, Op::Forward(Activation::relu6()), &tensors)?;
    /// gpu.queue().submit([encoder.finish()]);
    /// assert_eq!(y.download()?, vec![0.0, 2.0]);
    /// # Ok(()) }
    /// ```
    pub fn record_op(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        op: Op,
        tensors: &OpTensors<'_>,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_op(plan, op, tensors))
    }

    /// [`record_op`](Gpu::record_op)'s checks and commands.
    pub(crate) fn plan_op(&self, plan: &mut Plan, op: Op, tensors: &OpTensors<'_>) -> Result<()> {
        let x = || operand(op, tensors.x, "x");
        let dy = || operand(op, tensors.dy, "dy");
        let bias = || operand(op, tensors.bias, "bias");
        let mask = || operand(op, tensors.mask, "mask");
        let y = || operand(op, tensors.y, "y");
        let dx = || operand(op, tensors.dx, "dx");
        let db = || operand(op, tensors.db, "db");
        let z = || operand(op, tensors.z, "z");
        match op {
            Op::Identity => self.plan_identity(plan, x()?, y()?),
            Op::ReluForward => self.plan_relu(plan, x()?, y()?),
            Op::ReluForwardInPlace => self.plan_relu_in_place(plan, x()?),
            Op::Forward(a) => self.plan_activation(plan, a, x()?, y()?, None),
            Op::ForwardWithMask(a) => self.plan_activation(plan, a, x()?, y()?, Some(mask()?)),
            Op::BackwardFromMask(a) => {
                self.plan_activation_backward(plan, a, dy()?, mask()?, dx()?)
            }
            Op::BackwardFromInput(a) => {
                self.plan_activation_backward_from_input(plan, a, dy()?, x()?, dx()?)
            }
            Op::BackwardFromOutput(a) => {
                self.plan_activation_backward_from_output(plan, a, dy()?, x()?, dx()?)
            }
            Op::BiasAdd => self.plan_bias_add(plan, x()?, bias()?, y()?),
            Op::BiasForward(a) => self.plan_bias_activation(plan, a, x()?, bias()?, y()?, None),
            Op::BiasForwardWithMask(a) => {
                self.plan_bias_activation(plan, a, x()?, bias()?, y()?, Some(mask()?))
            }
            Op::BiasBackward(a) => {
                self.plan_bias_activation_backward(plan, a, dy()?, mask()?, dx()?, db()?)
            }
            Op::BiasForwardWithPreactivation(a) => {
                self.plan_bias_activation_with_preactivation(plan, a, x()?, bias()?, y()?, z()?)
            }
            Op::BiasBackwardFromPreactivation(a) => self
                .plan_bias_activation_backward_from_preactivation(
                    plan,
                    a,
                    dy()?,
                    z()?,
                    dx()?,
                    db()?,
                ),
        }
    }
}
