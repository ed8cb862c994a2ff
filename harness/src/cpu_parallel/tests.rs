//! The baseline against the reference, bit for bit: every op, special
//! values, lengths around the chunk and word sizes, several thread counts.

use super::kernels::on_arch;
use super::*;
use crate::sample;
use pulp::Arch;
use wgpu_activations::DType;
use wgpu_activations::cpu::{SPECIAL_BITS, Subnormals};

/// 0, 1, around a word, primes, and around and past [`CHUNK`] (so the
/// pools split the work, with a short last chunk).
const LENGTHS: &[usize] = &[
    0,
    1,
    2,
    31,
    32,
    33,
    97,
    1000,
    CHUNK - 1,
    CHUNK + 1,
    3 * CHUNK + 17,
    100_003,
];
/// Thread counts besides the machine's own ([`threads`]).
const THREADS: &[usize] = &[0, 1, 2, 3, 8];

/// [`THREADS`] and [`available_threads`], the count the benchmarks use.
fn threads() -> Vec<usize> {
    let mut all = THREADS.to_vec();
    if !all.contains(&available_threads()) {
        all.push(available_threads());
    }
    all
}
/// `(rows, cols)` of the bias tests; cols 0 only with no rows, the one
/// empty-bias shape the reference accepts.
const SHAPES: &[(usize, usize)] = &[
    (0, 5),
    (0, 0),
    (1, 1),
    (7, 33),
    (3, 1031),
    (1000, 257),
    (3001, 3),
    (5, CHUNK + 3),
    (97, 1024),
];

/// The ReLU family's [`Activation::examples`] (the tuned loops; a smooth
/// activation's baseline is the reference itself, covered through [`ops`])
/// and parameters at the edges: a zero slope (`0 * -inf` is the canonical
/// NaN), a negative one, a subnormal cap.
fn activations() -> Vec<Activation> {
    let mut all: Vec<Activation> = Activation::examples()
        .into_iter()
        .filter(|a| !a.is_smooth())
        .collect();
    all.extend([
        Activation::LeakyRelu { slope: 0.0 },
        Activation::LeakyRelu { slope: -0.5 },
        Activation::ClippedRelu {
            cap: f32::from_bits(1),
        },
    ]);
    all
}

/// Every op of every activation of [`activations`], and those without one.
fn ops() -> Vec<Op> {
    let mut ops = Op::all();
    for a in activations() {
        for op in Op::of_activation(a) {
            if !ops.contains(&op) {
                ops.push(op);
            }
        }
    }
    ops
}

fn assert_same(actual: &[f32], expected: &[f32], what: &str) {
    assert_eq!(actual.len(), expected.len(), "{what}: length");
    if let Some(i) = (0..actual.len()).find(|&i| actual[i].to_bits() != expected[i].to_bits()) {
        panic!(
            "{what}: element {i} is {:#010x}, the reference {:#010x}",
            actual[i].to_bits(),
            expected[i].to_bits()
        );
    }
}

/// `db` of [`bias_backward`] on `threads` threads against the reference's
/// (`expected`, from `dx`'s `[rows, cols]`): the same bits on one thread;
/// on more, the same bits, or both NaN, or within [`db_bound`] of it.
fn assert_db(db: &[f32], expected: &[f32], dx: &[f32], threads: usize, what: &str) {
    if threads <= 1 {
        return assert_same(db, expected, what);
    }
    assert_eq!(db.len(), expected.len(), "{what}: length");
    let cols = expected.len();
    let rows = dx.len().checked_div(cols).unwrap_or(0);
    for (c, (&got, &want)) in db.iter().zip(expected).enumerate() {
        let abs_sum: f64 = (0..rows).map(|r| f64::from(dx[r * cols + c]).abs()).sum();
        let close = (f64::from(got) - f64::from(want)).abs() <= db_bound(rows, abs_sum);
        assert!(
            got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()) || close,
            "{what}: column {c} is {got:e}, the reference {want:e} (absolute sum {abs_sum:e})"
        );
    }
}

