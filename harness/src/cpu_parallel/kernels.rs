//! The loops of the baseline, one per kind of part, each run with the
//! widest SIMD instructions the CPU has ([`vectorized`]).
//!
//! A loop is a struct holding its operands (and its rule, by value) whose
//! [`Kernel::run`] is `#[inline(always)]`: [`pulp`] compiles it inside a
//! function with the CPU's features enabled (AVX2 and FMA on x86-64 v3),
//! where the compiler vectorises it 8 lanes wide; the build's own target
//! (SSE2 on x86-64) gets 4. A closure in its place is not always inlined
//! there, and then runs with SSE2 only: the fused backward's loop did
//! (measured in its assembly).

use std::sync::OnceLock;

use pulp::{Arch, Simd, WithSimd};

use super::rules::{Rule, WORD, add, backward_word, pack, relu};

/// A loop over one part of an op's operands.
pub(super) trait Kernel {
    /// Runs the loop; implementations are `#[inline(always)]`.
    fn run(self);
}

/// Runs `kernel` compiled for the best instruction set the CPU has
/// (detected once).
pub(super) fn vectorized(kernel: impl Kernel) {
    static ARCH: OnceLock<Arch> = OnceLock::new();
    ARCH.get_or_init(Arch::new).dispatch(Dispatched(kernel));
}

struct Dispatched<K>(K);

impl<K: Kernel> WithSimd for Dispatched<K> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        self.0.run();
    }
}

/// `y = rule.forward(x)`.
pub(super) struct Forward<'a, R> {
    pub rule: R,
    pub x: &'a [f32],
    pub y: &'a mut [f32],
}

impl<R: Rule> Kernel for Forward<'_, R> {
    #[inline(always)]
    fn run(self) {
        for (out, &v) in self.y.iter_mut().zip(self.x) {
            *out = self.rule.forward(v);
        }
    }
}

/// `data = relu(data)`.
pub(super) struct ReluInPlace<'a> {
    pub data: &'a mut [f32],
}

impl Kernel for ReluInPlace<'_> {
    #[inline(always)]
    fn run(self) {
        for v in self.data {
            *v = relu(*v);
        }
    }
}

/// `y = rule.forward(x)` and the mask words of `x` (`x` starts at a word).
pub(super) struct ForwardWithMask<'a, R> {
    pub rule: R,
    pub x: &'a [f32],
    pub y: &'a mut [f32],
    pub mask: &'a mut [u32],
}

impl<R: Rule> Kernel for ForwardWithMask<'_, R> {
    #[inline(always)]
    fn run(self) {
        let rule = self.rule;
        let groups = self.y.chunks_mut(WORD).zip(self.x.chunks(WORD));
        for (word, (y, x)) in self.mask.iter_mut().zip(groups) {
            for (out, &v) in y.iter_mut().zip(x) {
                *out = rule.forward(v);
            }
            *word = pack(rule, x);
        }
    }
}

/// `dx` of elements `start..start + dx.len()` of a masked backward, `start`
/// anywhere: the bits of its first, partial word shifted into place, then
/// whole words.
pub(super) struct Backward<'a, R> {
    pub rule: R,
    /// `dy` of the same elements.
    pub dy: &'a [f32],
    /// The whole mask.
    pub mask: &'a [u32],
    pub start: usize,
    pub dx: &'a mut [f32],
}

impl<R: Rule> Kernel for Backward<'_, R> {
    #[inline(always)]
    fn run(self) {
        let Self {
            rule,
            dy,
            mask,
            start,
            dx,
        } = self;
        let head = ((WORD - start % WORD) % WORD).min(dx.len());
        let (dx_head, dx) = dx.split_at_mut(head);
        let (dy_head, dy) = dy.split_at(head);
        if head > 0 {
            backward_word(rule, mask[start / WORD] >> (start % WORD), dy_head, dx_head);
        }
        let words = &mask[(start + head) / WORD..];
        for (&word, (dx, dy)) in words.iter().zip(dx.chunks_mut(WORD).zip(dy.chunks(WORD))) {
            backward_word(rule, word, dy, dx);
        }
    }
}

