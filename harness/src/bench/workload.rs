//! The ops the benchmarks time, with their operands resident on the GPU and
//! on the host.

use std::time::{Duration, Instant};

use crate::cpu_parallel;
use crate::error::{Error, Result};
use crate::sample;
use wgpu_activations::Activation;
use wgpu_activations::Gpu;
use wgpu_activations::Mask;
use wgpu_activations::Tensor;
use wgpu_activations::cpu::{self, Subnormals};

/// Row length of the fused bias ops' `[rows, cols]` operands (a typical
/// hidden width); a size under it is one row.
pub const BIAS_COLS: usize = 1024;

const LEAKY_RELU: Activation = Activation::LeakyRelu { slope: 0.01 };

/// An op the benchmarks time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BenchOp {
    /// `y = relu(x)`, the plain kernel.
    Relu,
    /// `y = relu(x)` and the 1-bit mask.
    ReluWithMask,
    /// `dx` from `dy` and the mask.
    BackwardFromMask,
    /// `dx` from `dy` and the saved input `x`.
    BackwardFromInput,
    /// Fused `y = relu(x + b)`, one pass.
    BiasRelu,
    /// The unfused baseline of [`BiasRelu`](Self::BiasRelu): a bias-add
    /// kernel writing `x + b`, then the relu kernel reading it back.
    BiasAddThenRelu,
    /// Fused backward: `dx` from `dy` and the mask, and the bias gradient `db`.
    BiasReluBackward,
    /// `y = leaky_relu(x)` with slope 0.01 (a float multiply per negative).
    LeakyRelu,
}

impl BenchOp {
    /// Every op, in the order the reports list them.
    pub const ALL: [BenchOp; 8] = [
        BenchOp::Relu,
        BenchOp::ReluWithMask,
        BenchOp::BackwardFromMask,
        BenchOp::BackwardFromInput,
        BenchOp::BiasRelu,
        BenchOp::BiasAddThenRelu,
        BenchOp::BiasReluBackward,
        BenchOp::LeakyRelu,
    ];

    /// The name reports use.
    pub fn name(self) -> &'static str {
        match self {
            BenchOp::Relu => "relu",
            BenchOp::ReluWithMask => "relu+mask",
            BenchOp::BackwardFromMask => "relu_backward(mask)",
            BenchOp::BackwardFromInput => "relu_backward(x)",
            BenchOp::BiasRelu => "bias_relu",
            BenchOp::BiasAddThenRelu => "bias_add+relu(unfused)",
            BenchOp::BiasReluBackward => "bias_relu_backward(dx,db)",
            BenchOp::LeakyRelu => "leaky_relu(0.01)",
        }
    }

    /// The op named `name` (as [`name`](Self::name) spells it).
    pub fn from_name(name: &str) -> Option<BenchOp> {
        Self::ALL.into_iter().find(|op| op.name() == name)
    }

    /// Row length of the op's operands: [`BIAS_COLS`] for the bias ops
    /// (fewer for a smaller tensor), 1 otherwise.
    pub fn cols(self, elements: usize) -> usize {
        match self {
            BenchOp::BiasRelu | BenchOp::BiasAddThenRelu | BenchOp::BiasReluBackward => {
                BIAS_COLS.min(elements).max(1)
            }
            _ => 1,
        }
    }

    /// Bytes the op must read and write, as DESIGN.md counts them: 4 per f32
    /// element read or written, 1/8 per mask bit, 4 per bias element. The
    /// unfused pair is charged what the fused op must move, so its GB/s
    /// compares directly with the fused op's.
    pub fn bytes(self, elements: usize) -> u64 {
        let n = elements as u64;
        let mask = n.div_ceil(32) * 4;
        let bias = 4 * self.cols(elements) as u64;
        match self {
            BenchOp::Relu | BenchOp::LeakyRelu => 8 * n,
            BenchOp::ReluWithMask | BenchOp::BackwardFromMask => 8 * n + mask,
            BenchOp::BackwardFromInput => 12 * n,
            BenchOp::BiasRelu | BenchOp::BiasAddThenRelu => 8 * n + bias,
            BenchOp::BiasReluBackward => 8 * n + mask + bias,
        }
    }

    /// Bytes of the largest single binding the op needs.
    pub fn largest_binding(elements: usize) -> u64 {
        4 * elements as u64
    }
}

