//! Storage-buffer allocation, upload and readback shared by [`Tensor`] and
//! [`Mask`], and the chunks their staged transfers move in.
//!
//! [`Tensor`]: crate::Tensor
//! [`Mask`]: crate::Mask

use crate::dtype::VECTOR_BYTES;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// `bytes` rounded up to whole vectors.
pub(crate) fn padded_to_vectors(bytes: u64) -> u64 {
    bytes.div_ceil(VECTOR_BYTES) * VECTOR_BYTES
}

/// Bytes to allocate for `count` items of `item_bytes`, checked against the
/// device's `max_buffer_size`.
///
/// Rounded up to whole 16-byte vectors (at least one): the element-wise
/// kernels read and write `vec4`s, so the last, partial vector of the data
/// must lie inside the buffer. Those padding bytes are never read back.
pub(crate) fn storage_bytes(
    gpu: &Gpu,
    count: usize,
    item_bytes: u64,
    what: &'static str,
) -> Result<u64> {
    // Saturating: a byte count past u64 is over any limit anyway.
    let bytes = (count as u64).saturating_mul(item_bytes);
    let padded = padded_to_vectors(bytes.min(u64::MAX - VECTOR_BYTES)).max(VECTOR_BYTES);
    let limit = gpu.limits().max_buffer_size;
    if padded > limit {
        return Err(Error::TooLarge {
            what,
            bytes: padded,
            limit_name: "max_buffer_size",
            limit,
        });
    }
    Ok(padded)
}

fn storage_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

/// Transfers of up to this many bytes go in one piece.
const TRANSFER_CHUNK_MIN: u64 = 4 << 20;
/// Larger transfers go in at most this many chunks.
const TRANSFER_CHUNKS_MAX: u64 = 16;

/// The byte ranges an upload or a download of `bytes` moves in turn, each
/// with its own staging buffer and submission.
///
/// Why chunks: a staged transfer is two copies, the host's into or out of
/// the staging buffer and the device's between staging and storage. In
/// chunks they overlap: the host fills chunk `k + 1` while the device
/// copies chunk `k` (and, downloading, copies chunk `k` out while the
/// device copies `k + 1`). Chunk sizes are powers of two, so transfers of
/// similar sizes reuse the same pooled staging buffers; at most
/// [`TRANSFER_CHUNKS_MAX`] keeps the pools' bounds meaningful. Each range
/// starts at a multiple of 4 MiB, so it is aligned for copies and for any
/// element type.
pub(crate) fn transfer_chunks(bytes: u64) -> impl Iterator<Item = std::ops::Range<u64>> {
    let chunk = if bytes <= TRANSFER_CHUNK_MIN {
        bytes.max(1)
    } else {
        bytes
            .div_ceil(TRANSFER_CHUNKS_MAX)
            .next_power_of_two()
            .max(TRANSFER_CHUNK_MIN)
    };
    std::iter::successors(Some(0), move |start: &u64| Some(start + chunk))
        .take_while(move |&start| start < bytes)
        .map(move |start| start..(start + chunk).min(bytes))
}

/// A storage buffer of `bytes` (as [`storage_bytes`] returned), contents unspecified.
pub(crate) fn allocate(gpu: &Gpu, bytes: u64, label: &'static str) -> Result<wgpu::Buffer> {
    gpu.capture(label, || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: storage_usage(),
            mapped_at_creation: false,
        })
    })
}

/// A storage buffer holding `data`, padded to `bytes` (as [`storage_bytes`]
/// returned for it). Submits the copy, through the `Gpu`'s pool of staging
/// buffers; work submitted later sees the data.
pub(crate) fn upload(
    gpu: &Gpu,
    data: &[u8],
    bytes: u64,
    label: &'static str,
) -> Result<wgpu::Buffer> {
    debug_assert!(bytes >= data.len() as u64 && bytes.is_multiple_of(VECTOR_BYTES));
    let buffer = allocate(gpu, bytes, label)?;
    gpu.upload_pool().write(gpu, &buffer, 0, data, label)?;
    Ok(buffer)
}

