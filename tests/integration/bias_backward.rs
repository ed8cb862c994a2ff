//! Fused bias + activation backward, convenience and recorded, against the CPU
//! reference for every tested activation, on whichever backend WGPU_BACKEND
//! selects (CI runs Vulkan and GL):
//! - `dx` bit for bit (for leaky relu, or the reference with the slope
//!   multiply's subnormals flushed, as a GPU may do);
//! - `db` within [`bias_gradient_error_bound`] of the f64 column sums of the
//!   reference's `dx`, NaN where that sum is NaN, the same bits on every run;
//! - the bound is tight enough to catch an error, garbage in a mask's unused
//!   bits never leaks, and each bad operand returns its error.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{
    Activation, Error, Gpu, Mask, Tensor, WORKGROUP_SIZE, bias_gradient_error_bound,
};

use crate::common::sample::{self, SPECIAL_BITS};
use crate::common::{
    DbComparison, assert_agrees, assert_db_within_bound, compare_db, gpu, relu_family,
};

/// `[rows, cols]` shapes every activation is tested at: one element, one long
/// row, one long column, shapes ending mid mask word (3x5, 7x33), many rows of
/// a column count just past the workgroup size, rows of whole mask words
/// (70x96: three words a row, a last row block of 6 rows), rows of whole
/// vectors but not words (41x12, 1x4), a row one short of whole vectors
/// (33x1023), rows of runs of 256 columns, two (130x512: a last row block
/// of 2 rows) or four to a group (3x2048: two groups a row), and both empty
/// shapes. Each of the first pass's kernels (one element, one vector, one
/// mask word, two or four runs per row) runs on one or more.
const SHAPES: &[[usize; 2]] = &[
    [1, 1],
    [1, 1031],
    [4099, 1],
    [3, 5],
    [7, 33],
    [1000, 257],
    [70, 96],
    [41, 12],
    [1, 4],
    [33, 1023],
    [130, 512],
    [3, 2048],
    [0, 5],
    [5, 0],
];

/// Uniform values in [-4, 4) with no special value: every column's sum stays
/// finite, so the error bound applies to every column.
fn uniform(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len).map(|_| rng.random_range(-4.0f32..4.0)).collect()
}

/// A bias of `cols` sample values; short rows skip the leading special
/// values so that not every mask bit comes from a NaN bias.
fn bias_values(cols: usize, seed: u64) -> Vec<f32> {
    let skip = if cols > 2 * SPECIAL_BITS.len() {
        0
    } else {
        SPECIAL_BITS.len()
    };
    sample::activations(cols + skip, seed)[skip..].to_vec()
}

/// The inputs of one backward pass and its reference results.
struct Case {
    shape: [usize; 2],
    dy: Vec<f32>,
    /// The forward reference's mask of `x + b`, as the backward pass gets it.
    mask: Vec<u32>,
    dx: Vec<f32>,
    /// `dx` with the leaky multiply's subnormals flushed (equal to `dx` for
    /// the other activations, which do no arithmetic).
    dx_flushed: Vec<f32>,
}

impl Case {
    fn new(activation: Activation, shape: [usize; 2], dy: Vec<f32>, x: &[f32], b: &[f32]) -> Self {
        assert_eq!(dy.len(), shape[0] * shape[1]);
        let mask = cpu::bias_forward_with_mask(activation, x, b).1;
        Self::from_mask(activation, shape, dy, mask)
    }

    fn from_mask(activation: Activation, shape: [usize; 2], dy: Vec<f32>, mask: Vec<u32>) -> Self {
        let dx = cpu::backward(activation, &dy, &mask);
        let dx_flushed = dy
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                let bit = cpu::mask_bit_at(&mask, i);
                cpu::backward_element(activation, bit, d, Subnormals::FlushToZero)
            })
            .collect();
        Self {
            shape,
            dy,
            mask,
            dx,
            dx_flushed,
        }
    }

    /// Sample data with special values for dy, x and b.
    fn with_specials(activation: Activation, shape: [usize; 2], seed: u64) -> Self {
        let len = shape[0] * shape[1];
        let dy = sample::activations(len, seed);
        let x = sample::activations(len, seed + 1);
        let b = bias_values(shape[1], seed + 2);
        Self::new(activation, shape, dy, &x, &b)
    }

    /// Uniform data: no NaN or inf anywhere, so every column is bounded.
    fn well_behaved(activation: Activation, shape: [usize; 2], seed: u64) -> Self {
        let len = shape[0] * shape[1];
        let dy = uniform(len, seed);
        let x = uniform(len, seed + 1);
        let b = uniform(shape[1], seed + 2);
        Self::new(activation, shape, dy, &x, &b)
    }

    fn rows(&self) -> usize {
        self.shape[0]
    }

    fn cols(&self) -> usize {
        self.shape[1]
    }
}

