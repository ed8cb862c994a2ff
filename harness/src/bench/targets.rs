//! The performance targets of benches/README.md, read off one report.

use std::time::Duration;

use super::recording::{RecordingCosts, measure_recording};
use super::timer::GpuTimer;
use super::workload::{BenchOp, HostWorkload, Workload};
use super::{device_times, device_times_in_turn, host_times, round_trips};
use crate::error::Result;
use wgpu_activations::{Activation, Gpu, Op};

/// The size the targets are stated at.
pub const TARGET_ELEMENTS: usize = 1 << 24;

/// Which side of its bound a target's ratio must be on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bound {
    /// `measured >= required` (a speed-up, a share of bandwidth).
    AtLeast,
    /// `measured <= required` (a cost relative to a floor).
    AtMost,
}

/// One target: a ratio measured in one run and the value it must reach.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// What is compared, e.g. "relu kernel / copy bandwidth".
    pub what: &'static str,
    /// The measured ratio.
    pub measured: f64,
    /// The ratio it must reach.
    pub required: f64,
    /// Which side of `required` it must be on.
    pub bound: Bound,
    /// A figure printed beside it, for comparison.
    pub beside: Option<String>,
}

impl Target {
    /// Whether the measured ratio is on the required side of its bound.
    pub fn met(&self) -> bool {
        match self.bound {
            Bound::AtLeast => self.measured >= self.required,
            Bound::AtMost => self.measured <= self.required,
        }
    }

    /// The line the targets block prints: name, value, bound, `met` or
    /// `NOT MET`, and the figure beside it.
    pub fn line(&self) -> String {
        let sign = match self.bound {
            Bound::AtLeast => ">=",
            Bound::AtMost => "<=",
        };
        let verdict = if self.met() { "met" } else { "NOT MET" };
        let line = format!(
            "  {:<55} {:>6.2}  ({sign} {:.2})  {verdict}",
            self.what, self.measured, self.required
        );
        match &self.beside {
            Some(beside) => format!("{line}  [{beside}]"),
            None => line,
        }
    }
}

/// The targets at `elements`, each measured as a pair whose two sides are
/// sampled alternately in one run, as the median ratio of back-to-back
/// samples ([`Paired::ratio`](super::Paired::ratio)), so that a change in the machine's load
/// cannot favour one side:
/// - relu's bandwidth at `relu_to_copy` of the copy bandwidth (0.75 on a
///   CPU adapter, 0.9 on a GPU);
/// - relu's time at most 1.1x the identity kernel's (the same loop and
///   launch shape with no work in it);
/// - a repeated round trip of relu (write, kernel, download into kept
///   buffers) at most 1.5x its floor: the kernel time plus a host memcpy
///   of the bytes uploaded and downloaded;
/// - backward from the mask 1.3x faster than backward from `x`;
/// - fused bias + relu 1.7x faster than a bias add followed by a relu;
/// - the fused backward (`dx` and `db`) at most 1.3x the time of the
///   backward from the mask, which moves almost the same bytes;
/// - recording a prepared op at most 2x the CPU time of a bare dispatch
///   (measured on a small tensor: recording does not depend on size);
/// - every ReLU-family op's tuned CPU baseline at 0.7 of the host memcpy's
///   bandwidth or more, both on every thread (`cpu_memcpy_target`);
/// - GELU's and SiLU's forward at most 2x relu's time: the smooth
///   activations' arithmetic against the memory floor.
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
    let mut plain_relu = Workload::new(gpu, BenchOp::Op(Op::ReluForward), elements)?;
    let baselines = {
        let workload = &plain_relu;
        device_times_in_turn(
            &timer,
            samples,
            min_sample,
            &mut [
                &mut |encoder| workload.record(encoder),
                &mut |encoder| {
                    workload.record_copy(encoder);
                    Ok(())
                },
                &mut |encoder| workload.record_identity(encoder),
            ],
        )?
    };
    plain_relu.verify()?;
    let relu_to_copy_measured = baselines[1].ratio_to_first;
    // The median of identity / relu ratios, inverted: relu's time over the
    // identity kernel's (the median of an odd count commutes with 1/x).
    let relu_over_identity = 1.0 / baselines[2].ratio_to_first;
    let first_round_trip = plain_relu.round_trip()?;
    let trips = round_trips(&mut plain_relu, baselines[0].fastest, samples)?;
    let mask_over_x = pair(
        BenchOp::Op(Op::BackwardFromMask(relu)),
        Some(BenchOp::Op(Op::BackwardFromInput(relu))),
    )?;
    let fused_over_unfused = pair(
        BenchOp::Op(Op::BiasForward(relu)),
        Some(BenchOp::BiasAddThenRelu),
    )?;
    let fused_backward_over_mask = pair(
        BenchOp::Op(Op::BackwardFromMask(relu)),
        Some(BenchOp::Op(Op::BiasBackward(relu))),
    )?;
    let gelu_over_relu = pair(
        BenchOp::Op(Op::ReluForward),
        Some(BenchOp::Op(Op::Forward(Activation::Gelu))),
    )?;
    let silu_over_relu = pair(
        BenchOp::Op(Op::ReluForward),
        Some(BenchOp::Op(Op::Forward(Activation::Silu))),
    )?;
    Ok(vec![
        Target {
            what: "relu kernel bandwidth / copy bandwidth",
            measured: relu_to_copy_measured,
            required: relu_to_copy,
            bound: Bound::AtLeast,
            beside: None,
        },
        Target {
            what: "relu kernel time / identity kernel time",
            measured: relu_over_identity,
            required: 1.1,
            bound: Bound::AtMost,
            beside: None,
        },
        Target {
            what: "relu repeated round trip / its floor",
            measured: trips.ratio_to_floor,
            required: 1.5,
            bound: Bound::AtMost,
            beside: Some(format!(
                "round trip {:.1} ms, floor {:.1} ms (kernel + host memcpy); first call {:.1} ms",
                trips.repeated.as_secs_f64() * 1e3,
                trips.floor.as_secs_f64() * 1e3,
                first_round_trip.as_secs_f64() * 1e3
            )),
        },
        Target {
            what: "backward from x time / backward from mask time",
            measured: mask_over_x,
            required: 1.3,
            bound: Bound::AtLeast,
            beside: None,
        },
        Target {
            what: "bias add + relu (unfused) time / fused bias_relu time",
            measured: fused_over_unfused,
            required: 1.7,
            bound: Bound::AtLeast,
            beside: None,
        },
        Target {
            what: "bias_relu_backward time / relu_backward(mask) time",
            measured: fused_backward_over_mask,
            required: 1.3,
            bound: Bound::AtMost,
            beside: None,
        },
        Target {
            what: "gelu forward time / relu forward time",
            measured: gelu_over_relu,
            required: 2.0,
            bound: Bound::AtMost,
            beside: None,
        },
        Target {
            what: "silu forward time / relu forward time",
            measured: silu_over_relu,
            required: 2.0,
            bound: Bound::AtMost,
            beside: None,
        },
        recording_target(measure_recording(gpu, samples)?),
        cpu_memcpy_target(elements, samples, crate::cpu_parallel::available_threads())?,
    ])
}

