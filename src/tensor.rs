//! GPU-resident f32 tensors: upload, allocate, download.

use std::future::Future;

use crate::buffer::{self, ELEMENT_BYTES, Readback};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::dispatch::Binding;

/// A row-major f32 buffer on the GPU with a shape.
///
/// Ops take tensors and return tensors, so a chain of ops stays on the GPU
/// until [`download`](Tensor::download).
///
/// ```no_run
/// use wgpu_activations::{Gpu, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -2.0, 3.0, -4.0], &[2, 2])?;
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!(x.download()?, vec![1.0, -2.0, 3.0, -4.0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Tensor {
    gpu: Gpu,
    buffer: wgpu::Buffer,
    shape: Vec<usize>,
    len: usize,
}

impl Tensor {
    /// Uploads `data` as a 1-D tensor.
    pub fn from_slice(gpu: &Gpu, data: &[f32]) -> Result<Self> {
        Self::from_slice_with_shape(gpu, data, &[data.len()])
    }

    /// Uploads `data` with a shape whose element count must equal `data.len()`.
    pub fn from_slice_with_shape(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Self> {
        let len = element_count(shape)?;
        if len != data.len() {
            return Err(Error::ShapeMismatch {
                what: "data for shape",
                expected: len,
                actual: data.len(),
            });
        }
        let bytes = buffer::storage_bytes(gpu, len, "tensor")?;
        let buffer = buffer::upload(
            gpu,
            bytemuck::cast_slice(data),
            bytes,
            "wgpu-activations tensor",
        )?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer,
            shape: shape.to_vec(),
            len,
        })
    }

    /// Allocates a tensor for an op to write. Its contents are unspecified
    /// until written (wgpu happens to zero them; do not rely on it).
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Result<Self> {
        let len = element_count(shape)?;
        let bytes = buffer::storage_bytes(gpu, len, "tensor")?;
        let buffer = buffer::allocate(gpu, bytes, "wgpu-activations tensor")?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer,
            shape: shape.to_vec(),
            len,
        })
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length of a row: the last dimension (1 for a 0-d tensor). Fused
    /// bias ops treat the tensor as `[len / cols, cols]`.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// The same data with another shape of the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let len = element_count(shape)?;
        if len != self.len {
            return Err(Error::ShapeMismatch {
                what: "reshape",
                expected: self.len,
                actual: len,
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// The underlying buffer (`STORAGE | COPY_SRC | COPY_DST`). It is longer
    /// than the data (padded to whole 16-byte vectors, at least one): the
    /// data is the first `len() * 4` bytes, and the element-wise kernels may
    /// overwrite the padding.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The [`Gpu`] this tensor lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Replaces the data with `data` (as many elements as the tensor has),
    /// through the queue: ordered after work already submitted and before
    /// work submitted later, so a training loop can reuse its tensors.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[1.0, 2.0])?;
    /// x.write(&[-3.0, 4.0])?;
    /// assert_eq!(gpu.relu(&x)?.download()?, vec![0.0, 4.0]);
    /// # Ok(()) }
    /// ```
    pub fn write(&self, data: &[f32]) -> Result<()> {
        if data.len() != self.len {
            return Err(Error::ShapeMismatch {
                what: "data written to a tensor",
                expected: self.len,
                actual: data.len(),
            });
        }
        if data.is_empty() {
            return Ok(());
        }
        self.gpu.capture("writing a tensor", || {
            self.gpu
                .queue()
                .write_buffer(&self.buffer, 0, bytemuck::cast_slice(data));
        })
    }

    /// Copies the data back to the host, waiting for all work on it.
    pub fn download(&self) -> Result<Vec<f32>> {
        match self.start_download()? {
            Some(readback) => readback.wait(&self.gpu),
            None => Ok(Vec::new()),
        }
    }

    /// Copies the data back to the host without blocking the calling thread.
    ///
    /// The copy is submitted at once; the returned future resolves when it
    /// has finished. A helper thread waits on the device for that submission
    /// (no busy loop), so the future completes without the caller polling.
    pub fn download_async(&self) -> impl Future<Output = Result<Vec<f32>>> + Send + 'static {
        let started = self.start_download();
        let device = self.gpu.device().clone();
        async move {
            let Some(readback) = started? else {
                return Ok(Vec::new());
            };
            let submission = readback.submission.clone();
            std::thread::spawn(move || {
                // A failed wait surfaces as a failed map in `finish`.
                let _ = device.poll(wgpu::PollType::Wait {
                    submission_index: Some(submission),
                    timeout: None,
                });
            });
            readback.finish().await
        }
    }

    fn start_download(&self) -> Result<Option<Readback>> {
        if self.len == 0 {
            return Ok(None);
        }
        Readback::start(&self.gpu, &self.buffer, self.data_bytes()).map(Some)
    }

    pub(crate) fn data_bytes(&self) -> u64 {
        self.len as u64 * ELEMENT_BYTES
    }

    /// The bytes a kernel binds: exactly the data, never the padding.
    pub(crate) fn binding(&self) -> Binding<'_> {
        Binding {
            buffer: &self.buffer,
            offset: 0,
            bytes: self.data_bytes(),
        }
    }

    /// The data as whole `vec4`s, for the element-wise kernels: the last
    /// vector may reach into the buffer's padding (see
    /// [`buffer::storage_bytes`]), which those kernels read and write but
    /// nothing reads back.
    pub(crate) fn vector_binding(&self) -> Binding<'_> {
        Binding {
            buffer: &self.buffer,
            offset: 0,
            bytes: buffer::padded_to_vectors(self.data_bytes()),
        }
    }
}

/// The product of `shape`, or an error if it overflows.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize> {
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            shape: shape.to_vec(),
        })
}