/// The convenience form on `case`'s dy and `mask_words`: (dx, db) downloaded.
fn run(gpu: &Gpu, activation: Activation, case: &Case, mask_words: &[u32]) -> (Vec<f32>, Vec<f32>) {
    let dy = Tensor::from_slice_with_shape(gpu, &case.dy, &case.shape).unwrap();
    let mask = Mask::from_words(gpu, mask_words, case.dy.len()).unwrap();
    let (dx, db) = gpu
        .bias_activation_backward(activation, &dy, &mask)
        .unwrap();
    assert_eq!(dx.shape(), &case.shape, "dx shape");
    assert_eq!(db.shape(), &[case.cols()], "db shape");
    (dx.download().unwrap(), db.download().unwrap())
}

/// Runs `case` and checks dx and db against the reference.
fn check(gpu: &Gpu, activation: Activation, case: &Case, what: &str) -> DbComparison {
    let what = format!("{what} {activation} {}x{}", case.rows(), case.cols());
    let (dx, db) = run(gpu, activation, case, &case.mask);
    assert_agrees(
        &format!("{what}: dx"),
        &case.dy,
        &dx,
        &case.dx,
        &case.dx_flushed,
    );
    assert_db_within_bound(&what, &db, &case.dx, case.rows())
}

#[test]
fn bias_backward_matches_reference_at_every_shape() {
    let Some(gpu) = gpu() else { return };
    let (mut nan, mut infinite) = (0, 0);
    for (a, activation) in relu_family().into_iter().enumerate() {
        for (s, &shape) in SHAPES.iter().enumerate() {
            let seed = (a * 100 + s) as u64 * 3;
            let comparison = check(
                &gpu,
                activation,
                &Case::with_specials(activation, shape, seed),
                "specials",
            );
            nan += comparison.nan;
            infinite += comparison.infinite;
            let comparison = check(
                &gpu,
                activation,
                &Case::well_behaved(activation, shape, seed + 1000),
                "uniform",
            );
            // Without special values no column escapes the bound.
            assert_eq!(comparison.bounded, shape[1], "{activation} {shape:?}");
        }
    }
    // The special values reach the NaN and inf rules, not only the bound.
    eprintln!("special-value columns checked: {nan} NaN, {infinite} infinite");
    assert!(nan > 0 && infinite > 0);
}

#[test]
fn bias_backward_past_one_dispatch_dimension() {
    let Some(gpu) = gpu() else { return };
    // Rows that are not whole vectors take one column per invocation, in
    // workgroups of WORKGROUP_SIZE; one row of more than 65535 workgroups'
    // columns needs more workgroups than one dispatch dimension holds (and
    // the db pass as many).
    let per_dimension = gpu.info().max_compute_workgroups_per_dimension as usize;
    let shape = [1, per_dimension * WORKGROUP_SIZE as usize + 1001];
    assert!(shape[1].div_ceil(WORKGROUP_SIZE as usize) > per_dimension);
    let activation = Activation::LeakyRelu { slope: 0.01 };
    check(
        &gpu,
        activation,
        &Case::with_specials(activation, shape, 7),
        "wide",
    );
}

#[test]
fn bias_backward_of_a_tall_column() {
    let Some(gpu) = gpu() else { return };
    // One column of 2.1M rows: 16407 row blocks of 128 rows (64 would make
    // more blocks than a CPU adapter's loop allows), each summed in
    // sequence, then the blocks in sequence.
    let activation = Activation::ClippedRelu { cap: 6.0 };
    let comparison = check(
        &gpu,
        activation,
        &Case::well_behaved(activation, [2_100_000, 1], 8),
        "tall",
    );
    assert_eq!(comparison.bounded, 1);
    eprintln!("tall column: error / bound = {:.3e}", comparison.max_ratio);
}

