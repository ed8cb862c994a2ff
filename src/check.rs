//! Runs an op on the GPU and on the CPU reference and compares the results.
//!
//! What "agrees" means, per output:
//! - values (`y`, `dx`): bit for bit. Where the op does float arithmetic (bias
//!   add, leaky multiply) an element may instead equal the reference computed
//!   with [`Subnormals::FlushToZero`]: a GPU may flush subnormals, and the
//!   checker allows exactly that (and counts it in [`Report::flushed`]).
//! - masks: every element's bit, the same way; the unused bits of the last
//!   word must be zero.
//! - the bias gradient `db`: within [`bias_gradient_error_bound`] of the f64
//!   column sums, the same bits on a second run, NaN where the reference is NaN.

use std::fmt;
use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::activation::Activation;
use crate::cpu::{self, Subnormals};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::mask::Mask;
use crate::ops::bias_gradient_error_bound;
use crate::sample;
use crate::tensor::Tensor;

/// An op the checker can verify.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// [`Gpu::relu`] (the plain kernel) against [`cpu::relu_forward`].
    ReluForward,
    /// [`Gpu::relu_in_place`] against [`cpu::relu_forward_in_place`].
    ReluForwardInPlace,
    /// [`Gpu::activation`] against [`cpu::forward`].
    Forward(Activation),
    /// [`Gpu::activation_with_mask`] against [`cpu::forward_with_mask`].
    ForwardWithMask(Activation),
    /// [`Gpu::activation_backward`] against [`cpu::backward`], from the
    /// reference's mask of `x`.
    BackwardFromMask(Activation),
    /// [`Gpu::activation_backward_from_input`] against [`cpu::backward_from_input`].
    BackwardFromInput(Activation),
    /// [`Gpu::bias_activation`] against [`cpu::bias_forward`].
    BiasForward(Activation),
    /// [`Gpu::bias_activation_with_mask`] against [`cpu::bias_forward_with_mask`].
    BiasForwardWithMask(Activation),
    /// [`Gpu::bias_activation_backward`] against [`cpu::bias_backward`], from
    /// the reference's mask of `x + b`.
    BiasBackward(Activation),
}

