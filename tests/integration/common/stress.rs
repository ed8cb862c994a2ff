//! Random mixed ops checked against the reference: the engine shared by
//! tests/integration/concurrency.rs (many threads on one Gpu) and
//! tests/soak.rs (many ops in a row, watching memory).
//!
//! The ops are [`Op::all`], each with its activation's parameter now and then
//! replaced by an edge case or a random legal value, plus batches of them
//! ([`Step::Batch`]). They are recorded through [`Gpu::record_op`] and
//! [`Batch::op`](wgpu_activations::Batch::op) and compared with
//! [`Op::reference`] ([`compare`]), so an op or activation added to the
//! crate is stressed without editing this file.

use std::fmt;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::cpu;
use wgpu_activations::{Activation, Gpu, HostInputs, Mask, Op, OpTensors, Tensor};

use super::sample;
use wgpu_activations::verify::{OpOutputs as Outputs, compare};

/// What [`Stress::run`] runs: one op, or a batch of 2 to 5 ops recorded into
/// one `Batch` and submitted once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Step {
    /// One op of [`Op::all`], its activation's parameter maybe varied.
    One(Op),
    /// 2 to 5 ops of one activation, recorded into one `Batch`.
    Batch,
}

impl Step {
    /// Every op of [`Op::all`], then [`Step::Batch`].
    pub fn all() -> Vec<Step> {
        let mut steps: Vec<Step> = Op::all().into_iter().map(Step::One).collect();
        steps.push(Step::Batch);
        steps
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::One(op) => write!(f, "{op}"),
            Step::Batch => f.write_str("batch"),
        }
    }
}

/// `example` (an entry of [`Activation::examples`]) with a random legal
/// parameter: its own, one of the edge cases the other tests use (zero,
/// negative, subnormal) or an arbitrary value, whatever the variant (the
/// illegal ones for it are drawn again); a smooth one as it is.
fn vary_parameter(example: Activation, rng: &mut ChaCha8Rng) -> Activation {
    // A smooth activation's bound is measured at its example's parameters.
    if example.is_smooth() {
        return example;
    }
    loop {
        let parameter = match rng.random_range(0..6) {
            0 => example.parameter(),
            1 => 0.0,
            2 => -1.5,
            3 => 1e-40,
            _ => rng.random_range(-2.0..=8.0),
        };
        let varied = example.with_parameter(parameter);
        if varied.validate().is_ok() {
            return varied;
        }
    }
}

/// Where `op` stands in [`Op::of_activation`] of its activation, or `None`
/// for the ops without one of those (the plain relu kernels, the bias add).
fn place_in_family(op: Op) -> Option<(Activation, usize)> {
    let activation = op.activation()?;
    let place = Op::of_activation(activation)
        .iter()
        .position(|&o| o == op)?;
    Some((activation, place))
}

/// `op` with its activation's parameter varied ([`vary_parameter`]).
fn vary(op: Op, rng: &mut ChaCha8Rng) -> Op {
    match place_in_family(op) {
        Some((activation, place)) => Op::of_activation(vary_parameter(activation, rng))[place],
        None => op,
    }
}

/// The ops a batch of `activation` draws from: those of [`Op::all`] of the
/// same variant, with `activation`'s parameter, and those without one.
fn batch_ops(activation: Activation) -> Vec<Op> {
    let same = |a: &Activation| std::mem::discriminant(a) == std::mem::discriminant(&activation);
    Op::all()
        .into_iter()
        .filter_map(|op| match place_in_family(op) {
            None => Some(op),
            Some((a, place)) if same(&a) => Some(Op::of_activation(activation)[place]),
            Some(_) => None,
        })
        .collect()
}

/// Inputs whose reference mask for the mask-reading `op` is `words`, with
/// `inputs`' `dy`: `x` NaN where a bit is set (NaN sets the bit for every
/// activation) and -1 elsewhere (which sets none), a zero bias. The op
/// reads neither `x` nor the bias, so its reference is then the backward
/// of exactly those bits.
fn inputs_with_mask(op: Op, inputs: &HostInputs, words: &[u32]) -> HostInputs {
    let used = inputs.used(op);
    let x = (0..inputs.x.len())
        .map(|i| {
            if i < used && cpu::mask_bit_at(words, i) {
                f32::NAN
            } else {
                -1.0
            }
        })
        .collect();
    let rebuilt = HostInputs {
        x,
        dy: inputs.dy.clone(),
        bias: vec![0.0; inputs.cols()],
    };
    assert_eq!(
        rebuilt.saved_mask(op),
        words,
        "{op}: the mask rebuilt from its words"
    );
    rebuilt
}

