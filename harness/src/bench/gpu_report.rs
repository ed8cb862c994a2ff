//! The markdown report `bench --report DIR` writes: the adapter, then for
//! each kernel layout its table and targets, then the layouts' kernel
//! bandwidths side by side. `scripts/gpu-report.sh` runs the tests first
//! and puts their pass counts in front of it.

use std::fmt::Write as _;

use super::measurement::Report;
use super::targets::Target;

/// One bench run on one kernel layout of the same adapter.
#[derive(Clone, Debug)]
pub struct LayoutRun {
    /// The layout, as `WGPU_ACTIVATIONS_LAYOUT` names it.
    pub layout: String,
    /// What the `Gpu` ran with ([`GpuInfo`](wgpu_activations::GpuInfo)'s
    /// display: adapter, driver, limits, kernel shape and layout).
    pub info: String,
    /// The table.
    pub report: Report,
    /// The targets block.
    pub targets: Vec<Target>,
}

/// The report's markdown.
pub fn markdown(runs: &[LayoutRun]) -> String {
    let mut out = String::new();
    let Some(first) = runs.first() else {
        return "# Benchmark report\n\nNo layout was run.\n".to_string();
    };
    let _ = writeln!(out, "# Benchmark report: {}\n", first.report.adapter);
    let _ = writeln!(out, "```text\n{}\n```\n", first.info.trim_end());
    for run in runs {
        let _ = writeln!(out, "## Layout: {}\n", run.layout);
        let _ = writeln!(out, "```text\n{}\n```\n", run.info.trim_end());
        let _ = writeln!(out, "```text\n{}```\n", run.report.table());
        if !run.report.element_types.is_empty() {
            let _ = writeln!(
                out,
                "Element types:\n\n```text\n{}```\n",
                super::dtype_table(&run.report.element_types)
            );
        }
        if !run.targets.is_empty() {
            let _ = writeln!(out, "Targets:\n\n```text");
            for target in &run.targets {
                let _ = writeln!(out, "{}", target.line());
            }
            let _ = writeln!(out, "```\n");
        }
    }
    if runs.len() > 1 {
        out.push_str(&side_by_side(runs));
    }
    out
}

/// Kernel GB/s per op and size in each layout, and each layout's ratio to
/// the first.
fn side_by_side(runs: &[LayoutRun]) -> String {
    let mut out = String::from("## Layouts side by side: GPU kernel GB/s\n\n| op | elements |");
    for run in runs {
        let _ = write!(out, " {} |", run.layout);
    }
    for run in &runs[1..] {
        let _ = write!(out, " {} / {} |", run.layout, runs[0].layout);
    }
    out.push_str("\n|---|---:|");
    out.push_str(&"---:|".repeat(2 * runs.len() - 1));
    out.push('\n');
    for m in &runs[0].report.measurements {
        let same = |run: &LayoutRun| {
            run.report
                .measurements
                .iter()
                .find(|other| other.op == m.op && other.elements == m.elements)
                .map(|other| other.kernel_gbps())
        };
        let _ = write!(out, "| {} | {} |", m.op, m.elements);
        for run in runs {
            let _ = write!(
                out,
                " {} |",
                same(run).map_or("-".into(), |g| format!("{g:.2}"))
            );
        }
        for run in &runs[1..] {
            let ratio = same(run).map(|g| g / m.kernel_gbps());
            let _ = write!(
                out,
                " {} |",
                ratio.map_or("-".into(), |r| format!("{r:.2}x"))
            );
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Bound, KernelTimer, Measurement};

    fn run(layout: &str, kernel_seconds: f64) -> LayoutRun {
        let measurement = |op: &str| Measurement {
            op: op.to_string(),
            elements: 1 << 20,
            bytes: 8 << 20,
            kernel_seconds,
            copy_seconds: 1e-3,
            identity_seconds: 1e-3,
            first_round_trip_seconds: 1e-2,
            round_trip_seconds: 5e-3,
            round_trip_floor_seconds: 4e-3,
            round_trip_to_floor: 1.25,
            cpu_seconds: 2e-3,
            cpu_threads_seconds: 1e-3,
            memcpy_seconds: 1e-3,
            memcpy_threads_seconds: 1e-3,
            threads: 2,
        };
        LayoutRun {
            layout: layout.to_string(),
            info: format!("adapter:   test\nkernels:   {layout} layout"),
            report: Report {
                adapter: "test adapter".to_string(),
                backend: "Vulkan".to_string(),
                timer: KernelTimer::Timestamps,
                measurements: vec![measurement("relu"), measurement("relu+mask")],
                small_ops: Vec::new(),
                element_types: Vec::new(),
            },
            targets: vec![Target {
                what: "relu kernel time / identity kernel time",
                measured: 1.05,
                required: 1.1,
                bound: Bound::AtMost,
                beside: None,
            }],
        }
    }

    #[test]
    fn the_report_has_each_layout_and_their_ratio() {
        let text = markdown(&[run("chunked", 2e-3), run("coalesced", 1e-3)]);
        assert!(text.starts_with("# Benchmark report: test adapter\n"));
        assert!(text.contains("## Layout: chunked"));
        assert!(text.contains("## Layout: coalesced"));
        assert!(text.contains("relu kernel time / identity kernel time"));
        // 8 MiB in 2 ms and in 1 ms: 4.19 and 8.39 GB/s, twice as fast.
        assert!(
            text.contains("| relu | 1048576 | 4.19 | 8.39 | 2.00x |"),
            "{text}"
        );
        assert!(text.contains("| relu+mask | 1048576 |"));
    }

    #[test]
    fn the_element_type_rows_are_in_their_layout() {
        assert!(!markdown(&[run("chunked", 2e-3)]).contains("Element types"));
        let mut typed = run("chunked", 2e-3);
        typed.report.element_types = vec![crate::bench::DTypeRow {
            op: "relu".to_string(),
            dtype: wgpu_activations::DType::F16,
            elements: 1 << 20,
            kernel_seconds: 1e-3,
            speedup_over_f32: 1.8,
        }];
        let text = markdown(&[typed]);
        assert!(text.contains("Element types:"), "{text}");
        assert!(text.contains("relu                   f16"), "{text}");
        assert!(text.contains("1.80x"), "{text}");
    }

    #[test]
    fn one_layout_has_no_side_by_side_table() {
        let text = markdown(&[run("chunked", 2e-3)]);
        assert!(!text.contains("side by side"));
        assert!(markdown(&[]).contains("No layout"));
    }
}
