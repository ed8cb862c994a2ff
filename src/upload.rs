//! Copying host data to the GPU through staging buffers kept for reuse.
//!
//! An upload writes the data into a host-visible staging buffer (`MAP_WRITE
//! | COPY_SRC`), then submits a copy into the destination. A fresh staging
//! buffer per upload (or wgpu's `queue.write_buffer`, which makes one per
//! call) costs an allocation and a first touch of every page: on a software
//! adapter that was most of a 64 MiB round trip (benches/README.md). So the
//! [`UploadPool`] keeps them: after its copy, a staging buffer is mapped
//! again on the same submission (`map_buffer_on_submit`) and comes back to
//! the pool, ready to be written, once the device has been polled past it.
//! Large uploads go in chunks, so the host's copy into staging and the
//! device's copy out of it overlap.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use crate::buffer;
use crate::error::{Error, Result};
use crate::gpu::Gpu;

/// States of a staging buffer's map after its copy.
const MAPPING: u8 = 0;
const MAPPED: u8 = 1;
const FAILED: u8 = 2;

/// Staging buffers for uploads. Bounded: at most
/// [`UploadPool::MAX_BUFFERS`] buffers and [`UploadPool::MAX_BYTES`] bytes
/// are kept (mapped and ready, or being mapped again after their copy); the
/// rest are freed. Freed with the [`Gpu`].
#[derive(Debug, Default)]
pub(crate) struct UploadPool {
    state: Mutex<Kept>,
}

#[derive(Debug, Default)]
struct Kept {
    /// Mapped for writing, unused.
    ready: Vec<wgpu::Buffer>,
    /// Copied from by a submitted command buffer; mapped again once it has
    /// run and the device has been polled (`state` is then [`MAPPED`]).
    mapping: Vec<(wgpu::Buffer, Arc<AtomicU8>)>,
}

impl Kept {
    /// Moves the buffers whose map has completed to `ready`, and drops the
    /// ones whose map failed.
    fn collect_mapped(&mut self) {
        let ready = &mut self.ready;
        self.mapping
            .retain(|(buffer, state)| match state.load(Ordering::Acquire) {
                MAPPING => true,
                MAPPED => {
                    ready.push(buffer.clone());
                    false
                }
                _ => false,
            });
    }

    fn buffers(&self) -> impl Iterator<Item = &wgpu::Buffer> {
        self.ready
            .iter()
            .chain(self.mapping.iter().map(|(buffer, _)| buffer))
    }
}

impl UploadPool {
    // An op's large uploads (`x` and `dy`) in flight, at most 16 chunks each
    // (`buffer::transfer_chunks`), and small ones beside them.
    const MAX_BUFFERS: usize = 48;
    const MAX_BYTES: u64 = 512 << 20;

    /// Submits a copy of `data` to `offset` of `destination`; work
    /// submitted later sees it. wgpu copies whole 4-byte words: data that
    /// ends mid-word is padded with zeros to the word's end, which must be
    /// the destination's own bytes (a tensor's padding). Nothing waits here.
    /// Large data goes in chunks ([`buffer::transfer_chunks`]), each
    /// submitted as soon as it is staged, so the device copies one while the
    /// host stages the next.
    pub fn write(
        &self,
        gpu: &Gpu,
        destination: &wgpu::Buffer,
        offset: u64,
        data: &[u8],
        label: &'static str,
    ) -> Result<()> {
        for chunk in buffer::transfer_chunks(data.len() as u64) {
            let bytes = &data[chunk.start as usize..chunk.end as usize];
            self.write_chunk(gpu, destination, offset + chunk.start, bytes, label)?;
        }
        Ok(())
    }

    /// Stages `data` in a pooled buffer and submits its copy to `offset` of
    /// `destination`.
    fn write_chunk(
        &self,
        gpu: &Gpu,
        destination: &wgpu::Buffer,
        offset: u64,
        data: &[u8],
        label: &'static str,
    ) -> Result<()> {
        let bytes = (data.len() as u64).next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        let staging = self.take(gpu, bytes, label)?;
        {
            let mut view = staging
                .slice(..bytes)
                .get_mapped_range_mut()
                .map_err(|e| Error::BufferMap(e.to_string()))?;
            view.slice(..data.len()).copy_from_slice(data);
            view.slice(data.len()..)
                .copy_from_slice(&[0; 4][..bytes as usize - data.len()]);
        }
        staging.unmap();
        let state = Arc::new(AtomicU8::new(MAPPING));
        let mapped = Arc::clone(&state);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.capture(label, || {
            encoder.copy_buffer_to_buffer(&staging, 0, destination, offset, bytes);
            encoder.map_buffer_on_submit(&staging, wgpu::MapMode::Write, .., move |result| {
                mapped.store(
                    if result.is_ok() { MAPPED } else { FAILED },
                    Ordering::Release,
                );
            });
        })?;
        gpu.submit(label, encoder)?;
        self.keep(staging, state);
        Ok(())
    }

    /// A mapped buffer of at least `bytes` (and at most twice that, so a
    /// small upload does not hold a large buffer), or a new one.
    fn take(&self, gpu: &Gpu, bytes: u64, label: &'static str) -> Result<wgpu::Buffer> {
        if let Ok(mut kept) = self.state.lock() {
            kept.collect_mapped();
            let fits = |b: &wgpu::Buffer| b.size() >= bytes && b.size() <= 2 * bytes;
            if let Some(index) = kept.ready.iter().position(fits) {
                return Ok(kept.ready.swap_remove(index));
            }
        }
        // Our own buffer rather than a storage buffer mapped at creation,
        // whose hidden staging wgpu treats as fatal when memory runs out
        // (the device is lost); for ours it reports an error and lives on.
        gpu.capture(label, || {
            gpu.device().create_buffer(&wgpu::BufferDescriptor {
                label: Some("wgpu-activations upload"),
                size: bytes,
                usage: wgpu::BufferUsages::MAP_WRITE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: true,
            })
        })
    }

    /// Keeps `buffer`, whose map `state` reports, within the bounds.
    fn keep(&self, buffer: wgpu::Buffer, state: Arc<AtomicU8>) {
        if let Ok(mut kept) = self.state.lock() {
            kept.collect_mapped();
            let count = kept.ready.len() + kept.mapping.len();
            let bytes: u64 = kept.buffers().map(wgpu::Buffer::size).sum();
            if count < Self::MAX_BUFFERS && bytes + buffer.size() <= Self::MAX_BYTES {
                kept.mapping.push((buffer, state));
            }
        }
    }
}
