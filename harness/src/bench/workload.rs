//! The ops the benchmarks time, with their operands resident on the GPU and
//! on the host: one generic workload over the engine's [`Op`], plus the
//! unfused bias-add-then-relu pair the fused op is compared with.

use std::time::{Duration, Instant};

use crate::cpu_parallel::{self, Outputs};
use crate::error::{Error, Result};
use crate::sample;
use wgpu_activations::verify::{self, OpOperands as Operands, OpOutputs};
use wgpu_activations::{Activation, DType, Gpu, HostInputs, Op, OpTensors, Tensor};

/// Row length of the fused bias ops' `[rows, cols]` operands (a typical
/// hidden width); a size under it is one row.
pub const BIAS_COLS: usize = 1024;

const LEAKY_RELU: Activation = Activation::LeakyRelu { slope: 0.01 };

/// A row of the benchmarks: one of the engine's ops, or the unfused
/// baseline of fused bias + relu.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum BenchOp {
    /// An op of the engine, recorded through
    /// [`Gpu::record_op`](wgpu_activations::Gpu::record_op) and checked
    /// against [`Op::reference`].
    Op(Op),
    /// The unfused baseline of fused `bias_relu`
    /// ([`Op::BiasForward`]`(Relu)`): a bias-add kernel writing `x + b`,
    /// then the relu kernel reading it back.
    BiasAddThenRelu,
}

impl BenchOp {
    /// Every row, in the order the reports list them: relu, relu+mask,
    /// relu_backward from the mask and from `x`, fused bias_relu, the
    /// unfused bias_add+relu, bias_relu_backward with `db`, leaky_relu(0.01),
    /// then the forward op of every other [`Activation::examples`] entry, so
    /// that a new activation is benchmarked with no edit here.
    ///
    /// ```
    /// use wgpu_activations::{Activation, Op};
    /// use wgpu_activations_harness::bench::BenchOp;
    /// let all = BenchOp::all();
    /// assert_eq!(all[0].name(), "relu");
    /// assert!(all.contains(&BenchOp::Op(Op::Forward(Activation::relu6()))));
    /// ```
    pub fn all() -> Vec<BenchOp> {
        let relu = Activation::Relu;
        let mut all = vec![
            BenchOp::Op(Op::ReluForward),
            BenchOp::Op(Op::ForwardWithMask(relu)),
            BenchOp::Op(Op::BackwardFromMask(relu)),
            BenchOp::Op(Op::BackwardFromInput(relu)),
            BenchOp::Op(Op::BiasForward(relu)),
            BenchOp::BiasAddThenRelu,
            BenchOp::Op(Op::BiasBackward(relu)),
            BenchOp::Op(Op::Forward(LEAKY_RELU)),
        ];
        for activation in Activation::examples() {
            // relu's forward row is the plain kernel's.
            let forward = BenchOp::Op(if activation == relu {
                Op::ReluForward
            } else {
                Op::Forward(activation)
            });
            if !all.contains(&forward) {
                all.push(forward);
            }
        }
        all
    }

    /// The name reports use: the op's own ([`Op::name`]), except `relu` for
    /// the plain relu kernel, and `bias_add+relu(unfused)`.
    pub fn name(self) -> String {
        match self {
            BenchOp::Op(Op::ReluForward) => "relu".to_string(),
            BenchOp::Op(op) => op.name(),
            BenchOp::BiasAddThenRelu => "bias_add+relu(unfused)".to_string(),
        }
    }

    /// The row named `name` (as [`name`](Self::name) spells it): one of
    /// [`all`](Self::all), or any other of [`Op::all`].
    pub fn from_name(name: &str) -> Option<BenchOp> {
        Self::all()
            .into_iter()
            .chain(Op::all().into_iter().map(BenchOp::Op))
            .find(|op| op.name() == name)
    }

    /// The op whose reference (and CPU baseline) the row is checked and
    /// timed against: fused bias + relu for the unfused pair.
    pub fn op(self) -> Op {
        match self {
            BenchOp::Op(op) => op,
            BenchOp::BiasAddThenRelu => Op::BiasForward(Activation::Relu),
        }
    }

    /// Row length of the op's operands: [`BIAS_COLS`] for the bias ops
    /// (fewer for a smaller tensor), 1 otherwise.
    pub fn cols(self, elements: usize) -> usize {
        if self.op().uses_bias() {
            BIAS_COLS.min(elements).max(1)
        } else {
            1
        }
    }

