//! Laying out several views in one buffer of the caller's.

use crate::cpu;
use crate::dtype::{DType, MASK_WORD_BYTES};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::element_count;

/// Offsets for several tensor and mask views in one buffer, each at a
/// multiple of the device's `min_storage_buffer_offset_alignment`, so an
/// engine can make one buffer and view it with
/// [`Tensor::from_buffer`](crate::Tensor::from_buffer) and
/// [`Mask::from_buffer`](crate::Mask::from_buffer).
///
/// ```no_run
/// use wgpu_activations::{BufferLayout, Gpu, Mask, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let mut layout = BufferLayout::new(&gpu);
/// let y_at = layout.tensor(&[64, 100])?;
/// let mask_at = layout.mask(&[64, 100])?;
/// let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
///     label: Some("activations"),
///     size: layout.size(),
///     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
///     mapped_at_creation: false,
/// });
/// let y = Tensor::from_buffer(&gpu, &buffer, y_at, &[64, 100])?;
/// let mask = Mask::from_buffer(&gpu, &buffer, mask_at, &[64, 100])?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct BufferLayout {
    alignment: u64,
    size: u64,
}

impl BufferLayout {
    /// An empty layout for `gpu`'s device.
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            alignment: u64::from(gpu.limits().min_storage_buffer_offset_alignment.max(4)),
            size: 0,
        }
    }

    /// Reserves `bytes` at the next aligned offset and returns that offset.
    pub fn bytes(&mut self, bytes: u64) -> Result<u64> {
        let offset = self.size.div_ceil(self.alignment) * self.alignment;
        self.size = offset.checked_add(bytes).ok_or(Error::TooLarge {
            what: "a buffer layout",
            bytes: u64::MAX,
            limit_name: "u64 byte offsets",
            limit: u64::MAX,
        })?;
        Ok(offset)
    }

    /// Reserves an f32 tensor of `shape`; its offset.
    pub fn tensor(&mut self, shape: &[usize]) -> Result<u64> {
        let len = element_count(shape)? as u64;
        self.bytes(len.saturating_mul(DType::F32.size_bytes()))
    }

    /// Reserves the mask of a forward over `shape`; its offset.
    pub fn mask(&mut self, shape: &[usize]) -> Result<u64> {
        let words = cpu::mask_words(element_count(shape)?) as u64;
        self.bytes(words * MASK_WORD_BYTES)
    }

    /// The buffer size the views need (at least 4 bytes).
    pub fn size(&self) -> u64 {
        self.size.max(4)
    }
}