impl Op {
    /// The activations the `check` command covers: relu, leaky relu (slope
    /// 0.01) and ReLU6.
    pub const ACTIVATIONS: [Activation; 3] = [
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.01 },
        Activation::ClippedRelu { cap: 6.0 },
    ];

    /// Every op, for every activation in [`Op::ACTIVATIONS`], in the order the
    /// `check` command prints them.
    pub fn all() -> Vec<Op> {
        let mut ops = vec![Op::ReluForward, Op::ReluForwardInPlace];
        for activation in Self::ACTIVATIONS {
            ops.extend([
                Op::Forward(activation),
                Op::ForwardWithMask(activation),
                Op::BackwardFromMask(activation),
                Op::BackwardFromInput(activation),
                Op::BiasForward(activation),
                Op::BiasForwardWithMask(activation),
                Op::BiasBackward(activation),
            ]);
        }
        ops
    }

    /// Name as printed, e.g. `bias_leaky_relu(0.01)+mask`.
    pub fn name(self) -> String {
        match self {
            Op::ReluForward => "relu (plain kernel)".to_string(),
            Op::ReluForwardInPlace => "relu_in_place".to_string(),
            Op::Forward(a) => format!("{a}"),
            Op::ForwardWithMask(a) => format!("{a}+mask"),
            Op::BackwardFromMask(a) => format!("{a}_backward(mask)"),
            Op::BackwardFromInput(a) => format!("{a}_backward(x)"),
            Op::BiasForward(a) => format!("bias_{a}"),
            Op::BiasForwardWithMask(a) => format!("bias_{a}+mask"),
            Op::BiasBackward(a) => format!("bias_{a}_backward(dx,db)"),
        }
    }

    fn activation(self) -> Activation {
        match self {
            Op::ReluForward | Op::ReluForwardInPlace => Activation::Relu,
            Op::Forward(a)
            | Op::ForwardWithMask(a)
            | Op::BackwardFromMask(a)
            | Op::BackwardFromInput(a)
            | Op::BiasForward(a)
            | Op::BiasForwardWithMask(a)
            | Op::BiasBackward(a) => a,
        }
    }

    fn uses_bias(self) -> bool {
        matches!(
            self,
            Op::BiasForward(_) | Op::BiasForwardWithMask(_) | Op::BiasBackward(_)
        )
    }

    /// Whether the op does float arithmetic a GPU may flush subnormals in:
    /// the bias add, and the leaky slope multiply.
    fn may_flush(self) -> bool {
        let leaky = matches!(self.activation(), Activation::LeakyRelu { .. });
        match self {
            Op::BiasForward(_) | Op::BiasForwardWithMask(_) => true,
            _ => leaky,
        }
    }

    fn is_backward(self) -> bool {
        matches!(
            self,
            Op::BackwardFromMask(_) | Op::BackwardFromInput(_) | Op::BiasBackward(_)
        )
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The data an op is checked on: `x`, an upstream gradient `dy` of the same
/// length, and a bias for the fused ops, which see `x` and `dy` as
/// `[rows, cols]` (their first `rows * cols` elements).
#[derive(Clone, Debug)]
pub struct Inputs {
    /// The forward input.
    pub x: Vec<f32>,
    /// The upstream gradient, as long as `x`.
    pub dy: Vec<f32>,
    /// One bias per column.
    pub bias: Vec<f32>,
}

impl Inputs {
    /// Seeded data of `len` elements with special values mixed in (see
    /// [`sample::activations`]), and a seeded row length between 1 and 1031
    /// (never more than `len`) for the fused ops.
    pub fn generate(len: usize, seed: u64) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5eed_c015);
        let cols = rng.random_range(1..=1031usize).min(len.max(1));
        Self {
            x: sample::activations(len, seed),
            dy: sample::activations(len, seed.wrapping_add(1)),
            bias: sample::activations(cols, seed.wrapping_add(2)),
        }
    }

    /// Row length of the fused ops.
    pub fn cols(&self) -> usize {
        self.bias.len()
    }

    /// Whole rows of `x` the fused ops use.
    pub fn rows(&self) -> usize {
        self.x.len().checked_div(self.cols()).unwrap_or(0)
    }

    /// The elements `op` reads of `x` and `dy`: all of them, or whole rows.
    fn used(&self, op: Op) -> usize {
        if op.uses_bias() {
            self.rows() * self.cols()
        } else {
            self.x.len()
        }
    }

    /// The mask a backward op reads: the reference's mask of `x`, or of
    /// `x + b` for the fused op. The GPU gets it too, so `dx` depends only on
    /// the backward kernel.
    fn saved_mask(&self, op: Op) -> Vec<u32> {
        let x = &self.x[..self.used(op)];
        let source = if op.uses_bias() {
            cpu::bias_add(x, &self.bias, Subnormals::Preserve)
        } else {
            x.to_vec()
        };
        cpu::pack_mask(source.iter().map(|&v| cpu::mask_bit(op.activation(), v)))
    }

    /// The first `len` elements of `x` and `dy` (cut to whole rows for the
    /// fused ops by [`Inputs::used`]), same bias.
    fn prefix(&self, len: usize) -> Self {
        Self {
            x: self.x[..len].to_vec(),
            dy: self.dy[..len].to_vec(),
            bias: self.bias.clone(),
        }
    }
}

