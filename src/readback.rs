//! Copying data back to the host: blocking, as a future, or polled from a
//! render loop that owns the submit.

use std::marker::PhantomData;
use std::sync::{Arc, Mutex};

use futures_intrusive::channel::shared::{OneshotReceiver, oneshot_channel};

use crate::error::{Error, Result};
use crate::gpu::Gpu;

type MapResult = std::result::Result<(), wgpu::BufferAsyncError>;

/// A copy of a tensor's (or mask's) data on its way to the host, recorded
/// into the caller's encoder by [`Tensor::record_download`] or
/// [`Mask::record_download`].
///
/// Nothing here blocks. The copy runs when the caller submits that encoder,
/// and the data arrives once the device is polled past the submission: by
/// the owner's own `device.poll(wgpu::PollType::Poll)` once per frame, or by
/// any wait. [`try_take`](PendingDownload::try_take) checks without waiting;
/// `.await` (it is a future) waits without blocking a thread. Until the
/// encoder is submitted, it stays pending.
///
/// [`Tensor::record_download`]: crate::Tensor::record_download
/// [`Mask::record_download`]: crate::Mask::record_download
#[must_use = "a pending download holds its staging buffer until taken"]
pub struct PendingDownload<T> {
    readback: Readback,
    _element: PhantomData<fn() -> T>,
}

impl<T: bytemuck::Pod> PendingDownload<T> {
    pub(crate) fn record(
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Self> {
        Ok(Self {
            readback: Readback::record(gpu, encoder, buffer, offset, bytes)?,
            _element: PhantomData,
        })
    }

    /// The data, once the copy's submission has finished and the device
    /// has been polled past it; `None` until then. Never waits and never
    /// polls the device. After it has returned the data once, it returns
    /// `None`.
    pub fn try_take(&mut self) -> Option<Result<Vec<T>>> {
        self.readback.try_finish()
    }
}

impl<T: bytemuck::Pod + Send + 'static> std::future::IntoFuture for PendingDownload<T> {
    type Output = Result<Vec<T>>;
    type IntoFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.readback.finish())
    }
}

/// A host-visible buffer the data is copied into.
fn staging_buffer(gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer> {
    gpu.capture("allocating a readback buffer", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-activations readback"),
            // wgpu cannot map an empty range; an empty download maps 4 bytes.
            size: bytes.max(wgpu::COPY_BUFFER_ALIGNMENT),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })
}

/// A staging buffer whose map has been requested.
pub(crate) struct Readback {
    staging: wgpu::Buffer,
    bytes: u64,
    receiver: OneshotReceiver<MapResult>,
    /// The map's outcome for [`try_finish`](Readback::try_finish), which
    /// cannot wait on the receiver.
    outcome: Arc<Mutex<Option<MapResult>>>,
    /// The submission carrying the copy, where this crate submitted it.
    pub submission: Option<wgpu::SubmissionIndex>,
}

impl Readback {
    /// Records a copy of `bytes` at `offset` of `buffer` into a staging
    /// buffer, mapped as soon as the encoder's commands are submitted.
    fn record(
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Self> {
        let staging = staging_buffer(gpu, bytes)?;
        let (sender, receiver) = oneshot_channel();
        let outcome = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&outcome);
        gpu.capture("recording a download", || {
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, bytes);
            }
            encoder.map_buffer_on_submit(&staging, wgpu::MapMode::Read, .., move |result| {
                if let Ok(mut slot) = slot.lock() {
                    *slot = Some(result.clone());
                }
                // The receiver only disappears if the caller dropped the future.
                let _ = sender.send(result);
            });
        })?;
        Ok(Self {
            staging,
            bytes,
            receiver,
            outcome,
            submission: None,
        })
    }

    /// Submits a copy of `bytes` at `offset` of `buffer`; nothing waits here.
    pub fn start(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Self> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let mut readback = Self::record(gpu, &mut encoder, buffer, offset, bytes)?;
        readback.submission = Some(gpu.submit("reading a buffer back", encoder)?);
        Ok(readback)
    }

    /// Blocks until the copy has finished and returns the data.
    pub fn wait<T: bytemuck::Pod>(self, gpu: &Gpu) -> Result<Vec<T>> {
        gpu.wait_for(self.submission.clone())?;
        pollster::block_on(self.finish())
    }

    /// Resolves once the map callback has fired (someone must poll the device).
    pub async fn finish<T: bytemuck::Pod>(self) -> Result<Vec<T>> {
        match self.receiver.receive().await {
            Some(result) => self.read(result),
            None => Err(Error::BufferMap("map callback dropped".to_string())),
        }
    }

    fn try_finish<T: bytemuck::Pod>(&mut self) -> Option<Result<Vec<T>>> {
        let outcome = match self.outcome.lock() {
            Ok(mut slot) => slot.take()?,
            Err(_) => return Some(Err(Error::BufferMap("map state poisoned".to_string()))),
        };
        Some(self.read(outcome))
    }

    fn read<T: bytemuck::Pod>(&self, outcome: MapResult) -> Result<Vec<T>> {
        outcome.map_err(|e| Error::BufferMap(e.to_string()))?;
        let data = {
            let view = self
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::BufferMap(e.to_string()))?;
            bytemuck::cast_slice::<u8, T>(&view[..self.bytes as usize]).to_vec()
        };
        self.staging.unmap();
        Ok(data)
    }
}
