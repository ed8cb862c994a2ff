//! Which operands of one op may share a buffer: exactly what wgpu allows,
//! plus no overlapping bytes where one side is written.
//!
//! - wgpu refuses one buffer bound read-only and writable in the same
//!   dispatch, even at disjoint ranges (a usage conflict);
//! - disjoint writable views of one buffer are fine (`y` and its mask, `dx`
//!   and `db`), and so are several read-only views;
//! - an output whose bytes overlap another operand's would overwrite it
//!   (or race with it), so it is refused in any dispatch.

use std::ops::Range;

use crate::error::{Error, Result};
use crate::mask::Mask;
use crate::tensor::Tensor;

/// What wgpu refuses within one dispatch.
const READ_AND_WRITE: &str = "share a buffer in one dispatch, one read-only and one writable, \
     which wgpu refuses; use separate buffers";

/// What would lose or race on data.
const OVERLAP: &str = "overlap in one buffer and one of them is written; give them disjoint bytes";

/// One operand of an op, as the rules see it.
#[derive(Clone, Debug)]
pub(crate) struct Use<'a> {
    what: &'static str,
    buffer: &'a wgpu::Buffer,
    bytes: Range<u64>,
    writes: bool,
    /// The op's dispatches (a bit each) that bind it.
    dispatches: u8,
}

impl<'a> Use<'a> {
    fn new(
        what: &'static str,
        buffer: &'a wgpu::Buffer,
        offset: u64,
        bytes: u64,
        writes: bool,
    ) -> Self {
        Self {
            what,
            buffer,
            bytes: offset..offset + bytes,
            writes,
            dispatches: 1,
        }
    }

    /// A tensor the op reads.
    pub fn read(what: &'static str, tensor: &'a Tensor) -> Self {
        Self::new(
            what,
            tensor.buffer(),
            tensor.offset(),
            tensor.data_bytes(),
            false,
        )
    }

    /// A tensor the op writes.
    pub fn write(what: &'static str, tensor: &'a Tensor) -> Self {
        Self::new(
            what,
            tensor.buffer(),
            tensor.offset(),
            tensor.data_bytes(),
            true,
        )
    }

    /// A mask the op reads.
    pub fn read_mask(mask: &'a Mask) -> Self {
        Self::new("mask", mask.buffer(), mask.offset(), mask.bytes(), false)
    }

    /// A mask the op writes.
    pub fn write_mask(mask: &'a Mask) -> Self {
        Self::new("mask", mask.buffer(), mask.offset(), mask.bytes(), true)
    }

    /// Bound by the op's later dispatch only (the fused backward's `db`),
    /// not by the first.
    pub fn in_second_dispatch(mut self) -> Self {
        self.dispatches = 2;
        self
    }
}

/// Errors with [`Error::Aliasing`], naming both operands and the rule, if
/// two of `uses` may not share their buffer. All buffers come from one
/// device (checked before).
pub(crate) fn check(uses: &[Use<'_>]) -> Result<()> {
    for (i, a) in uses.iter().enumerate() {
        for b in &uses[i + 1..] {
            if a.buffer != b.buffer {
                continue;
            }
            let overlap = a.bytes.start < b.bytes.end && b.bytes.start < a.bytes.end;
            let rule = if overlap
                && (a.writes || b.writes)
                && !a.bytes.is_empty()
                && !b.bytes.is_empty()
            {
                OVERLAP
            } else if a.dispatches & b.dispatches != 0 && a.writes != b.writes {
                READ_AND_WRITE
            } else {
                continue;
            };
            // The written operand first: it is the one to move.
            let (what, other) = if a.writes && !b.writes {
                (a, b)
            } else {
                (b, a)
            };
            return Err(Error::Aliasing {
                what: what.what,
                other: other.what,
                rule,
            });
        }
    }
    Ok(())
}