    /// Bytes the op must read and write, as DESIGN.md counts them: 4 per f32
    /// element read or written (`x`, `dy`, `y` or `dx`), 1/8 per mask bit
    /// read or written, 4 per bias (or bias-gradient) element. The unfused
    /// pair is charged what the fused op must move, so its GB/s compares
    /// directly with the fused op's.
    ///
    /// ```
    /// use wgpu_activations::{Activation, Op};
    /// use wgpu_activations_harness::bench::BenchOp;
    /// let n = 1 << 20;
    /// let per_element = |op: BenchOp| op.bytes(n) as f64 / n as f64;
    /// assert_eq!(per_element(BenchOp::Op(Op::ReluForward)), 8.0);
    /// assert_eq!(per_element(BenchOp::Op(Op::ForwardWithMask(Activation::Relu))), 8.125);
    /// assert_eq!(per_element(BenchOp::Op(Op::BackwardFromInput(Activation::Relu))), 12.0);
    /// ```
    pub fn bytes(self, elements: usize) -> u64 {
        let n = elements as u64;
        let op = self.op();
        // Read `x` (or the saved `y` or `z`) and/or `dy`, write `y` or `dx`
        // (in place: read and write `x`), and `z` where the op saves it.
        let streams = u64::from(op.reads_x() || op.reads_preactivation())
            + u64::from(op.is_backward())
            + 1
            + u64::from(op.writes_preactivation());
        let mask = if op.reads_mask() || op.writes_mask() {
            n.div_ceil(32) * 4
        } else {
            0
        };
        let bias = if op.uses_bias() {
            4 * self.cols(elements) as u64
        } else {
            0
        };
        4 * streams * n + mask + bias
    }

    /// Bytes of the largest single binding the op needs.
    pub fn largest_binding(elements: usize) -> u64 {
        4 * elements as u64
    }
}

/// The CPU side of one op at one size: host inputs, the CPU baseline's
/// outputs and the host memcpy's buffers, all allocated (and written) up
/// front so that nothing timed allocates or faults pages in.
pub struct HostWorkload {
    op: BenchOp,
    elements: usize,
    host: HostInputs,
    /// The mask a backward op reads (the reference's), else empty.
    saved_mask: Vec<u32>,
    /// The pre-activation or output a backward op reads (the reference's),
    /// else empty.
    saved_values: Vec<f32>,
    cpu_outputs: Outputs,
    /// Half the op's bytes (rounded up to whole f32s), and where they are
    /// copied to.
    copy_source: Vec<u8>,
    copy_destination: Vec<u8>,
}

impl HostWorkload {
    /// Generates seeded inputs for `op` at `elements` (the same as
    /// [`Workload::new`]'s) and the outputs and copy buffers.
    ///
    /// # Errors
    /// If `elements` is not a whole number of the op's rows.
    pub fn new(op: BenchOp, elements: usize) -> Result<Self> {
        let cols = op.cols(elements);
        if !elements.is_multiple_of(cols) {
            return Err(wgpu_activations::Error::ShapeMismatch {
                what: "benchmark size (a whole number of rows)",
                expected: elements.div_ceil(cols) * cols,
                actual: elements,
            }
            .into());
        }
        let reference = op.op();
        let host = HostInputs {
            x: sample::activations(elements, 1),
            dy: sample::activations(elements, 2),
            bias: if reference.uses_bias() {
                sample::activations(cols, 3)
            } else {
                Vec::new()
            },
        };
        // The saved mask costs a reference forward pass: only for the ops
        // that read it.
        let saved_mask = if reference.reads_mask() {
            host.saved_mask(reference)
        } else {
            Vec::new()
        };
        let saved_values = if reference.reads_preactivation() {
            host.saved_preactivation_in(reference, DType::F32)
        } else if reference.reads_output() {
            host.saved_output_in(reference, DType::F32)
        } else {
            Vec::new()
        };
        let copy_bytes = host_copy_bytes(op.bytes(elements));
        Ok(Self {
            op,
            elements,
            cpu_outputs: Outputs::new(reference, &host),
            host,
            saved_mask,
            saved_values,
            // Non-zero, so the pages are really allocated before timing.
            copy_source: vec![1; copy_bytes],
            copy_destination: vec![1; copy_bytes],
        })
    }

    /// The op.
    pub fn op(&self) -> BenchOp {
        self.op
    }

    /// Bytes the op must move ([`BenchOp::bytes`]).
    pub fn bytes(&self) -> u64 {
        self.op.bytes(self.elements)
    }