/// Pre-generated values that ops take random windows of, so that each op's
/// data costs a copy rather than a generator run.
struct DataPool {
    /// `sample::activations`: uniform in [-4, 4) with one value in 16 special.
    special: Vec<f32>,
    /// Uniform in [-4, 4), no special value: bias-gradient columns whose
    /// error bound applies.
    uniform: Vec<f32>,
}

impl DataPool {
    /// Pools of `len` values each.
    fn new(len: usize, rng: &mut ChaCha8Rng) -> Self {
        let special = sample::activations(len, rng.random());
        let uniform = (0..len).map(|_| rng.random_range(-4.0..4.0)).collect();
        Self { special, uniform }
    }

    /// `len` values from a random place of one of the pools (special values
    /// two times in three).
    fn take(&self, rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        let source = if rng.random_ratio(1, 3) {
            &self.uniform
        } else {
            &self.special
        };
        assert!(len <= source.len(), "data pool of {} < {len}", source.len());
        let start = rng.random_range(0..=source.len() - len);
        source[start..start + len].to_vec()
    }
}

/// `result`'s value, or a panic naming the op.
fn ok<T>(what: &str, result: wgpu_activations::Result<T>) -> T {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

/// True with probability `1 / n`; never for `n == 0`.
fn one_in(rng: &mut ChaCha8Rng, n: u32) -> bool {
    n > 0 && rng.random_ratio(1, n)
}

/// Log-uniform in `lo..=hi` (`lo >= 1`): as many sizes from 1 to 10 as from
/// 1000 to 10000.
fn log_uniform(rng: &mut ChaCha8Rng, lo: usize, hi: usize) -> usize {
    let (l, h) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
    ((l + (h - l) * rng.random::<f64>()).exp() as usize).clamp(lo, hi)
}

/// Random mask words for `len` elements, the bits past the end zero (as a
/// mask's contract has them).
fn random_mask_words(rng: &mut ChaCha8Rng, len: usize) -> Vec<u32> {
    let mut words: Vec<u32> = (0..cpu::mask_words(len)).map(|_| rng.random()).collect();
    if !len.is_multiple_of(32) {
        let last = words.len() - 1;
        words[last] &= (1u32 << (len % 32)) - 1;
    }
    words
}

/// How [`Stress`] picks sizes and paths.
#[derive(Clone, Debug)]
pub struct StressConfig {
    /// Most ops' element count: log-uniform in `1..=small_max`.
    pub small_max: usize,
    /// One op in `large_one_in` instead: log-uniform in `small_max + 1..=large_max`.
    pub large_max: usize,
    /// See `large_max`.
    pub large_one_in: u32,
    /// One op in this many runs on an empty shape (`[0, n]` or `[n, 0]`); 0 never.
    pub empty_one_in: u32,
    /// One read-back in this many goes through `download_async` (under
    /// `pollster::block_on`); 0 never.
    pub async_one_in: u32,
    /// One op in this many takes its input from a kept tensor overwritten
    /// with `Tensor::write` (and, one time in two, the op runs again after
    /// the tensor was written once more behind its submit); 0 never.
    pub reuse_one_in: u32,
    /// How many kept tensors there are.
    pub reuse_slots: usize,
    /// One unverified op in this many reads nothing back (its outputs are
    /// dropped with the work maybe still queued); 0 never.
    pub skip_read_back_one_in: u32,
}

/// What a [`Stress`] has run.
#[derive(Clone, Debug, Default)]
pub struct StressStats {
    /// Steps run (a batch counts as one).
    pub ops: usize,
    /// Steps whose every output was compared with the reference.
    pub verified: usize,
    /// Ops recorded into batches.
    pub batched_ops: usize,
    /// Elements of the ops' inputs `x`, summed.
    pub elements: usize,
    /// The largest `x`.
    pub largest: usize,
    /// Tensor and mask read-backs.
    pub downloads: usize,
    /// Of those, through `download_async`.
    pub async_downloads: usize,
    /// `Tensor::write`s into kept tensors.
    pub reused_writes: usize,
    /// Values and mask bits that needed the subnormal-flush allowance.
    pub flushed: usize,
    /// Runs of each step, by its place in [`Step::all`].
    pub coverage: Vec<usize>,
}

impl StressStats {
    /// Panics unless every step of [`Step::all`] ran.
    pub fn assert_every_step_ran(&self) {
        for (i, step) in Step::all().into_iter().enumerate() {
            let count = self.coverage.get(i).copied().unwrap_or(0);
            assert!(count > 0, "{step} never ran");
        }
    }
}

/// Where a mask-reading op's mask comes from.
#[derive(Clone, Copy, Debug)]
enum MaskSource {
    /// The GPU's own forward pass of the same activation, read back (a
    /// flushed sum may have decided a bit).
    GpuForward,
    /// The reference's mask, uploaded.
    Reference,
    /// Random words, uploaded.
    Random,
}

/// The tensors of one op but `x`, which is the stream's input (or, in
/// place, a copy of it).
struct Prepared {
    op: Op,
    /// What the reference computes from.
    inputs: HostInputs,
    in_place: Option<Tensor>,
    dy: Option<Tensor>,
    bias: Option<Tensor>,
    mask: Option<Mask>,
    output: Option<Tensor>,
    db: Option<Tensor>,
    /// The pre-activation the op writes, or reads (the reference's).
    z: Option<Tensor>,
    /// The output a backward op from `y` reads (the reference's), in `x`'s
    /// operand role.
    saved_y: Option<Tensor>,
}

impl Prepared {
    fn tensors<'a>(&'a self, x: &'a Tensor) -> OpTensors<'a> {
        let output = self.output.as_ref();
        let backward = self.op.is_backward();
        OpTensors {
            x: Some(
                self.in_place
                    .as_ref()
                    .or(self.saved_y.as_ref())
                    .unwrap_or(x),
            ),
            dy: self.dy.as_ref(),
            bias: self.bias.as_ref(),
            mask: self.mask.as_ref(),
            y: output.filter(|_| !backward),
            dx: output.filter(|_| backward),
            db: self.db.as_ref(),
            z: self.z.as_ref(),
        }
    }
}

/// Runs random ops of random sizes and data on one `Gpu`, reading results
/// back and (when asked) comparing every output with the CPU reference. Any
/// mismatch or error panics with the stream's label, the step's index, the
/// op and the shape.
pub struct Stress<'g> {
    gpu: &'g Gpu,
    label: String,
    rng: ChaCha8Rng,
    data: DataPool,
    config: StressConfig,
    steps: Vec<Step>,
    reused: Vec<Option<Tensor>>,
    verify: bool,
    read_back: bool,
    /// Stats so far.
    pub stats: StressStats,
}

