//! An op's outputs read back, and their comparison with the reference
//! ([`Op::reference`]) as the crate's contract defines "agrees": bit for
//! bit, flushed subnormals allowed where [`Op::may_flush`], the bias
//! gradient within its bound ([`Comparison::bias_gradient`]).

use wgpu_activations::compare::Comparison;
use wgpu_activations::cpu::Subnormals;
use wgpu_activations::{HostInputs, Op};

/// What an op wrote, read back.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    /// `y`, or `dx` for a backward op.
    pub values: Vec<f32>,
    /// The mask, for the ops that write one.
    pub mask: Option<Vec<u32>>,
    /// The bias gradient, for the op that writes one.
    pub db: Option<Vec<f32>>,
}

/// Compares `outputs` of `op` on `inputs` with the reference, as the
/// crate's contract defines "agrees". A mask or bias gradient the op writes
/// but `outputs` lacks is a mismatch.
pub fn compare(op: Op, inputs: &HostInputs, outputs: &Outputs) -> Comparison {
    let used = inputs.used(op);
    let expected = op.reference(inputs, Subnormals::Preserve);
    let flushed = op
        .may_flush()
        .then(|| op.reference(inputs, Subnormals::FlushToZero));
    let mut comparison = Comparison::default();
    let (input, output) = if op.is_backward() {
        (&inputs.dy[..used], "dx")
    } else {
        (&inputs.x[..used], "y")
    };
    comparison.values(
        output,
        input,
        &outputs.values,
        &expected.values,
        flushed.as_ref().map(|f| f.values.as_slice()),
    );
    if let Some(cpu_mask) = &expected.mask {
        comparison.mask(
            &inputs.x[..used],
            outputs.mask.as_deref().unwrap_or_default(),
            cpu_mask,
            flushed.as_ref().and_then(|f| f.mask.as_deref()),
        );
    }
    if op.writes_bias_gradient() {
        let db = outputs.db.as_deref().unwrap_or_default();
        if db.len() == inputs.cols() {
            comparison.bias_gradient(db, &expected.values, inputs.rows());
        } else {
            comparison.values("db", &inputs.bias, db, &inputs.bias, None);
        }
    }
    comparison
}
