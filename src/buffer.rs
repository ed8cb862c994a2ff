//! Storage-buffer allocation, upload and readback shared by [`Tensor`] and
//! [`Mask`].
//!
//! [`Tensor`]: crate::Tensor
//! [`Mask`]: crate::Mask

use wgpu::util::DeviceExt;

use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// Bytes of one f32 or one u32 mask word.
pub(crate) const ELEMENT_BYTES: u64 = 4;

/// Bytes of the `vec4<u32>` the element-wise kernels load and store.
pub(crate) const VECTOR_BYTES: u64 = 16;

/// `bytes` rounded up to whole vectors.
pub(crate) fn padded_to_vectors(bytes: u64) -> u64 {
    bytes.div_ceil(VECTOR_BYTES) * VECTOR_BYTES
}

/// Bytes to allocate for `count` 4-byte elements, checked against the
/// device's `max_buffer_size`.
///
/// Rounded up to whole 16-byte vectors (at least one): the element-wise
/// kernels read and write `vec4`s, so the last, partial vector of the data
/// must lie inside the buffer. Those padding bytes are never read back.
pub(crate) fn storage_bytes(gpu: &Gpu, count: usize, what: &'static str) -> Result<u64> {
    let bytes = (count as u64)
        .checked_mul(ELEMENT_BYTES)
        .ok_or_else(|| Error::ShapeOverflow { shape: vec![count] })?;
    let padded = padded_to_vectors(bytes).max(VECTOR_BYTES);
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
/// returned for it).
pub(crate) fn upload(
    gpu: &Gpu,
    data: &[u8],
    bytes: u64,
    label: &'static str,
) -> Result<wgpu::Buffer> {
    debug_assert!(bytes >= data.len() as u64 && bytes.is_multiple_of(VECTOR_BYTES));
    let buffer = gpu.capture(label, || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: storage_usage(),
            mapped_at_creation: true,
        })
    })?;
    {
        // Mapped at creation: written in place, no staging copy of the data.
        // wgpu zeroes the rest, the padding.
        let mut view = buffer
            .slice(..)
            .get_mapped_range_mut()
            .map_err(|e| Error::BufferMap(e.to_string()))?;
        view.slice(..data.len()).copy_from_slice(data);
    }
    buffer.unmap();
    Ok(buffer)
}

/// A small uniform buffer holding `value`.
pub(crate) fn uniform<T: bytemuck::Pod>(gpu: &Gpu, value: &T) -> Result<wgpu::Buffer> {
    gpu.capture("uploading kernel parameters", || {
        gpu.device()
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("wgpu-activations params"),
                contents: bytemuck::bytes_of(value),
                usage: wgpu::BufferUsages::UNIFORM,
            })
    })
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

/// A copy of the first `bytes` of a buffer on its way to the host.
pub(crate) struct Readback {
    staging: wgpu::Buffer,
    receiver:
        futures_intrusive::channel::shared::OneshotReceiver<Result<(), wgpu::BufferAsyncError>>,
    pub submission: wgpu::SubmissionIndex,
}

impl Readback {
    /// Submits the copy into a mappable staging buffer and requests the map;
    /// nothing waits here. `bytes` must be > 0.
    pub fn start(gpu: &Gpu, buffer: &wgpu::Buffer, bytes: u64) -> Result<Self> {
        let staging = gpu.capture("allocating a readback buffer", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-activations readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })?;
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, bytes);
        let submission = gpu.submit("reading a buffer back", encoder)?;
        let (sender, receiver) = futures_intrusive::channel::shared::oneshot_channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |result| {
                // The receiver only disappears if the caller dropped the future.
                let _ = sender.send(result);
            });
        Ok(Self {
            staging,
            receiver,
            submission,
        })
    }

    /// Blocks until the copy has finished and returns the data.
    pub fn wait<T: bytemuck::Pod>(self, gpu: &Gpu) -> Result<Vec<T>> {
        gpu.wait_for(Some(self.submission.clone()))?;
        pollster::block_on(self.finish())
    }

    /// Resolves once the map callback has fired (someone must poll the device).
    pub async fn finish<T: bytemuck::Pod>(self) -> Result<Vec<T>> {
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
            bytemuck::cast_slice::<u8, T>(&view).to_vec()
        };
        self.staging.unmap();
        Ok(data)
    }
}
