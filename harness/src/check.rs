//! The `check` command's core: runs an op on the GPU and on the CPU
//! reference, on seeded data with special values mixed in, and compares the
//! results as [`compare`](wgpu_activations::compare) defines "agrees".

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::compare::Comparison;
use wgpu_activations::cpu::Subnormals;
use wgpu_activations::{Gpu, HostInputs, Op, Tensor};

use crate::error::{Error, Result};
use crate::operands::Operands;
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

/// Runs `op` on `inputs` on the GPU and on the CPU reference and compares.
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
    if inputs.dy.len() != inputs.x.len() {
        return Err(Error::Engine(wgpu_activations::Error::ShapeMismatch {
            what: "check inputs' dy (as long as x)",
            expected: inputs.x.len(),
            actual: inputs.dy.len(),
        }));
    }
    let used = inputs.used(op);
    // One untimed run on a row first, so the timing below excludes compiling
    // the pipeline on first use.
    let warm_up = inputs.prefix(inputs.cols().min(used));
    let warm_up_mask = saved_mask(op, &warm_up);
    Operands::upload(gpu, op, &warm_up, &warm_up_mask)?.submit(gpu, op)?;

    let operands = Operands::upload(gpu, op, inputs, &saved_mask(op, inputs))?;
    gpu.wait_idle()?;
    let start = Instant::now();
    operands.submit(gpu, op)?;
    gpu.wait_idle()?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let results = operands.download(op)?;

    let start = Instant::now();
    let expected = op.reference(inputs, Subnormals::Preserve);
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let flushed = op
        .may_flush()
        .then(|| op.reference(inputs, Subnormals::FlushToZero));

    let mut comparison = Comparison::default();
    let (main_input, output) = if op.is_backward() {
        (&inputs.dy[..used], "dx")
    } else {
        (&inputs.x[..used], "y")
    };
    comparison.values(
        output,
        main_input,
        &results.values,
        &expected.values,
        flushed.as_ref().map(|f| f.values.as_slice()),
    );
    if let (Some(gpu_mask), Some(cpu_mask)) = (&results.mask, &expected.mask) {
        comparison.mask(
            &inputs.x[..used],
            gpu_mask,
            cpu_mask,
            flushed.as_ref().and_then(|f| f.mask.as_deref()),
        );
    }
    if let Some(db) = &results.db {
        comparison.bias_gradient(db, &expected.values, inputs.rows());
        // The same bits again: the reduction's order is fixed.
        operands.submit(gpu, op)?;
        let again = operands.db.as_ref().map(Tensor::download).transpose()?;
        comparison.values(
            "db (second run)",
            &inputs.bias,
            again.as_deref().unwrap_or_default(),
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

/// The mask `op` reads, if it reads one.
fn saved_mask(op: Op, inputs: &HostInputs) -> Vec<u32> {
    if op.reads_mask() {
        inputs.saved_mask(op)
    } else {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The adapter `WGPU_BACKEND` and friends pick. Without one the test is
    /// skipped with a note on stderr, unless `CI` is set: then it fails.
    fn gpu() -> Option<Gpu> {
        match Gpu::new() {
            Ok(gpu) => Some(gpu),
            Err(error) if std::env::var_os("CI").is_some() => {
                panic!("CI is set and no GPU adapter is available: {error}")
            }
            Err(error) => {
                eprintln!("SKIPPED: no GPU adapter ({error}); set CI=1 to make this a failure");
                None
            }
        }
    }

    #[test]
    fn every_op_checks_clean_on_this_adapter() {
        let Some(gpu) = gpu() else { return };
        let inputs = generate_inputs(100_003, 3);
        let ops = Op::all();
        assert_eq!(
            ops.len(),
            3 + 7 * wgpu_activations::Activation::examples().len()
        );
        for op in ops {
            let report = run(&gpu, op, &inputs).unwrap();
            assert!(report.elements > 0, "{op}");
            assert_eq!(report.elements, inputs.used(op), "{op}");
            assert!(report.comparison.compared >= report.elements, "{op}");
            assert!(
                report.passed(),
                "{op}: {:?}",
                report.comparison.first_mismatch
            );
            assert!(
                report.gpu_ms > 0.0 && report.cpu_ms > 0.0,
                "{op}: timings {} ms (GPU), {} ms (CPU)",
                report.gpu_ms,
                report.cpu_ms
            );
        }
    }
}
