//! The `check` command's core: runs an op on the GPU and on the CPU
//! reference, on seeded data with special values mixed in, and compares the
//! results as [`compare`](wgpu_activations::compare) defines "agrees".

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::compare::Comparison;
use wgpu_activations::cpu::Subnormals;
use wgpu_activations::{Gpu, HostInputs, Mask, Op, OpTensors, Tensor};

use crate::error::{Error, Result};
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
    Operands::upload(gpu, op, &warm_up)?.submit(gpu, op)?;

    let operands = Operands::upload(gpu, op, inputs)?;
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

/// An op's tensors, uploaded and allocated before anything is timed: the
/// roles [`Op`] says it reads and writes.
struct Operands {
    /// `x`: the forward input, the saved input, or the data of the in-place op.
    x: Option<Tensor>,
    dy: Option<Tensor>,
    bias: Option<Tensor>,
    /// The mask a backward op reads or a forward op writes.
    mask: Option<Mask>,
    /// `y` or `dx`; `None` in place.
    output: Option<Tensor>,
    db: Option<Tensor>,
}

/// What came back from the GPU.
struct Results {
    values: Vec<f32>,
    mask: Option<Vec<u32>>,
    db: Option<Vec<f32>>,
}

impl Operands {
    fn upload(gpu: &Gpu, op: Op, inputs: &HostInputs) -> Result<Self> {
        let used = inputs.used(op);
        let shape = inputs.shape(op);
        let (x, dy) = (&inputs.x[..used], &inputs.dy[..used]);
        let reads_x = !op.is_backward() || matches!(op, Op::BackwardFromInput(_));
        let mask = if op.reads_mask() {
            let mask = Mask::from_words(gpu, &inputs.saved_mask(op), used)?;
            Some(match op.uses_bias() {
                true => mask.with_row_length(inputs.cols())?,
                false => mask,
            })
        } else if op.writes_mask() {
            Some(Mask::uninit(gpu, used)?)
        } else {
            None
        };
        Ok(Self {
            x: reads_x
                .then(|| Tensor::from_slice_with_shape(gpu, x, &shape))
                .transpose()?,
            dy: op
                .is_backward()
                .then(|| Tensor::from_slice_with_shape(gpu, dy, &shape))
                .transpose()?,
            bias: (op.uses_bias() && !op.is_backward())
                .then(|| Tensor::from_slice(gpu, &inputs.bias))
                .transpose()?,
            mask,
            output: (op != Op::ReluForwardInPlace)
                .then(|| Tensor::uninit(gpu, &shape))
                .transpose()?,
            db: op
                .writes_bias_gradient()
                .then(|| Tensor::uninit(gpu, &[inputs.cols()]))
                .transpose()?,
        })
    }

    /// Records the op into a fresh encoder and submits it, without waiting.
    fn submit(&self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let output = self.output.as_ref();
        let tensors = OpTensors {
            x: self.x.as_ref(),
            dy: self.dy.as_ref(),
            bias: self.bias.as_ref(),
            mask: self.mask.as_ref(),
            y: output.filter(|_| !op.is_backward()),
            dx: output.filter(|_| op.is_backward()),
            db: self.db.as_ref(),
        };
        gpu.record_op(&mut encoder, op, &tensors)?;
        gpu.submit("check", encoder)?;
        Ok(())
    }

    fn download(&self, op: Op) -> Result<Results> {
        let values = match (&self.output, &self.x) {
            (Some(output), _) | (None, Some(output)) => output.download()?,
            (None, None) => Vec::new(),
        };
        Ok(Results {
            values,
            mask: self
                .mask
                .as_ref()
                .filter(|_| op.writes_mask())
                .map(Mask::download)
                .transpose()?,
            db: self.db.as_ref().map(Tensor::download).transpose()?,
        })
    }
}