    /// The CPU baseline ([`cpu_parallel::run`]) on `threads` threads (1:
    /// one loop on the calling thread), into preallocated outputs: wall
    /// time. The unfused pair's baseline is the fused op: the CPU has no
    /// reason to split it.
    pub fn cpu(&mut self, threads: usize) -> Duration {
        let started = Instant::now();
        cpu_parallel::run(
            self.op.op(),
            &self.host,
            &self.saved_mask,
            &self.saved_values,
            &mut self.cpu_outputs,
            threads,
        );
        let elapsed = started.elapsed();
        // Keeps the optimiser from discarding the outputs.
        std::hint::black_box(&self.cpu_outputs);
        elapsed
    }

    /// [`cpu_parallel::copy`] of half the op's bytes on `threads` threads:
    /// it reads and writes as many bytes as the op moves, like the GPU's
    /// copy baseline. Wall time.
    pub fn memcpy(&mut self, threads: usize) -> Duration {
        let started = Instant::now();
        cpu_parallel::copy(&self.copy_source, &mut self.copy_destination, threads);
        let elapsed = started.elapsed();
        std::hint::black_box(&self.copy_destination);
        elapsed
    }
}

/// Half of an op's `bytes`, rounded up to whole f32s: the bytes a copy reads
/// (and writes) to move as many bytes as the op.
fn copy_bytes(bytes: u64) -> u64 {
    (bytes / 2).div_ceil(4) * 4
}

fn host_copy_bytes(bytes: u64) -> usize {
    usize::try_from(copy_bytes(bytes)).expect("a host workload fits in memory")
}

/// One op at one size: its [`HostWorkload`], GPU-resident operands and
/// outputs and the copy baseline's buffers, all allocated up front so that
/// nothing timed allocates.
pub struct Workload {
    op: BenchOp,
    gpu: Gpu,
    elements: usize,
    host: HostWorkload,
    resident: Operands,
    /// `x + b` between the unfused pair's two kernels.
    biased: Option<Tensor>,
    copy: CopyBaseline,
    /// The host outputs a repeated round trip downloads into.
    round_trip_outputs: OpOutputs,
    /// Source and destination of the host copy a round trip's floor counts:
    /// as many bytes as it uploads and downloads together.
    round_trip_copy: (Vec<u8>, Vec<u8>),
}

/// The two baselines of a kernel, each moving as many bytes as the op (half
/// read, half written): `copy_buffer_to_buffer`, and the identity kernel in
/// the element-wise kernels' loop and launch shape over the same buffers.
struct CopyBaseline {
    source: wgpu::Buffer,
    destination: wgpu::Buffer,
    bytes: u64,
    /// Views of `source` and `destination` for the identity kernel.
    identity: (Tensor, Tensor),
}