impl<'g> Stress<'g> {
    /// A stream of ops seeded by `seed`; `label` names it in failures.
    pub fn new(gpu: &'g Gpu, label: impl Into<String>, seed: u64, config: StressConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let data = DataPool::new(config.small_max.max(config.large_max) + 4096, &mut rng);
        let steps = Step::all();
        Self {
            gpu,
            label: label.into(),
            rng,
            data,
            reused: (0..config.reuse_slots).map(|_| None).collect(),
            config,
            stats: StressStats {
                coverage: vec![0; steps.len()],
                ..StressStats::default()
            },
            steps,
            verify: false,
            read_back: true,
        }
    }

    /// How many steps there are: [`run`](Self::run) takes `0..steps()`.
    pub fn steps(&self) -> usize {
        self.steps.len()
    }

    /// The stream's generator (to pick steps with).
    pub fn rng(&mut self) -> &mut ChaCha8Rng {
        &mut self.rng
    }

    /// Runs step `step` of [`Step::all`]; with `verify`, reads every output
    /// back and compares it with the reference.
    pub fn run(&mut self, step: usize, verify: bool) {
        self.verify = verify;
        self.read_back = verify || !one_in(&mut self.rng, self.config.skip_read_back_one_in);
        self.stats.ops += 1;
        self.stats.verified += usize::from(verify);
        self.stats.coverage[step] += 1;
        match self.steps[step] {
            Step::One(op) => {
                let op = vary(op, &mut self.rng);
                self.one(op);
            }
            Step::Batch => {
                let examples = Activation::examples();
                let example = examples[self.rng.random_range(0..examples.len())];
                let activation = vary_parameter(example, &mut self.rng);
                self.batch(activation);
            }
        }
    }