/// The first element where GPU and CPU disagree, as bit patterns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Which output: `"y"`, `"dx"`, `"mask"`, `"db"` or `"db (second run)"`.
    pub output: &'static str,
    /// Element (or column) index.
    pub index: usize,
    /// The op's main input element's bits (`x`, or `dy` for backward ops).
    pub input: u32,
    /// The GPU result's bits (a mask bit as 0 or 1).
    pub gpu: u32,
    /// The CPU reference's bits.
    pub cpu: u32,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} element {}: input {:#010x} ({:e}), gpu {:#010x} ({:e}), cpu {:#010x} ({:e})",
            self.output,
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
    /// Elements of the op's input.
    pub elements: usize,
    /// Row length, for the fused bias ops.
    pub cols: Option<usize>,
    /// Values compared: output elements, mask bits and bias-gradient columns.
    pub compared: usize,
    /// Values that did not agree.
    pub mismatches: usize,
    /// The first of them.
    pub first_mismatch: Option<Mismatch>,
    /// Values that agreed only as the reference with subnormals flushed to zero.
    pub flushed: usize,
    /// For the bias gradient: the largest `|db - exact| / bound` over the
    /// columns the bound covers (at most 1 when it passes); `None` where no
    /// column is covered (every column's `Σ|dx|` could overflow f32).
    pub max_error_to_bound: Option<f64>,
    /// Wall time of record + submit + wait for the op alone: inputs
    /// uploaded, outputs allocated and pipelines compiled beforehand.
    pub gpu_ms: f64,
    /// CPU reference time (one thread).
    pub cpu_ms: f64,
}

impl Report {
    fn new(op: Op, elements: usize) -> Self {
        Self {
            op,
            elements,
            cols: None,
            compared: 0,
            mismatches: 0,
            first_mismatch: None,
            flushed: 0,
            max_error_to_bound: None,
            gpu_ms: 0.0,
            cpu_ms: 0.0,
        }
    }

    /// Whether the GPU matched the reference everywhere.
    pub fn passed(&self) -> bool {
        self.mismatches == 0
    }

    fn mismatch(&mut self, mismatch: Mismatch) {
        self.mismatches += 1;
        self.first_mismatch.get_or_insert(mismatch);
    }

    /// Compares values bit for bit, or with `flushed`, where given, as the
    /// one allowed alternative.
    fn values(
        &mut self,
        output: &'static str,
        input: &[f32],
        gpu: &[f32],
        cpu: &[f32],
        flushed: Option<&[f32]>,
    ) {
        for (index, (&g, &c)) in gpu.iter().zip(cpu).enumerate() {
            self.compared += 1;
            if g.to_bits() == c.to_bits() {
                continue;
            }
            if flushed.is_some_and(|f| f[index].to_bits() == g.to_bits()) {
                self.flushed += 1;
                continue;
            }
            self.mismatch(Mismatch {
                output,
                index,
                input: input[index].to_bits(),
                gpu: g.to_bits(),
                cpu: c.to_bits(),
            });
        }
    }

    /// Compares a mask bit by bit for `len` elements, and the unused bits of
    /// the last word, which must be zero.
    fn mask(&mut self, input: &[f32], gpu: &[u32], cpu: &[u32], flushed: Option<&[u32]>) {
        let len = input.len();
        for (index, value) in input.iter().enumerate() {
            self.compared += 1;
            let g = cpu::mask_bit_at(gpu, index);
            if g == cpu::mask_bit_at(cpu, index) {
                continue;
            }
            if flushed.is_some_and(|f| cpu::mask_bit_at(f, index) == g) {
                self.flushed += 1;
                continue;
            }
            self.mismatch(Mismatch {
                output: "mask",
                index,
                input: value.to_bits(),
                gpu: u32::from(g),
                cpu: u32::from(!g),
            });
        }
        if !len.is_multiple_of(32) && gpu.last().is_some_and(|&w| w >> (len % 32) != 0) {
            self.mismatch(Mismatch {
                output: "mask (bits past the end)",
                index: len,
                input: 0,
                gpu: gpu[gpu.len() - 1],
                cpu: cpu[cpu.len() - 1],
            });
        }
    }

