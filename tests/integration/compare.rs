//! Every op of `Op::all()` agrees with its reference on this adapter, as
//! `compare::Comparison` defines "agrees"; and `compare` itself reports
//! planted differences.

use wgpu_activations::compare;
use wgpu_activations::{Activation, Error, Op, verify};

use crate::common::{gpu, sample};

#[test]
fn every_op_checks_clean_on_this_adapter() {
    let Some(gpu) = gpu() else { return };
    let inputs = sample::inputs(100_003, 3);
    let all = Op::all();
    let per_activation: usize = Activation::examples()
        .into_iter()
        .map(|a| Op::of_activation(a).len())
        .sum();
    assert_eq!(all.len(), 4 + per_activation);
    for op in all {
        let elements = inputs.used(op);
        let comparison = verify::run(&gpu, op, &inputs).unwrap();
        assert!(elements > 0, "{op}");
        assert!(comparison.compared >= elements, "{op}");
        assert!(
            comparison.passed(),
            "{op}: {} mismatches; first: {:?}",
            comparison.mismatches,
            comparison.first_mismatch
        );
    }
}

#[test]
fn compare_exact_reports_the_first_differing_bits() {
    let input = [1.0f32, -0.0, f32::NAN, 2.0];
    let cpu = [1.0f32, 0.0, f32::NAN, 2.0];
    let mut gpu = cpu;
    gpu[1] = -0.0; // a sign the contract forbids
    gpu[3] = 2.0000002;
    let comparison = compare::exact(&input, &gpu, &cpu).unwrap();
    assert_eq!(comparison.mismatches, 2);
    assert!(!comparison.passed());
    let first = comparison.first_mismatch.unwrap();
    assert_eq!(
        (first.index, first.input, first.gpu, first.cpu),
        (1, 0x8000_0000, 0x8000_0000, 0)
    );
}

#[test]
fn compare_exact_tells_nan_payloads_apart() {
    let input = [f32::from_bits(0x7fc0_1234)];
    let cpu = input;
    let gpu = [f32::from_bits(0x7fc0_0000)];
    let comparison = compare::exact(&input, &gpu, &cpu).unwrap();
    assert_eq!(comparison.mismatches, 1);
}

#[test]
fn compare_exact_refuses_results_of_another_length() {
    let error = compare::exact(&[1.0], &[], &[1.0]).unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error:?}");
}
