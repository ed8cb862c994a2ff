//! `Gpu::record_op` and `Batch::op`, the one entry point of every op of
//! `Op::all()`, and the engine's runner (`verify::run`) on the
//! legal edge cases of `HostInputs`.

use super::*;
use crate::common::sample;
use wgpu_activations::verify;

#[test]
fn check_run() {
    let Some(gpu) = gpu() else { return };
    let inputs = sample::inputs(64, 1);
    for (activation, name, value, requirement) in bad_activations() {
        for op in Op::of_activation(activation) {
            let error = err(verify::run(&gpu, op, &inputs));
            invalid_parameter(error, name, value, requirement);
        }
    }
    // Legal: no data; no bias (the fused ops then have no rows); a bias
    // longer than the data.
    let cases = [
        sample::inputs(0, 2),
        HostInputs {
            x: values(8),
            dy: values(8),
            bias: Vec::new(),
        },
        HostInputs {
            x: values(3),
            dy: values(3),
            bias: values(5),
        },
    ];
    for inputs in &cases {
        for op in Op::all() {
            let comparison = verify::run(&gpu, op, inputs).unwrap();
            assert!(comparison.passed(), "{op}: {:?}", comparison.first_mismatch);
        }
    }
}

/// Each op refuses each operand it needs when that one is missing, naming
/// the op and the operand; `record_op` then records nothing and `Batch::op`
/// leaves the batch empty.
#[test]
fn gpu_record_op_missing_operand() {
    let Some(gpu) = gpu() else { return };
    let inputs = sample::inputs(64, 4);
    for op in Op::all() {
        let operands = verify::OpOperands::upload(&gpu, op, &inputs).unwrap();
        let all = operands.tensors(op);
        let roles: [(&str, OpTensors); 7] = [
            ("x", OpTensors { x: None, ..all }),
            ("dy", OpTensors { dy: None, ..all }),
            ("bias", OpTensors { bias: None, ..all }),
            ("mask", OpTensors { mask: None, ..all }),
            ("y", OpTensors { y: None, ..all }),
            ("dx", OpTensors { dx: None, ..all }),
            ("db", OpTensors { db: None, ..all }),
        ];
        let mut refused = 0;
        for (role, tensors) in roles {
            let mut encoder = gpu.device().create_command_encoder(&Default::default());
            match gpu.record_op(&mut encoder, op, &tensors) {
                // Not an operand of this op.
                Ok(()) => continue,
                Err(error) => {
                    assert!(
                        matches!(&error, Error::MissingOperand { op: o, operand }
                            if *o == op.name() && *operand == role),
                        "{op} without {role}: {error:?}"
                    );
                    names(&error, &[&op.name(), role]);
                }
            }
            refused += 1;
            let mut batch = gpu.batch();
            let error = err(batch.op(op, &tensors).map(drop));
            assert!(matches!(error, Error::MissingOperand { .. }), "{error:?}");
            assert!(batch.is_empty(), "{op}: a refused op was recorded");
        }
        assert!(refused >= 1, "{op} needs no operand");
        verify::run(&gpu, op, &inputs).unwrap();
    }
}
