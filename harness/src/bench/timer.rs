//! GPU time of recorded work: timestamp queries where the adapter has them,
//! host wall time of submit + wait elsewhere.

use std::time::{Duration, Instant};

use super::measurement::KernelTimer;
use crate::error::Result;
use wgpu_activations::Error;
use wgpu_activations::Gpu;

/// Times whatever a closure records into an encoder.
///
/// With timestamps, an empty compute pass writes the first timestamp before
/// the work and another writes the second after it. wgpu puts a barrier
/// between passes that touch the same buffers, and the end timestamp is
/// written once everything before it has finished, so the interval covers
/// exactly the recorded passes and copies, not the submit or the wait.
pub struct GpuTimer {
    gpu: Gpu,
    queries: Option<Queries>,
}

struct Queries {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    readback: wgpu::Buffer,
    nanoseconds_per_tick: f64,
}

const QUERY_BYTES: u64 = 16;

impl GpuTimer {
    /// A timer for `gpu`, with timestamps if its device has
    /// `TIMESTAMP_QUERY`.
    pub fn new(gpu: &Gpu) -> Result<Self> {
        let queries = if gpu.info().timestamp_query {
            Some(gpu.capture("creating timestamp queries", || Queries {
                set: gpu.device().create_query_set(&wgpu::QuerySetDescriptor {
                    label: Some("wgpu-activations bench timestamps"),
                    ty: wgpu::QueryType::Timestamp,
                    count: 2,
                }),
                resolved: gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("wgpu-activations resolved timestamps"),
                    size: QUERY_BYTES,
                    usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                    mapped_at_creation: false,
                }),
                readback: gpu.device().create_buffer(&wgpu::BufferDescriptor {
                    label: Some("wgpu-activations timestamp readback"),
                    size: QUERY_BYTES,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                nanoseconds_per_tick: f64::from(gpu.queue().get_timestamp_period()),
            })?)
        } else {
            None
        };
        Ok(Self {
            gpu: gpu.clone(),
            queries,
        })
    }

    /// Which clock [`time`](Self::time) reads.
    pub fn kind(&self) -> KernelTimer {
        if self.queries.is_some() {
            KernelTimer::Timestamps
        } else {
            KernelTimer::SubmitAndWait
        }
    }

    /// Records `work` once into a fresh encoder, submits it, waits, and
    /// returns the time the device spent on it.
    pub fn time(
        &self,
        work: &mut dyn FnMut(&mut wgpu::CommandEncoder) -> Result<()>,
    ) -> Result<Duration> {
        let device = self.gpu.device();
        let mut encoder = device.create_command_encoder(&Default::default());
        if let Some(queries) = &self.queries {
            mark(&mut encoder, queries, 0);
        }
        work(&mut encoder)?;
        if let Some(queries) = &self.queries {
            mark(&mut encoder, queries, 1);
            encoder.resolve_query_set(&queries.set, 0..2, &queries.resolved, 0);
            encoder.copy_buffer_to_buffer(&queries.resolved, 0, &queries.readback, 0, QUERY_BYTES);
        }
        let started = Instant::now();
        let submission = self.gpu.submit("timing recorded work", encoder)?;
        self.gpu.wait_for_submission(submission)?;
        let wall = started.elapsed();
        match &self.queries {
            Some(queries) => self.read_interval(queries),
            None => Ok(wall),
        }
    }

    fn read_interval(&self, queries: &Queries) -> Result<Duration> {
        let slice = queries.readback.slice(..);
        slice.map_async(wgpu::MapMode::Read, |_| {});
        self.gpu.wait_idle()?;
        let ticks: [u64; 2] = {
            let view = slice
                .get_mapped_range()
                .map_err(|e| Error::BufferMap(e.to_string()))?;
            bytemuck::pod_read_unaligned(&view[..QUERY_BYTES as usize])
        };
        queries.readback.unmap();
        let nanoseconds = ticks[1].saturating_sub(ticks[0]) as f64 * queries.nanoseconds_per_tick;
        Ok(Duration::from_secs_f64(nanoseconds / 1e9))
    }
}

/// An empty compute pass that writes timestamp `index` (0 at its start, 1
/// at its end).
fn mark(encoder: &mut wgpu::CommandEncoder, queries: &Queries, index: u32) {
    let writes = wgpu::ComputePassTimestampWrites {
        query_set: &queries.set,
        beginning_of_pass_write_index: (index == 0).then_some(0),
        end_of_pass_write_index: (index == 1).then_some(1),
    };
    drop(encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("wgpu-activations bench timestamp"),
        timestamp_writes: Some(writes),
    }));
}
