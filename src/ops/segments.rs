//! Element-wise kernels over tensors of any size and any view.
//!
//! A storage binding holds at most `max_storage_buffer_binding_size` bytes
//! (128 MiB on many devices), so a larger tensor runs as one dispatch per
//! *segment*: a range of whole 32-element chunks whose first element is a
//! multiple of [`segment_quantum`], so that every operand's range, and the
//! mask's words, start at an offset the device can bind.
//!
//! The kernels load and store whole 16-byte vectors. A tensor this crate
//! allocated is padded for that; a view of a caller's buffer is not, and
//! writing past its end would overwrite the caller's data. So when a view's
//! length is not whole vectors, the last partial chunk (under 32 elements)
//! runs in a scratch buffer: its inputs are copied in, the kernel runs there,
//! and exactly its outputs' bytes are copied back.

use crate::activation::{Kind, Params};
use crate::buffer::{self, ELEMENT_BYTES, VECTOR_BYTES, padded_to_vectors};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::mask::Mask;
use crate::ops::dispatch::{self, Binding, Grid};
use crate::pipeline::{CHUNK_ELEMENTS, Kernel};
use crate::tensor::Tensor;

/// One binding of an element-wise kernel, in binding order.
#[derive(Clone, Copy)]
pub(crate) enum Operand<'a> {
    /// f32 data the kernel reads.
    Input(&'a Tensor),
    /// f32 data the kernel writes.
    Output(&'a Tensor),
    /// f32 data the kernel reads and overwrites.
    InOut(&'a Tensor),
    /// Mask words the kernel reads.
    MaskIn(&'a Mask),
    /// Mask words the kernel writes.
    MaskOut(&'a Mask),
    /// Bound whole in every segment (the bias).
    Whole(Binding<'a>),
    /// The parameter block, with `len` (and `first_column`) set per segment.
    Params,
}

/// An element-wise kernel over `elements` elements of its operands.
pub(crate) struct ElementwiseOp<'a> {
    pub kernel: Kernel,
    pub kind: Kind,
    pub params: Params,
    pub operands: &'a [Operand<'a>],
    pub elements: usize,
    /// The row length, for the fused bias kernels: each segment is told the
    /// column its first element is in.
    pub cols: Option<usize>,
}

/// Segments start at multiples of this many elements: a multiple of the
/// 32-element chunk, and such that both an f32 range (4 bytes per element)
/// and a mask range (1/8 byte per element) start at a multiple of the
/// device's `min_storage_buffer_offset_alignment`.
pub(crate) fn segment_quantum(gpu: &Gpu) -> u64 {
    let alignment = u64::from(gpu.limits().min_storage_buffer_offset_alignment.max(4));
    (8 * alignment).max(CHUNK_ELEMENTS)
}

/// The most elements one segment covers on `gpu`: whole quanta within one
/// storage binding.
pub(crate) fn segment_elements(gpu: &Gpu) -> Result<u64> {
    let limit = gpu.limits().max_storage_buffer_binding_size;
    let quantum = segment_quantum(gpu);
    let elements = limit / VECTOR_BYTES * 4 / quantum * quantum;
    if elements == 0 {
        return Err(Error::TooLarge {
            what: "one aligned segment of an element-wise op",
            bytes: quantum * ELEMENT_BYTES,
            limit_name: "max_storage_buffer_binding_size",
            limit,
        });
    }
    Ok(elements)
}

/// Records `op`: one dispatch per segment, then the scratch tail if a view
/// needs one. Nothing is recorded for zero elements, and nothing at all if
/// an operand cannot serve (checked before the first command).
pub(crate) fn record(
    gpu: &Gpu,
    encoder: &mut wgpu::CommandEncoder,
    op: &ElementwiseOp<'_>,
) -> Result<()> {
    gpu.ensure_alive()?;
    if op.elements == 0 {
        return Ok(());
    }
    let elements = op.elements as u64;
    let needs_tail = op.operands.iter().any(|operand| match operand {
        Operand::Input(t) | Operand::Output(t) | Operand::InOut(t) => !t.has_vector_padding(),
        _ => false,
    });
    let body = if needs_tail {
        check_tail_usages(op.operands)?;
        elements / CHUNK_ELEMENTS * CHUNK_ELEMENTS
    } else {
        elements
    };
    let step = segment_elements(gpu)?;
    let mut first = 0;
    while first < body {
        let len = step.min(body - first);
        record_range(gpu, encoder, op, first, len, &[])?;
        first += len;
    }
    if body < elements {
        record_tail(gpu, encoder, op, body)?;
    }
    Ok(())
}

/// One dispatch of `op` over `[first, first + len)`: each operand bound at
/// its part of that range, unless `relocated` gives it another binding (the
/// tail's scratch buffers).
fn record_range(
    gpu: &Gpu,
    encoder: &mut wgpu::CommandEncoder,
    op: &ElementwiseOp<'_>,
    first: u64,
    len: u64,
    relocated: &[Option<Binding<'_>>],
) -> Result<()> {
    let params = segment_params(gpu, op, first, len)?;
    let bindings: Vec<Binding<'_>> = op
        .operands
        .iter()
        .enumerate()
        .map(|(index, operand)| {
            relocated
                .get(index)
                .copied()
                .flatten()
                .unwrap_or_else(|| segment_binding(operand, first, len, &params))
        })
        .collect();
    dispatch::record(
        gpu,
        encoder,
        op.kernel,
        op.kind,
        &bindings,
        Grid::Chunks(len as usize),
    )
}

/// The parameter block of the segment `[first, first + len)`.
fn segment_params(gpu: &Gpu, op: &ElementwiseOp<'_>, first: u64, len: u64) -> Result<wgpu::Buffer> {
    let first_column = match op.cols {
        Some(cols) if cols > 0 => (first % cols as u64) as u32,
        _ => 0,
    };
    buffer::uniform(
        gpu,
        &Params {
            // A segment fits one binding, so its length fits u32.
            len: len as u32,
            first_column,
            ..op.params
        },
    )
}

/// `operand`'s part of the segment `[first, first + len)`.
fn segment_binding<'a>(
    operand: &Operand<'a>,
    first: u64,
    len: u64,
    params: &'a wgpu::Buffer,
) -> Binding<'a> {
    match *operand {
        Operand::Input(t) | Operand::Output(t) | Operand::InOut(t) => Binding {
            buffer: t.buffer(),
            offset: t.offset() + first * ELEMENT_BYTES,
            bytes: padded_to_vectors(len * ELEMENT_BYTES),
        },
        Operand::MaskIn(m) | Operand::MaskOut(m) => Binding {
            buffer: m.buffer(),
            offset: m.offset() + first / CHUNK_ELEMENTS * ELEMENT_BYTES,
            bytes: len.div_ceil(CHUNK_ELEMENTS) * ELEMENT_BYTES,
        },
        Operand::Whole(binding) => binding,
        Operand::Params => Binding::whole(params),
    }
}

/// The tail goes through copies: inputs must be copy sources, outputs copy
/// destinations.
fn check_tail_usages(operands: &[Operand<'_>]) -> Result<()> {
    use wgpu::BufferUsages as U;
    let what = "a view whose length is not a multiple of 4 elements";
    for operand in operands {
        let (buffer, usage) = match *operand {
            Operand::Input(t) => (t.buffer(), U::COPY_SRC),
            Operand::Output(t) => (t.buffer(), U::COPY_DST),
            Operand::InOut(t) => (t.buffer(), U::COPY_SRC | U::COPY_DST),
            Operand::MaskIn(m) => (m.buffer(), U::COPY_SRC),
            Operand::MaskOut(m) => (m.buffer(), U::COPY_DST),
            Operand::Whole(_) | Operand::Params => continue,
        };
        buffer::require_usage(what, buffer, usage)?;
    }
    Ok(())
}

/// Runs the last partial chunk, `[first, elements)`, in scratch buffers.
fn record_tail(
    gpu: &Gpu,
    encoder: &mut wgpu::CommandEncoder,
    op: &ElementwiseOp<'_>,
    first: u64,
) -> Result<()> {
    let len = op.elements as u64 - first;
    let data_bytes = len * ELEMENT_BYTES;
    let word = first / CHUNK_ELEMENTS * ELEMENT_BYTES;
    // One small buffer per data or mask operand: wgpu refuses one buffer
    // bound both read-only and writable in a dispatch, even at disjoint
    // ranges.
    let scratch: Vec<Option<wgpu::Buffer>> = op
        .operands
        .iter()
        .map(|operand| match operand {
            Operand::Whole(_) | Operand::Params => Ok(None),
            _ => buffer::allocate(gpu, CHUNK_ELEMENTS * ELEMENT_BYTES, "wgpu-activations tail")
                .map(Some),
        })
        .collect::<Result<_>>()?;

    gpu.capture("copying a view's last elements in", || {
        for (operand, scratch) in op.operands.iter().zip(&scratch) {
            match (*operand, scratch) {
                (Operand::Input(t) | Operand::InOut(t), Some(scratch)) => encoder
                    .copy_buffer_to_buffer(
                        t.buffer(),
                        t.offset() + first * ELEMENT_BYTES,
                        scratch,
                        0,
                        data_bytes,
                    ),
                (Operand::MaskIn(m), Some(scratch)) => encoder.copy_buffer_to_buffer(
                    m.buffer(),
                    m.offset() + word,
                    scratch,
                    0,
                    ELEMENT_BYTES,
                ),
                _ => {}
            }
        }
    })?;
    let relocated: Vec<Option<Binding<'_>>> = op
        .operands
        .iter()
        .zip(&scratch)
        .map(|(operand, scratch)| {
            let bytes = match operand {
                Operand::MaskIn(_) | Operand::MaskOut(_) => ELEMENT_BYTES,
                _ => padded_to_vectors(data_bytes),
            };
            scratch.as_ref().map(|buffer| Binding {
                buffer,
                offset: 0,
                bytes,
            })
        })
        .collect();
    record_range(gpu, encoder, op, first, len, &relocated)?;
    gpu.capture("copying a view's last elements out", || {
        for (operand, scratch) in op.operands.iter().zip(&scratch) {
            match (*operand, scratch) {
                (Operand::Output(t) | Operand::InOut(t), Some(scratch)) => encoder
                    .copy_buffer_to_buffer(
                        scratch,
                        0,
                        t.buffer(),
                        t.offset() + first * ELEMENT_BYTES,
                        data_bytes,
                    ),
                (Operand::MaskOut(m), Some(scratch)) => encoder.copy_buffer_to_buffer(
                    scratch,
                    0,
                    m.buffer(),
                    m.offset() + word,
                    ELEMENT_BYTES,
                ),
                _ => {}
            }
        }
    })
}
