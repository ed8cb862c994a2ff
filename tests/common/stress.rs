//! Random mixed ops checked against the reference: the engine shared by
//! tests/concurrency.rs (many threads on one Gpu) and tests/soak.rs (many ops
//! in a row, watching memory).

#![allow(dead_code)]

use super::*;

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Batch, Mask, Tensor};

/// xorshift64*: a tiny seeded generator, so that each thread of a test has
/// its own reproducible stream of sizes, data and op kinds.
pub struct XorShift(u64);

impl XorShift {
    /// A generator seeded through splitmix64 (nearby seeds give unrelated
    /// streams; the state is never zero).
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// True with probability `1 / n`; never for `n == 0`.
    pub fn one_in(&mut self, n: u32) -> bool {
        n > 0 && self.below(n as usize) == 0
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi].
    pub fn f32_in(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * self.unit() as f32
    }

    /// Log-uniform in `lo..=hi` (`lo >= 1`): as many sizes from 1 to 10 as
    /// from 1000 to 10000.
    pub fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (l, h) = ((lo as f64).ln(), ((hi + 1) as f64).ln());
        ((l + (h - l) * self.unit()).exp() as usize).clamp(lo, hi)
    }

    /// One of `items`.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// An activation of family `family % 3` (relu, leaky, clipped) with a random
/// legal parameter: the usual ones, the edge cases [`activations`] tests
/// (zero and negative slope, subnormal cap) and arbitrary values.
pub fn random_activation(rng: &mut XorShift, family: usize) -> Activation {
    match family % 3 {
        0 => Activation::Relu,
        1 => {
            let slope = match rng.below(5) {
                0 => 0.01,
                1 => 0.0,
                2 => -1.5,
                _ => rng.f32_in(-2.0, 2.0),
            };
            Activation::LeakyRelu { slope }
        }
        _ => {
            let cap = match rng.below(4) {
                0 => 6.0,
                1 => 1e-40,
                _ => rng.f32_in(0.01, 8.0),
            };
            Activation::ClippedRelu { cap }
        }
    }
}

/// The family index [`random_activation`] takes: 0 relu, 1 leaky, 2 clipped.
pub fn family(activation: Activation) -> usize {
    match activation {
        Activation::Relu => 0,
        Activation::LeakyRelu { .. } => 1,
        Activation::ClippedRelu { .. } => 2,
    }
}

/// Pre-generated values that ops take random windows of, so that each op's
/// data costs a copy rather than a generator run.
pub struct DataPool {
    /// `sample::activations`: uniform in [-4, 4) with one value in 16 special.
    special: Vec<f32>,
    /// Uniform in [-4, 4), no special value: bias-gradient columns whose
    /// error bound applies.
    uniform: Vec<f32>,
}

impl DataPool {
    /// Pools of `len` values each.
    pub fn new(len: usize, rng: &mut XorShift) -> Self {
        let special = wgpu_activations::sample::activations(len, rng.next_u64());
        let uniform = (0..len).map(|_| rng.f32_in(-4.0, 4.0)).collect();
        Self { special, uniform }
    }

    /// `len` values from a random place of one of the pools (special values
    /// two times in three).
    pub fn take(&self, rng: &mut XorShift, len: usize) -> Vec<f32> {
        let source = if rng.below(3) == 0 {
            &self.uniform
        } else {
            &self.special
        };
        assert!(len <= source.len(), "data pool of {} < {len}", source.len());
        let start = rng.below(source.len() - len + 1);
        source[start..start + len].to_vec()
    }
}

/// `result`'s value, or a panic naming the op.
fn ok<T>(what: &str, result: wgpu_activations::Result<T>) -> T {
    result.unwrap_or_else(|error| panic!("{what}: {error}"))
}

/// Random mask words for `len` elements, the bits past the end zero (as a
/// mask's contract has them).
pub fn random_mask_words(rng: &mut XorShift, len: usize) -> Vec<u32> {
    let mut words: Vec<u32> = (0..cpu::mask_words(len))
        .map(|_| rng.next_u64() as u32)
        .collect();
    if !len.is_multiple_of(32) {
        let last = words.len() - 1;
        words[last] &= (1u32 << (len % 32)) - 1;
    }
    words
}