/// One op at one size: host inputs, GPU-resident operands and outputs, the
/// copy baseline's buffers and the CPU outputs, all allocated up front so
/// that nothing timed allocates.
pub struct Workload {
    op: BenchOp,
    gpu: Gpu,
    elements: usize,
    cols: usize,
    host: HostData,
    resident: Resident,
    copy: CopyBaseline,
}

struct HostData {
    x: Vec<f32>,
    dy: Vec<f32>,
    b: Vec<f32>,
    mask: Vec<u32>,
    out: Vec<f32>,
    out_mask: Vec<u32>,
    out_db: Vec<f32>,
}

struct Resident {
    x: Tensor,
    dy: Tensor,
    b: Tensor,
    mask: Mask,
    y: Tensor,
    dx: Tensor,
    db: Tensor,
    mask_out: Mask,
    /// `x + b` between the unfused pair's two kernels.
    biased: Tensor,
}

struct CopyBaseline {
    source: wgpu::Buffer,
    destination: wgpu::Buffer,
    bytes: u64,
}

impl Workload {
    /// Generates seeded inputs for `op` at `elements` and uploads them.
    pub fn new(gpu: &Gpu, op: BenchOp, elements: usize) -> Result<Self> {
        let cols = op.cols(elements);
        if !elements.is_multiple_of(cols) {
            return Err(wgpu_activations::Error::ShapeMismatch {
                what: "benchmark size (a whole number of rows)",
                expected: elements.div_ceil(cols) * cols,
                actual: elements,
            }
            .into());
        }
        let shape = [elements / cols, cols];
        let x = sample::activations(elements, 1);
        let dy = sample::activations(elements, 2);
        let b = sample::activations(cols, 3);
        // Operands an op does not read are still allocated, but only one
        // vector long, so a large size costs only what the op touches.
        let needs = |ops: &[BenchOp]| ops.contains(&op);
        let sized = |needed: bool| if needed { elements } else { 0 };
        let reads_dy = needs(&[
            BenchOp::BackwardFromMask,
            BenchOp::BackwardFromInput,
            BenchOp::BiasReluBackward,
        ]);
        let reads_mask = needs(&[BenchOp::BackwardFromMask, BenchOp::BiasReluBackward]);
        let reads_x = !reads_mask;
        // The saved mask costs a reference forward pass: only for the ops
        // that read it.
        let mask = if reads_mask {
            cpu::forward_with_mask(Activation::Relu, &x).1
        } else {
            Vec::new()
        };
        let host = HostData {
            out: vec![0.0; elements],
            out_mask: vec![0; cpu::mask_words(elements)],
            out_db: vec![0.0; cols],
            x,
            dy,
            b,
            mask,
        };
        let upload = |data: &[f32], needed: bool| -> wgpu_activations::Result<Tensor> {
            if needed {
                Tensor::from_slice_with_shape(gpu, data, &shape)
            } else {
                Tensor::uninit(gpu, &[0])
            }
        };
        let resident = Resident {
            x: upload(&host.x, reads_x)?,
            dy: upload(&host.dy, reads_dy)?,
            b: Tensor::from_slice(gpu, &host.b)?,
            mask: if reads_mask {
                Mask::from_words(gpu, &host.mask, elements)?.with_row_length(cols)?
            } else {
                Mask::uninit(gpu, 0)?
            },
            y: Tensor::uninit(gpu, &[sized(!reads_dy)])?,
            dx: Tensor::uninit(gpu, &[sized(reads_dy)])?,
            db: Tensor::uninit(gpu, &[cols])?,
            mask_out: Mask::uninit(gpu, sized(op == BenchOp::ReluWithMask))?,
            biased: Tensor::uninit(gpu, &[sized(op == BenchOp::BiasAddThenRelu)])?,
        };
        let copy_bytes = (op.bytes(elements) / 2).div_ceil(4) * 4;
        let copy = CopyBaseline {
            source: copy_buffer(gpu, copy_bytes)?,
            destination: copy_buffer(gpu, copy_bytes)?,
            bytes: copy_bytes,
        };
        Ok(Self {
            op,
            gpu: gpu.clone(),
            elements,
            cols,
            host,
            resident,
            copy,
        })
    }

