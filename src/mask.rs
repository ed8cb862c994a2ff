//! The 1-bit-per-element mask a forward pass saves for its backward pass.

use crate::buffer;
use crate::cpu;
use crate::dtype::MASK_WORD_BYTES;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::same_len;
use crate::readback::{Download, PendingDownload};

/// Where an activation's derivative passes `dy` through, one bit per element,
/// on the GPU: element i is bit `i % 32` of u32 word `i / 32`, and the bits
/// past the last element of the final word are zero.
///
/// Saving a mask instead of the input costs 1/32 of the memory, and backward
/// from a mask reads 8.125 bytes per element instead of 12. Forward ops with
/// `_with_mask` produce one; backward ops consume it.
///
/// ```no_run
/// use wgpu_activations::{Activation, Gpu, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let x = Tensor::from_slice(&gpu, &[-1.0, 2.0, f32::NAN, 0.0])?;
/// let (y, mask) = gpu.relu_with_mask(&x)?;
/// assert_eq!(mask.len(), 4);
/// assert_eq!(mask.download()?, vec![0b0110]);
/// let dy = Tensor::from_slice(&gpu, &[10.0, 20.0, 30.0, 40.0])?;
/// let dx = gpu.relu_backward(&dy, &mask)?;
/// assert_eq!(dx.download()?, vec![0.0, 20.0, 30.0, 0.0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Mask {
    gpu: Gpu,
    buffer: wgpu::Buffer,
    /// Where the words start in `buffer`, in bytes.
    offset: u64,
    len: usize,
    row_length: Option<usize>,
}

