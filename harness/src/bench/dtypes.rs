//! Rows per element type: the ops whose speed 16-bit storage is for, in
//! f32, f16 and bf16 on the same data, timed in turn, and the targets of
//! benches/README.md read off them.

use std::time::Duration;

use super::targets::{Bound, Target};
use super::timer::GpuTimer;
use super::workload::BIAS_COLS;
use super::{DeviceWork, device_times_in_turn};
use crate::error::Result;
use crate::sample;
use wgpu_activations::verify::OpOperands;
use wgpu_activations::{Activation, DType, Gpu, HostInputs, Op};

/// The ops of the per-type rows: the forward, with its mask, the backward
/// from the mask, and the fused forward and backward.
pub fn dtype_ops() -> Vec<Op> {
    let relu = Activation::Relu;
    vec![
        Op::ReluForward,
        Op::ForwardWithMask(relu),
        Op::BackwardFromMask(relu),
        Op::BiasForward(relu),
        Op::BiasBackward(relu),
    ]
}

/// One op at one size in one element type.
#[derive(Clone, Debug, PartialEq)]
pub struct DTypeRow {
    /// The op's name.
    pub op: String,
    /// The element type of its data.
    pub dtype: DType,
    /// Elements of its input.
    pub elements: usize,
    /// The fastest kernel time.
    pub kernel_seconds: f64,
    /// Elements per second in this type over elements per second in f32:
    /// the median over rounds of f32 time / this type's time, both taken
    /// in the same round.
    pub speedup_over_f32: f64,
}

impl DTypeRow {
    /// Elements per second.
    pub fn elements_per_second(&self) -> f64 {
        self.elements as f64 / self.kernel_seconds
    }
}

/// Every op of [`dtype_ops`] at `elements` (the bias ops on rows of
/// [`BIAS_COLS`], as the main table's), in every type of [`DType::ALL`]
/// (f32 first), each type's kernel timed in turn with the others on the
/// same values (rounded to the type).
pub fn dtype_rows(
    gpu: &Gpu,
    timer: &GpuTimer,
    elements: usize,
    samples: usize,
    min_sample: Duration,
) -> Result<Vec<DTypeRow>> {
    let inputs = HostInputs {
        x: sample::activations(elements, 0x16b1),
        dy: sample::activations(elements, 0x16b2),
        bias: sample::activations(BIAS_COLS.min(elements.max(1)), 0x16b3),
    };
    let mut rows = Vec::new();
    for op in dtype_ops() {
        let operands = DType::ALL
            .into_iter()
            .map(|dtype| OpOperands::upload_in(gpu, op, &inputs.rounded_to(dtype), dtype))
            .collect::<wgpu_activations::Result<Vec<_>>>()?;
        let mut works: Vec<_> = operands
            .iter()
            .map(|operands| {
                move |encoder: &mut wgpu::CommandEncoder| -> Result<()> {
                    gpu.record_op(encoder, op, &operands.tensors(op))?;
                    Ok(())
                }
            })
            .collect();
        let mut works: Vec<DeviceWork<'_>> = works
            .iter_mut()
            .map(|work| work as DeviceWork<'_>)
            .collect();
        let times = device_times_in_turn(timer, samples, min_sample, &mut works)?;
        for (dtype, time) in DType::ALL.into_iter().zip(times) {
            rows.push(DTypeRow {
                op: op.name(),
                dtype,
                elements: inputs.used(op),
                kernel_seconds: time.fastest.as_secs_f64(),
                speedup_over_f32: 1.0 / time.ratio_to_first,
            });
        }
    }
    Ok(rows)
}

/// The rows as a table: kernel time, elements per second and the speed-up
/// over f32, per op and type.
pub fn dtype_table(rows: &[DTypeRow]) -> String {
    let mut table = format!(
        "{:<22} {:<5} {:>10} {:>11} {:>12} {:>9}\n",
        "op", "dtype", "elements", "kernel ms", "Gelements/s", "vs f32"
    );
    for row in rows {
        table.push_str(&format!(
            "{:<22} {:<5} {:>10} {:>11.3} {:>12.3} {:>8.2}x\n",
            row.op,
            row.dtype.name(),
            row.elements,
            row.kernel_seconds * 1e3,
            row.elements_per_second() / 1e9,
            row.speedup_over_f32
        ));
    }
    table
}

/// The targets on the rows: relu in f16 and in bf16 at least 1.7x f32's
/// elements per second, fused bias + relu in f16 at least 1.6x. A row
/// missing from `rows` gives NaN, which meets no bound.
pub fn dtype_targets(rows: &[DTypeRow]) -> Vec<Target> {
    let speedup = |op: Op, dtype: DType| {
        rows.iter()
            .find(|row| row.op == op.name() && row.dtype == dtype)
            .map_or(f64::NAN, |row| row.speedup_over_f32)
    };
    let relu = Activation::Relu;
    vec![
        Target {
            what: "f16 relu elements/s / f32 relu elements/s",
            measured: speedup(Op::ReluForward, DType::F16),
            required: 1.7,
            bound: Bound::AtLeast,
            beside: None,
        },
        Target {
            what: "bf16 relu elements/s / f32 relu elements/s",
            measured: speedup(Op::ReluForward, DType::BF16),
            required: 1.7,
            bound: Bound::AtLeast,
            beside: None,
        },
        Target {
            what: "f16 bias_relu elements/s / f32 bias_relu elements/s",
            measured: speedup(Op::BiasForward(relu), DType::F16),
            required: 1.6,
            bound: Bound::AtLeast,
            beside: None,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_the_rows_they_name() {
        let row = |op: Op, dtype, speedup| DTypeRow {
            op: op.name(),
            dtype,
            elements: 1 << 24,
            kernel_seconds: 0.01,
            speedup_over_f32: speedup,
        };
        let rows = vec![
            row(Op::ReluForward, DType::F16, 1.8),
            row(Op::ReluForward, DType::BF16, 1.2),
        ];
        let targets = dtype_targets(&rows);
        assert!(targets[0].met());
        assert!(!targets[1].met());
        assert!(targets[2].measured.is_nan() && !targets[2].met());
        assert!(dtype_table(&rows).contains("bf16"));
    }
}
