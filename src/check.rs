//! Runs an op on the GPU and on the CPU reference and compares the results.

use std::fmt;
use std::time::Instant;

use crate::cpu;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::tensor::Tensor;

/// An op the checker can verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Op {
    /// [`Gpu::relu`] against [`cpu::relu_forward`].
    ReluForward,
    /// [`Gpu::relu_in_place`] against [`cpu::relu_forward_in_place`].
    ReluForwardInPlace,
}

impl Op {
    /// Every op, in the order the `check` command prints them.
    pub const ALL: &'static [Op] = &[Op::ReluForward, Op::ReluForwardInPlace];

    /// Short name, as printed.
    pub fn name(self) -> &'static str {
        match self {
            Op::ReluForward => "relu",
            Op::ReluForwardInPlace => "relu_in_place",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The first element where GPU and CPU disagree, as bit patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Element index.
    pub index: usize,
    /// The input element's bits.
    pub input: u32,
    /// The GPU result's bits.
    pub gpu: u32,
    /// The CPU reference's bits.
    pub cpu: u32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "element {}: input {:#010x} ({:e}), gpu {:#010x} ({:e}), cpu {:#010x} ({:e})",
            self.index,
            self.input,
            f32::from_bits(self.input),
            self.gpu,
            f32::from_bits(self.gpu),
            self.cpu,
            f32::from_bits(self.cpu)
        )
    }
}

/// The outcome of comparing one op's GPU result with the CPU reference.
#[derive(Clone, Debug)]
pub struct Report {
    /// Which op.
    pub op: Op,
    /// Elements compared.
    pub compared: usize,
    /// Elements whose bits differ from the reference.
    pub mismatches: usize,
    /// The first of them.
    pub first_mismatch: Option<Mismatch>,
    /// Largest distance in units in the last place, for ops whose contract
    /// allows rounding; `None` for bit-exact ops.
    pub max_ulp: Option<u32>,
    /// Wall time of record + submit + wait for the kernel alone: input
    /// uploaded, output allocated and pipeline compiled beforehand.
    pub gpu_ms: f64,
    /// CPU reference time (one thread).
    pub cpu_ms: f64,
}

impl Report {
    /// Whether the GPU matched the reference everywhere.
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }
}

/// Bit-exact comparison of `gpu` with `cpu`; `input` is reported with the
/// first mismatch.
pub fn compare_exact(op: Op, input: &[f32], gpu: &[f32], cpu: &[f32]) -> Result<Report> {
    if gpu.len() != cpu.len() || input.len() != cpu.len() {
        return Err(Error::ShapeMismatch {
            what: "GPU result",
            expected: cpu.len(),
            actual: gpu.len(),
        });
    }
    let mut mismatches = 0;
    let mut first_mismatch = None;
    for (index, ((x, g), c)) in input.iter().zip(gpu).zip(cpu).enumerate() {
        if g.to_bits() != c.to_bits() {
            mismatches += 1;
            first_mismatch.get_or_insert(Mismatch {
                index,
                input: x.to_bits(),
                gpu: g.to_bits(),
                cpu: c.to_bits(),
            });
        }
    }
    Ok(Report {
        op,
        compared: cpu.len(),
        mismatches,
        first_mismatch,
        max_ulp: None,
        gpu_ms: 0.0,
        cpu_ms: 0.0,
    })
}

/// Runs `op` on `input` on the GPU and on the CPU reference and compares.
///
/// ```no_run
/// use wgpu_activations::{check, sample, Gpu};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let input = sample::activations(1 << 16, 42);
/// let report = check::run(&gpu, check::Op::ReluForward, &input)?;
/// assert!(report.passed(), "{:?}", report.first_mismatch);
/// # Ok(()) }
/// ```
pub fn run(gpu: &Gpu, op: Op, input: &[f32]) -> Result<Report> {
    // One untimed run first, so the timing below excludes compiling the
    // pipeline on first use.
    let mut warm_up = Operands::new(gpu, op, &input[..input.len().min(1)])?;
    warm_up.submit(gpu, op)?;

    let mut operands = Operands::new(gpu, op, input)?;
    gpu.wait_idle()?;
    let start = Instant::now();
    operands.submit(gpu, op)?;
    gpu.wait_idle()?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let gpu_result = operands.result().download()?;

    let start = Instant::now();
    let cpu_result = match op {
        Op::ReluForward => cpu::relu_forward(input),
        Op::ReluForwardInPlace => {
            let mut data = input.to_vec();
            cpu::relu_forward_in_place(&mut data);
            data
        }
    };
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let mut report = compare_exact(op, input, &gpu_result, &cpu_result)?;
    report.gpu_ms = gpu_ms;
    report.cpu_ms = cpu_ms;
    Ok(report)
}

/// An op's tensors, uploaded and allocated before anything is timed.
enum Operands {
    OutOfPlace { input: Tensor, output: Tensor },
    InPlace(Tensor),
}

impl Operands {
    fn new(gpu: &Gpu, op: Op, input: &[f32]) -> Result<Self> {
        let input = Tensor::from_slice(gpu, input)?;
        Ok(match op {
            Op::ReluForward => Operands::OutOfPlace {
                output: Tensor::uninit(gpu, input.shape())?,
                input,
            },
            Op::ReluForwardInPlace => Operands::InPlace(input),
        })
    }

    /// Records the op into a fresh encoder and submits it, without waiting.
    fn submit(&mut self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        match self {
            Operands::OutOfPlace { input, output } => {
                gpu.record_relu(&mut encoder, input, output)?
            }
            Operands::InPlace(data) => gpu.record_relu_in_place(&mut encoder, data)?,
        }
        gpu.submit(op.name(), encoder)?;
        Ok(())
    }

    fn result(&self) -> &Tensor {
        match self {
            Operands::OutOfPlace { output, .. } => output,
            Operands::InPlace(data) => data,
        }
    }
}