impl Mask {
    /// Allocates a mask of `len` elements for a forward op to write.
    pub fn uninit(gpu: &Gpu, len: usize) -> Result<Self> {
        let bytes = buffer::storage_bytes(gpu, cpu::mask_words(len), MASK_WORD_BYTES, "mask")?;
        let buffer = buffer::allocate(gpu, bytes, "wgpu-activations mask")?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer,
            offset: 0,
            len,
            row_length: None,
        })
    }

    /// Uploads packed mask words (as [`cpu::pack_mask`] makes them) for `len`
    /// elements; `words.len()` must be exactly [`cpu::mask_words`]`(len)`.
    pub fn from_words(gpu: &Gpu, words: &[u32], len: usize) -> Result<Self> {
        if words.len() != cpu::mask_words(len) {
            return Err(Error::ShapeMismatch {
                what: "mask words for the element count",
                expected: cpu::mask_words(len),
                actual: words.len(),
            });
        }
        let bytes = buffer::storage_bytes(gpu, words.len(), MASK_WORD_BYTES, "mask")?;
        let buffer = buffer::upload(
            gpu,
            bytemuck::cast_slice(words),
            bytes,
            "wgpu-activations mask",
        )?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer,
            offset: 0,
            len,
            row_length: None,
        })
    }

    /// A view of the mask of a forward over `shape` (its input's shape),
    /// whose words start at byte `offset` of a buffer you own; ops read and
    /// write exactly those [`words`](Mask::words) and nothing else of the
    /// buffer. The view knows the forward's [row length](Mask::row_length)
    /// (`shape`'s last dimension), so a fused backward given a `dy` of
    /// another shape is an error, never a bias gradient summed over the
    /// wrong columns.
    ///
    /// Same rules as [`Tensor::from_buffer`](crate::Tensor::from_buffer):
    /// `STORAGE` usage, an offset aligned to the device's
    /// `min_storage_buffer_offset_alignment`, in bounds, the same device;
    /// downloads need `COPY_SRC`.
    pub fn from_buffer(
        gpu: &Gpu,
        buffer: &wgpu::Buffer,
        offset: u64,
        shape: &[usize],
    ) -> Result<Self> {
        let len = crate::tensor::element_count(shape)?;
        let bytes = cpu::mask_words(len) as u64 * MASK_WORD_BYTES;
        buffer::check_view(gpu, "mask view", buffer, offset, bytes)?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer: buffer.clone(),
            offset,
            len,
            // A zero-sized shape has no meaningful rows.
            row_length: shape.last().copied().filter(|&cols| cols > 0 && len > 0),
        })
    }

    /// Records the row length of the tensor the mask was made from, so that a
    /// fused backward pass ([`Gpu::bias_activation_backward`]) given an
    /// upstream gradient with another row length fails instead of summing the
    /// bias gradient over the wrong columns. The `_with_mask` forward ops set
    /// it from their input's last dimension.
    ///
    /// Errors with [`Error::ShapeMismatch`] unless `cols` divides `len()`.
    pub fn with_row_length(mut self, cols: usize) -> Result<Self> {
        if !self.len.is_multiple_of(cols) {
            return Err(Error::ShapeMismatch {
                what: "mask row length (must divide its element count)",
                expected: self.len,
                actual: cols,
            });
        }
        self.row_length = Some(cols);
        Ok(self)
    }

    /// The row length recorded by [`with_row_length`](Mask::with_row_length), if any.
    pub fn row_length(&self) -> Option<usize> {
        self.row_length
    }

    /// Elements the mask covers.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mask covers no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// u32 words the bits take: `len().div_ceil(32)`.
    pub fn words(&self) -> usize {
        cpu::mask_words(self.len)
    }

    /// The underlying buffer; the words are `words() * 4` bytes at
    /// [`offset`](Mask::offset).
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Where the words start in [`buffer`](Mask::buffer), in bytes.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The [`Gpu`] this mask lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Copies the packed words back to the host, waiting for all work on them.
    pub fn download(&self) -> Result<Vec<u32>> {
        match self.start_download()? {
            Some(readback) => readback.wait(),
            None => Ok(Vec::new()),
        }
    }

    /// [`download`](Mask::download) into `out`, which must hold exactly
    /// [`words`](Mask::words) words: nothing is allocated on the host, and
    /// the staging buffer comes from the `Gpu`'s pool. Blocks.
    pub fn download_into(&self, out: &mut [u32]) -> Result<()> {
        same_len("host slice downloaded into", self.words(), out.len())?;
        match self.start_download()? {
            Some(readback) => readback.wait_into(out),
            None => Ok(()),
        }
    }

    /// Replaces the words with `words` (exactly [`words`](Mask::words) of
    /// them, packed as [`cpu::pack_mask`] makes them), ordered like
    /// [`Tensor::write`](crate::Tensor::write): after work already
    /// submitted, before work submitted later; through the `Gpu`'s pool of
    /// staging buffers.
    pub fn write(&self, words: &[u32]) -> Result<()> {
        same_len("mask words written", self.words(), words.len())?;
        buffer::require_usage("mask written", &self.buffer, wgpu::BufferUsages::COPY_DST)?;
        self.gpu.ensure_alive()?;
        self.gpu.upload_pool().write(
            &self.gpu,
            &self.buffer,
            self.offset,
            bytemuck::cast_slice(words),
            "writing a mask",
        )
    }

    fn start_download(&self) -> Result<Option<Download>> {
        buffer::require_usage(
            "mask downloaded",
            &self.buffer,
            wgpu::BufferUsages::COPY_SRC,
        )?;
        self.gpu.ensure_alive()?;
        if self.len == 0 {
            return Ok(None);
        }
        Download::start(&self.gpu, &self.buffer, self.offset, self.bytes()).map(Some)
    }

    /// Records a copy of the words into `encoder`, for a host that must not
    /// block; see [`Tensor::record_download`](crate::Tensor::record_download).
    pub fn record_download(
        &self,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<PendingDownload<u32>> {
        buffer::require_usage(
            "mask downloaded",
            &self.buffer,
            wgpu::BufferUsages::COPY_SRC,
        )?;
        PendingDownload::record(&self.gpu, encoder, &self.buffer, self.offset, self.bytes())
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.words() as u64 * MASK_WORD_BYTES
    }
}
