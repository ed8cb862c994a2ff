//! Copying data back to the host: blocking, as a future, or polled from a
//! render loop that owns the submit.

use std::collections::VecDeque;
use std::marker::PhantomData;
use std::ops::Range;
use std::sync::{Arc, Mutex};

use futures_intrusive::channel::shared::{OneshotReceiver, oneshot_channel};

use crate::buffer;
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

/// Host-visible buffers that downloads copy into, kept for reuse so that a
/// download repeated every frame (or every round trip) allocates nothing in
/// steady state. Bounded: at most [`ReadbackPool::MAX_BUFFERS`] buffers and
/// [`ReadbackPool::MAX_BYTES`] bytes are kept; the rest are freed. A
/// buffer returns to the pool once its data has been read; one whose
/// download was dropped unread is freed instead.
#[derive(Debug, Default)]
pub(crate) struct ReadbackPool {
    free: Mutex<Vec<wgpu::Buffer>>,
}

impl ReadbackPool {
    const MAX_BUFFERS: usize = 16;
    const MAX_BYTES: u64 = 512 << 20;

    /// A free buffer of at least `bytes` (and at most twice that, so a small
    /// download does not hold a large buffer), or a new one.
    fn take(&self, gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer> {
        // wgpu cannot map an empty range; an empty download maps 4 bytes.
        let bytes = bytes.max(wgpu::COPY_BUFFER_ALIGNMENT);
        if let Ok(mut free) = self.free.lock() {
            let fits = |b: &wgpu::Buffer| b.size() >= bytes && b.size() <= 2 * bytes;
            if let Some(index) = free.iter().position(fits) {
                return Ok(free.swap_remove(index));
            }
        }
        gpu.capture("allocating a readback buffer", || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-activations readback"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        })
    }

    /// Keeps an unmapped `buffer` for reuse, within the bounds.
    fn give_back(&self, buffer: wgpu::Buffer) {
        if let Ok(mut free) = self.free.lock() {
            let kept: u64 = free.iter().map(wgpu::Buffer::size).sum();
            if free.len() < Self::MAX_BUFFERS && kept + buffer.size() <= Self::MAX_BYTES {
                free.push(buffer);
            }
        }
    }
}

/// A staging buffer whose map has been requested.
struct Readback {
    gpu: Gpu,
    staging: wgpu::Buffer,
    bytes: u64,
    receiver: OneshotReceiver<MapResult>,
    /// The map's outcome for [`try_finish`](Readback::try_finish), which
    /// cannot wait on the receiver.
    outcome: Arc<Mutex<Option<MapResult>>>,
}

impl Readback {
    /// Records a copy of `bytes` at `offset` of `buffer` into a staging
    /// buffer, mapped as soon as the encoder's commands are submitted. wgpu
    /// copies whole words: bytes that end mid-word are copied to the word's
    /// end (inside the buffer: a tensor's padding), and only `bytes` read.
    fn record(
        gpu: &Gpu,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        offset: u64,
        bytes: u64,
    ) -> Result<Self> {
        let copied = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = gpu.readback_pool().take(gpu, copied)?;
        let (sender, receiver) = oneshot_channel();
        let outcome = Arc::new(Mutex::new(None));
        let slot = Arc::clone(&outcome);
        gpu.capture("recording a download", || {
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(buffer, offset, &staging, 0, copied);
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
            gpu: gpu.clone(),
            staging,
            bytes,
            receiver,
            outcome,
        })
    }

    /// Resolves once the map callback has fired (someone must poll the device).
    async fn finish<T: bytemuck::Pod>(self) -> Result<Vec<T>> {
        let mut data = vec![T::zeroed(); self.bytes as usize / size_of::<T>()];
        self.finish_into(&mut data).await?;
        Ok(data)
    }

    fn try_finish<T: bytemuck::Pod>(&mut self) -> Option<Result<Vec<T>>> {
        let outcome = match self.outcome.lock() {
            Ok(mut slot) => slot.take()?,
            Err(_) => return Some(Err(Error::BufferMap("map state poisoned".to_string()))),
        };
        Some(self.read(outcome))
    }

    fn read<T: bytemuck::Pod>(&self, outcome: MapResult) -> Result<Vec<T>> {
        let mut data = vec![T::zeroed(); self.bytes as usize / size_of::<T>()];
        self.read_into(outcome, &mut data)?;
        Ok(data)
    }

    /// Copies the mapped data into `out` (exactly as long), unmaps, and
    /// returns the staging buffer to the pool.
    fn read_into<T: bytemuck::Pod>(&self, outcome: MapResult, out: &mut [T]) -> Result<()> {
        outcome.map_err(|e| Error::BufferMap(e.to_string()))?;
        {
            let view = self
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::BufferMap(e.to_string()))?;
            bytemuck::cast_slice_mut::<T, u8>(out).copy_from_slice(&view[..self.bytes as usize]);
        }
        self.staging.unmap();
        self.gpu.readback_pool().give_back(self.staging.clone());
        Ok(())
    }

    /// Blocks until `submission` has finished and writes the data into `out`.
    fn wait_into<T: bytemuck::Pod>(
        self,
        submission: wgpu::SubmissionIndex,
        out: &mut [T],
    ) -> Result<()> {
        self.gpu.wait_for(Some(submission))?;
        pollster::block_on(self.finish_into(out))
    }

    /// Resolves once the map callback has fired (someone must poll the
    /// device), with the data written into `out`.
    async fn finish_into<T: bytemuck::Pod>(self, out: &mut [T]) -> Result<()> {
        match self.receiver.receive().await {
            Some(result) => self.read_into(result, out),
            None => Err(Error::BufferMap("map callback dropped".to_string())),
        }
    }
}

/// A download this crate submits itself: one [`Readback`] per chunk of
/// [`buffer::transfer_chunks`], each in its own submission.
///
/// A blocking wait keeps one chunk in flight ahead of the one it copies
/// out, so the host copies chunk `k` out of its staging buffer while the
/// device copies chunk `k + 1` into its own. Why not submit every chunk at
/// once: a device may run submissions one at a time and block the next
/// submit until the last has finished (lavapipe does), and then every copy
/// would be done, one after the other, before the host copies anything.
/// (So a write another thread submits during a blocking download may reach
/// the chunks not yet copied; the two race on the tensor either way.)
pub(crate) struct Download {
    gpu: Gpu,
    buffer: wgpu::Buffer,
    offset: u64,
    /// Not yet submitted, in order.
    waiting: VecDeque<Range<u64>>,
    /// Submitted, in order.
    submitted: VecDeque<(Readback, wgpu::SubmissionIndex)>,
    bytes: u64,
}

impl Download {
    /// Submits the copy of the first chunk of `bytes` at `offset` of
    /// `buffer`; the rest follow as [`wait_into`](Download::wait_into)
    /// copies the data out, or all at once with
    /// [`submit_all`](Download::submit_all). Nothing waits here.
    pub fn start(gpu: &Gpu, buffer: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Self> {
        let mut download = Self {
            gpu: gpu.clone(),
            buffer: buffer.clone(),
            offset,
            waiting: buffer::transfer_chunks(bytes).collect(),
            submitted: VecDeque::new(),
            bytes,
        };
        download.submit_next()?;
        Ok(download)
    }

    /// Submits the copy of the next chunk, if any is left.
    fn submit_next(&mut self) -> Result<()> {
        let Some(chunk) = self.waiting.pop_front() else {
            return Ok(());
        };
        let gpu = &self.gpu;
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let readback = Readback::record(
            gpu,
            &mut encoder,
            &self.buffer,
            self.offset + chunk.start,
            chunk.end - chunk.start,
        )?;
        let submission = gpu.submit("reading a buffer back", encoder)?;
        self.submitted.push_back((readback, submission));
        Ok(())
    }

    /// Submits the copies of every chunk left; returns the last submission.
    pub fn submit_all(&mut self) -> Result<Option<wgpu::SubmissionIndex>> {
        while !self.waiting.is_empty() {
            self.submit_next()?;
        }
        Ok(self
            .submitted
            .back()
            .map(|(_, submission)| submission.clone()))
    }

    /// Blocks until the copies have finished and returns the data.
    pub fn wait<T: bytemuck::Pod>(self) -> Result<Vec<T>> {
        let mut data = vec![T::zeroed(); self.bytes as usize / size_of::<T>()];
        self.wait_into(&mut data)?;
        Ok(data)
    }

    /// Blocks until the copies have finished and writes the data into `out`
    /// (exactly as long), chunk by chunk, one chunk's copy in flight ahead.
    pub fn wait_into<T: bytemuck::Pod>(mut self, out: &mut [T]) -> Result<()> {
        let mut rest = out;
        loop {
            if self.submitted.len() < 2 {
                self.submit_next()?;
            }
            let Some((readback, submission)) = self.submitted.pop_front() else {
                return Ok(());
            };
            let (chunk, after) = rest.split_at_mut(readback.bytes as usize / size_of::<T>());
            readback.wait_into(submission, chunk)?;
            rest = after;
        }
    }

    /// Resolves once every copy, all submitted
    /// ([`submit_all`](Download::submit_all)), has been mapped: someone
    /// must poll the device.
    pub async fn finish<T: bytemuck::Pod>(mut self) -> Result<Vec<T>> {
        self.submit_all()?;
        let mut data = vec![T::zeroed(); self.bytes as usize / size_of::<T>()];
        let mut rest = data.as_mut_slice();
        for (readback, _) in self.submitted {
            let (chunk, after) = rest.split_at_mut(readback.bytes as usize / size_of::<T>());
            readback.finish_into(chunk).await?;
            rest = after;
        }
        Ok(data)
    }
}
