//! Kernels over tensors of any size and any view: the one segmenter.
//!
//! A storage binding holds at most `max_storage_buffer_binding_size` bytes
//! (128 MiB on many devices), so a larger tensor runs as one dispatch per
//! *segment*: a range whose first element is a multiple of
//! [`segment_quantum`], so that every operand's range, and the mask's words,
//! start at an offset the device can bind. Element-wise kernels split into
//! whole 32-element chunks; the fused backward into whole row blocks
//! ([`Split::Rows`]), so that each block's column sums come from one
//! dispatch.
//!
//! The kernels load and store whole 16-byte vectors. A tensor this crate
//! allocated is padded for that; a view of a caller's buffer is not, and
//! writing past its end would overwrite the caller's data. So when a view's
//! length is not whole vectors, the last partial chunk (under 32 elements)
//! runs in a scratch buffer: its inputs are copied in, the kernel runs there,
//! and exactly its outputs' bytes are copied back.

use crate::buffer::{self, padded_to_vectors};
use crate::dtype::{DType, MASK_WORD_BYTES, VECTOR_BYTES};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::params::Params;
use crate::kernels::prelude::CHUNK_ELEMENTS;
use crate::kernels::{ElementTypes, Kernel, Kind, Layout, MERGE_LOW_HALF};
use crate::mask::Mask;
use crate::ops::dispatch::{self, Binding, Grid};
use crate::ops::plan::{Plan, Step};
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
    /// Bound whole in every segment (the bias, the block sums).
    Whole(Binding<'a>),
    /// The parameter block, with `len` (and `first_column` or
    /// `first_row_block`) set per segment.
    Params,
}

/// How a kernel's elements split into segments.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Split {
    /// At whole 32-element chunks; `cols`, for the fused bias kernels, tells
    /// each segment the column its first element is in (`first_column`).
    Elements { cols: Option<usize> },
    /// At whole groups of `group_rows` rows of `cols` (a multiple of the
    /// kernel's `rows_per_block`); each segment is told its first row block
    /// (`first_row_block`) and runs `invocations_per_block` invocations per
    /// row block.
    Rows {
        cols: usize,
        group_rows: usize,
        rows_per_block: usize,
        invocations_per_block: usize,
    },
}

/// A kernel over `elements` elements of its operands.
pub(crate) struct ElementwiseOp<'a> {
    pub kernel: Kernel,
    pub kind: Kind,
    pub types: ElementTypes,
    pub params: Params,
    /// In the order of the kernel's bindings.
    pub operands: &'a [Operand<'a>],
    pub elements: usize,
    pub split: Split,
}

/// Segments start at multiples of this many elements: a multiple of the
/// 32-element chunk, and such that both a data range (at least 1 byte per
/// element) and a mask range (1/8 byte per element) start at a multiple of
/// the device's `min_storage_buffer_offset_alignment`.
pub(crate) fn segment_quantum(gpu: &Gpu) -> u64 {
    let alignment = u64::from(gpu.limits().min_storage_buffer_offset_alignment.max(4));
    (8 * alignment).max(CHUNK_ELEMENTS)
}

/// The most elements one segment covers on `gpu`: whole quanta within one
/// storage binding.
pub(crate) fn segment_elements(gpu: &Gpu) -> Result<u64> {
    let limit = gpu.limits().max_storage_buffer_binding_size;
    let quantum = segment_quantum(gpu);
    let elements =
        limit / VECTOR_BYTES * (VECTOR_BYTES / DType::F32.size_bytes()) / quantum * quantum;
    if elements == 0 {
        return Err(Error::TooLarge {
            what: "one aligned segment of an element-wise op",
            bytes: quantum * DType::F32.size_bytes(),
            limit_name: "max_storage_buffer_binding_size",
            limit,
        });
    }
    Ok(elements)
}

/// Adds `op` to `plan`: one dispatch per segment, then the scratch tail if a
/// view needs one. Nothing for zero elements.
pub(crate) fn record(gpu: &Gpu, plan: &mut Plan, op: &ElementwiseOp<'_>) -> Result<()> {
    gpu.ensure_alive()?;
    if op.elements == 0 {
        return Ok(());
    }
    let elements = op.elements as u64;
    // Only the chunked kernels move whole vectors; the others bind exactly.
    let needs_tail = op.kernel.layout == Layout::Elementwise
        && op.operands.iter().any(|operand| match operand {
            Operand::Input(t) | Operand::Output(t) | Operand::InOut(t) => !t.has_vector_padding(),
            _ => false,
        });
    let body = if needs_tail {
        check_tail_usages(op.operands)?;
        elements / CHUNK_ELEMENTS * CHUNK_ELEMENTS
    } else {
        elements
    };
    let step = match op.split {
        Split::Elements { .. } => segment_elements(gpu)?,
        Split::Rows {
            cols, group_rows, ..
        } => (group_rows * cols) as u64,
    };
    let mut first = 0;
    while first < body {
        let len = step.min(body - first);
        record_range(gpu, plan, op, first, len, &[])?;
        first += len;
    }
    if body < elements {
        record_tail(gpu, plan, op, body)?;
    }
    Ok(())
}

