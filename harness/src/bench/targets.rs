//! The performance targets of benches/README.md, read off one report.

use std::time::Duration;

use super::device_times;
use super::timer::GpuTimer;
use super::workload::{BenchOp, Workload};
use crate::error::Result;
use wgpu_activations::{Activation, Gpu, Op};

/// The size the targets are stated at.
pub const TARGET_ELEMENTS: usize = 1 << 24;

/// One target: a ratio measured in one run and the value it must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// What is compared, e.g. "relu kernel / copy bandwidth".
    pub what: &'static str,
    /// The measured ratio (higher is better).
    pub measured: f64,
    /// The ratio it must reach.
    pub required: f64,
}

impl Target {
    /// Whether the measured ratio reaches the required one.
    pub fn met(&self) -> bool {
        self.measured >= self.required
    }
}

/// The targets at `elements`, each measured as a pair whose two sides are
/// sampled alternately in one run, as the median ratio of back-to-back
/// samples ([`Paired::ratio`](super::Paired::ratio)), so that a change in the machine's load
/// cannot favour one side:
/// - relu's bandwidth at `relu_to_copy` of the copy bandwidth (0.75 on a
///   CPU adapter, 0.9 on a GPU);
/// - backward from the mask 1.3x faster than backward from `x`;
/// - fused bias + relu 1.7x faster than a bias add followed by a relu.
pub fn measure_targets(
    gpu: &Gpu,
    elements: usize,
    relu_to_copy: f64,
    samples: usize,
    min_sample: Duration,
) -> Result<Vec<Target>> {
    let timer = GpuTimer::new(gpu)?;
    let pair = |first: BenchOp, second: Option<BenchOp>| -> Result<f64> {
        let a = Workload::new(gpu, first, elements)?;
        let b = second
            .map(|op| Workload::new(gpu, op, elements))
            .transpose()?;
        let paired = device_times(
            &timer,
            samples,
            min_sample,
            &mut |encoder| a.record(encoder),
            &mut |encoder| match &b {
                Some(b) => b.record(encoder),
                None => {
                    a.record_copy(encoder);
                    Ok(())
                }
            },
        )?;
        a.verify()?;
        if let Some(b) = &b {
            b.verify()?;
        }
        Ok(paired.ratio)
    };
    // Each ratio is second time / first time: how many times faster the
    // first is; for relu against the copy, relu's share of copy bandwidth.
    let relu = Activation::Relu;
    let relu_to_copy_measured = pair(BenchOp::Op(Op::ReluForward), None)?;
    let mask_over_x = pair(
        BenchOp::Op(Op::BackwardFromMask(relu)),
        Some(BenchOp::Op(Op::BackwardFromInput(relu))),
    )?;
    let fused_over_unfused = pair(
        BenchOp::Op(Op::BiasForward(relu)),
        Some(BenchOp::BiasAddThenRelu),
    )?;
    Ok(vec![
        Target {
            what: "relu kernel bandwidth / copy bandwidth",
            measured: relu_to_copy_measured,
            required: relu_to_copy,
        },
        Target {
            what: "backward from x time / backward from mask time",
            measured: mask_over_x,
            required: 1.3,
        },
        Target {
            what: "bias add + relu (unfused) time / fused bias_relu time",
            measured: fused_over_unfused,
            required: 1.7,
        },
    ])
}