/// Xorshift32 words: masks with every bit pattern, including set bits past
/// the last element (which must be ignored).
fn words(len: usize, seed: u32) -> Vec<u32> {
    let mut state = seed.max(1);
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        })
        .collect()
}

/// `run(op)` against `op.reference` (and `cpu::bias_backward`'s `db`) on
/// `inputs`, at every thread count.
fn assert_op_matches(op: Op, inputs: &HostInputs, at: &str) {
    let expected = op.reference(inputs, Subnormals::Preserve).unwrap();
    let saved = if op.reads_mask() {
        inputs.saved_mask(op)
    } else {
        Vec::new()
    };
    let saved_values = if op.reads_output() {
        inputs.saved_output_in(op, DType::F32)
    } else if op.reads_preactivation() {
        inputs.saved_preactivation_in(op, DType::F32)
    } else {
        Vec::new()
    };
    for threads in threads() {
        let at = format!("{op}, {at}, {threads} threads");
        let mut outputs = Outputs::new(op, inputs);
        // Stale outputs are overwritten, mask bits past the end cleared.
        outputs.mask.fill(u32::MAX);
        outputs.db.fill(f32::NAN);
        run(op, inputs, &saved, &saved_values, &mut outputs, threads);
        // Twice: the in-place op runs on its own output, the pools are reused.
        run(op, inputs, &saved, &saved_values, &mut outputs, threads);
        assert_same(&outputs.values, &expected.values, &at);
        assert_eq!(
            Some(&outputs.mask).filter(|_| op.writes_mask()),
            expected.mask.as_ref(),
            "mask: {at}"
        );
        if let Op::BiasBackward(a) = op {
            let used = inputs.used(op);
            let (dx, db) = cpu::bias_backward(a, &inputs.dy[..used], &saved, inputs.cols());
            assert_db(&outputs.db, &db, &dx, threads, &format!("db: {at}"));
        }
    }
}

#[test]
fn every_op_matches_the_reference_at_every_length() {
    let ops = ops();
    for &len in LENGTHS {
        let inputs = HostInputs {
            x: sample::activations(len, 11),
            dy: sample::activations(len, 12),
            bias: Vec::new(),
        };
        for &op in ops.iter().filter(|op| !op.uses_bias()) {
            assert_op_matches(op, &inputs, &format!("{len} elements"));
        }
    }
}

#[test]
fn every_bias_op_matches_the_reference_at_every_shape() {
    let ops = ops();
    for &(rows, cols) in SHAPES {
        // Three more elements than whole rows: the ops use whole rows only.
        let len = rows * cols + if cols > 0 { 3 } else { 0 };
        let inputs = HostInputs {
            x: sample::activations(len, 31),
            dy: sample::activations(len, 32),
            bias: sample::activations(cols, 33),
        };
        for &op in ops.iter().filter(|op| op.uses_bias()) {
            assert_op_matches(op, &inputs, &format!("{rows}x{cols}"));
        }
    }
}

#[test]
fn every_pair_of_special_values_matches() {
    // x[r, c] = special r, b[c] = special c: every sum of two specials, and
    // dy the specials in the other order.
    let specials = cpu::special_values();
    let n = specials.len();
    let x: Vec<f32> = (0..n * n).map(|i| specials[i / n]).collect();
    let dy: Vec<f32> = (0..n * n).map(|i| specials[i % n]).collect();
    let inputs = HostInputs {
        x,
        dy,
        bias: specials,
    };
    assert_eq!(inputs.rows(), SPECIAL_BITS.len());
    for op in ops() {
        assert_op_matches(op, &inputs, "special pairs");
    }
}

#[test]
fn backward_ignores_bits_past_the_end_and_extra_words() {
    for &len in LENGTHS {
        let dy = sample::activations(len, 41);
        let mask = words(cpu::mask_words(len) + 2, 42);
        for a in activations() {
            let expected = cpu::backward(a, &dy, &mask);
            for &threads in THREADS {
                assert_same(
                    &backward(a, &dy, &mask, threads),
                    &expected,
                    &format!("{a}, {len} elements, {threads} threads"),
                );
            }
        }
    }
}