/// The tuned-CPU target: for every op of [`BenchOp::all`] at `elements`,
/// its CPU baseline and the host memcpy of the same bytes, both on
/// `threads` threads, sampled alternately ([`host_times`]); the figure is
/// the worst op's median ratio of memcpy time to op time (its share of the
/// memcpy's bandwidth), to be at least 0.7. The unfused bias pair is left
/// out: its CPU side is `bias_relu`'s. So are the smooth activations: they
/// are bound by arithmetic, not memory, and their CPU side is the f64
/// reference, not a tuned loop.
pub fn cpu_memcpy_target(elements: usize, samples: usize, threads: usize) -> Result<Target> {
    // The worst op's name, bytes and paired times (not its workload: each
    // is hundreds of MB at 2^24).
    let mut worst: Option<(String, u64, super::Paired)> = None;
    for op in BenchOp::all() {
        let smooth = op.op().activation().is_some_and(Activation::is_smooth);
        if op == BenchOp::BiasAddThenRelu || smooth {
            continue;
        }
        let mut host = HostWorkload::new(op, elements)?;
        let paired = host_times(
            samples,
            &mut host,
            |w| w.cpu(threads),
            |w| w.memcpy(threads),
        );
        if worst
            .as_ref()
            .is_none_or(|(.., worst)| paired.ratio < worst.ratio)
        {
            worst = Some((op.name(), host.bytes(), paired));
        }
    }
    let (measured, beside) = worst.map_or((f64::NAN, None), |(name, bytes, paired)| {
        let gbps = |time: Duration| super::gigabytes_per_second(bytes, time.as_secs_f64());
        let beside = format!(
            "worst: {name}; {threads} threads: CPU {:.1} GB/s, memcpy {:.1} GB/s (fastest)",
            gbps(paired.first),
            gbps(paired.second)
        );
        (paired.ratio, Some(beside))
    });
    Ok(Target {
        what: "tuned CPU / host memcpy bandwidth, all threads (worst)",
        measured,
        required: 0.7,
        bound: Bound::AtLeast,
        beside,
    })
}

/// The recording-cost target: a prepared op's CPU recording time at most
/// twice a bare dispatch's, with the convenience form's ratio beside it.
pub fn recording_target(costs: RecordingCosts) -> Target {
    Target {
        what: "prepared record time / bare dispatch record time",
        measured: costs.prepared_to_bare,
        required: 2.0,
        bound: Bound::AtMost,
        beside: Some(format!(
            "convenience record_op {:.2}x; prepared {:.2} us, bare {:.2} us",
            costs.convenience_to_bare,
            costs.prepared.as_secs_f64() * 1e6,
            costs.bare.as_secs_f64() * 1e6
        )),
    }
}