/// The op kinds [`Stress::run`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpKind {
    /// `gpu.relu`.
    Relu,
    /// `gpu.relu_in_place`.
    ReluInPlace,
    /// `gpu.activation`.
    Activation,
    /// `gpu.activation_with_mask`: y and the mask.
    ActivationWithMask,
    /// `gpu.activation_backward` from a mask: the GPU forward pass's, the
    /// reference's uploaded, or random words.
    BackwardFromMask,
    /// `gpu.activation_backward_from_input`.
    BackwardFromInput,
    /// `gpu.bias_add`.
    BiasAdd,
    /// `gpu.bias_activation`.
    BiasActivation,
    /// `gpu.bias_activation_with_mask`: y and the mask.
    BiasActivationWithMask,
    /// `gpu.bias_activation_backward`: dx and db, from a mask as for
    /// [`OpKind::BackwardFromMask`].
    BiasBackward,
    /// 2 to 5 of the ops above recorded into one `Batch`, one submit.
    Batch,
}

impl OpKind {
    /// Every kind.
    pub const ALL: [OpKind; 11] = [
        OpKind::Relu,
        OpKind::ReluInPlace,
        OpKind::Activation,
        OpKind::ActivationWithMask,
        OpKind::BackwardFromMask,
        OpKind::BackwardFromInput,
        OpKind::BiasAdd,
        OpKind::BiasActivation,
        OpKind::BiasActivationWithMask,
        OpKind::BiasBackward,
        OpKind::Batch,
    ];

    /// The position in [`OpKind::ALL`].
    pub fn index(self) -> usize {
        Self::ALL.iter().position(|&k| k == self).unwrap()
    }

    /// Whether the op applies an activation (all but relu and bias add).
    pub fn has_activation(self) -> bool {
        !matches!(self, OpKind::Relu | OpKind::ReluInPlace | OpKind::BiasAdd)
    }
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
    /// with `Tensor::write` (and a reused relu input is written again after
    /// the op was submitted); 0 never.
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
    /// Ops run (a batch counts as one).
    pub ops: usize,
    /// Ops whose every output was compared with the reference.
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
    /// Ops run, by [`OpKind::index`] and activation [`family`] (family 0
    /// for the kinds without an activation).
    pub coverage: [[usize; 3]; OpKind::ALL.len()],
}

impl StressStats {
    /// Adds another's counts to these.
    pub fn add(&mut self, other: &StressStats) {
        self.ops += other.ops;
        self.verified += other.verified;
        self.batched_ops += other.batched_ops;
        self.elements += other.elements;
        self.largest = self.largest.max(other.largest);
        self.downloads += other.downloads;
        self.async_downloads += other.async_downloads;
        self.reused_writes += other.reused_writes;
        self.flushed += other.flushed;
        for (mine, theirs) in self.coverage.iter_mut().zip(&other.coverage) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                *m += t;
            }
        }
    }

    /// Panics unless every kind ran, each with an activation with every
    /// activation family.
    pub fn assert_every_kind_ran(&self) {
        for kind in OpKind::ALL {
            let row = self.coverage[kind.index()];
            let families = if kind.has_activation() { 3 } else { 1 };
            for (f, &count) in row.iter().enumerate().take(families) {
                assert!(count > 0, "{kind:?} never ran with activation family {f}");
            }
        }
    }
}

/// The inputs shared by the ops of one batch.
struct BatchInputs<'a> {
    activation: Activation,
    x: &'a Tensor,
    x_data: &'a [f32],
    dy: &'a Tensor,
    b: &'a Tensor,
    x_mask: &'a Mask,
    bias_mask: &'a Mask,
}

/// One op recorded into a batch, with its outputs to read after the submit.
enum Pending {
    Relu(Tensor),
    ReluInPlace(Tensor),
    Activation(Tensor, Option<Mask>),
    Backward(Tensor),
    BackwardFromInput(Tensor),
    BiasAdd(Tensor),
    BiasActivation(Tensor, Option<Mask>),
    BiasBackward(Tensor, Tensor),
}