#[test]
fn bias_backward_over_several_tiles_and_parts_matches_the_reference() {
    // 618,600 elements: two tiles of whole rows, 1031 columns, random bits.
    let (rows, cols) = (600, 1031);
    let dy = sample::activations(rows * cols, 51);
    let mask = words(cpu::mask_words(rows * cols), 52);
    let (dx_ref, db_ref) = cpu::bias_backward(Activation::Relu, &dy, &mask, cols);
    for threads in [1, 2, 8] {
        let (dx, db) = bias_backward(Activation::Relu, &dy, &mask, cols, threads);
        assert_same(&dx, &dx_ref, &format!("dx, {threads} threads"));
        assert_db(
            &db,
            &db_ref,
            &dx_ref,
            threads,
            &format!("db, {threads} threads"),
        );
        // Deterministic: the same bits again.
        let (_, again) = bias_backward(Activation::Relu, &dy, &mask, cols, threads);
        assert_same(&again, &db, &format!("db again, {threads} threads"));
    }
}

#[test]
fn column_sums_are_the_references_f64_sums() {
    for &(rows, cols) in SHAPES {
        let data = sample::activations(rows * cols, 61);
        let reference = cpu::column_sums(&data, cols);
        for &threads in THREADS {
            let sums = column_sums(&data, cols, threads);
            let bits = |v: &[f64]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(&sums),
                bits(&reference),
                "{rows}x{cols}, {threads} threads"
            );
        }
    }
}

#[test]
fn the_allocating_forms_match_their_into_forms() {
    let x = sample::activations(3 * CHUNK + 5, 71);
    let b = sample::activations(7, 72);
    let x_rows = &x[..x.len() / 7 * 7];
    for threads in [1, 4] {
        assert_same(&relu_forward(&x, threads), &cpu::relu_forward(&x), "relu");
        let mut in_place = x.clone();
        relu_forward_in_place(&mut in_place, threads);
        assert_same(&in_place, &cpu::relu_forward(&x), "in place");
        for a in activations() {
            assert_same(&forward(a, &x, threads), &cpu::forward(a, &x), "forward");
            let (y, mask) = forward_with_mask(a, &x, threads);
            let (y_ref, mask_ref) = cpu::forward_with_mask(a, &x);
            assert_same(&y, &y_ref, "forward_with_mask");
            assert_eq!(mask, mask_ref, "{a}");
            assert_same(
                &backward_from_input(a, &x, &x, threads),
                &cpu::backward_from_input(a, &x, &x),
                "backward_from_input",
            );
            assert_same(
                &bias_forward(a, x_rows, &b, threads),
                &cpu::bias_forward(a, x_rows, &b),
                "bias_forward",
            );
            let (y, mask) = bias_forward_with_mask(a, x_rows, &b, threads);
            let (y_ref, mask_ref) = cpu::bias_forward_with_mask(a, x_rows, &b);
            assert_same(&y, &y_ref, "bias_forward_with_mask");
            assert_eq!(mask, mask_ref, "{a}");
        }
        assert_same(
            &bias_add(x_rows, &b, threads),
            &cpu::bias_add(x_rows, &b, Subnormals::Preserve),
            "bias_add",
        );
    }
}

#[test]
fn a_pool_is_built_once_per_thread_count() {
    assert!(Arc::ptr_eq(&pool(3), &pool(3)));
    assert!(!Arc::ptr_eq(&pool(3), &pool(2)));
    assert_eq!(pool(3).current_num_threads(), 3);
    // The threads that ran the work are the pool's, not new ones.
    let names = pool(2).install(|| {
        (0..64)
            .into_par_iter()
            .map(|_| std::thread::current().name().map(str::to_string))
            .collect::<Vec<_>>()
    });
    assert!(names.iter().all(|n| {
        n.as_deref()
            .is_some_and(|n| n.starts_with("cpu-baseline-2-"))
    }));
}

