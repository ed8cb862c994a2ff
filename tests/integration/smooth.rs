//! The smooth activations: every op against the reference within its bound
//! at awkward lengths and in every type, the special-value table bit for
//! bit, the fused ops' gradients against f64 finite differences, and the
//! mask ops refused.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::{Activation, DType, Error, HostInputs, Op, Tensor, cpu, verify};

use crate::common::{LENGTHS, bits, gpu, sample, small_binding_gpu};

fn smooth() -> Vec<Activation> {
    Activation::examples()
        .into_iter()
        .filter(|a| a.is_smooth())
        .collect()
}

#[test]
fn every_smooth_activation_is_one_of_the_examples_and_saves_no_mask() {
    let all = smooth();
    assert_eq!(all.len(), 8);
    for activation in all {
        for op in Op::of_activation(activation) {
            assert!(!op.reads_mask() && !op.writes_mask(), "{op}");
        }
        assert!(
            Op::of_activation(activation).contains(&Op::BiasBackwardFromPreactivation(activation))
        );
    }
}

#[test]
fn every_smooth_op_is_within_its_bound_at_every_length_and_type() {
    let Some(gpu) = gpu() else { return };
    for &len in LENGTHS {
        let inputs = HostInputs {
            x: sample::activations(len, 31),
            dy: sample::activations(len, 32),
            bias: Vec::new(),
        };
        for activation in smooth() {
            let elementwise = Op::of_activation(activation)
                .into_iter()
                .filter(|op| !op.uses_bias());
            for op in elementwise {
                for dtype in op.dtypes() {
                    let comparison = verify::run_in(&gpu, op, &inputs, *dtype).unwrap();
                    assert!(
                        comparison.passed(),
                        "{op} {dtype} len {len}: {} mismatches; first: {:?}",
                        comparison.mismatches,
                        comparison.first_mismatch
                    );
                }
            }
        }
    }
}

/// Spread over the range where the smooth functions bend, saturate and
/// underflow, with the special values first.
fn wide_values(len: usize, seed: u64) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut values = cpu::special_values();
    values.extend((values.len()..len).map(|_| {
        let magnitude = 2f32.powf(rng.random_range(-30.0..8.0));
        if rng.random() { magnitude } else { -magnitude }
    }));
    values.truncate(len);
    values
}

#[test]
fn the_fused_smooth_ops_are_within_their_bound_in_every_type() {
    let Some(gpu) = gpu() else { return };
    for [rows, cols] in [[1, 1], [3, 7], [17, 33], [64, 1024], [5, 4099]] {
        let len = rows * cols;
        let inputs = HostInputs {
            x: wide_values(len, len as u64),
            dy: sample::activations(len, 7),
            bias: sample::activations(cols, 8)
                .into_iter()
                .map(|b| if b.is_finite() { b } else { 0.25 })
                .collect(),
        };
        for activation in smooth() {
            let fused = Op::of_activation(activation)
                .into_iter()
                .filter(|op| op.uses_bias());
            for op in fused {
                for dtype in op.dtypes() {
                    let comparison = verify::run_in(&gpu, op, &inputs, *dtype).unwrap();
                    assert!(
                        comparison.passed(),
                        "{op} {dtype} [{rows}, {cols}]: {:?}",
                        comparison.first_mismatch
                    );
                }
            }
        }
    }
}

#[test]
fn every_smooth_op_agrees_on_the_split_path_in_f32() {
    // 64 KiB bindings: 16,384 f32 a segment, so these run in several
    // segments, the fused ones starting segments mid-row (16-bit types:
    // dtypes.rs).
    let Some(gpu) = small_binding_gpu(64 * 1024) else {
        return;
    };
    for (len, cols) in [(40_007, 1), (100_013, 13)] {
        let inputs = HostInputs {
            x: sample::activations(len, len as u64),
            dy: sample::activations(len, len as u64 + 1),
            bias: sample::activations(cols, 9),
        };
        for activation in smooth() {
            for op in Op::of_activation(activation) {
                let comparison = verify::run(&gpu, op, &inputs).unwrap();
                assert!(
                    comparison.passed(),
                    "{op} split, {len} elements: {:?}",
                    comparison.first_mismatch
                );
            }
        }
    }
}