    /// The op.
    pub fn op(&self) -> BenchOp {
        self.op
    }

    /// Elements of the op's main operand.
    pub fn elements(&self) -> usize {
        self.elements
    }

    /// Bytes the op must move ([`BenchOp::bytes`]).
    pub fn bytes(&self) -> u64 {
        self.op.bytes(self.elements)
    }

    /// Records the op on the resident operands: what "GPU kernel" times.
    pub fn record(&self, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let r = &self.resident;
        let gpu = &self.gpu;
        let recorded = match self.op {
            BenchOp::Relu => gpu.record_relu(encoder, &r.x, &r.y),
            BenchOp::ReluWithMask => {
                gpu.record_activation(encoder, Activation::Relu, &r.x, &r.y, Some(&r.mask_out))
            }
            BenchOp::BackwardFromMask => {
                gpu.record_activation_backward(encoder, Activation::Relu, &r.dy, &r.mask, &r.dx)
            }
            BenchOp::BackwardFromInput => gpu.record_activation_backward_from_input(
                encoder,
                Activation::Relu,
                &r.dy,
                &r.x,
                &r.dx,
            ),
            BenchOp::BiasRelu => {
                gpu.record_bias_activation(encoder, Activation::Relu, &r.x, &r.b, &r.y, None)
            }
            BenchOp::BiasAddThenRelu => {
                gpu.record_bias_add(encoder, &r.x, &r.b, &r.biased)?;
                gpu.record_relu(encoder, &r.biased, &r.y)
            }
            BenchOp::BiasReluBackward => gpu.record_bias_activation_backward(
                encoder,
                Activation::Relu,
                &r.dy,
                &r.mask,
                &r.dx,
                &r.db,
            ),
            BenchOp::LeakyRelu => gpu.record_activation(encoder, LEAKY_RELU, &r.x, &r.y, None),
        };
        Ok(recorded?)
    }

    /// Records `copy_buffer_to_buffer` of half the op's bytes: it reads and
    /// writes as many bytes in all as the op must move.
    pub fn record_copy(&self, encoder: &mut wgpu::CommandEncoder) {
        encoder.copy_buffer_to_buffer(
            &self.copy.source,
            0,
            &self.copy.destination,
            0,
            self.copy.bytes,
        );
    }

    /// Upload of the op's inputs, the op, and download of its outputs, as a
    /// user of the convenience API sees it: wall time.
    pub fn round_trip(&self) -> Result<Duration> {
        let gpu = &self.gpu;
        let host = &self.host;
        let shape = [self.elements / self.cols, self.cols];
        let started = Instant::now();
        let tensor = |data: &[f32]| Tensor::from_slice_with_shape(gpu, data, &shape);
        match self.op {
            BenchOp::Relu => drop(gpu.relu(&tensor(&host.x)?)?.download()?),
            BenchOp::ReluWithMask => {
                let (y, mask) = gpu.relu_with_mask(&tensor(&host.x)?)?;
                drop((y.download()?, mask.download()?));
            }
            BenchOp::BackwardFromMask => {
                let mask = Mask::from_words(gpu, &host.mask, self.elements)?;
                drop(gpu.relu_backward(&tensor(&host.dy)?, &mask)?.download()?);
            }
            BenchOp::BackwardFromInput => {
                let dx = gpu.activation_backward_from_input(
                    Activation::Relu,
                    &tensor(&host.dy)?,
                    &tensor(&host.x)?,
                )?;
                drop(dx.download()?);
            }
            BenchOp::BiasRelu => {
                let b = Tensor::from_slice(gpu, &host.b)?;
                drop(gpu.bias_relu(&tensor(&host.x)?, &b)?.download()?);
            }
            BenchOp::BiasAddThenRelu => {
                let b = Tensor::from_slice(gpu, &host.b)?;
                let biased = gpu.bias_add(&tensor(&host.x)?, &b)?;
                drop(gpu.relu(&biased)?.download()?);
            }
            BenchOp::BiasReluBackward => {
                let mask =
                    Mask::from_words(gpu, &host.mask, self.elements)?.with_row_length(self.cols)?;
                let (dx, db) = gpu.bias_relu_backward(&tensor(&host.dy)?, &mask)?;
                drop((dx.download()?, db.download()?));
            }
            BenchOp::LeakyRelu => {
                drop(gpu.activation(LEAKY_RELU, &tensor(&host.x)?)?.download()?);
            }
        }
        Ok(started.elapsed())
    }

