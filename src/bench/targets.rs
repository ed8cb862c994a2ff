//! The performance targets of benches/README.md, read off one report.

use super::measurement::{Measurement, Report};
use super::workload::BenchOp;

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

fn find(report: &Report, op: BenchOp, elements: usize) -> Option<&Measurement> {
    report
        .measurements
        .iter()
        .find(|m| m.op == op.name() && m.elements == elements)
}

/// The targets at `elements`, for whichever of their ops the report holds:
/// relu at `relu_to_copy` of the copy bandwidth (0.75 on a CPU adapter,
/// 0.9 on a GPU), backward from the mask 1.3x faster than from `x`, fused
/// bias + relu 1.7x faster than bias add then relu.
pub fn targets(report: &Report, elements: usize, relu_to_copy: f64) -> Vec<Target> {
    let kernel = |op| find(report, op, elements).map(|m| m.kernel_seconds);
    let mut targets = Vec::new();
    if let Some(relu) = find(report, BenchOp::Relu, elements) {
        targets.push(Target {
            what: "relu kernel bandwidth / copy bandwidth",
            measured: relu.ratio_to_copy(),
            required: relu_to_copy,
        });
    }
    if let (Some(from_mask), Some(from_x)) = (
        kernel(BenchOp::BackwardFromMask),
        kernel(BenchOp::BackwardFromInput),
    ) {
        targets.push(Target {
            what: "backward from x time / backward from mask time",
            measured: from_x / from_mask,
            required: 1.3,
        });
    }
    if let (Some(fused), Some(unfused)) =
        (kernel(BenchOp::BiasRelu), kernel(BenchOp::BiasAddThenRelu))
    {
        targets.push(Target {
            what: "bias add + relu (unfused) time / fused bias_relu time",
            measured: unfused / fused,
            required: 1.7,
        });
    }
    targets
}