    /// Compares the bias gradient with the f64 column sums of the
    /// reference's `dx`.
    fn bias_gradient(&mut self, gpu: &[f32], dx: &[f32], rows: usize) {
        let cols = gpu.len();
        let sums = cpu::column_sums(dx, cols);
        let abs: Vec<f64> = cpu::column_sums(&dx.iter().map(|v| v.abs()).collect::<Vec<_>>(), cols);
        // The worst ratio over the columns the bound covers; None if none is.
        let mut worst: Option<f64> = None;
        for (index, ((&g, &exact), &abs_sum)) in gpu.iter().zip(&sums).zip(&abs).enumerate() {
            self.compared += 1;
            let g64 = f64::from(g);
            let may_overflow = abs_sum.is_nan() || abs_sum > f64::from(f32::MAX);
            let agrees = if exact.is_nan() {
                g.is_nan()
            } else if exact.is_infinite() {
                g64 == exact || (may_overflow && g.is_nan())
            } else if may_overflow {
                // f32 partial sums may overflow where f64 did not.
                g.is_infinite() || (g64 - exact).abs() <= bias_gradient_error_bound(rows, abs_sum)
            } else {
                let bound = bias_gradient_error_bound(rows, abs_sum);
                let error = (g64 - exact).abs();
                let ratio = if bound > 0.0 {
                    error / bound
                } else if error == 0.0 {
                    0.0
                } else {
                    f64::INFINITY
                };
                worst = Some(worst.map_or(ratio, |w: f64| w.max(ratio)));
                error <= bound
            };
            if !agrees {
                self.mismatch(Mismatch {
                    output: "db",
                    index,
                    input: 0,
                    gpu: g.to_bits(),
                    cpu: (exact as f32).to_bits(),
                });
            }
        }
        self.max_error_to_bound = worst;
    }
}

/// Bit-exact comparison of `gpu` with `cpu`; `input` is reported with the
/// first mismatch.
pub fn compare_exact(op: Op, input: &[f32], gpu: &[f32], cpu: &[f32]) -> Result<Report> {
    for (what, actual) in [("GPU result", gpu.len()), ("input", input.len())] {
        if actual != cpu.len() {
            return Err(Error::ShapeMismatch {
                what,
                expected: cpu.len(),
                actual,
            });
        }
    }
    let mut report = Report::new(op, input.len());
    report.values("y", input, gpu, cpu, None);
    Ok(report)
}

/// Runs `op` on `inputs` on the GPU and on the CPU reference and compares.
///
/// ```no_run
/// use wgpu_activations::{check, Gpu};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let inputs = check::Inputs::generate(1 << 16, 42);
/// for op in check::Op::all() {
///     let report = check::run(&gpu, op, &inputs)?;
///     assert!(report.passed(), "{op}: {:?}", report.first_mismatch);
/// }
/// # Ok(()) }
/// ```
pub fn run(gpu: &Gpu, op: Op, inputs: &Inputs) -> Result<Report> {
    if inputs.dy.len() != inputs.x.len() {
        return Err(Error::ShapeMismatch {
            what: "check inputs' dy (as long as x)",
            expected: inputs.x.len(),
            actual: inputs.dy.len(),
        });
    }
    let used = inputs.used(op);
    // One untimed run on a row first, so the timing below excludes compiling
    // the pipeline on first use.
    let warm_up = inputs.prefix(inputs.cols().min(used));
    Operands::upload(gpu, op, &warm_up)?.submit(gpu, op)?;

    let mut operands = Operands::upload(gpu, op, inputs)?;
    gpu.wait_idle()?;
    let start = Instant::now();
    operands.submit(gpu, op)?;
    gpu.wait_idle()?;
    let gpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let results = operands.download()?;

    let start = Instant::now();
    let expected = Expected::compute(op, inputs, Subnormals::Preserve);
    let cpu_ms = start.elapsed().as_secs_f64() * 1e3;
    let flushed = op
        .may_flush()
        .then(|| Expected::compute(op, inputs, Subnormals::FlushToZero));

    let mut report = Report::new(op, used);
    report.gpu_ms = gpu_ms;
    report.cpu_ms = cpu_ms;
    report.cols = op.uses_bias().then(|| inputs.cols());
    let (main_input, output) = if op.is_backward() {
        (&inputs.dy[..used], "dx")
    } else {
        (&inputs.x[..used], "y")
    };
    report.values(
        output,
        main_input,
        &results.values,
        &expected.values,
        flushed.as_ref().map(|f| f.values.as_slice()),
    );
    if let (Some(gpu_mask), Some(cpu_mask)) = (&results.mask, &expected.mask) {
        report.mask(
            &inputs.x[..used],
            gpu_mask,
            cpu_mask,
            flushed.as_ref().and_then(|f| f.mask.as_deref()),
        );
    }
    if let Some(db) = &results.db {
        report.bias_gradient(db, &expected.values, inputs.rows());
        // The same bits again: the reduction's order is fixed.
        let again = operands.submit_again_for_db(gpu, op)?;
        report.values("db (second run)", &inputs.bias, &again, db, None);
    }
    Ok(report)
}