    fn describe(&self, op: &str, x: &Tensor) -> String {
        format!(
            "{} op {} {op} shape {:?}",
            self.label,
            self.stats.ops - 1,
            x.shape()
        )
    }

    /// A random `[rows, cols]`: an empty one now and then; else a size from
    /// the config, as one row, one column or a log-uniform width (now and
    /// then past the 16384 columns a uniform bias holds).
    fn shape(&mut self) -> [usize; 2] {
        if one_in(&mut self.rng, self.config.empty_one_in) {
            let n = self.rng.random_range(1..=40);
            return if self.rng.random() { [0, n] } else { [n, 0] };
        }
        let len = if one_in(&mut self.rng, self.config.large_one_in) {
            log_uniform(
                &mut self.rng,
                self.config.small_max + 1,
                self.config.large_max,
            )
        } else {
            log_uniform(&mut self.rng, 1, self.config.small_max)
        };
        let cols = match self.rng.random_range(0..8) {
            0 => len,
            1 => 1,
            _ => log_uniform(&mut self.rng, 1, len.min(20_000)),
        };
        [len / cols, cols]
    }

    fn take(&mut self, len: usize) -> Vec<f32> {
        self.data.take(&mut self.rng, len)
    }

    fn upload(&mut self, data: &[f32], shape: &[usize]) -> Tensor {
        ok(
            &format!("{}: upload {shape:?}", self.label),
            Tensor::from_slice_with_shape(self.gpu, data, shape),
        )
    }

    /// The op's input `x` and its data: a fresh upload, or (one op in
    /// `reuse_one_in`) a kept tensor of its own shape overwritten with
    /// `Tensor::write`, to give back to its slot after the op.
    fn input(&mut self) -> (Tensor, Vec<f32>, Option<usize>) {
        let (x, data, slot) = if one_in(&mut self.rng, self.config.reuse_one_in) {
            let slot = self.rng.random_range(0..self.config.reuse_slots);
            // Now and then the kept tensor is replaced by one of another shape.
            let x = match self.reused[slot].take() {
                Some(x) if !one_in(&mut self.rng, 16) => x,
                _ => {
                    let shape = self.shape();
                    ok(
                        &format!("{}: allocate {shape:?}", self.label),
                        Tensor::uninit(self.gpu, &shape),
                    )
                }
            };
            let data = self.take(x.len());
            ok(
                &format!("{}: write {:?}", self.label, x.shape()),
                x.write(&data),
            );
            self.stats.reused_writes += 1;
            (x, data, Some(slot))
        } else {
            let shape = self.shape();
            let data = self.take(shape[0] * shape[1]);
            (self.upload(&data, &shape), data, None)
        };
        self.stats.elements += x.len();
        self.stats.largest = self.stats.largest.max(x.len());
        (x, data, slot)
    }

    fn give_back(&mut self, slot: Option<usize>, x: Tensor) {
        if let Some(slot) = slot {
            self.reused[slot] = Some(x);
        }
    }

    /// Host inputs for `x`'s data: a `dy` as long, a bias of one value per
    /// column of `x`'s shape.
    fn host_inputs(&mut self, x: &Tensor, data: Vec<f32>) -> HostInputs {
        let dy = self.take(x.len());
        let bias = self.take(x.cols());
        HostInputs { x: data, dy, bias }
    }

    /// Reads `t` back (one time in `async_one_in` through `download_async`),
    /// or nothing for an op that skips its read-back.
    fn fetch(&mut self, what: &str, t: &Tensor) -> Vec<f32> {
        if !self.read_back {
            return Vec::new();
        }
        self.stats.downloads += 1;
        let values = if one_in(&mut self.rng, self.config.async_one_in) {
            self.stats.async_downloads += 1;
            ok(what, pollster::block_on(t.download_async()))
        } else {
            ok(what, t.download())
        };
        assert_eq!(values.len(), t.len(), "{what}: downloaded length");
        values
    }

    fn fetch_mask(&mut self, what: &str, mask: &Mask) -> Vec<u32> {
        if !self.read_back {
            return Vec::new();
        }
        self.stats.downloads += 1;
        ok(what, mask.download())
    }

