//! The values and shapes the property tests draw, with shrinking that ends
//! at a minimal failing input.

use std::fmt;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::{NewTree, ValueTree};
use proptest::test_runner::TestRunner;
use wgpu_activations::Activation;

/// An f32 as its bit pattern, printed in hex so that a failing input shows
/// NaN payloads, signs of zero and subnormals exactly.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Bits(pub u32);

impl fmt::Debug for Bits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

pub(super) fn floats(bits: &[Bits]) -> Vec<f32> {
    bits.iter().map(|b| f32::from_bits(b.0)).collect()
}

/// The classes of [`value`], by how often each is drawn out of
/// [`CLASSES`]: ordinary values first, so that shrinking (toward class 0
/// and word 0) ends at 0.0 unless the failure needs a special value.
const CLASSES: u8 = 21;

/// Magnitudes drawn exactly: the relu6 cap and its neighbours, 0.5, 1, 2.
const EXACT: &[u32] = &[
    0x40c0_0000,
    0x40bf_ffff,
    0x40c0_0001,
    0x3f00_0000,
    0x3f80_0000,
    0x4000_0000,
];

/// The f32 that a random word means in a class: the sign from its top bit,
/// the rest from its low bits.
fn bits_of(class: u8, word: u32) -> Bits {
    let sign = word & 0x8000_0000;
    let low = word & 0x7fff_ffff;
    let magnitude = match class {
        // Ordinary values in [-8, 8).
        0..=4 => return Bits((word as i32 as f32 / (1u32 << 28) as f32).to_bits()),
        // Exact small values.
        5 => EXACT[low as usize % EXACT.len()],
        // Quiet NaNs, any payload (none included).
        6 | 7 => 0x7fc0_0000 | (low & 0x003f_ffff),
        // Signalling NaNs: quiet bit clear, payload non-zero.
        8 | 9 => 0x7f80_0000 | (low & 0x003f_ffff).max(1),
        // Zero and infinity.
        10 | 11 => [0, 0x7f80_0000][(low & 1) as usize],
        // Subnormals: the smallest, the largest, any.
        12..=14 => match low % 4 {
            0 => 1,
            1 => 0x007f_ffff,
            _ => ((low >> 2) & 0x007f_ffff).max(1),
        },
        // The normal edges: MIN_POSITIVE and MAX.
        15 => [0x0080_0000, 0x7f7f_ffff][(low & 1) as usize],
        // The smallest normals: their sums and leaky products fall among the
        // subnormals, where a GPU may flush.
        16 | 17 => 0x0080_0000 + low % 0x0180_0000,
        // Any bits.
        _ => return Bits(word),
    };
    Bits(sign | magnitude)
}

/// f32 bit patterns of every class, both signs: ordinary values, NaNs quiet
/// and signalling with various payloads, ±inf, ±0, subnormals (smallest,
/// largest, any), MIN_POSITIVE and MAX, the smallest normals, random bits.
/// A class and a word rather than a union of strategies, because drawing
/// thousands of elements a case must stay cheap in a debug build.
pub(super) fn value() -> impl Strategy<Value = Bits> + Clone {
    ZeroFirst((0..CLASSES, any::<u32>()).prop_map(|(class, word)| bits_of(class, word)))
}

/// A value strategy that shrinks straight to +0.0 first, which an element
/// that does not matter to a failure takes in one step, and only then (if
/// the failure needs that element) by its class and word: the minimal input
/// of a failure on a long vector is found in a few shrinking iterations per
/// element, not dozens.
#[derive(Clone, Debug)]
struct ZeroFirst<S>(S);

struct ZeroFirstTree<T> {
    inner: T,
    state: Shrinking,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Shrinking {
    /// The generated value; +0.0 not tried yet.
    Generated,
    /// Trying +0.0.
    TryingZero,
    /// +0.0 still failed: nothing simpler.
    Zero,
    /// +0.0 passed: shrinking the generated value as its strategy does.
    Inner,
}

impl<S: Strategy<Value = Bits>> Strategy for ZeroFirst<S> {
    type Tree = ZeroFirstTree<S::Tree>;
    type Value = Bits;

    fn new_tree(&self, runner: &mut TestRunner) -> NewTree<Self> {
        Ok(ZeroFirstTree {
            inner: self.0.new_tree(runner)?,
            state: Shrinking::Generated,
        })
    }
}

impl<T: ValueTree<Value = Bits>> ValueTree for ZeroFirstTree<T> {
    type Value = Bits;

    fn current(&self) -> Bits {
        match self.state {
            Shrinking::TryingZero | Shrinking::Zero => Bits(0),
            Shrinking::Generated | Shrinking::Inner => self.inner.current(),
        }
    }

    fn simplify(&mut self) -> bool {
        match self.state {
            Shrinking::Generated if self.inner.current() != Bits(0) => {
                self.state = Shrinking::TryingZero;
                true
            }
            Shrinking::Generated | Shrinking::TryingZero | Shrinking::Zero => {
                self.state = Shrinking::Zero;
                false
            }
            Shrinking::Inner => self.inner.simplify(),
        }
    }