/// What the reference computes for an op.
struct Expected {
    /// `y` or `dx`.
    values: Vec<f32>,
    mask: Option<Vec<u32>>,
}

impl Expected {
    fn compute(op: Op, inputs: &Inputs, subnormals: Subnormals) -> Self {
        let a = op.activation();
        let used = inputs.used(op);
        let (x, dy) = (&inputs.x[..used], &inputs.dy[..used]);
        let forward = |v: &[f32]| -> Vec<f32> {
            v.iter()
                .map(|&e| cpu::activate_with(a, e, subnormals))
                .collect()
        };
        let mask_of = |v: &[f32]| cpu::pack_mask(v.iter().map(|&e| cpu::mask_bit(a, e)));
        let backward = |bits: &[u32]| -> Vec<f32> {
            dy.iter()
                .enumerate()
                .map(|(i, &d)| cpu::backward_element(a, cpu::mask_bit_at(bits, i), d, subnormals))
                .collect()
        };
        let biased = || cpu::bias_add(x, &inputs.bias, subnormals);
        match op {
            Op::ReluForward => Self {
                values: cpu::relu_forward(x),
                mask: None,
            },
            Op::ReluForwardInPlace => {
                let mut values = x.to_vec();
                cpu::relu_forward_in_place(&mut values);
                Self { values, mask: None }
            }
            Op::Forward(_) => Self {
                values: forward(x),
                mask: None,
            },
            Op::ForwardWithMask(_) => Self {
                values: forward(x),
                mask: Some(mask_of(x)),
            },
            Op::BackwardFromMask(_) | Op::BackwardFromInput(_) | Op::BiasBackward(_) => Self {
                values: backward(&inputs.saved_mask(op)),
                mask: None,
            },
            Op::BiasForward(_) => Self {
                values: forward(&biased()),
                mask: None,
            },
            Op::BiasForwardWithMask(_) => {
                let sums = biased();
                Self {
                    values: forward(&sums),
                    mask: Some(mask_of(&sums)),
                }
            }
        }
    }
}

/// An op's tensors, uploaded and allocated before anything is timed.
struct Operands {
    /// `x` for forward ops, `dy` for backward ones; the data itself in place.
    input: Tensor,
    /// The bias, or the saved `x` of backward-from-input.
    second: Option<Tensor>,
    /// The mask a backward op reads.
    saved_mask: Option<Mask>,
    /// `y` or `dx`; `None` in place.
    output: Option<Tensor>,
    /// The mask a forward op writes.
    mask: Option<Mask>,
    db: Option<Tensor>,
}

/// What came back from the GPU.
struct Results {
    values: Vec<f32>,
    mask: Option<Vec<u32>>,
    db: Option<Vec<f32>>,
}

