//! The checker: reports real agreement on the GPU and catches planted differences.

mod common;

use common::gpu;
use wgpu_activations::check::{self, Op};

#[test]
fn every_op_checks_clean_on_this_adapter() {
    let Some(gpu) = gpu() else { return };
    let inputs = check::Inputs::generate(100_003, 3);
    let ops = Op::all();
    assert_eq!(ops.len(), 2 + 7 * Op::ACTIVATIONS.len());
    for op in ops {
        let report = check::run(&gpu, op, &inputs).unwrap();
        assert!(report.elements > 0, "{op}");
        assert!(report.compared >= report.elements, "{op}");
        assert!(report.passed(), "{op}: {:?}", report.first_mismatch);
        assert!(report.gpu_ms > 0.0 && report.cpu_ms >= 0.0, "{op}: timings");
    }
}

#[test]
fn compare_exact_reports_the_first_differing_bits() {
    let input = [1.0f32, -0.0, f32::NAN, 2.0];
    let cpu = [1.0f32, 0.0, f32::NAN, 2.0];
    let mut gpu = cpu;
    gpu[1] = -0.0; // a sign the contract forbids
    gpu[3] = 2.0000002;
    let report = check::compare_exact(Op::ReluForward, &input, &gpu, &cpu).unwrap();
    assert_eq!(report.mismatches, 2);
    assert!(!report.passed());
    let first = report.first_mismatch.unwrap();
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
    let report = check::compare_exact(Op::ReluForward, &input, &gpu, &cpu).unwrap();
    assert_eq!(report.mismatches, 1);
}

#[test]
fn compare_exact_refuses_results_of_another_length() {
    let error = check::compare_exact(Op::ReluForward, &[1.0], &[], &[1.0]).unwrap_err();
    assert!(
        matches!(error, wgpu_activations::Error::ShapeMismatch { .. }),
        "{error:?}"
    );
}