    fn complicate(&mut self) -> bool {
        match self.state {
            Shrinking::TryingZero => {
                self.state = Shrinking::Inner;
                true
            }
            Shrinking::Inner => self.inner.complicate(),
            Shrinking::Generated | Shrinking::Zero => false,
        }
    }
}

/// Element counts: empty, tiny, around a mask word (32), a vec4, a
/// workgroup (256) and beyond, up to a few thousand, mostly short.
const EDGE_LENGTHS: &[usize] = &[
    0, 1, 2, 3, 4, 5, 7, 8, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513,
    1021, 1024, 1031, 2053, 4093, 4096, 4099,
];

/// Vectors of `element` of the lengths above, or any length up to 4100
/// (primes and non-multiples of 4, 32, 64 and 256 among them). Shrinking
/// removes elements.
pub(super) fn vectors<T>(element: T) -> impl Strategy<Value = Vec<T::Value>>
where
    T: Strategy + Clone + 'static,
{
    let edge = element.clone();
    prop_oneof![
        3 => vec(element.clone(), 0..=40),
        2 => vec(element.clone(), 0..=300),
        1 => vec(element, 0..=4100),
        1 => select(EDGE_LENGTHS).prop_flat_map(move |len| vec(edge.clone(), len)),
    ]
}

/// Any finite slope: the usual ones, zero of each sign (0 * -inf is the
/// canonical NaN), negative, subnormal, huge.
fn slope() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NEGATIVE, NORMAL, POSITIVE, SUBNORMAL, ZERO};
    prop_oneof![
        2 => select(vec![
            0.01f32,
            0.0,
            -0.0,
            0.25,
            -1.5,
            1.0,
            -1.0,
            1e-40,
            f32::MIN_POSITIVE,
            1e-30,
            f32::MAX,
            -f32::MAX,
        ]),
        2 => -4.0f32..4.0,
        1 => POSITIVE | NEGATIVE | NORMAL | SUBNORMAL | ZERO,
    ]
}

/// Any finite cap above zero: 6 (ReLU6), small, subnormal, huge.
fn cap() -> impl Strategy<Value = f32> {
    use proptest::num::f32::{NORMAL, POSITIVE, SUBNORMAL};
    prop_oneof![
        2 => select(vec![
            6.0f32,
            1.0,
            0.5,
            2.0,
            f32::MIN_POSITIVE,
            1e-40,
            f32::from_bits(1),
            3e38,
            f32::MAX,
        ]),
        2 => 0.001f32..10.0,
        1 => POSITIVE | NORMAL | SUBNORMAL,
    ]
}

/// Every variant of [`Activation`] (one per entry of
/// [`Activation::examples`]): the ReLU family's with a legal parameter
/// drawn from the slope and cap cases whatever the variant, so a new
/// variant needs no edit here; the smooth ones with their example's
/// parameters, the ones whose bound `accuracy` measures.
pub(super) fn activation() -> impl Strategy<Value = Activation> {
    (select(Activation::examples()), prop_oneof![slope(), cap()])
        .prop_map(|(example, parameter)| {
            if example.is_smooth() {
                example
            } else {
                example.with_parameter(parameter)
            }
        })
        .prop_filter("a legal parameter", |a| a.validate().is_ok())
}

/// [`activation`] of the ReLU family alone: the activations that save a
/// mask, for the properties of the mask ops.
pub(super) fn mask_activation() -> impl Strategy<Value = Activation> {
    activation().prop_filter("saves a mask", |a| !a.is_smooth())
}

/// A `[rows, cols]` operand of the fused ops: `rows` of `cols` elements each,
/// and `cols` bias values where the op takes a bias.
#[derive(Clone, Debug)]
pub(super) struct Fused<T> {
    pub cols: usize,
    pub bias: Vec<Bits>,
    pub rows: Vec<Vec<T>>,
}

impl<T: Clone> Fused<T> {
    pub fn shape(&self) -> [usize; 2] {
        [self.rows.len(), self.cols]
    }

    pub fn len(&self) -> usize {
        self.rows.len() * self.cols
    }

    /// The elements, row-major.
    pub fn flat(&self) -> Vec<T> {
        self.rows.iter().flatten().cloned().collect()
    }
}

/// Row lengths: one, a few, not multiples of 4, around 32 and 256, up to
/// 1100, and none at all (the bias itself is empty then).
fn cols() -> impl Strategy<Value = usize> {
    prop_oneof![
        4 => 1usize..=8,
        3 => 9usize..=70,
        2 => select(vec![16usize, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 258]),
        2 => 71usize..=1100,
        1 => Just(0usize),
    ]
}

/// [`Fused`] operands: any row length with up to about 2048 elements (zero
/// rows included), or one to four columns of 8100 to 8400 elements, just
/// past the end of the bias gradient's first row block (32 rows on each of
/// 256 / tile-width lanes: 8192 rows of one column, 2048 of four).
/// Shrinking removes rows and simplifies values at a fixed row length; a
/// smaller row length draws new rows.
pub(super) fn fused<T>(element: T, bias: bool) -> impl Strategy<Value = Fused<T::Value>>
where
    T: Strategy + Clone + 'static,
{
    let tall = element.clone();
    let bias_len = move |cols: usize| if bias { cols } else { 0 };
    prop_oneof![
        12 => cols().prop_flat_map(move |cols| {
            let max_rows = 2048usize.checked_div(cols).map_or(9, |rows| rows.max(3));
            (
                Just(cols),
                vec(value(), bias_len(cols)),
                prop_oneof![
                    vec(vec(element.clone(), cols), 0..=3),
                    vec(vec(element.clone(), cols), 0..=max_rows),
                ],
            )
        }),
        1 => (1usize..=4).prop_flat_map(move |cols| {
            (
                Just(cols),
                vec(value(), bias_len(cols)),
                vec(vec(tall.clone(), cols), 8100 / cols..=8400 / cols),
            )
        }),
    ]
    .prop_map(|(cols, bias, rows)| Fused { cols, bias, rows })
}