/// Writes `data` at the start of a buffer mapped at creation, and unmaps it.
fn write_mapped(buffer: &wgpu::Buffer, data: &[u8]) -> Result<()> {
    {
        let mut view = buffer
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::BufferMap(e.to_string()))?;
        view.slice(..data.len()).copy_from_slice(data);
    }
    buffer.unmap();
    Ok(())
}

/// Checks that `bytes` at `offset` of a caller's `buffer` can serve as a
/// storage operand on `gpu`: in bounds, at an offset the device can bind,
/// with `STORAGE` usage.
pub(crate) fn check_view(
    gpu: &Gpu,
    what: &'static str,
    buffer: &wgpu::Buffer,
    offset: u64,
    bytes: u64,
) -> Result<()> {
    let end = offset.saturating_add(bytes);
    if end > buffer.size() {
        return Err(Error::OutOfBounds {
            what,
            offset,
            end,
            buffer_size: buffer.size(),
        });
    }
    let alignment = u64::from(gpu.limits().min_storage_buffer_offset_alignment);
    if !offset.is_multiple_of(alignment) {
        return Err(Error::MisalignedOffset {
            what,
            offset,
            alignment,
        });
    }
    require_usage(what, buffer, wgpu::BufferUsages::STORAGE)?;
    gpu.ensure_owns(buffer, what)
}

/// Errors with [`Error::MissingUsage`] unless `buffer` has every flag of `usage`.
pub(crate) fn require_usage(
    what: &'static str,
    buffer: &wgpu::Buffer,
    usage: wgpu::BufferUsages,
) -> Result<()> {
    let actual = buffer.usage();
    if actual.contains(usage) {
        Ok(())
    } else {
        Err(Error::MissingUsage {
            what,
            missing: usage - actual,
            actual,
        })
    }
}

/// A small uniform buffer holding `value`.
pub(crate) fn uniform<T: bytemuck::Pod>(gpu: &Gpu, value: &T) -> Result<wgpu::Buffer> {
    let contents = bytemuck::bytes_of(value);
    // Not wgpu's `create_buffer_init`, which panics where the mapping fails
    // (on a lost device).
    let buffer = gpu.capture("uploading kernel parameters", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-activations params"),
            size: padded_to_vectors(contents.len() as u64),
            // COPY_DST: a prepared op rewrites its activation's parameter.
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        })
    })?;
    write_mapped(&buffer, contents)?;
    Ok(buffer)
}

/// A uniform buffer of `bytes` for a kernel to read data copied in by the
/// encoder (`UNIFORM | COPY_DST`).
pub(crate) fn uniform_scratch(gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer> {
    gpu.capture("allocating a uniform buffer", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-activations uniform scratch"),
            size: bytes,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfer_chunks_cover_the_bytes_in_order_in_aligned_pieces() {
        for bytes in [
            0,
            4,
            1000,
            TRANSFER_CHUNK_MIN,
            TRANSFER_CHUNK_MIN + 4,
            64 << 20,
            (66 << 20) + 12,
            3 << 30,
        ] {
            let chunks: Vec<_> = transfer_chunks(bytes).collect();
            let mut next = 0;
            for chunk in &chunks {
                assert_eq!(chunk.start, next, "{bytes} bytes: contiguous");
                assert!(chunk.end > chunk.start, "{bytes} bytes: no empty chunk");
                assert!(
                    chunk.start.is_multiple_of(TRANSFER_CHUNK_MIN),
                    "{bytes} bytes: aligned"
                );
                next = chunk.end;
            }
            assert_eq!(next, bytes, "{bytes} bytes: covered");
            assert!(
                chunks.len() as u64 <= TRANSFER_CHUNKS_MAX,
                "{bytes} bytes: {} chunks",
                chunks.len()
            );
        }
        assert_eq!(transfer_chunks(1000).count(), 1);
        assert_eq!(transfer_chunks(64 << 20).count(), 16);
    }
}