#[test]
fn bias_gradient_is_the_same_bits_on_every_run() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: 0.01 };
    for shape in [[1000, 257], [4099, 1]] {
        let case = Case::well_behaved(activation, shape, 9);
        let dy = Tensor::from_slice_with_shape(&gpu, &case.dy, &shape).unwrap();
        let mask = Mask::from_words(&gpu, &case.mask, case.dy.len()).unwrap();
        let runs: Vec<(Vec<u32>, Vec<u32>)> = (0..3)
            .map(|_| {
                let (dx, db) = gpu
                    .bias_activation_backward(activation, &dy, &mask)
                    .unwrap();
                (
                    crate::common::bits(&dx.download().unwrap()),
                    crate::common::bits(&db.download().unwrap()),
                )
            })
            .collect();
        for (run, (dx, db)) in runs.iter().enumerate().skip(1) {
            // No float atomics: a fixed summation order gives fixed bits.
            assert_eq!(db, &runs[0].1, "{shape:?}: db of run {run} vs run 0");
            assert_eq!(dx, &runs[0].0, "{shape:?}: dx of run {run} vs run 0");
        }
    }
}

#[test]
fn error_bound_holds_and_is_not_vacuous() {
    let Some(gpu) = gpu() else { return };
    let shape = [1000, 257];
    let rows = shape[0];
    for activation in relu_family() {
        let case = Case::well_behaved(activation, shape, 10);
        let (dx, db) = run(&gpu, activation, &case, &case.mask);
        assert_agrees("dx", &case.dy, &dx, &case.dx, &case.dx_flushed);
        let comparison = assert_db_within_bound(&format!("{activation}"), &db, &case.dx, rows);
        eprintln!(
            "{activation} 1000x257: max error / bound = {:.3e}",
            comparison.max_ratio
        );
        assert_eq!(comparison.bounded, shape[1]);
        assert!(comparison.max_ratio < 1.0);

        // An error of ten bounds in every column is caught in every column...
        let abs: Vec<f32> = case.dx.iter().map(|v| v.abs()).collect();
        let abs_sums = cpu::column_sums(&abs, shape[1]);
        let planted: Vec<f32> = db
            .iter()
            .zip(&abs_sums)
            .map(|(&g, &abs_sum)| g + (10.0 * bias_gradient_error_bound(rows, abs_sum)) as f32)
            .collect();
        let caught = compare_db(&planted, &case.dx, rows);
        assert_eq!(
            caught.failures.len(),
            shape[1],
            "{activation}: a planted error of 10 bounds must fail every column"
        );
        // ...and in exactly the one column it is planted in; the bound is
        // also a small fraction of each column's magnitude.
        let mut one = db.clone();
        one[100] -= (10.0 * bias_gradient_error_bound(rows, abs_sums[100])) as f32;
        let caught = compare_db(&one, &case.dx, rows);
        assert_eq!(
            caught.failures.len(),
            1,
            "{activation}: {:?}",
            caught.failures
        );
        assert!(caught.failures[0].starts_with("column 100:"));
        // (A column of zeros, as clipped relu with a subnormal cap gives,
        // has only the bound's subnormal allowance.)
        for (c, &abs_sum) in abs_sums.iter().enumerate() {
            let bound = bias_gradient_error_bound(rows, abs_sum);
            assert!(
                bound < 1e-5 * abs_sum || (abs_sum == 0.0 && bound < 1e-30),
                "column {c}: bound {bound:e} of {abs_sum:e}"
            );
        }
    }
}