/// Runs random ops of random sizes and data on one `Gpu`, reading results
/// back and (when asked) comparing every output with the CPU reference:
/// bit for bit, with the subnormal-flush allowance where the crate gives it,
/// `db` within `bias_gradient_error_bound`. Any mismatch or error panics
/// with the op's label, index, kind, activation and shape.
pub struct Stress<'g> {
    gpu: &'g Gpu,
    label: String,
    rng: XorShift,
    data: DataPool,
    config: StressConfig,
    reused: Vec<Option<Tensor>>,
    verify: bool,
    read_back: bool,
    /// Stats so far.
    pub stats: StressStats,
}

impl<'g> Stress<'g> {
    /// A stream of ops seeded by `seed`; `label` names it in failures.
    pub fn new(gpu: &'g Gpu, label: impl Into<String>, seed: u64, config: StressConfig) -> Self {
        let mut rng = XorShift::new(seed);
        let data = DataPool::new(config.small_max.max(config.large_max) + 4096, &mut rng);
        Self {
            gpu,
            label: label.into(),
            rng,
            data,
            reused: (0..config.reuse_slots).map(|_| None).collect(),
            config,
            verify: false,
            read_back: true,
            stats: StressStats::default(),
        }
    }

    /// The stream's generator (to pick op kinds with).
    pub fn rng(&mut self) -> &mut XorShift {
        &mut self.rng
    }

    /// Drops the kept tensors (their memory is the test's, not a leak).
    pub fn release_kept_tensors(&mut self) {
        self.reused.iter_mut().for_each(|slot| *slot = None);
    }