#[test]
fn one_thread_runs_on_the_calling_thread() {
    let caller = std::thread::current().id();
    let ran_on = on_threads(1, |parallel| (parallel, std::thread::current().id()));
    assert_eq!(ran_on, (false, caller));
    assert!(on_threads(0, |parallel| !parallel));
    assert!(available_threads() >= 1);
}

#[test]
#[should_panic(expected = "mask too short")]
fn a_short_mask_panics_as_the_reference_does() {
    backward(Activation::Relu, &[1.0; 33], &[0], 4);
}

#[test]
#[should_panic(expected = "dy and x lengths")]
fn mismatched_lengths_panic_as_the_reference_does() {
    backward_from_input(Activation::Relu, &[1.0; 3], &[1.0; 2], 4);
}

#[test]
#[should_panic(expected = "data is not a whole number of rows")]
fn partial_rows_panic_in_bias_backward() {
    bias_backward(Activation::Relu, &[1.0; 10], &[0], 3, 4);
}

#[test]
#[should_panic(expected = "x is not a whole number of rows of b.len() columns")]
fn an_empty_bias_with_data_panics() {
    bias_forward(Activation::Relu, &[1.0; 10], &[], 4);
}

#[test]
fn empty_shapes() {
    let (dx, db) = bias_backward(Activation::Relu, &[], &[], 5, 8);
    assert!(dx.is_empty());
    assert_eq!(db.iter().map(|v| v.to_bits()).collect::<Vec<_>>(), [0; 5]);
    assert!(bias_backward(Activation::Relu, &[], &[], 0, 8).1.is_empty());
    assert!(bias_add(&[], &[], 8).is_empty());
    assert_eq!(
        forward_with_mask(Activation::Relu, &[], 8),
        (vec![], vec![])
    );
}

/// Lengths 0 to 70 (every tail of an 8- or 16-lane loop, and of a 32-bit
/// word, before and after whole ones) and two longer, odd ones.
fn kernel_lengths() -> impl Iterator<Item = usize> {
    (0..=70).chain([1000, 1021])
}

#[test]
fn every_kernel_matches_the_reference_on_every_instruction_set() {
    // The scalar fallback and the CPU's best (AVX2 where it has it): each
    // loop, its vector body and its scalar tail, on the data the ops get.
    let arches = [Arch::Scalar, Arch::new()];
    for arch in arches {
        for a in activations() {
            for len in kernel_lengths() {
                let at = format!("{arch:?}, {a}, {len} elements");
                let x = sample::activations(len, 81);
                let dy = sample::activations(len, 82);
                with_rule!(a, rule => {
                    let mut y = vec![0.0; len];
                    on_arch(arch, kernels::Forward { rule, x: &x, y: &mut y });
                    assert_same(&y, &cpu::forward(a, &x), &format!("forward, {at}"));

                    let mut mask = vec![u32::MAX; cpu::mask_words(len)];
                    on_arch(arch, kernels::ForwardWithMask { rule, x: &x, y: &mut y, mask: &mut mask });
                    let (y_ref, mask_ref) = cpu::forward_with_mask(a, &x);
                    assert_same(&y, &y_ref, &format!("forward with mask, {at}"));
                    assert_eq!(mask, mask_ref, "mask, {at}");

                    let mut dx = vec![0.0; len];
                    on_arch(arch, kernels::BackwardFromInput { rule, dy: &dy, x: &x, dx: &mut dx });
                    let expected = cpu::backward_from_input(a, &dy, &x);
                    assert_same(&dx, &expected, &format!("backward from x, {at}"));
                });
            }
        }
    }
}