/// `dx = rule.gradient(x, dy)`.
pub(super) struct BackwardFromInput<'a, R> {
    pub rule: R,
    pub dy: &'a [f32],
    pub x: &'a [f32],
    pub dx: &'a mut [f32],
}

impl<R: Rule> Kernel for BackwardFromInput<'_, R> {
    #[inline(always)]
    fn run(self) {
        let rule = self.rule;
        for ((out, &d), &v) in self.dx.iter_mut().zip(self.dy).zip(self.x) {
            *out = rule.gradient(v, d);
        }
    }
}

/// `y[i] = f(x[i], b[(start + i) % b.len()])`.
pub(super) struct BiasMap<'a, F> {
    pub f: F,
    /// Element index of `x[0]` in the row-major matrix.
    pub start: usize,
    pub x: &'a [f32],
    pub b: &'a [f32],
    pub y: &'a mut [f32],
}

impl<F: Fn(f32, f32) -> f32 + Copy> Kernel for BiasMap<'_, F> {
    #[inline(always)]
    fn run(self) {
        let Self { f, start, x, b, y } = self;
        let cols = b.len();
        if cols == 0 {
            return;
        }
        // One row's piece at a time, each with the bias of its columns.
        let (mut done, mut column) = (0, start % cols);
        while done < y.len() {
            let n = (cols - column).min(y.len() - done);
            let (y, x) = (&mut y[done..done + n], &x[done..done + n]);
            for ((out, &v), &b) in y.iter_mut().zip(x).zip(&b[column..column + n]) {
                *out = f(v, b);
            }
            done += n;
            column = 0;
        }
    }
}

/// `y = rule.forward(x + b)` and the mask words of `x + b` (`x` starts at
/// a word).
pub(super) struct BiasForwardWithMask<'a, R> {
    pub rule: R,
    /// Element index of `x[0]` in the row-major matrix.
    pub start: usize,
    pub x: &'a [f32],
    pub b: &'a [f32],
    pub y: &'a mut [f32],
    pub mask: &'a mut [u32],
}

impl<R: Rule> Kernel for BiasForwardWithMask<'_, R> {
    #[inline(always)]
    fn run(self) {
        let Self {
            rule,
            start,
            x,
            b,
            y,
            mask,
        } = self;
        // The sums first (row by row), then the activations and each word's
        // bits from them, while the part is in cache.
        BiasMap {
            f: add,
            start,
            x,
            b,
            y: &mut *y,
        }
        .run();
        for (word, y) in mask.iter_mut().zip(y.chunks_mut(WORD)) {
            *word = pack(rule, y);
            for v in y {
                *v = rule.forward(*v);
            }
        }
    }
}

/// Adds the rows of `data` (whole rows of `cols` columns), columns
/// `first..first + sums.len()`, to `sums` in f64, in row order.
pub(super) struct ColumnSums<'a> {
    pub data: &'a [f32],
    pub cols: usize,
    pub first: usize,
    pub sums: &'a mut [f64],
}

impl Kernel for ColumnSums<'_> {
    #[inline(always)]
    fn run(self) {
        let width = self.sums.len();
        for row in self.data.chunks_exact(self.cols) {
            let row = &row[self.first..self.first + width];
            for (sum, &v) in self.sums.iter_mut().zip(row) {
                *sum += f64::from(v);
            }
        }
    }
}

/// Runs `kernel` compiled for `arch`, so that the tests run every kernel on
/// the scalar fallback as well as on the CPU's best instruction set.
#[cfg(test)]
pub(super) fn on_arch(arch: Arch, kernel: impl Kernel) {
    arch.dispatch(Dispatched(kernel));
}