impl Operands {
    fn upload(gpu: &Gpu, op: Op, inputs: &Inputs) -> Result<Self> {
        let used = inputs.used(op);
        let shape = if op.uses_bias() {
            vec![inputs.rows(), inputs.cols()]
        } else {
            vec![used]
        };
        let (x, dy) = (&inputs.x[..used], &inputs.dy[..used]);
        let input =
            Tensor::from_slice_with_shape(gpu, if op.is_backward() { dy } else { x }, &shape)?;
        let second = match op {
            Op::BiasForward(_) | Op::BiasForwardWithMask(_) => {
                Some(Tensor::from_slice(gpu, &inputs.bias)?)
            }
            Op::BackwardFromInput(_) => Some(Tensor::from_slice(gpu, x)?),
            _ => None,
        };
        let saved_mask = match op {
            Op::BackwardFromMask(_) | Op::BiasBackward(_) => {
                Some(Mask::from_words(gpu, &inputs.saved_mask(op), used)?)
            }
            _ => None,
        };
        let output = match op {
            Op::ReluForwardInPlace => None,
            _ => Some(Tensor::uninit(gpu, &shape)?),
        };
        let mask = match op {
            Op::ForwardWithMask(_) | Op::BiasForwardWithMask(_) => Some(Mask::uninit(gpu, used)?),
            _ => None,
        };
        let db = match op {
            Op::BiasBackward(_) => Some(Tensor::uninit(gpu, &[inputs.cols()])?),
            _ => None,
        };
        Ok(Self {
            input,
            second,
            saved_mask,
            output,
            mask,
            db,
        })
    }

    /// Records the op into a fresh encoder and submits it, without waiting.
    fn submit(&mut self, gpu: &Gpu, op: Op) -> Result<()> {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let missing = || Error::Wgpu {
            context: "check".to_string(),
            message: format!("{op}: operand missing"),
        };
        let output = self.output.as_ref();
        let a = op.activation();
        match op {
            Op::ReluForward => {
                gpu.record_relu(&mut encoder, &self.input, output.ok_or_else(missing)?)?
            }
            Op::ReluForwardInPlace => gpu.record_relu_in_place(&mut encoder, &mut self.input)?,
            Op::Forward(_) | Op::ForwardWithMask(_) => gpu.record_activation(
                &mut encoder,
                a,
                &self.input,
                output.ok_or_else(missing)?,
                self.mask.as_ref(),
            )?,
            Op::BackwardFromMask(_) => gpu.record_activation_backward(
                &mut encoder,
                a,
                &self.input,
                self.saved_mask.as_ref().ok_or_else(missing)?,
                output.ok_or_else(missing)?,
            )?,
            Op::BackwardFromInput(_) => gpu.record_activation_backward_from_input(
                &mut encoder,
                a,
                &self.input,
                self.second.as_ref().ok_or_else(missing)?,
                output.ok_or_else(missing)?,
            )?,
            Op::BiasForward(_) | Op::BiasForwardWithMask(_) => gpu.record_bias_activation(
                &mut encoder,
                a,
                &self.input,
                self.second.as_ref().ok_or_else(missing)?,
                output.ok_or_else(missing)?,
                self.mask.as_ref(),
            )?,
            Op::BiasBackward(_) => gpu.record_bias_activation_backward(
                &mut encoder,
                a,
                &self.input,
                self.saved_mask.as_ref().ok_or_else(missing)?,
                output.ok_or_else(missing)?,
                self.db.as_ref().ok_or_else(missing)?,
            )?,
        }
        gpu.submit("check", encoder)?;
        Ok(())
    }

    fn download(&self) -> Result<Results> {
        Ok(Results {
            values: self.output.as_ref().unwrap_or(&self.input).download()?,
            mask: self.mask.as_ref().map(Mask::download).transpose()?,
            db: self.db.as_ref().map(Tensor::download).transpose()?,
        })
    }

    /// Runs the op once more and returns the new `db`.
    fn submit_again_for_db(&mut self, gpu: &Gpu, op: Op) -> Result<Vec<f32>> {
        self.submit(gpu, op)?;
        match &self.db {
            Some(db) => db.download(),
            None => Ok(Vec::new()),
        }
    }
}