/// The special-value table of `Activation`'s docs, bit for bit: NaN with
/// its payload, the limits at the infinities, the zeros; forward and
/// `f'(x)` (the backward with `dy = 1`).
#[test]
fn every_special_value_is_exact_forward_and_backward() {
    let Some(gpu) = gpu() else { return };
    let nan = f32::from_bits(0xffc0_1234);
    let inputs = [nan, f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0];
    let x = Tensor::from_slice(&gpu, &inputs).unwrap();
    let ones = Tensor::from_slice(&gpu, &[1.0; 5]).unwrap();
    let canonical = f32::from_bits(cpu::CANONICAL_NAN_BITS);
    let ln2 = std::f32::consts::LN_2;
    // (activation, f at [NaN, +inf, -inf, +0, -0], f' at the same)
    let table: [(Activation, [f32; 5], [f32; 5]); 8] = [
        (
            Activation::Sigmoid,
            [nan, 1.0, 0.0, 0.5, 0.5],
            [nan, 0.0, 0.0, 0.25, 0.25],
        ),
        (
            Activation::Tanh,
            [nan, 1.0, -1.0, 0.0, -0.0],
            [nan, 0.0, 0.0, 1.0, 1.0],
        ),
        (
            Activation::Silu,
            [nan, f32::INFINITY, -0.0, 0.0, -0.0],
            [nan, 1.0, -0.0, 0.5, 0.5],
        ),
        (
            Activation::Gelu,
            [nan, f32::INFINITY, -0.0, 0.0, -0.0],
            [nan, 1.0, -0.0, 0.5, 0.5],
        ),
        (
            Activation::GeluTanh,
            [nan, f32::INFINITY, -0.0, 0.0, -0.0],
            [nan, 1.0, -0.0, 0.5, 0.5],
        ),
        (
            Activation::Softplus {
                beta: 1.0,
                threshold: 20.0,
            },
            [nan, f32::INFINITY, 0.0, ln2, ln2],
            [nan, 1.0, 0.0, 0.5, 0.5],
        ),
        (
            Activation::Elu { alpha: 1.0 },
            [nan, f32::INFINITY, -1.0, 0.0, -0.0],
            [nan, 1.0, 0.0, 1.0, 1.0],
        ),
        (
            Activation::Sine { omega: 30.0 },
            [nan, canonical, canonical, 0.0, -0.0],
            [nan, canonical, canonical, 30.0, 30.0],
        ),
    ];
    for (activation, forward, derivative) in table {
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        assert_eq!(bits(&y), bits(&forward), "{activation} forward");
        assert_eq!(
            bits(&cpu::forward(activation, &inputs)),
            bits(&forward),
            "{activation}: the reference"
        );
        let dx = gpu
            .activation_backward_from_input(activation, &ones, &x)
            .unwrap()
            .download()
            .unwrap();
        assert_eq!(bits(&dx), bits(&derivative), "{activation} derivative");
        let reference = cpu::backward_from_input(activation, &[1.0; 5], &inputs);
        assert_eq!(
            bits(&reference),
            bits(&derivative),
            "{activation}: the reference's derivative"
        );
    }
}

/// Large |x| saturates exactly: the correctly rounded values, not within
/// a bound of them.
#[test]
fn large_inputs_saturate_exactly() {
    let Some(gpu) = gpu() else { return };
    let cases: [(Activation, f32, f32); 9] = [
        (Activation::Sigmoid, 30.0, 1.0),
        (Activation::Sigmoid, -200.0, 0.0),
        (Activation::Tanh, 10.0, 1.0),
        (Activation::Tanh, -10.0, -1.0),
        (Activation::Silu, 100.0, 100.0),
        (Activation::Gelu, -20.0, -0.0),
        (Activation::Gelu, 20.0, 20.0),
        (Activation::GeluTanh, 20.0, 20.0),
        (Activation::Elu { alpha: 1.0 }, -30.0, -1.0),
    ];
    for (activation, input, expected) in cases {
        let x = Tensor::from_slice(&gpu, &[input]).unwrap();
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        assert_eq!(y[0].to_bits(), expected.to_bits(), "{activation}({input})");
    }
}

