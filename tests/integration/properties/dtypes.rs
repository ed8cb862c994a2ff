//! Every op that takes a 16-bit type, in f16 and in bf16: random ops,
//! activations, lengths, row lengths, f32 biases and 16-bit bit patterns of
//! every class (the f32 classes of `value` rounded to the type, and any 16
//! bits), each case uploaded, run, read back and compared by
//! `verify::run_in` with `Op::reference_in`.

use proptest::collection::vec;
use wgpu_activations::{DType, HostInputs, Op, verify};

use super::strategies::{Bits, activation, floats, value, vectors};
use super::*;

/// Values of `dtype` as f32 bits: f32 values of every class rounded to
/// `dtype` (NaN payloads, infinities, ties, overflow), or any 16 bits.
fn value_of(dtype: DType) -> impl Strategy<Value = Bits> + Clone {
    prop_oneof![
        3 => value().prop_map(move |b| Bits(dtype.round(f32::from_bits(b.0)).to_bits())),
        1 => any::<u16>().prop_map(move |h| Bits(dtype.value_of(u32::from(h)).to_bits())),
    ]
}

/// A case: an op of `Op::all_of(dtype)`, its activation, `x`, `dy` (as long
/// as `x`; shorter or longer inputs shrink to it), and an f32 bias of 1 to
/// 40 columns.
fn case(dtype: DType) -> impl Strategy<Value = (Op, Vec<Bits>, Vec<Bits>, Vec<Bits>)> {
    (
        proptest::sample::select(Op::all_of(dtype)),
        activation(),
        vectors(value_of(dtype)),
        vec(value_of(dtype), 0..=4100),
        vec(value(), 1..=40),
    )
        .prop_map(|(op, activation, x, dy, bias)| {
            // The op with the drawn activation where that activation has it
            // (a smooth one has no mask ops).
            let varied = op.with_activation(activation);
            let op = if Op::of_activation(activation).contains(&varied) {
                varied
            } else {
                op
            };
            (op, x, dy, bias)
        })
}

fn check(gpu: &Gpu, dtype: DType, (op, x, dy, bias): (Op, Vec<Bits>, Vec<Bits>, Vec<Bits>)) {
    let x = floats(&x);
    let mut dy = floats(&dy);
    dy.resize(x.len(), 0.0);
    let inputs = HostInputs {
        x,
        dy,
        bias: floats(&bias),
    };
    let comparison = verify::run_in(gpu, op, &inputs, dtype).unwrap();
    assert!(
        comparison.passed(),
        "{dtype} {op} on {} elements: {:?}",
        inputs.x.len(),
        comparison.first_mismatch
    );
}

#[test]
fn every_f16_op() {
    run_cases("every_f16_op", HALF_CASES, case(DType::F16), |gpu, case| {
        check(gpu, DType::F16, case)
    });
}

#[test]
fn every_bf16_op() {
    run_cases(
        "every_bf16_op",
        HALF_CASES,
        case(DType::BF16),
        |gpu, case| check(gpu, DType::BF16, case),
    );
}