    /// Runs one op of `kind` with a random activation; with `verify`, reads
    /// every output back and compares it with the reference.
    pub fn run(&mut self, kind: OpKind, verify: bool) {
        let family = self.rng.below(3);
        let activation = random_activation(&mut self.rng, family);
        self.verify = verify;
        self.read_back = verify || !self.rng.one_in(self.config.skip_read_back_one_in);
        self.stats.ops += 1;
        self.stats.verified += usize::from(verify);
        let family = if kind.has_activation() { family } else { 0 };
        self.stats.coverage[kind.index()][family] += 1;
        match kind {
            OpKind::Relu => self.relu(),
            OpKind::ReluInPlace => self.relu_in_place(),
            OpKind::Activation => self.activation(activation, false),
            OpKind::ActivationWithMask => self.activation(activation, true),
            OpKind::BackwardFromMask => self.backward_from_mask(activation),
            OpKind::BackwardFromInput => self.backward_from_input(activation),
            OpKind::BiasAdd => self.bias_add(),
            OpKind::BiasActivation => self.bias_activation(activation, false),
            OpKind::BiasActivationWithMask => self.bias_activation(activation, true),
            OpKind::BiasBackward => self.bias_backward(activation),
            OpKind::Batch => self.batch(activation),
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
        if self.rng.one_in(self.config.empty_one_in) {
            let n = 1 + self.rng.below(40);
            return if self.rng.below(2) == 0 {
                [0, n]
            } else {
                [n, 0]
            };
        }
        let len = if self.rng.one_in(self.config.large_one_in) {
            self.rng
                .log_uniform(self.config.small_max + 1, self.config.large_max)
        } else {
            self.rng.log_uniform(1, self.config.small_max)
        };
        let cols = match self.rng.below(8) {
            0 => len,
            1 => 1,
            _ => self.rng.log_uniform(1, len.min(20_000)),
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
        let (x, data, slot) = if self.rng.one_in(self.config.reuse_one_in) {
            let slot = self.rng.below(self.config.reuse_slots);
            // Now and then the kept tensor is replaced by one of another shape.
            let x = match self.reused[slot].take() {
                Some(x) if !self.rng.one_in(16) => x,
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

    /// Rows of `x` as the fused ops see it: `[len / cols, cols]`.
    fn rows(x: &Tensor) -> usize {
        match x.cols() {
            0 => x.shape()[0],
            cols => x.len() / cols,
        }
    }

    /// Reads `t` back (one time in `async_one_in` through `download_async`),
    /// or nothing for an op that skips its read-back.
    fn fetch(&mut self, what: &str, t: &Tensor) -> Vec<f32> {
        if !self.read_back {
            return Vec::new();
        }
        self.stats.downloads += 1;
        let values = if self.rng.one_in(self.config.async_one_in) {
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

    /// `assert_agrees`, counting the allowance used.
    fn agrees(&mut self, what: &str, input: &[f32], gpu: &[f32], refs: &(Vec<f32>, Vec<f32>)) {
        self.stats.flushed += assert_agrees(what, input, gpu, &refs.0, &refs.1);
    }

    /// A mask for `len` elements to run a backward pass from, and its words:
    /// the reference's (`reference`) uploaded, or random words uploaded.
    fn uploaded_mask(&mut self, what: &str, reference: Vec<u32>, len: usize) -> (Mask, Vec<u32>) {
        let words = if self.rng.below(3) == 0 {
            random_mask_words(&mut self.rng, len)
        } else {
            reference
        };
        (ok(what, Mask::from_words(self.gpu, &words, len)), words)
    }

    fn relu(&mut self) {
        let (x, data, slot) = self.input();
        let what = self.describe("relu", &x);
        let y = ok(&what, self.gpu.relu(&x));
        // A kept x written again after the op was submitted: the op still
        // sees the first data (writes are ordered on the queue).
        let again = if slot.is_some() && self.rng.below(2) == 0 {
            let next = self.take(x.len());
            ok(&what, x.write(&next));
            self.stats.reused_writes += 1;
            Some((ok(&what, self.gpu.relu(&x)), next))
        } else {
            None
        };
        let got = self.fetch(&what, &y);
        if self.verify {
            assert_bit_exact(
                &format!("{what}: y"),
                &data,
                &got,
                &cpu::relu_forward(&data),
            );
        }
        if let Some((y, next)) = again {
            let got = self.fetch(&what, &y);
            if self.verify {
                let expected = cpu::relu_forward(&next);
                assert_bit_exact(&format!("{what}: y after rewrite"), &next, &got, &expected);
            }
        }
        self.give_back(slot, x);
    }

    fn relu_in_place(&mut self) {
        let (mut x, data, slot) = self.input();
        let what = self.describe("relu in place", &x);
        ok(&what, self.gpu.relu_in_place(&mut x));
        let got = self.fetch(&what, &x);
        if self.verify {
            assert_bit_exact(
                &format!("{what}: x"),
                &data,
                &got,
                &cpu::relu_forward(&data),
            );
        }
        self.give_back(slot, x);
    }

    fn activation(&mut self, activation: Activation, with_mask: bool) {
        let (x, data, slot) = self.input();
        let what = self.describe(&format!("{activation} (mask: {with_mask})"), &x);
        let (y, mask) = if with_mask {
            let (y, mask) = ok(&what, self.gpu.activation_with_mask(activation, &x));
            assert_eq!(mask.len(), x.len(), "{what}: mask length");
            (y, Some(mask))
        } else {
            (ok(&what, self.gpu.activation(activation, &x)), None)
        };
        assert_eq!(y.shape(), x.shape(), "{what}: y shape");
        let got = self.fetch(&what, &y);
        let got_mask = mask.map(|m| self.fetch_mask(&what, &m));
        if self.verify {
            self.agrees(
                &format!("{what}: y"),
                &data,
                &got,
                &forward_refs(activation, &data),
            );
            if let Some(got_mask) = got_mask {
                let expected = cpu::forward_with_mask(activation, &data).1;
                assert_mask_exact(&format!("{what}: mask"), &got_mask, &expected);
            }
        }
        self.give_back(slot, x);
    }

    fn backward_from_mask(&mut self, activation: Activation) {
        let (x, data, slot) = self.input();
        let what = self.describe(&format!("{activation} backward from mask"), &x);
        let dy_data = self.take(x.len());
        let dy = self.upload(&dy_data, x.shape());
        // The mask of x: the GPU's own forward pass (whose bits are exact: no
        // arithmetic decides them), or uploaded.
        let reference = cpu::forward_with_mask(activation, &data).1;
        let (mask, words) = if self.rng.below(2) == 0 {
            let (_y, mask) = ok(&what, self.gpu.activation_with_mask(activation, &x));
            (mask, reference)
        } else {
            self.uploaded_mask(&what, reference, x.len())
        };
        let dx = ok(&what, self.gpu.activation_backward(activation, &dy, &mask));
        assert_eq!(dx.shape(), x.shape(), "{what}: dx shape");
        let got = self.fetch(&what, &dx);
        if self.verify {
            let refs = backward_refs(activation, &dy_data, &words);
            self.agrees(&format!("{what}: dx"), &dy_data, &got, &refs);
        }
        self.give_back(slot, x);
    }

    fn backward_from_input(&mut self, activation: Activation) {
        let (x, data, slot) = self.input();
        let what = self.describe(&format!("{activation} backward from input"), &x);
        let dy_data = self.take(x.len());
        let dy = self.upload(&dy_data, x.shape());
        let dx = ok(
            &what,
            self.gpu.activation_backward_from_input(activation, &dy, &x),
        );
        let got = self.fetch(&what, &dx);
        if self.verify {
            let words = cpu::forward_with_mask(activation, &data).1;
            let flushed = backward_refs(activation, &dy_data, &words).1;
            let exact = cpu::backward_from_input(activation, &dy_data, &data);
            self.agrees(&format!("{what}: dx"), &dy_data, &got, &(exact, flushed));
        }
        self.give_back(slot, x);
    }

    fn bias_add(&mut self) {
        let (x, data, slot) = self.input();
        let what = self.describe("bias add", &x);
        let b_data = self.take(x.cols());
        let b = self.upload(&b_data, &[x.cols()]);
        let y = ok(&what, self.gpu.bias_add(&x, &b));
        let got = self.fetch(&what, &y);
        if self.verify {
            let refs = (
                cpu::bias_add(&data, &b_data, Subnormals::Preserve),
                cpu::bias_add(&data, &b_data, Subnormals::FlushToZero),
            );
            self.agrees(&format!("{what}: y"), &data, &got, &refs);
        }
        self.give_back(slot, x);
    }

    fn bias_activation(&mut self, activation: Activation, with_mask: bool) {
        let (x, data, slot) = self.input();
        let what = self.describe(&format!("bias {activation} (mask: {with_mask})"), &x);
        let b_data = self.take(x.cols());
        let b = self.upload(&b_data, &[x.cols()]);
        let (y, mask) = if with_mask {
            let (y, mask) = ok(
                &what,
                self.gpu.bias_activation_with_mask(activation, &x, &b),
            );
            (y, Some(mask))
        } else {
            (
                ok(&what, self.gpu.bias_activation(activation, &x, &b)),
                None,
            )
        };
        let got = self.fetch(&what, &y);
        let got_mask = mask.map(|m| self.fetch_mask(&what, &m));
        if self.verify {
            let refs = BiasRefs::new(activation, &data, &b_data);
            self.agrees(
                &format!("{what}: y"),
                &data,
                &got,
                &(refs.y, refs.y_flushed),
            );
            if let Some(got_mask) = got_mask {
                self.stats.flushed += assert_mask_within_flush(
                    &format!("{what}: mask"),
                    x.len(),
                    &got_mask,
                    &refs.mask,
                    &refs.mask_flushed,
                );
            }
        }
        self.give_back(slot, x);
    }

    fn bias_backward(&mut self, activation: Activation) {
        let (x, data, slot) = self.input();
        let what = self.describe(&format!("bias {activation} backward"), &x);
        let (rows, cols) = (Self::rows(&x), x.cols());
        let b_data = self.take(cols);
        let dy_data = self.take(x.len());
        let dy = self.upload(&dy_data, x.shape());
        let refs = BiasRefs::new(activation, &data, &b_data);
        // The mask of x + b: the GPU's own fused forward pass (read back: a
        // flushed sum may have decided a bit), or uploaded.
        let (mask, words) = if self.rng.below(2) == 0 {
            let b = self.upload(&b_data, &[cols]);
            let (_y, mask) = ok(
                &what,
                self.gpu.bias_activation_with_mask(activation, &x, &b),
            );
            let words = self.fetch_mask(&what, &mask);
            if self.verify {
                self.stats.flushed += assert_mask_within_flush(
                    &format!("{what}: forward mask"),
                    x.len(),
                    &words,
                    &refs.mask,
                    &refs.mask_flushed,
                );
            }
            (mask, words)
        } else {
            self.uploaded_mask(&what, refs.mask, x.len())
        };
        let (dx, db) = ok(
            &what,
            self.gpu.bias_activation_backward(activation, &dy, &mask),
        );
        assert_eq!(dx.shape(), x.shape(), "{what}: dx shape");
        assert_eq!(db.shape(), &[cols], "{what}: db shape");
        let got_dx = self.fetch(&what, &dx);
        let got_db = self.fetch(&what, &db);
        if self.verify {
            let refs = backward_refs(activation, &dy_data, &words);
            self.agrees(&format!("{what}: dx"), &dy_data, &got_dx, &refs);
            assert_db_within_bound(&format!("{what}: db"), &got_db, &refs.0, rows);
        }
        self.give_back(slot, x);
    }

    fn batch(&mut self, activation: Activation) {
        let (x, data, slot) = self.input();
        let count = 2 + self.rng.below(4);
        let what = self.describe(&format!("batch of {count}, {activation}"), &x);
        let (rows, cols) = (Self::rows(&x), x.cols());
        let dy_data = self.take(x.len());
        let dy = self.upload(&dy_data, x.shape());
        let b_data = self.take(cols);
        let b = self.upload(&b_data, &[cols]);
        let x_words = cpu::forward_with_mask(activation, &data).1;
        let bias_refs = BiasRefs::new(activation, &data, &b_data);
        let x_mask = ok(&what, Mask::from_words(self.gpu, &x_words, x.len()));
        let bias_mask = ok(&what, Mask::from_words(self.gpu, &bias_refs.mask, x.len()));
        let inputs = BatchInputs {
            activation,
            x: &x,
            x_data: &data,
            dy: &dy,
            b: &b,
            x_mask: &x_mask,
            bias_mask: &bias_mask,
        };
        let mut batch = self.gpu.batch();
        let pending: Vec<Pending> = (0..count)
            .map(|_| self.record(&what, &mut batch, &inputs))
            .collect();
        assert_eq!(batch.len(), count, "{what}: ops in the batch");
        self.stats.batched_ops += count;
        if self.rng.below(2) == 0 {
            ok(&what, batch.submit());
        } else {
            ok(&what, batch.submit_and_wait());
        }

        for (i, op) in pending.into_iter().enumerate() {
            let what = format!("{what}, op {i}");
            match op {
                Pending::Relu(y) | Pending::ReluInPlace(y) => {
                    let got = self.fetch(&what, &y);
                    if self.verify {
                        let expected = cpu::relu_forward(&data);
                        assert_bit_exact(&format!("{what}: relu"), &data, &got, &expected);
                    }
                }
                Pending::Activation(y, mask) => {
                    let got = self.fetch(&what, &y);
                    let got_mask = mask.map(|m| self.fetch_mask(&what, &m));
                    if self.verify {
                        let refs = forward_refs(activation, &data);
                        self.agrees(&format!("{what}: y"), &data, &got, &refs);
                        if let Some(got_mask) = got_mask {
                            assert_mask_exact(&format!("{what}: mask"), &got_mask, &x_words);
                        }
                    }
                }
                Pending::Backward(dx) | Pending::BackwardFromInput(dx) => {
                    let got = self.fetch(&what, &dx);
                    if self.verify {
                        let refs = backward_refs(activation, &dy_data, &x_words);
                        self.agrees(&format!("{what}: dx"), &dy_data, &got, &refs);
                    }
                }
                Pending::BiasAdd(y) => {
                    let got = self.fetch(&what, &y);
                    if self.verify {
                        let refs = (
                            cpu::bias_add(&data, &b_data, Subnormals::Preserve),
                            cpu::bias_add(&data, &b_data, Subnormals::FlushToZero),
                        );
                        self.agrees(&format!("{what}: bias add"), &data, &got, &refs);
                    }
                }
                Pending::BiasActivation(y, mask) => {
                    let got = self.fetch(&what, &y);
                    let got_mask = mask.map(|m| self.fetch_mask(&what, &m));
                    if self.verify {
                        let refs = (bias_refs.y.clone(), bias_refs.y_flushed.clone());
                        self.agrees(&format!("{what}: bias y"), &data, &got, &refs);
                        if let Some(got_mask) = got_mask {
                            self.stats.flushed += assert_mask_within_flush(
                                &format!("{what}: bias mask"),
                                x.len(),
                                &got_mask,
                                &bias_refs.mask,
                                &bias_refs.mask_flushed,
                            );
                        }
                    }
                }
                Pending::BiasBackward(dx, db) => {
                    let got_dx = self.fetch(&what, &dx);
                    let got_db = self.fetch(&what, &db);
                    if self.verify {
                        let refs = backward_refs(activation, &dy_data, &bias_refs.mask);
                        self.agrees(&format!("{what}: bias dx"), &dy_data, &got_dx, &refs);
                        assert_db_within_bound(&format!("{what}: db"), &got_db, &refs.0, rows);
                    }
                }
            }
        }
        self.give_back(slot, x);
    }

    /// Records one random op into `batch`, with fresh outputs.
    fn record(&mut self, what: &str, batch: &mut Batch, inputs: &BatchInputs) -> Pending {
        let gpu = self.gpu;
        let shape = inputs.x.shape();
        let len = inputs.x.len();
        let output = |what: &str| ok(what, Tensor::uninit(gpu, shape));
        let mask = |what: &str| ok(what, Mask::uninit(gpu, len));
        let activation = inputs.activation;
        let what = &format!("{what}: recording");
        match self.rng.below(8) {
            0 => {
                let y = output(what);
                ok(what, batch.relu(inputs.x, &y));
                Pending::Relu(y)
            }
            1 => {
                let mut z = ok(
                    what,
                    Tensor::from_slice_with_shape(gpu, inputs.x_data, shape),
                );
                ok(what, batch.relu_in_place(&mut z));
                Pending::ReluInPlace(z)
            }
            2 => {
                let y = output(what);
                let m = (self.rng.below(2) == 0).then(|| mask(what));
                ok(what, batch.activation(activation, inputs.x, &y, m.as_ref()));
                Pending::Activation(y, m)
            }
            3 => {
                let dx = output(what);
                ok(
                    what,
                    batch.activation_backward(activation, inputs.dy, inputs.x_mask, &dx),
                );
                Pending::Backward(dx)
            }
            4 => {
                let dx = output(what);
                ok(
                    what,
                    batch.activation_backward_from_input(activation, inputs.dy, inputs.x, &dx),
                );
                Pending::BackwardFromInput(dx)
            }
            5 => {
                let y = output(what);
                ok(what, batch.bias_add(inputs.x, inputs.b, &y));
                Pending::BiasAdd(y)
            }
            6 => {
                let y = output(what);
                let m = (self.rng.below(2) == 0).then(|| mask(what));
                ok(
                    what,
                    batch.bias_activation(activation, inputs.x, inputs.b, &y, m.as_ref()),
                );
                Pending::BiasActivation(y, m)
            }
            _ => {
                let dx = output(what);
                let db = ok(what, Tensor::uninit(gpu, &[inputs.x.cols()]));
                ok(
                    what,
                    batch.bias_activation_backward(
                        activation,
                        inputs.dy,
                        inputs.bias_mask,
                        &dx,
                        &db,
                    ),
                );
                Pending::BiasBackward(dx, db)
            }
        }
    }
}