#[test]
fn zero_rows_give_a_zero_bias_gradient() {
    let Some(gpu) = gpu() else { return };
    for activation in relu_family() {
        let dy = Tensor::uninit(&gpu, &[0, 5]).unwrap();
        let mask = Mask::from_words(&gpu, &[], 0).unwrap();
        let (dx, db) = gpu
            .bias_activation_backward(activation, &dy, &mask)
            .unwrap();
        assert_eq!(dx.shape(), &[0, 5]);
        assert!(dx.download().unwrap().is_empty());
        assert_eq!(db.shape(), &[5]);
        // A sum over no rows is +0.0, never -0.0 or leftover contents.
        assert_eq!(
            crate::common::bits(&db.download().unwrap()),
            vec![0; 5],
            "{activation}"
        );

        // The recorded form writes the zeros over whatever db held.
        let dx = Tensor::uninit(&gpu, &[0, 5]).unwrap();
        let db = Tensor::from_slice(&gpu, &[f32::NAN, -1.0, -0.0, 7.0, f32::INFINITY]).unwrap();
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dx, &db)
            .unwrap();
        gpu.queue().submit([encoder.finish()]);
        assert_eq!(
            crate::common::bits(&db.download().unwrap()),
            vec![0; 5],
            "{activation} recorded"
        );
    }
}

#[test]
fn garbage_in_the_masks_unused_bits_never_leaks() {
    let Some(gpu) = gpu() else { return };
    for activation in relu_family() {
        // 1, 15 and 231 elements: each ends inside its last mask word.
        for (s, shape) in [[1usize, 1], [3, 5], [7, 33]].into_iter().enumerate() {
            let len = shape[0] * shape[1];
            assert!(!len.is_multiple_of(32));
            for case in [
                Case::with_specials(activation, shape, 20 + s as u64),
                Case::well_behaved(activation, shape, 30 + s as u64),
            ] {
                let mut dirty = case.mask.clone();
                *dirty.last_mut().unwrap() |= u32::MAX << (len % 32);
                let what = format!("dirty mask {activation} {shape:?}");
                let (dx, db) = run(&gpu, activation, &case, &dirty);
                assert_agrees(
                    &format!("{what}: dx"),
                    &case.dy,
                    &dx,
                    &case.dx,
                    &case.dx_flushed,
                );
                assert_db_within_bound(&what, &db, &case.dx, shape[0]);
            }
        }
    }
}

#[test]
fn recorded_bias_backward_runs_in_the_callers_encoder_and_submit() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: -1.5 };
    let case = Case::with_specials(activation, [1000, 257], 40);
    let dy = Tensor::from_slice_with_shape(&gpu, &case.dy, &case.shape).unwrap();
    let mask = Mask::from_words(&gpu, &case.mask, case.dy.len()).unwrap();
    let dx = Tensor::uninit(&gpu, &case.shape).unwrap();
    let db = Tensor::uninit(&gpu, &[case.cols()]).unwrap();
    let db_copy = Tensor::uninit(&gpu, &[case.cols()]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dx, &db)
        .unwrap();
    // The caller's own work after the op sees its result.
    encoder.copy_buffer_to_buffer(db.buffer(), 0, db_copy.buffer(), 0, case.cols() as u64 * 4);
    gpu.queue().submit([encoder.finish()]);
    let dx = dx.download().unwrap();
    assert_agrees("recorded dx", &case.dy, &dx, &case.dx, &case.dx_flushed);
    let db = db.download().unwrap();
    assert_db_within_bound("recorded db", &db, &case.dx, case.rows());
    assert_eq!(
        crate::common::bits(&db_copy.download().unwrap()),
        crate::common::bits(&db)
    );
}

#[test]
fn bias_relu_backward_is_bias_activation_backward_of_relu() {
    let Some(gpu) = gpu() else { return };
    let case = Case::with_specials(Activation::Relu, [7, 33], 50);
    let dy = Tensor::from_slice_with_shape(&gpu, &case.dy, &case.shape).unwrap();
    let mask = Mask::from_words(&gpu, &case.mask, case.dy.len()).unwrap();
    let (dx, db) = gpu.bias_relu_backward(&dy, &mask).unwrap();
    let (dx_general, db_general) = gpu
        .bias_activation_backward(Activation::Relu, &dy, &mask)
        .unwrap();
    assert_eq!(
        crate::common::bits(&dx.download().unwrap()),
        crate::common::bits(&dx_general.download().unwrap())
    );
    assert_eq!(
        crate::common::bits(&db.download().unwrap()),
        crate::common::bits(&db_general.download().unwrap())
    );
}