    /// Reads back what `prepared`'s op wrote (`x` itself, in place).
    fn fetch_outputs(&mut self, what: &str, prepared: &Prepared, x: &Tensor) -> Outputs {
        let values_from = prepared
            .output
            .as_ref()
            .or(prepared.in_place.as_ref())
            .unwrap_or(x);
        let values = self.fetch(what, values_from);
        let mask = match &prepared.mask {
            Some(mask) if prepared.op.writes_mask() => Some(self.fetch_mask(what, mask)),
            _ => None,
        };
        let db = prepared.db.as_ref().map(|db| self.fetch(what, db));
        let preactivation = match &prepared.z {
            Some(z) if prepared.op.writes_preactivation() => Some(self.fetch(what, z)),
            _ => None,
        };
        Outputs {
            values,
            mask,
            db,
            preactivation,
        }
    }

    /// With `verify`, compares `outputs` with the reference and panics on
    /// any difference.
    fn check(&mut self, what: &str, op: Op, inputs: &HostInputs, outputs: &Outputs) {
        if !self.verify {
            return;
        }
        let comparison = compare(op, inputs, outputs).expect("the reference runs on these inputs");
        assert!(
            comparison.passed(),
            "{what}: {} of {} values differ from the reference; first: {}",
            comparison.mismatches,
            comparison.compared,
            comparison
                .first_mismatch
                .map_or("-".to_string(), |m| m.to_string())
        );
        self.stats.flushed += comparison.flushed;
    }

    /// The mask `op` (which reads one) runs from, and the inputs whose
    /// reference goes with it.
    fn mask_for(
        &mut self,
        what: &str,
        op: Op,
        inputs: HostInputs,
        x: &Tensor,
        source: MaskSource,
    ) -> (Mask, HostInputs) {
        let len = inputs.used(op);
        let words = match source {
            MaskSource::Reference => {
                let words = inputs.saved_mask(op);
                let mask = ok(what, Mask::from_words(self.gpu, &words, len));
                return (mask, inputs);
            }
            MaskSource::Random => random_mask_words(&mut self.rng, len),
            MaskSource::GpuForward => {
                // The forward op of the same activation and kind that writes
                // the mask this backward reads.
                let activation = op
                    .activation()
                    .expect("a mask-reading op has an activation");
                let forward = Op::of_activation(activation)
                    .into_iter()
                    .find(|o| o.writes_mask() && o.uses_bias() == op.uses_bias())
                    .expect("the forward op writing this op's mask");
                let prepared =
                    self.prepare(what, forward, inputs.clone(), x, MaskSource::Reference);
                let mut encoder = self
                    .gpu
                    .device()
                    .create_command_encoder(&Default::default());
                ok(
                    what,
                    self.gpu
                        .record_op(&mut encoder, forward, &prepared.tensors(x)),
                );
                ok(what, self.gpu.submit(what, encoder));
                let mask = prepared.mask.expect("the forward's mask");
                let words = ok(what, mask.download());
                self.stats.downloads += 1;
                if self.verify {
                    let values = self.fetch(what, prepared.output.as_ref().unwrap());
                    let outputs = Outputs {
                        values,
                        mask: Some(words.clone()),
                        db: None,
                        preactivation: None,
                    };
                    self.check(
                        &format!("{what}: forward {forward}"),
                        forward,
                        &inputs,
                        &outputs,
                    );
                }
                if words == inputs.saved_mask(op) {
                    return (mask, inputs);
                }
                return (mask, inputs_with_mask(op, &inputs, &words));
            }
        };
        let mask = ok(what, Mask::from_words(self.gpu, &words, len));
        let inputs = inputs_with_mask(op, &inputs, &words);
        (mask, inputs)
    }