/// One dispatch of `op` over `[first, first + len)`: each operand bound at
/// its part of that range, unless `relocated` gives it another binding (the
/// tail's scratch buffers).
fn record_range(
    gpu: &Gpu,
    plan: &mut Plan,
    op: &ElementwiseOp<'_>,
    first: u64,
    len: u64,
    relocated: &[Option<Binding<'_>>],
) -> Result<()> {
    let (params, values) = segment_params(gpu, op, first, len)?;
    plan.add_params(&params, values, op.types.data);
    let exact = op.kernel.layout == Layout::Rows;
    let bindings: Vec<Binding<'_>> = op
        .operands
        .iter()
        .enumerate()
        .map(|(index, operand)| {
            relocated
                .get(index)
                .copied()
                .flatten()
                .unwrap_or_else(|| segment_binding(operand, first, len, exact, &params))
        })
        .collect();
    let grid = match op.split {
        Split::Elements { .. } => Grid::Chunks(len as usize),
        Split::Rows {
            cols,
            rows_per_block,
            invocations_per_block,
            ..
        } => Grid::Invocations(
            invocations_per_block as u64 * (len / cols as u64).div_ceil(rows_per_block as u64),
        ),
    };
    dispatch::record(gpu, plan, op.kernel, op.kind, op.types, &bindings, grid)
}

/// The parameter block of the segment `[first, first + len)`, and what it
/// holds.
fn segment_params(
    gpu: &Gpu,
    op: &ElementwiseOp<'_>,
    first: u64,
    len: u64,
) -> Result<(wgpu::Buffer, Params)> {
    // A segment fits one binding, so its length and indices fit u32.
    let params = match op.split {
        Split::Elements { cols } => Params {
            len: len as u32,
            first_column: match cols {
                Some(cols) if cols > 0 => (first % cols as u64) as u32,
                _ => 0,
            },
            ..op.params
        },
        Split::Rows {
            cols,
            rows_per_block,
            ..
        } => Params {
            len: len as u32,
            first_row_block: (first / cols as u64 / rows_per_block as u64) as u32,
            ..op.params
        },
    };
    Ok((buffer::uniform(gpu, &params)?, params))
}

/// `operand`'s part of the segment `[first, first + len)`: whole vectors,
/// or `exact`ly the data.
fn segment_binding<'a>(
    operand: &Operand<'a>,
    first: u64,
    len: u64,
    exact: bool,
    params: &'a wgpu::Buffer,
) -> Binding<'a> {
    match *operand {
        Operand::Input(t) | Operand::Output(t) | Operand::InOut(t) => {
            let element = t.dtype().size_bytes();
            let bytes = len * element;
            Binding {
                buffer: t.buffer(),
                offset: t.offset() + first * element,
                // Whole words: an odd count of 16-bit elements ends mid-word,
                // in a tensor's padding or, for a view, in a word checked to
                // lie in its buffer (the kernels that bind exactly only read
                // an odd view: its writes go through the tail).
                bytes: if exact {
                    bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT)
                } else {
                    padded_to_vectors(bytes)
                },
            }
        }
        Operand::MaskIn(m) | Operand::MaskOut(m) => Binding {
            buffer: m.buffer(),
            offset: m.offset() + first / CHUNK_ELEMENTS * MASK_WORD_BYTES,
            bytes: len.div_ceil(CHUNK_ELEMENTS) * MASK_WORD_BYTES,
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

/// Bytes of one element of a data operand, or of one word of a mask
/// operand; `None` for the operands bound whole.
fn item_bytes(operand: &Operand<'_>) -> Option<u64> {
    match operand {
        Operand::Input(t) | Operand::Output(t) | Operand::InOut(t) => Some(t.dtype().size_bytes()),
        Operand::MaskIn(_) | Operand::MaskOut(_) => Some(MASK_WORD_BYTES),
        Operand::Whole(_) | Operand::Params => None,
    }
}

/// Adds a dispatch that replaces the low half of the word at byte `offset`
/// of `target` with the low half of the word at byte `source_word` of
/// `source`, keeping the high half: the last element of an odd-length
/// 16-bit view, whose word's other half is not the view's.
pub(crate) fn record_low_half(
    gpu: &Gpu,
    plan: &mut Plan,
    source: Binding<'_>,
    source_word: u64,
    target: &wgpu::Buffer,
    offset: u64,
) -> Result<()> {
    // Bound from the aligned offset at or below the word to its end.
    let alignment = u64::from(gpu.limits().min_storage_buffer_offset_alignment.max(4));
    let start = offset / alignment * alignment;
    let params = Params {
        len: ((offset - start) / 4) as u32,
        cols: (source_word / 4) as u32,
        ..Params::default()
    };
    let uniform = buffer::uniform(gpu, &params)?;
    let target = Binding {
        buffer: target,
        offset: start,
        bytes: offset + 4 - start,
    };
    dispatch::record(
        gpu,
        plan,
        &MERGE_LOW_HALF,
        Kind::fixed(),
        ElementTypes::of(DType::F32),
        &[source, target, Binding::whole(&uniform)],
        Grid::Invocations(1),
    )
}

/// Runs the last partial chunk, `[first, elements)`, in scratch buffers.
fn record_tail(gpu: &Gpu, plan: &mut Plan, op: &ElementwiseOp<'_>, first: u64) -> Result<()> {
    let len = op.elements as u64 - first;
    let word = first / CHUNK_ELEMENTS * MASK_WORD_BYTES;
    // One small buffer per data or mask operand: wgpu refuses one buffer
    // bound both read-only and writable in a dispatch, even at disjoint
    // ranges.
    let scratch: Vec<Option<wgpu::Buffer>> = op
        .operands
        .iter()
        .map(|operand| {
            item_bytes(operand)
                .map(|bytes| {
                    buffer::allocate(
                        gpu,
                        padded_to_vectors(CHUNK_ELEMENTS * bytes),
                        "wgpu-activations tail",
                    )
                })
                .transpose()
        })
        .collect::<Result<_>>()?;

    for (operand, scratch) in op.operands.iter().zip(&scratch) {
        match (*operand, scratch) {
            (Operand::Input(t) | Operand::InOut(t), Some(scratch)) => {
                let element = t.dtype().size_bytes();
                // Whole words: an odd-length 16-bit view's last word is read
                // whole (its view is checked to lie in its buffer).
                plan.push(Step::Copy {
                    source: t.buffer().clone(),
                    source_offset: t.offset() + first * element,
                    destination: scratch.clone(),
                    destination_offset: 0,
                    bytes: (len * element).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT),
                });
            }
            (Operand::MaskIn(m), Some(scratch)) => plan.push(Step::Copy {
                source: m.buffer().clone(),
                source_offset: m.offset() + word,
                destination: scratch.clone(),
                destination_offset: 0,
                bytes: MASK_WORD_BYTES,
            }),
            _ => {}
        }
    }
    let relocated: Vec<Option<Binding<'_>>> = op
        .operands
        .iter()
        .zip(&scratch)
        .map(|(operand, scratch)| {
            let bytes = match operand {
                Operand::MaskIn(_) | Operand::MaskOut(_) => MASK_WORD_BYTES,
                _ => padded_to_vectors(len * item_bytes(operand).unwrap_or(0)),
            };
            scratch.as_ref().map(|buffer| Binding {
                buffer,
                offset: 0,
                bytes,
            })
        })
        .collect();
    record_range(gpu, plan, op, first, len, &relocated)?;
    for (operand, scratch) in op.operands.iter().zip(&scratch) {
        match (*operand, scratch) {
            (Operand::Output(t) | Operand::InOut(t), Some(scratch)) => {
                let element = t.dtype().size_bytes();
                let bytes = len * element;
                // The view's whole words by a copy; the low half of a last
                // word the view shares with the caller, by a dispatch.
                let whole = bytes / wgpu::COPY_BUFFER_ALIGNMENT * wgpu::COPY_BUFFER_ALIGNMENT;
                let destination_offset = t.offset() + first * element;
                if whole > 0 {
                    plan.push(Step::Copy {
                        source: scratch.clone(),
                        source_offset: 0,
                        destination: t.buffer().clone(),
                        destination_offset,
                        bytes: whole,
                    });
                }
                if bytes > whole {
                    let source = Binding::whole(scratch);
                    record_low_half(
                        gpu,
                        plan,
                        source,
                        whole,
                        t.buffer(),
                        destination_offset + whole,
                    )?;
                }
            }
            (Operand::MaskOut(m), Some(scratch)) => plan.push(Step::Copy {
                source: scratch.clone(),
                source_offset: 0,
                destination: m.buffer().clone(),
                destination_offset: m.offset() + word,
                bytes: MASK_WORD_BYTES,
            }),
            _ => {}
        }
    }
    Ok(())
}