#[test]
fn mask_or_outputs_of_another_length_are_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::Relu;
    let dy = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    for mask_len in [14, 16, 0] {
        let mask = Mask::uninit(&gpu, mask_len).unwrap();
        let error = gpu
            .bias_activation_backward(activation, &dy, &mask)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "upstream gradient (as many elements as the mask)",
                    expected,
                    actual: 15,
                } if expected == mask_len
            ),
            "mask of {mask_len}: {error:?}"
        );
    }

    let mask = Mask::uninit(&gpu, 15).unwrap();
    let dx = Tensor::uninit(&gpu, &[3, 5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    for db_len in [4, 6, 15] {
        let db = Tensor::uninit(&gpu, &[db_len]).unwrap();
        let error = gpu
            .record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dx, &db)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "bias gradient (one per column)",
                    expected: 5,
                    actual,
                } if actual == db_len
            ),
            "db of {db_len}: {error:?}"
        );
    }

    let db = Tensor::uninit(&gpu, &[5]).unwrap();
    for dx_len in [14, 16, 5] {
        let dx = Tensor::uninit(&gpu, &[dx_len]).unwrap();
        let error = gpu
            .record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dx, &db)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::ShapeMismatch {
                    what: "gradient output",
                    expected: 15,
                    actual,
                } if actual == dx_len
            ),
            "dx of {dx_len}: {error:?}"
        );
    }
}

#[test]
fn mask_from_another_gpu_is_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let other = Gpu::new().unwrap();
    let dy = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let foreign = Mask::from_words(&other, &[0x5555], 15).unwrap();
    let error = gpu
        .bias_activation_backward(Activation::Relu, &dy, &foreign)
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "mask" }),
        "{error:?}"
    );
    let dx = Tensor::uninit(&gpu, &[3, 5]).unwrap();
    let db = Tensor::uninit(&gpu, &[5]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_bias_activation_backward(&mut encoder, Activation::relu6(), &dy, &foreign, &dx, &db)
        .unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "mask" }),
        "recorded: {error:?}"
    );
}

#[test]
fn invalid_slope_or_cap_is_invalid_parameter() {
    let Some(gpu) = gpu() else { return };
    let dy = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let mask = Mask::uninit(&gpu, 15).unwrap();
    for activation in [
        Activation::LeakyRelu { slope: f32::NAN },
        Activation::ClippedRelu { cap: 0.0 },
        Activation::ClippedRelu { cap: -1.0 },
        Activation::ClippedRelu { cap: f32::INFINITY },
    ] {
        let error = gpu
            .bias_activation_backward(activation, &dy, &mask)
            .unwrap_err();
        assert!(
            matches!(error, Error::InvalidParameter { .. }),
            "{activation}: {error:?}"
        );
    }
}

#[test]
fn outputs_aliasing_an_input_are_aliasing() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::Relu;
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let dy = Tensor::from_slice_with_shape(&gpu, &[1.0; 15], &[3, 5]).unwrap();
    let mask = Mask::uninit(&gpu, 15).unwrap();
    let db = Tensor::uninit(&gpu, &[5]).unwrap();
    let error = gpu
        .record_bias_activation_backward(&mut encoder, activation, &dy, &mask, &dy, &db)
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::Aliasing {
                what: "gradient output",
                ..
            }
        ),
        "dx = dy: {error:?}"
    );
    // One row: db is as long as dy and dx, so either can be passed as db.
    let row = Tensor::from_slice_with_shape(&gpu, &[1.0; 5], &[1, 5]).unwrap();
    let mask = Mask::uninit(&gpu, 5).unwrap();
    let dx = Tensor::uninit(&gpu, &[1, 5]).unwrap();
    for (name, db) in [("dy", &row), ("dx", &dx)] {
        let error = gpu
            .record_bias_activation_backward(&mut encoder, activation, &row, &mask, &dx, db)
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Aliasing {
                    what: "bias gradient",
                    ..
                }
            ),
            "db = {name}: {error:?}"
        );
    }
}