    /// The CPU reference on `threads` threads (1: the reference loop on the
    /// calling thread), into preallocated outputs: wall time.
    pub fn cpu(&mut self, threads: usize) -> Duration {
        let HostData {
            x,
            dy,
            b,
            mask,
            out,
            out_mask,
            out_db,
        } = &mut self.host;
        let started = Instant::now();
        match self.op {
            BenchOp::Relu => cpu_parallel::relu_forward_into(x, out, threads),
            BenchOp::ReluWithMask => {
                cpu_parallel::forward_with_mask_into(Activation::Relu, x, out, out_mask, threads)
            }
            BenchOp::BackwardFromMask => {
                cpu_parallel::backward_into(Activation::Relu, dy, mask, out, threads)
            }
            BenchOp::BackwardFromInput => {
                cpu_parallel::backward_from_input_into(Activation::Relu, dy, x, out, threads)
            }
            BenchOp::BiasRelu => {
                cpu_parallel::bias_forward_into(Activation::Relu, x, b, out, threads)
            }
            BenchOp::BiasAddThenRelu => {
                // The CPU has no reason to split the pair: fused is its baseline too.
                cpu_parallel::bias_forward_into(Activation::Relu, x, b, out, threads)
            }
            BenchOp::BiasReluBackward => {
                cpu_parallel::bias_backward_into(Activation::Relu, dy, mask, out, out_db, threads)
            }
            BenchOp::LeakyRelu => cpu_parallel::forward_into(LEAKY_RELU, x, out, threads),
        }
        let elapsed = started.elapsed();
        // Keeps the optimiser from discarding the outputs.
        std::hint::black_box((&self.host.out, &self.host.out_mask, &self.host.out_db));
        elapsed
    }

    /// Checks the resident run's output (`y`, or `dx`) against the CPU
    /// reference, bit for bit or as the flushed reference where the op does
    /// float arithmetic (the one deviation the contract allows): a
    /// benchmark of a kernel that computes something else would be
    /// meaningless.
    pub fn verify(&self) -> Result<()> {
        let r = &self.resident;
        let output = match self.op {
            BenchOp::BackwardFromMask | BenchOp::BackwardFromInput | BenchOp::BiasReluBackward => {
                r.dx.download()?
            }
            _ => r.y.download()?,
        };
        let exact = self.expected(Subnormals::Preserve);
        let flushed = self.expected(Subnormals::FlushToZero);
        let wrong = output
            .iter()
            .zip(exact.iter().zip(&flushed))
            .filter(|(got, (exact, flushed))| {
                got.to_bits() != exact.to_bits() && got.to_bits() != flushed.to_bits()
            })
            .count();
        if wrong == 0 {
            Ok(())
        } else {
            Err(Error::BenchmarkMismatch {
                op: self.op.name().to_string(),
                elements: self.elements,
                mismatches: wrong,
            })
        }
    }

    /// The reference output of the resident run.
    fn expected(&self, subnormals: Subnormals) -> Vec<f32> {
        let host = &self.host;
        let activate = |activation: Activation, x: &[f32]| -> Vec<f32> {
            x.iter()
                .map(|&v| cpu::activate_with(activation, v, subnormals))
                .collect()
        };
        match self.op {
            BenchOp::Relu | BenchOp::ReluWithMask => cpu::relu_forward(&host.x),
            BenchOp::BackwardFromMask | BenchOp::BiasReluBackward => {
                cpu::backward(Activation::Relu, &host.dy, &host.mask)
            }
            BenchOp::BackwardFromInput => {
                cpu::backward_from_input(Activation::Relu, &host.dy, &host.x)
            }
            BenchOp::BiasRelu | BenchOp::BiasAddThenRelu => {
                cpu::relu_forward(&cpu::bias_add(&host.x, &host.b, subnormals))
            }
            BenchOp::LeakyRelu => activate(LEAKY_RELU, &host.x),
        }
    }
}

fn copy_buffer(gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer> {
    Ok(gpu.capture("allocating the copy baseline", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-activations bench copy"),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    })?)
}