impl Workload {
    /// Generates seeded inputs for `op` at `elements` and uploads them.
    pub fn new(gpu: &Gpu, op: BenchOp, elements: usize) -> Result<Self> {
        let host = HostWorkload::new(op, elements)?;
        let reference = op.op();
        let resident = Operands::upload_with_mask(gpu, reference, &host.host, &host.saved_mask)?;
        let biased = (op == BenchOp::BiasAddThenRelu)
            .then(|| Tensor::uninit(gpu, &host.host.shape(reference)))
            .transpose()?;
        let copy = CopyBaseline::new(gpu, copy_bytes(op.bytes(elements)))?;
        let round_trip_outputs = resident.download(reference)?;
        let (uploaded, downloaded) = round_trip_bytes(reference, &host.host);
        let round_trip_bytes =
            usize::try_from(uploaded + downloaded).expect("a round trip's bytes fit in memory");
        Ok(Self {
            op,
            gpu: gpu.clone(),
            elements,
            host,
            resident,
            biased,
            copy,
            round_trip_outputs,
            // Non-zero, so the pages are really allocated before timing.
            round_trip_copy: (vec![1; round_trip_bytes], vec![1; round_trip_bytes]),
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
        record(
            &self.gpu,
            self.op,
            &self.resident,
            self.biased.as_ref(),
            encoder,
        )
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

    /// Records the identity kernel over as many bytes as the op moves: the
    /// WGSL baseline, in the same loop and launch shape as the op.
    pub fn record_identity(&self, encoder: &mut wgpu::CommandEncoder) -> Result<()> {
        let (x, y) = &self.copy.identity;
        Ok(self.gpu.record_identity(encoder, x, y)?)
    }

    /// A repeated round trip, as a training or inference loop runs one on
    /// tensors it keeps: the op's inputs written into the resident tensors
    /// ([`Tensor::write`]), the op, its outputs downloaded into host slices
    /// kept from the last time ([`Tensor::download_into`]); wall time.
    /// Staging buffers come from the `Gpu`'s pools, so in steady state
    /// nothing is allocated.
    pub fn round_trip_repeated(&mut self) -> Result<Duration> {
        let op = self.op.op();
        let started = Instant::now();
        self.resident.write(
            op,
            &self.host.host,
            &self.host.saved_mask,
            &self.host.saved_values,
        )?;
        let mut encoder = self
            .gpu
            .device()
            .create_command_encoder(&Default::default());
        self.record(&mut encoder)?;
        self.gpu
            .submit("wgpu-activations bench round trip", encoder)?;
        self.resident
            .download_into(op, &mut self.round_trip_outputs)?;
        let elapsed = started.elapsed();
        std::hint::black_box(&self.round_trip_outputs);
        Ok(elapsed)
    }

    /// A one-thread host memcpy ([`cpu_parallel::copy`]) of as many bytes as
    /// a round trip uploads and downloads: what the round trip's floor adds
    /// to the kernel time (the data must at least be copied into and out of
    /// memory the device reads and writes); wall time.
    pub fn round_trip_copy(&mut self) -> Duration {
        let (source, destination) = &mut self.round_trip_copy;
        let started = Instant::now();
        cpu_parallel::copy(source, destination, 1);
        let elapsed = started.elapsed();
        std::hint::black_box(destination);
        elapsed
    }

    /// Upload of the op's inputs into new tensors, the op, and download of
    /// its outputs into new host vectors (the values, the mask a forward op
    /// writes, `db`), as a one-off convenience call does it: wall time.
    pub fn round_trip(&self) -> Result<Duration> {
        let gpu = &self.gpu;
        let op = self.op.op();
        let started = Instant::now();
        let operands = Operands::upload_with_mask(gpu, op, &self.host.host, &self.host.saved_mask)?;
        let biased = (self.op == BenchOp::BiasAddThenRelu)
            .then(|| Tensor::uninit(gpu, &self.host.host.shape(op)))
            .transpose()?;
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        record(gpu, self.op, &operands, biased.as_ref(), &mut encoder)?;
        gpu.submit("wgpu-activations bench round trip", encoder)?;
        drop(operands.download(op)?);
        Ok(started.elapsed())
    }

    /// [`HostWorkload::cpu`]: the tuned CPU baseline on `threads` threads.
    pub fn cpu(&mut self, threads: usize) -> Duration {
        self.host.cpu(threads)
    }

    /// [`HostWorkload::memcpy`]: the host's copy of the same bytes on
    /// `threads` threads.
    pub fn memcpy(&mut self, threads: usize) -> Duration {
        self.host.memcpy(threads)
    }

    /// Checks the resident run's outputs (`y` or `dx`, a written mask, `db`)
    /// against [`Op::reference`] as [`verify::compare`] does: a benchmark of
    /// a kernel that computes something else would be meaningless.
    pub fn verify(&self) -> Result<()> {
        let op = self.op.op();
        let results = self.resident.download(op)?;
        let wrong = verify::compare(op, &self.host.host, &results)?.mismatches;
        if wrong == 0 {
            Ok(())
        } else {
            Err(Error::BenchmarkMismatch {
                op: self.op.name(),
                elements: self.elements,
                mismatches: wrong,
            })
        }
    }
}

/// Records `op` on `operands` (and, for the unfused pair, through `biased`).
fn record(
    gpu: &Gpu,
    op: BenchOp,
    operands: &Operands,
    biased: Option<&Tensor>,
    encoder: &mut wgpu::CommandEncoder,
) -> Result<()> {
    match op {
        BenchOp::Op(op) => Ok(gpu.record_op(encoder, op, &operands.tensors(op))?),
        BenchOp::BiasAddThenRelu => {
            let add = OpTensors {
                x: operands.x.as_ref(),
                bias: operands.bias.as_ref(),
                y: biased,
                ..Default::default()
            };
            gpu.record_op(encoder, Op::BiasAdd, &add)?;
            let relu = OpTensors {
                x: biased,
                y: operands.output.as_ref(),
                ..Default::default()
            };
            Ok(gpu.record_op(encoder, Op::ReluForward, &relu)?)
        }
    }
}

/// Bytes a round trip of `op` on `inputs` uploads (what it reads) and
/// downloads (what it writes), as [`Operands::write`] and
/// [`Operands::download_into`] move them.
fn round_trip_bytes(op: Op, inputs: &HostInputs) -> (u64, u64) {
    let used = inputs.used(op) as u64;
    let mask = wgpu_activations::cpu::mask_words(used as usize) as u64;
    let cols = inputs.cols() as u64;
    let count = |flag: bool, n: u64| if flag { 4 * n } else { 0 };
    let uploaded = count(op.reads_x(), used)
        + count(op.is_backward(), used)
        + count(op.uses_bias() && !op.is_backward(), cols)
        + count(op.reads_mask(), mask);
    let downloaded =
        4 * used + count(op.writes_mask(), mask) + count(op.writes_bias_gradient(), cols);
    (uploaded, downloaded)
}

impl CopyBaseline {
    /// Baselines copying `bytes` (whole f32 elements).
    fn new(gpu: &Gpu, bytes: u64) -> Result<Self> {
        let elements = bytes.div_ceil(4).max(1) as usize;
        let bytes = 4 * elements as u64;
        let source = copy_buffer(gpu, bytes)?;
        let destination = copy_buffer(gpu, bytes)?;
        let identity = (
            Tensor::from_buffer(gpu, &source, 0, &[elements])?,
            Tensor::from_buffer(gpu, &destination, 0, &[elements])?,
        );
        Ok(Self {
            source,
            destination,
            bytes,
            identity,
        })
    }
}

fn copy_buffer(gpu: &Gpu, bytes: u64) -> Result<wgpu::Buffer> {
    Ok(gpu.capture("allocating the copy baseline", || {
        gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-activations bench copy"),
            size: bytes,
            usage: wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        })
    })?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rows_keep_their_names_and_add_every_activation() {
        let names: Vec<String> = BenchOp::all().iter().map(|op| op.name()).collect();
        assert_eq!(
            names[..8],
            [
                "relu",
                "relu+mask",
                "relu_backward(mask)",
                "relu_backward(x)",
                "bias_relu",
                "bias_add+relu(unfused)",
                "bias_relu_backward(dx,db)",
                "leaky_relu(0.01)",
            ]
        );
        for activation in Activation::examples() {
            let forward = if activation == Activation::Relu {
                Op::ReluForward
            } else {
                Op::Forward(activation)
            };
            assert!(
                BenchOp::all().contains(&BenchOp::Op(forward)),
                "{activation}"
            );
        }
        for (i, name) in names.iter().enumerate() {
            assert!(!names[..i].contains(name), "{name} twice");
            assert_eq!(
                BenchOp::from_name(name).map(BenchOp::name).as_ref(),
                Some(name)
            );
        }
        assert_eq!(
            BenchOp::from_name("relu_in_place"),
            Some(BenchOp::Op(Op::ReluForwardInPlace))
        );
    }

    #[test]
    fn bytes_are_counted_as_the_design_does_for_every_row() {
        let n = 1 << 20;
        let relu = Activation::Relu;
        let expected = |op: BenchOp| -> f64 {
            let per_column = 4.0 * op.cols(n) as f64 / n as f64;
            match op {
                BenchOp::Op(Op::BackwardFromInput(_) | Op::BackwardFromOutput(_)) => 12.0,
                BenchOp::Op(
                    Op::BiasForwardWithPreactivation(_) | Op::BiasBackwardFromPreactivation(_),
                ) => 12.0 + per_column,
                BenchOp::Op(Op::ForwardWithMask(_) | Op::BackwardFromMask(_)) => 8.125,
                BenchOp::Op(Op::BiasForwardWithMask(_) | Op::BiasBackward(_)) => 8.125 + per_column,
                BenchOp::Op(Op::BiasAdd | Op::BiasForward(_)) | BenchOp::BiasAddThenRelu => {
                    8.0 + per_column
                }
                _ => 8.0,
            }
        };
        let every_op = Op::all().into_iter().map(BenchOp::Op);
        for op in BenchOp::all().into_iter().chain(every_op) {
            assert_eq!(op.bytes(n) as f64 / n as f64, expected(op), "{}", op.name());
        }
        assert_eq!(
            BenchOp::BiasAddThenRelu.bytes(n),
            BenchOp::Op(Op::BiasForward(relu)).bytes(n)
        );
        assert_eq!(BenchOp::Op(Op::ReluForward).bytes(33), 8 * 33);
        assert_eq!(BenchOp::Op(Op::ForwardWithMask(relu)).bytes(33), 8 * 33 + 8);
    }
}
