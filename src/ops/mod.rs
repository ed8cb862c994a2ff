//! Host-side dispatch of each op: validation, then recorded kernels.
//!
//! Every op comes in two forms on [`Gpu`](crate::Gpu): a convenience call that
//! allocates its outputs and submits (without waiting), and a `record_*` call
//! that records into the caller's `CommandEncoder` with no submit of its own.

mod activation;
mod bias;
pub(crate) mod dispatch;
mod relu;

pub use bias::bias_gradient_error_bound;

use crate::error::{Error, Result};

/// Errors with [`Error::ShapeMismatch`] unless `actual == expected`.
fn same_len(what: &'static str, expected: usize, actual: usize) -> Result<()> {
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

/// Errors with [`Error::Aliasing`] if `output` is one of `inputs`: wgpu
/// refuses a buffer bound both read-only and writable in one dispatch.
/// All buffers must come from one device (checked before).
fn not_aliased(what: &'static str, output: &wgpu::Buffer, inputs: &[&wgpu::Buffer]) -> Result<()> {
    if inputs.contains(&output) {
        Err(Error::Aliasing { what })
    } else {
        Ok(())
    }
}
