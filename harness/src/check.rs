//! The `check` command's core: runs an op on the GPU and on the CPU
//! reference, on seeded data with special values mixed in, compares the
//! results as [`verify`] defines "agrees", and times both.

use std::time::Instant;

use wgpu_activations::compare::Comparison;
use wgpu_activations::cpu::Subnormals;
use wgpu_activations::verify::{self, OpOperands};
use wgpu_activations::{DType, Gpu, HostInputs, Op};

use crate::error::Result;

/// The outcome of checking one op.
#[derive(Clone, Debug)]
pub struct Report {
    /// Which op.
    pub op: Op,
    /// The element type of its data.
    pub dtype: DType,
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

/// Runs `op` on `inputs` rounded to `dtype` ([`HostInputs::rounded_to`]) on
/// the GPU and on the CPU reference and compares (as [`verify::compare_in`]
/// defines "agrees"), timing both.
///
/// ```no_run
/// use wgpu_activations::{DType, Gpu, Op};
/// use wgpu_activations_harness::{check, sample};
/// # fn main() -> wgpu_activations_harness::Result<()> {
/// let gpu = Gpu::new()?;
/// let inputs = sample::inputs(1 << 16, 42);
/// for dtype in DType::ALL {
///     for op in Op::all_of(dtype) {
///         let report = check::run(&gpu, op, dtype, &inputs)?;
///         assert!(report.passed(), "{op} {dtype}: {:?}", report.comparison.first_mismatch);
///     }
/// }
/// # Ok(()) }
/// ```
pub fn run(gpu: &Gpu, op: Op, dtype: DType, inputs: &HostInputs) -> Result<Report> {
    let inputs = &inputs.rounded_to(dtype);
    let used = inputs.used(op);
    // One untimed run on a row first, so the timing below excludes compiling
    // the pipeline on first use.
    let warm_up = inputs.prefix(inputs.cols().min(used));
    OpOperands::upload_in(gpu, op, &warm_up, dtype)?.submit(gpu, op)?;

    let operands = OpOperands::upload_in(gpu, op, inputs, dtype)?;
    gpu.wait_idle()?;
    let start = Instant::now();
    operands.submit(gpu, op)?;
    gpu.wait_idle()?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let outputs = operands.download(op)?;

    let start = Instant::now();
    op.reference_in(inputs, Subnormals::Preserve, dtype)?;
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;

    let mut comparison = verify::compare_in(op, inputs, &outputs, dtype)?;
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
        dtype,
        elements: used,
        cols: op.uses_bias().then(|| inputs.cols()),
        comparison,
        gpu_ms,
        cpu_ms,
    })
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample;

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
        let inputs = sample::inputs(100_003, 3);
        let cases = DType::ALL
            .into_iter()
            .flat_map(|dtype| Op::all_of(dtype).into_iter().map(move |op| (op, dtype)));
        for (op, dtype) in cases {
            let report = run(&gpu, op, dtype, &inputs).unwrap();
            assert_eq!(report.dtype, dtype);
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
