//! GPU-resident f32 tensors: upload, allocate, download.

use std::future::Future;

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::dispatch::Binding;

const F32_BYTES: u64 = std::mem::size_of::<f32>() as u64;

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
        let bytes = buffer_bytes(gpu, len)?;
        let buffer = gpu.capture("uploading a tensor", || {
            if data.is_empty() {
                new_storage_buffer(gpu, bytes)
            } else {
                gpu.device()
                    .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                        label: Some("wgpu-activations tensor"),
                        contents: bytemuck::cast_slice(data),
                        usage: storage_usage(),
                    })
            }
        })?;
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
        let bytes = buffer_bytes(gpu, len)?;
        let buffer = gpu.capture("allocating a tensor", || new_storage_buffer(gpu, bytes))?;
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

    /// The underlying buffer (`STORAGE | COPY_SRC | COPY_DST`). It may be
    /// longer than the data: bind only the first `len() * 4` bytes.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// The [`Gpu`] this tensor lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Copies the data back to the host, waiting for all work on it.
    pub fn download(&self) -> Result<Vec<f32>> {
        let Some(pending) = self.start_download()? else {
            return Ok(Vec::new());
        };
        self.gpu.wait_for(Some(pending.submission.clone()))?;
        pollster::block_on(pending.finish())
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
            let Some(pending) = started? else {
                return Ok(Vec::new());
            };
            let submission = pending.submission.clone();
            std::thread::spawn(move || {
                // A failed wait surfaces as a failed map in `finish`.
                let _ = device.poll(wgpu::PollType::Wait {
                    submission_index: Some(submission),
                    timeout: None,
                });
            });
            pending.finish().await
        }
    }

    fn start_download(&self) -> Result<Option<PendingDownload>> {
        if self.len == 0 {
            return Ok(None);
        }
        let bytes = self.data_bytes();
        let gpu = &self.gpu;
        let staging = gpu.capture("allocating a readback buffer", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-activations readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(&self.buffer, 0, &staging, 0, bytes);
        let submission = gpu.submit("reading a tensor back", encoder)?;
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                // The receiver only disappears if the caller dropped the future.
                let _ = sender.send(result);
            });
        Ok(Some(PendingDownload {
            staging,
            receiver,
            submission,
        }))
    }

    pub(crate) fn data_bytes(&self) -> u64 {
        self.len as u64 * F32_BYTES
    }

    /// The bytes a kernel binds: exactly the data, never the padding.
    pub(crate) fn binding(&self) -> Binding<'_> {
        Binding {
            buffer: &self.buffer,
            offset: 0,
            bytes: self.data_bytes(),
        }
    }
}

struct PendingDownload {
    staging: wgpu::Buffer,
    receiver:
        futures_intrusive::channel::shared::OneshotReceiver<Result<(), wgpu::BufferAsyncError>>,
    submission: wgpu::SubmissionIndex,
}

impl PendingDownload {
    async fn finish(self) -> Result<Vec<f32>> {
        match self.receiver.receive().await {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::BufferMap(e.to_string())),
            None => return Err(Error::BufferMap("map callback dropped".to_string())),
        }
        let data = {
            let view = self
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::BufferMap(e.to_string()))?;
            bytemuck::cast_slice::<u8, f32>(&view).to_vec()
        };
        self.staging.unmap();
        Ok(data)
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

/// Bytes to allocate for `len` f32s, checked against the device's limit.
/// Empty tensors still get 4 bytes: wgpu buffers are never bound empty.
fn buffer_bytes(gpu: &Gpu, len: usize) -> Result<u64> {
    let bytes = (len as u64)
        .checked_mul(F32_BYTES)
        .ok_or_else(|| Error::ShapeOverflow { shape: vec![len] })?;
    let limit = gpu.limits().max_buffer_size;
    if bytes > limit {
        return Err(Error::TooLarge {
            what: "tensor",
            bytes,
            limit_name: "max_buffer_size",
            limit,
        });
    }
    Ok(bytes.max(F32_BYTES))
}

fn storage_usage() -> wgpu::BufferUsages {
    wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
}

fn new_storage_buffer(gpu: &Gpu, bytes: u64) -> wgpu::Buffer {
    gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("wgpu-activations tensor"),
        size: bytes,
        usage: storage_usage(),
        mapped_at_creation: false,
    })
}
