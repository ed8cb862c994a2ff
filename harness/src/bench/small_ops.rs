//! Many small ops: one submit and wait each, or one [`Batch`](crate::Batch).

use std::time::{Duration, Instant};

use crate::sample;
use wgpu_activations::Gpu;
use wgpu_activations::Result;
use wgpu_activations::Tensor;

/// `ops` relus of `elements` each, submitted one by one (a submit and a wait
/// per op, as a loop over the convenience API pays) and as one batch.
#[derive(Clone, Debug, PartialEq)]
pub struct SmallOps {
    /// Elements per op.
    pub elements: usize,
    /// Ops per sample.
    pub ops: usize,
    /// Fastest wall time of all `ops` ops, one submit + wait each.
    pub one_by_one_seconds: f64,
    /// Fastest wall time of all `ops` ops recorded into one batch, one
    /// submit + wait.
    pub batched_seconds: f64,
}

impl SmallOps {
    /// Microseconds per op, one by one.
    pub fn one_by_one_us_per_op(&self) -> f64 {
        self.one_by_one_seconds * 1e6 / self.ops as f64
    }

    /// Microseconds per op, batched.
    pub fn batched_us_per_op(&self) -> f64 {
        self.batched_seconds * 1e6 / self.ops as f64
    }

    /// How many times faster the batch is.
    pub fn speedup(&self) -> f64 {
        self.one_by_one_seconds / self.batched_seconds
    }
}

/// Measures [`SmallOps`] for `ops` relus of `elements` elements, `samples`
/// times each way (the fastest kept), after one untimed round of each.
pub fn small_ops(gpu: &Gpu, elements: usize, ops: usize, samples: usize) -> Result<SmallOps> {
    let inputs = (0..ops)
        .map(|i| Tensor::from_slice(gpu, &sample::activations(elements, i as u64)))
        .collect::<Result<Vec<_>>>()?;
    let outputs = (0..ops)
        .map(|_| Tensor::uninit(gpu, &[elements]))
        .collect::<Result<Vec<_>>>()?;

    let one_by_one = || -> Result<Duration> {
        let started = Instant::now();
        for (x, y) in inputs.iter().zip(&outputs) {
            let mut batch = gpu.batch();
            batch.relu(x, y)?;
            batch.submit_and_wait()?;
        }
        Ok(started.elapsed())
    };
    let batched = || -> Result<Duration> {
        let started = Instant::now();
        let mut batch = gpu.batch();
        for (x, y) in inputs.iter().zip(&outputs) {
            batch.relu(x, y)?;
        }
        batch.submit_and_wait()?;
        Ok(started.elapsed())
    };
    one_by_one()?;
    batched()?;
    let samples = samples.max(1);
    let mut single = Vec::with_capacity(samples);
    let mut together = Vec::with_capacity(samples);
    // Interleaved, so that a change in machine load hits both alike.
    for _ in 0..samples {
        single.push(one_by_one()?);
        together.push(batched()?);
    }
    // The fastest of each, as for every figure of the benchmarks.
    Ok(SmallOps {
        elements,
        ops,
        one_by_one_seconds: single
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
        batched_seconds: together
            .iter()
            .min()
            .copied()
            .unwrap_or_default()
            .as_secs_f64(),
    })
}

impl super::Report {
    /// The small-ops comparison as a table: per-op cost one by one and
    /// batched, and the speedup.
    pub fn small_ops_table(&self) -> String {
        let mut table = format!(
            "{:>9} {:>5} {:>16} {:>16} {:>9}\n",
            "elements", "ops", "one by one us/op", "batched us/op", "speedup"
        );
        for row in &self.small_ops {
            table.push_str(&format!(
                "{:>9} {:>5} {:>16.1} {:>16.1} {:>8.1}x\n",
                row.elements,
                row.ops,
                row.one_by_one_us_per_op(),
                row.batched_us_per_op(),
                row.speedup()
            ));
        }
        table
    }
}