/// A mask made by the fused forward knows the row length it was made with;
/// a flat `dy` of the same element count would otherwise sum `db` over the
/// wrong columns without a word.
#[test]
fn a_gradient_with_another_row_length_than_the_forward_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0; 12], &[3, 4]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.0; 4]).unwrap();
    let (_, mask) = gpu.bias_relu_with_mask(&x, &b).unwrap();
    assert_eq!(mask.row_length(), Some(4));
    let flat_dy = Tensor::from_slice(&gpu, &[1.0; 12]).unwrap();
    let error = gpu.bias_relu_backward(&flat_dy, &mask).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 4,
                actual: 12,
                ..
            }
        ),
        "{error:?}"
    );
    let dy = flat_dy.reshape(&[3, 4]).unwrap();
    let (_, db) = gpu.bias_relu_backward(&dy, &mask).unwrap();
    assert_eq!(db.download().unwrap(), vec![3.0; 4]);
}

/// Buffers alive on `gpu`'s device after `record` records into a fresh
/// encoder, less those before; the encoder is then submitted and waited on.
fn buffers_created(gpu: &Gpu, record: impl FnOnce(&mut wgpu::CommandEncoder)) -> isize {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let before = crate::common::counters::live_objects(gpu).0;
    record(&mut encoder);
    let created = crate::common::counters::live_objects(gpu).0 - before;
    gpu.submit("recorded backward", encoder).unwrap();
    gpu.wait_idle().unwrap();
    created
}

#[test]
fn repeated_backward_calls_reuse_the_block_sums_scratch() {
    let Some(gpu) = crate::common::counters::own_gpu() else {
        return;
    };
    let activation = Activation::LeakyRelu { slope: 0.01 };
    let shape = [300, 64];
    let cases: Vec<Case> = (0..2)
        .map(|seed| Case::well_behaved(activation, shape, 40 + seed))
        .collect();
    let upload = |case: &Case| {
        (
            Tensor::from_slice_with_shape(&gpu, &case.dy, &shape).unwrap(),
            Mask::from_words(&gpu, &case.mask, case.dy.len()).unwrap(),
            Tensor::uninit(&gpu, &shape).unwrap(),
            Tensor::uninit(&gpu, &[shape[1]]).unwrap(),
        )
    };
    let operands: Vec<_> = cases.iter().map(upload).collect();
    // The first call makes the scratch the Gpu keeps.
    let (dy, mask, _, _) = &operands[0];
    drop(gpu.bias_activation_backward(activation, dy, mask).unwrap());
    gpu.wait_idle().unwrap();
    for round in 0..3 {
        // Two backward ops in one encoder before one submit: each op's
        // second pass reads its own block sums, though they share a buffer.
        let fused = buffers_created(&gpu, |encoder| {
            for (dy, mask, dx, db) in &operands {
                gpu.record_bias_activation_backward(encoder, activation, dy, mask, dx, db)
                    .unwrap();
            }
        });
        // The element-wise backward creates its parameter block alone, and
        // so, in steady state, does the fused one: no block sums.
        let elementwise = buffers_created(&gpu, |encoder| {
            for (dy, mask, dx, _) in &operands {
                gpu.record_activation_backward(encoder, activation, dy, mask, dx)
                    .unwrap();
            }
        });
        assert_eq!(fused, elementwise, "round {round}: buffers created");
        for (case, (_, _, dx, _)) in cases.iter().zip(&operands) {
            assert_agrees(
                &format!("round {round}: dx"),
                &case.dy,
                &dx.download().unwrap(),
                &case.dx,
                &case.dx_flushed,
            );
        }
    }
    // The fused results of the last round, after the element-wise backward
    // overwrote dx with the same values.
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    for (dy, mask, dx, db) in &operands {
        gpu.record_bias_activation_backward(&mut encoder, activation, dy, mask, dx, db)
            .unwrap();
    }
    gpu.submit("two backward ops", encoder).unwrap();
    for (case, (_, _, _, db)) in cases.iter().zip(&operands) {
        let comparison = assert_db_within_bound(
            "shared scratch",
            &db.download().unwrap(),
            &case.dx,
            shape[0],
        );
        assert_eq!(comparison.bounded, shape[1]);
    }
}