/// `L = sum(w * f(z))`, `z = x + b` (the f32 sum the forward saves), in
/// f64: the fused backward's `dx = w f'(z)` and `db = sum over rows`
/// against central differences of `L` on random shapes.
#[test]
fn fused_gradients_agree_with_f64_finite_differences() {
    let Some(gpu) = gpu() else { return };
    let mut rng = ChaCha8Rng::seed_from_u64(0xfd);
    for _ in 0..4 {
        let rows = rng.random_range(1..40);
        let cols = rng.random_range(1..70);
        let x: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-3.0..3.0))
            .collect();
        let b: Vec<f32> = (0..cols).map(|_| rng.random_range(-1.0..1.0)).collect();
        let w: Vec<f32> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        for activation in smooth() {
            let f = |v: f64| cpu::exact_function(activation, v);
            let x_t = Tensor::from_slice_with_shape(&gpu, &x, &[rows, cols]).unwrap();
            let b_t = Tensor::from_slice(&gpu, &b).unwrap();
            let (_, z) = gpu
                .bias_activation_with_preactivation(activation, &x_t, &b_t)
                .unwrap();
            let dy = Tensor::from_slice_with_shape(&gpu, &w, &[rows, cols]).unwrap();
            let (dx, db) = gpu
                .bias_activation_backward_from_preactivation(activation, &dy, &z)
                .unwrap();
            let (dx, db) = (dx.download().unwrap(), db.download().unwrap());
            let h = 1e-6;
            for c in 0..cols {
                let loss = |shift: f64| -> f64 {
                    (0..rows)
                        .map(|r| {
                            let i = r * cols + c;
                            // z as the forward stores it: the f32 sum.
                            f64::from(w[i]) * f(f64::from(x[i] + b[c]) + shift)
                        })
                        .sum()
                };
                let numeric = (loss(h) - loss(-h)) / (2.0 * h);
                let scale: f64 = (0..rows)
                    .map(|r| f64::from(w[r * cols + c].abs()))
                    .sum::<f64>()
                    + 1.0;
                assert!(
                    (f64::from(db[c]) - numeric).abs() <= 1e-4 * scale,
                    "{activation} [{rows}, {cols}] db[{c}] = {}, finite differences {numeric}",
                    db[c]
                );
                for r in 0..rows {
                    let i = r * cols + c;
                    let z = f64::from(x[i] + b[c]);
                    let numeric = f64::from(w[i]) * (f(z + h) - f(z - h)) / (2.0 * h);
                    assert!(
                        (f64::from(dx[i]) - numeric).abs() <= 1e-4 * (1.0 + numeric.abs()),
                        "{activation} dx[{r}, {c}] = {}, finite differences {numeric}",
                        dx[i]
                    );
                }
            }
        }
    }
}

#[test]
fn mask_ops_refuse_a_smooth_activation() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -1.0], &[1, 2]).unwrap();
    let b = Tensor::from_slice(&gpu, &[0.0, 0.0]).unwrap();
    let (_, mask) = gpu.relu_with_mask(&x).unwrap();
    for activation in smooth() {
        let no_mask = |error: Error| {
            assert!(
                matches!(error, Error::NoMask { .. }),
                "{activation}: {error}"
            );
            assert!(error.to_string().contains("saves no mask"), "{error}");
        };
        no_mask(gpu.activation_with_mask(activation, &x).unwrap_err());
        no_mask(
            gpu.bias_activation_with_mask(activation, &x, &b)
                .unwrap_err(),
        );
        no_mask(gpu.activation_backward(activation, &x, &mask).unwrap_err());
        no_mask(
            gpu.bias_activation_backward(activation, &x, &mask)
                .unwrap_err(),
        );
    }
}

#[test]
fn sigmoid_and_tanh_go_backward_from_their_output_and_no_other_does() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[-2.0, 0.0, 0.5, 3.0]).unwrap();
    let dy = Tensor::from_slice(&gpu, &[1.0; 4]).unwrap();
    for activation in smooth() {
        let y = gpu.activation(activation, &x).unwrap();
        let result = gpu.activation_backward_from_output(activation, &dy, &y);
        if activation.has_backward_from_output() {
            let dx = result.unwrap().download().unwrap();
            let from_input = gpu
                .activation_backward_from_input(activation, &dy, &x)
                .unwrap()
                .download()
                .unwrap();
            // The same derivative two ways: from the output it carries the
            // output's rounding, up to half an ULP of y, about 2^-25.
            for (a, b) in dx.iter().zip(&from_input) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.abs() + f32::EPSILON,
                    "{activation}: {a} vs {b}"
                );
            }
        } else {
            let error = result.unwrap_err();
            assert!(
                matches!(error, Error::NoBackwardFromOutput { .. }),
                "{activation}: {error}"
            );
        }
    }
}

#[test]
fn the_preactivation_must_match_dy() {
    let Some(gpu) = gpu() else { return };
    let dy = Tensor::from_slice_with_shape(&gpu, &[1.0; 6], &[2, 3]).unwrap();
    let short = Tensor::from_slice_with_shape(&gpu, &[1.0; 4], &[2, 2]).unwrap();
    let error = gpu
        .bias_activation_backward_from_preactivation(Activation::Gelu, &dy, &short)
        .unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error}");
    let half = Tensor::from_f32_as(&gpu, &[1.0; 6], &[2, 3], DType::F16).unwrap();
    let error = gpu
        .bias_activation_backward_from_preactivation(Activation::Gelu, &dy, &half)
        .unwrap_err();
    assert!(matches!(error, Error::DTypeMismatch { .. }), "{error}");
}
