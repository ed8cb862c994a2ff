//! The `check` command's core: runs an op on the GPU and on the CPU
//! reference, on seeded data with special values mixed in, compares the
//! results as [`verify`] defines "agrees", and times both.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::compare::Comparison;
use wgpu_activations::cpu::Subnormals;
use wgpu_activations::verify::{self, OpOperands};
use wgpu_activations::{Gpu, HostInputs, Op};

use crate::error::Result;
use crate::sample;

/// Seeded data of `len` elements with special values mixed in (see
/// [`sample::activations`]), and a seeded row length between 1 and 1031
/// (never more than `len`) for the bias ops.
pub fn generate_inputs(len: usize, seed: u64) -> HostInputs {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c015);
    let cols = rng.random_range(1..=1031usize).min(len.max(1));
    HostInputs {
        x: sample::activations(len, seed),
        dy: sample::activations(len, seed.wrapping_add(1)),
        bias: sample::activations(cols, seed.wrapping_add(2)),
    }
}

/// The outcome of checking one op.
#[derive(Clone, Debug)]
pub struct Report {
    /// Which op.
    pub op: Op,
    /// Elements of the op's input.
    pub elements: usize,
    /// Row length, for the bias ops.
    pub cols: Option<usize>,
    /// How the outputs compared with the reference.
    pub comparison: Comparison,
    /// Wall time of record + submit + wait for the op alone: inputs
    /// uploaded, outputs allocated and pipelines compiled beforehand.
    pub gpu_ms: f64,
    /// CPU reference time (one thread).
    pub cpu_ms: f64,
}

impl Report {
    /// Whether the GPU matched the reference everywhere.
    pub fn passed(&self) -> bool {
        self.comparison.passed()
    }
}

/// Runs `op` on `inputs` on the GPU and on the CPU reference and compares
/// (as [`verify::compare`] defines "agrees"), timing both.
///
/// ```no_run
/// use wgpu_activations::{Gpu, Op};
/// use wgpu_activations_harness::check;
/// # fn main() -> wgpu_activations_harness::Result<()> {
/// let gpu = Gpu::new()?;
/// let inputs = check::generate_inputs(1 << 16, 42);
/// for op in Op::all() {
///     let report = check::run(&gpu, op, &inputs)?;
///     assert!(report.passed(), "{op}: {:?}", report.comparison.first_mismatch);
/// }
/// # Ok(()) }
/// ```
pub fn run(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Report> {
    let used = inputs.used(op);
    // One untimed run on a row first, so the timing below excludes compiling
    // the pipeline on first use.
    let warm_up = inputs.prefix(inputs.cols().min(used));
    OpOperands::upload(gpu, op, &warm_up)?.submit(gpu, op)?;

    let operands = OpOperands::upload(gpu, op, inputs)?;
    gpu.wait_idle()?;
    let start = Instant::now();
    operands.submit(gpu, op)?;
    gpu.wait_idle()?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let outputs = operands.download(op)?;

    let start = Instant::now();
    op.reference(inputs, Subnormals::Preserve)?;
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;

    let mut comparison = verify::compare(op, inputs, &outputs)?;
    if let (Some(db), Some(tensor)) = (&outputs.db, &operands.db) {
        // The same bits again: the reduction's order is fixed.
        operands.submit(gpu, op)?;
        comparison.values(
            "db (second run)",
            &inputs.bias,
            &tensor.download()?,
            db,
            None,
        );
    }
    Ok(Report {
        op,
        elements: used,
        cols: op.uses_bias().then(|| inputs.cols()),
        comparison,
        gpu_ms,
        cpu_ms,
    })
}