    /// Uploads and allocates `op`'s tensors but `x`, with its mask (if it
    /// reads one) from `source`.
    fn prepare(
        &mut self,
        what: &str,
        op: Op,
        inputs: HostInputs,
        x: &Tensor,
        source: MaskSource,
    ) -> Prepared {
        let shape = x.shape().to_vec();
        let cols = inputs.cols();
        let (mask, inputs) = if op.reads_mask() {
            let (mask, inputs) = self.mask_for(what, op, inputs, x, source);
            (Some(mask), inputs)
        } else if op.writes_mask() {
            (Some(ok(what, Mask::uninit(self.gpu, x.len()))), inputs)
        } else {
            (None, inputs)
        };
        let in_place = (op == Op::ReluForwardInPlace).then(|| self.upload(&inputs.x, &shape));
        let dy = op.is_backward().then(|| self.upload(&inputs.dy, &shape));
        let bias =
            (op.uses_bias() && !op.is_backward()).then(|| self.upload(&inputs.bias, &[cols]));
        let output =
            (op != Op::ReluForwardInPlace).then(|| ok(what, Tensor::uninit(self.gpu, &shape)));
        let db = op
            .writes_bias_gradient()
            .then(|| ok(what, Tensor::uninit(self.gpu, &[cols])));
        let z = if op.reads_preactivation() {
            let z = inputs.saved_preactivation_in(op, wgpu_activations::DType::F32);
            Some(self.upload(&z, &shape))
        } else {
            op.writes_preactivation()
                .then(|| ok(what, Tensor::uninit(self.gpu, &shape)))
        };
        let saved_y = op.reads_output().then(|| {
            let y = inputs.saved_output_in(op, wgpu_activations::DType::F32);
            self.upload(&y, &shape)
        });
        Prepared {
            op,
            inputs,
            in_place,
            dy,
            bias,
            mask,
            output,
            db,
            z,
            saved_y,
        }
    }

    /// One op on its own submit. A kept `x` is, one time in two, written
    /// again behind the submit and the op run once more: each run sees its
    /// own data (writes are ordered on the queue).
    fn one(&mut self, op: Op) {
        let (x, data, slot) = self.input();
        let what = self.describe(&op.name(), &x);
        let inputs = self.host_inputs(&x, data);
        let source = match self.rng.random_range(0..6) {
            0..=2 => MaskSource::GpuForward,
            3 | 4 => MaskSource::Reference,
            _ => MaskSource::Random,
        };
        let mut runs = vec![self.prepare(&what, op, inputs, &x, source)];
        let rewrite =
            slot.is_some() && op != Op::ReluForwardInPlace && !op.reads_mask() && self.rng.random();
        for run in 0..=usize::from(rewrite) {
            let mut encoder = self
                .gpu
                .device()
                .create_command_encoder(&Default::default());
            ok(
                &what,
                self.gpu.record_op(&mut encoder, op, &runs[run].tensors(&x)),
            );
            ok(&what, self.gpu.submit(&what, encoder));
            if rewrite && run == 0 {
                let next = self.take(x.len());
                ok(&what, x.write(&next));
                self.stats.reused_writes += 1;
                let inputs = HostInputs {
                    x: next,
                    ..runs[0].inputs.clone()
                };
                runs.push(self.prepare(&what, op, inputs, &x, source));
            }
        }
        for (run, prepared) in runs.iter().enumerate() {
            let what = format!("{what} (run {run})");
            if let Some(output) = &prepared.output {
                assert_eq!(output.shape(), x.shape(), "{what}: output shape");
            }
            let outputs = self.fetch_outputs(&what, prepared, &x);
            self.check(&what, op, &prepared.inputs, &outputs);
        }
        self.give_back(slot, x);
    }

    /// 2 to 5 ops of `activation` on one input, recorded into one `Batch`,
    /// their masks the reference's.
    fn batch(&mut self, activation: Activation) {
        let (x, data, slot) = self.input();
        let count = self.rng.random_range(2..=5);
        let what = self.describe(&format!("batch of {count}, {activation}"), &x);
        let inputs = self.host_inputs(&x, data);
        let ops = batch_ops(activation);
        let prepared: Vec<Prepared> = (0..count)
            .map(|_| {
                let op = ops[self.rng.random_range(0..ops.len())];
                self.prepare(&what, op, inputs.clone(), &x, MaskSource::Reference)
            })
            .collect();
        let mut batch = self.gpu.batch();
        for p in &prepared {
            ok(
                &format!("{what}: recording {}", p.op),
                batch.op(p.op, &p.tensors(&x)).map(drop),
            );
        }
        assert_eq!(batch.len(), count, "{what}: ops in the batch");
        self.stats.batched_ops += count;
        if self.rng.random() {
            ok(&what, batch.submit().map(drop));
        } else {
            ok(&what, batch.submit_and_wait());
        }
        for (i, p) in prepared.iter().enumerate() {
            let what = format!("{what}, op {i} ({})", p.op);
            let outputs = self.fetch_outputs(&what, p, &x);
            self.check(&what, p.op, &p.inputs, &outputs);
        }
        self.give_back(slot, x);
    }
}
