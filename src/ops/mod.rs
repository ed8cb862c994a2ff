//! Host-side dispatch of each op: validation, then a [`Plan`] of its
//! commands.
//!
//! Every op comes in three forms on [`Gpu`](crate::Gpu): a convenience call
//! that allocates its outputs and submits (without waiting), a `record_*`
//! call that records into the caller's `CommandEncoder` with no submit of
//! its own, and a prepared form ([`Gpu::prepare`](crate::Gpu::prepare)) that
//! builds the plan once and records it every frame.

mod activation;
mod aliasing;
mod bias;
mod cast;
pub(crate) mod dispatch;
mod identity;
pub(crate) mod plan;
mod relu;
pub(crate) mod segments;

pub use bias::bias_gradient_error_bound;

use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::{ElementTypes, Kernel, Kind};
use crate::mask::Mask;
use crate::tensor::Tensor;
use plan::Plan;
use segments::{ElementwiseOp, Operand, Split};

/// Errors with [`Error::ShapeMismatch`] unless `actual == expected`.
pub(crate) fn same_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::ShapeMismatch {
            what,
            expected,
            actual,
        })
    }
}

/// Errors with [`Error::DTypeMismatch`] unless `tensor` holds `expected`
/// elements.
pub(crate) fn same_dtype(what: &'static str, expected: DType, tensor: &Tensor) -> Result<()> {
    if tensor.dtype() == expected {
        Ok(())
    } else {
        Err(Error::DTypeMismatch {
            what,
            expected,
            actual: tensor.dtype(),
        })
    }
}

/// Errors with [`Error::NoMask`] unless `activation` saves a mask (the
/// ReLU family): the ops that read or write one refuse the others.
pub(crate) fn saves_mask(activation: crate::Activation) -> Result<()> {
    if activation.saves() == crate::Saved::Mask {
        Ok(())
    } else {
        Err(Error::NoMask {
            activation: activation.to_string(),
        })
    }
}

/// `value` as the u32 the kernels index with.
fn u32_of(value: usize, what: &'static str) -> Result<u32> {
    u32::try_from(value).map_err(|_| Error::TooLarge {
        what,
        bytes: value as u64 * DType::F32.size_bytes(),
        limit_name: "u32 element indices",
        limit: u64::from(u32::MAX) * DType::F32.size_bytes(),
    })
}

/// The two kernels of a forward op (without and with the mask) and the
/// activation kind they are compiled for.
struct ForwardKernels {
    kind: Kind,
    types: ElementTypes,
    plain: Kernel,
    with_mask: Kernel,
    /// The row length, for the fused bias kernels.
    cols: Option<usize>,
}

/// Errors unless the optional output mask is from `gpu` and covers
/// `elements`. Forward ops check it with their other operands.
fn check_mask(gpu: &Gpu, mask: Option<&Mask>, elements: usize) -> Result<()> {
    if let Some(mask) = mask {
        gpu.ensure_same(mask.gpu(), "mask")?;
        same_len("mask", elements, mask.len())?;
    }
    Ok(())
}

/// What every element-wise forward op plans once its operands, the mask
/// included ([`check_mask`]), are checked: `plain` over `operands` (in
/// binding order, the parameter block included), or `with_mask`, whose
/// last binding is the mask.
fn plan_forward(
    gpu: &Gpu,
    plan: &mut Plan,
    kernels: ForwardKernels,
    params: Params,
    operands: &[Operand<'_>],
    elements: usize,
    mask: Option<&Mask>,
) -> Result<()> {
    let mut operands = operands.to_vec();
    let kernel = match mask {
        None => kernels.plain,
        Some(mask) => {
            operands.push(Operand::MaskOut(mask));
            kernels.with_mask
        }
    };
    segments::record(
        gpu,
        plan,
        &ElementwiseOp {
            kernel,
            kind: kernels.kind,
            types: kernels.types,
            params,
            operands: &operands,
            elements,
            split: Split::Elements { cols: kernels.cols },
        },
    )
}

impl Gpu {
    /// Builds a plan with `build` and records it into `encoder`: nothing is
    /// recorded unless the whole plan could be built.
    pub(crate) fn record_planned(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        build: impl FnOnce(&mut Plan) -> Result<()>,
    ) -> Result<()> {
        let mut plan = Plan::default();
        build(&mut plan)?;
        plan.record(encoder);
        Ok(())
    }
}