#[test]
fn the_masked_backward_kernel_starts_anywhere_on_every_instruction_set() {
    for arch in [Arch::Scalar, Arch::new()] {
        for a in activations() {
            for start in [0, 1, 5, 31, 32, 33, 64 + 17] {
                for len in kernel_lengths() {
                    let dy = sample::activations(start + len, 91);
                    // Random bits, set past the end too.
                    let mask = words(cpu::mask_words(start + len) + 1, 92);
                    let expected = cpu::backward(a, &dy, &mask);
                    let mut dx = vec![f32::NAN; len];
                    with_rule!(a, rule => on_arch(arch, kernels::Backward {
                        rule,
                        dy: &dy[start..],
                        mask: &mask,
                        start,
                        dx: &mut dx,
                    }));
                    assert_same(
                        &dx,
                        &expected[start..],
                        &format!("{arch:?}, {a}, elements {start}..{}", start + len),
                    );
                }
            }
        }
    }
}

#[test]
fn the_bias_kernels_match_the_reference_on_every_instruction_set() {
    for arch in [Arch::Scalar, Arch::new()] {
        for cols in [1, 7, 32, 45] {
            let b = sample::activations(cols, 101);
            for len in kernel_lengths() {
                // Whole rows around the part, which starts at `start`, a
                // word (the masked kernel's rule) in the middle of a row.
                let start = 32 * cols;
                let rows = (start + len).div_ceil(cols);
                let x = sample::activations(rows * cols, 102);
                let part = start..start + len;
                let at = format!("{arch:?}, {cols} columns, {len} elements");

                let mut y = vec![0.0; len];
                on_arch(
                    arch,
                    kernels::BiasMap {
                        f: add,
                        start,
                        x: &x[part.clone()],
                        b: &b,
                        y: &mut y,
                    },
                );
                let sums = cpu::bias_add(&x, &b, Subnormals::Preserve);
                assert_same(&y, &sums[part.clone()], &format!("bias add, {at}"));

                for a in activations() {
                    let at = format!("{a}, {at}");
                    let mut mask = vec![u32::MAX; cpu::mask_words(len)];
                    with_rule!(a, rule => on_arch(arch, kernels::BiasForwardWithMask {
                        rule,
                        start,
                        x: &x[part.clone()],
                        b: &b,
                        y: &mut y,
                        mask: &mut mask,
                    }));
                    let (y_ref, mask_ref) = cpu::forward_with_mask(a, &sums[part.clone()]);
                    assert_same(&y, &y_ref, &format!("bias forward with mask, {at}"));
                    assert_eq!(mask, mask_ref, "mask, {at}");
                }

                let data = &x[..len / cols * cols];
                for first in [0, cols / 2] {
                    let mut sums = vec![0.0; cols - first];
                    on_arch(
                        arch,
                        kernels::ColumnSums {
                            data,
                            cols,
                            first,
                            sums: &mut sums,
                        },
                    );
                    let reference = cpu::column_sums(data, cols);
                    let bits = |v: &[f64]| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
                    assert_eq!(
                        bits(&sums),
                        bits(&reference[first..]),
                        "column sums from {first}, {at}"
                    );
                }
            }
        }
    }
}

#[test]
fn relu_in_place_matches_on_every_instruction_set() {
    for arch in [Arch::Scalar, Arch::new()] {
        for len in kernel_lengths() {
            let x = sample::activations(len, 111);
            let mut data = x.clone();
            on_arch(arch, kernels::ReluInPlace { data: &mut data });
            assert_same(
                &data,
                &cpu::relu_forward(&x),
                &format!("{arch:?}, {len} elements"),
            );
        }
    }
}

#[test]
fn copy_copies_every_byte_on_any_thread_count() {
    // Empty, odd, one piece and several pieces with a short last one.
    let piece = CHUNK * size_of::<f32>();
    for len in [0, 1, 7, 4099, piece, 3 * piece + 5] {
        let source: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        for threads in threads() {
            let mut destination = vec![0xa5; len];
            copy(&source, &mut destination, threads);
            assert!(destination == source, "{len} bytes, {threads} threads");
        }
    }
}

#[test]
#[should_panic(expected = "destination and source lengths")]
fn copy_into_a_shorter_destination_panics() {
    copy(&[1, 2, 3], &mut [0; 2], 2);
}
