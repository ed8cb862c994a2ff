//! Output formats for a [`Report`]: a terminal table, CSV, JSON and an SVG
//! plot on disk.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use super::measurement::{Measurement, Report};
use super::plot;

/// The columns of the per-type CSV, in order; [`Report::to_dtype_csv`]
/// writes them in the same order.
const DTYPE_CSV_HEADER: [&str; 9] = [
    "adapter",
    "backend",
    "timer",
    "op",
    "dtype",
    "elements",
    "kernel_seconds",
    "elements_per_second",
    "speedup_over_f32",
];

/// The CSV columns, in order; [`csv_row`] must follow the same order.
const CSV_HEADER: [&str; 29] = [
    "adapter",
    "backend",
    "timer",
    "op",
    "elements",
    "bytes",
    "kernel_seconds",
    "copy_seconds",
    "identity_seconds",
    "first_round_trip_seconds",
    "round_trip_seconds",
    "round_trip_floor_seconds",
    "round_trip_to_floor",
    "cpu_seconds",
    "cpu_threads_seconds",
    "memcpy_seconds",
    "memcpy_threads_seconds",
    "threads",
    "kernel_gbps",
    "copy_gbps",
    "ratio_to_copy",
    "ratio_to_identity",
    "round_trip_gbps",
    "cpu_gbps",
    "cpu_threads_gbps",
    "memcpy_gbps",
    "memcpy_threads_gbps",
    "cpu_to_memcpy",
    "speedup",
];

impl Report {
    /// A fixed-width table for a terminal: a title line naming the adapter,
    /// backend and kernel timer, a line saying what the columns are, a
    /// header line, then one line per measurement. Bandwidths are in GB/s;
    /// "CPU" is the tuned baseline, "memcpy" the host's copy of the same
    /// bytes, and the speedup is the GPU kernel's over the CPU on every
    /// thread.
    pub fn table(&self) -> String {
        let threads = self
            .measurements
            .first()
            .map_or_else(|| "N".to_string(), |m| m.threads.to_string());
        let op_width = self
            .measurements
            .iter()
            .map(|m| m.op.chars().count())
            .chain([2])
            .max()
            .unwrap_or(2);

        let mut out = format!(
            "{} ({}), kernel time from {}\n",
            self.adapter,
            self.backend,
            self.timer.name()
        );
        let _ = writeln!(
            out,
            "{:<op_width$}  {:>8}  {:>6}  {:>7}  {:>7}  {:>6}  {:>9}  {:>8}  {:>10}",
            "op",
            "elements",
            "kernel",
            "vs copy",
            "vs id",
            "copy",
            "1st trip",
            "trip",
            "trip/floor",
        );
        for m in &self.measurements {
            let _ = writeln!(
                out,
                "{:<op_width$}  {:>8}  {:>6}  {:>7}  {:>7}  {:>6}  {:>9}  {:>8}  {:>10}",
                m.op,
                m.elements,
                gbps(m.kernel_gbps()),
                format!("{:.2}x", m.ratio_to_copy()),
                format!("{:.2}x", m.ratio_to_identity()),
                gbps(m.copy_gbps()),
                format!("{:.2}", m.first_round_trip_seconds * 1e3),
                format!("{:.2}", m.round_trip_seconds * 1e3),
                format!("{:.2}x", m.round_trip_to_floor),
            );
        }
        out.push_str(
            "GB/s of the op's bytes. kernel, copy: the GPU op and copy_buffer_to_buffer of as many \
             bytes; vs copy, vs id: kernel\n\
             bandwidth / the copy's and / the identity kernel's (y = x in the same loop). Round \
             trips in ms: 1st: upload into\n\
             new tensors, kernel, download into new vectors; trip: the same on kept tensors and \
             vectors; floor: kernel + a\n\
             one-thread host memcpy of the bytes uploaded and downloaded.\n\n",
        );
        let _ = writeln!(
            out,
            "{:<op_width$}  {:>8}  {:>6}  {:>6}  {:>6}  {:>6}  {:>7}  {:>7}",
            "op",
            "elements",
            "CPU 1T",
            "mcpy1T",
            format!("CPU {threads}T"),
            format!("mcpy{threads}T"),
            "vs mcpy",
            "speedup",
        );
        for m in &self.measurements {
            let _ = writeln!(
                out,
                "{:<op_width$}  {:>8}  {:>6}  {:>6}  {:>6}  {:>6}  {:>7}  {:>7}",
                m.op,
                m.elements,
                gbps(m.cpu_gbps()),
                gbps(m.memcpy_gbps()),
                gbps(m.cpu_threads_gbps()),
                gbps(m.memcpy_threads_gbps()),
                format!("{:.2}x", m.cpu_to_memcpy()),
                format!("{:.1}x", m.speedup()),
            );
        }
        let _ = writeln!(
            out,
            "GB/s. CPU: the tuned baseline (bit-identical to the reference); mcpy: the host's memcpy \
             of as many bytes;\n\
             vs mcpy: CPU {threads}T / mcpy{threads}T. speedup: GPU kernel over the tuned CPU on \
             {threads} threads (time CPU {threads}T / time kernel)."
        );
        out
    }

    /// CSV with a header row, then one row per measurement holding the raw
    /// times and the derived bandwidths, ratio and speedup.
    pub fn to_csv(&self) -> String {
        let mut out = CSV_HEADER.join(",");
        out.push('\n');
        for m in &self.measurements {
            out.push_str(&self.csv_row(m).join(","));
            out.push('\n');
        }
        out
    }

    /// CSV of the per-type rows ([`Report::element_types`]): a header row,
    /// then one row per op and element type.
    pub fn to_dtype_csv(&self) -> String {
        let mut out = DTYPE_CSV_HEADER.join(",");
        out.push('\n');
        for row in &self.element_types {
            let fields = [
                csv_field(&self.adapter),
                csv_field(&self.backend),
                csv_field(self.timer.name()),
                csv_field(&row.op),
                row.dtype.name().to_string(),
                row.elements.to_string(),
                row.kernel_seconds.to_string(),
                row.elements_per_second().to_string(),
                row.speedup_over_f32.to_string(),
            ];
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }

    fn csv_row(&self, m: &Measurement) -> Vec<String> {
        vec![
            csv_field(&self.adapter),
            csv_field(&self.backend),
            csv_field(self.timer.name()),
            csv_field(&m.op),
            m.elements.to_string(),
            m.bytes.to_string(),
            m.kernel_seconds.to_string(),
            m.copy_seconds.to_string(),
            m.identity_seconds.to_string(),
            m.first_round_trip_seconds.to_string(),
            m.round_trip_seconds.to_string(),
            m.round_trip_floor_seconds.to_string(),
            m.round_trip_to_floor.to_string(),
            m.cpu_seconds.to_string(),
            m.cpu_threads_seconds.to_string(),
            m.memcpy_seconds.to_string(),
            m.memcpy_threads_seconds.to_string(),
            m.threads.to_string(),
            m.kernel_gbps().to_string(),
            m.copy_gbps().to_string(),
            m.ratio_to_copy().to_string(),
            m.ratio_to_identity().to_string(),
            m.round_trip_gbps().to_string(),
            m.cpu_gbps().to_string(),
            m.cpu_threads_gbps().to_string(),
            m.memcpy_gbps().to_string(),
            m.memcpy_threads_gbps().to_string(),
            m.cpu_to_memcpy().to_string(),
            m.speedup().to_string(),
        ]
    }

    /// Pretty-printed JSON: the adapter, backend and timer, a
    /// `measurements` array of objects with the raw fields and the derived
    /// ones, and an `element_types` array of the per-type rows. Non-finite
    /// numbers (a zero time) become `null`.
    pub fn to_json(&self) -> String {
        let measurements: Vec<serde_json::Value> = self
            .measurements
            .iter()
            .map(|m| {
                serde_json::json!({
                    "op": m.op,
                    "elements": m.elements,
                    "bytes": m.bytes,
                    "kernel_seconds": m.kernel_seconds,
                    "copy_seconds": m.copy_seconds,
                    "identity_seconds": m.identity_seconds,
                    "first_round_trip_seconds": m.first_round_trip_seconds,
                    "round_trip_seconds": m.round_trip_seconds,
                    "round_trip_floor_seconds": m.round_trip_floor_seconds,
                    "round_trip_to_floor": m.round_trip_to_floor,
                    "cpu_seconds": m.cpu_seconds,
                    "cpu_threads_seconds": m.cpu_threads_seconds,
                    "memcpy_seconds": m.memcpy_seconds,
                    "memcpy_threads_seconds": m.memcpy_threads_seconds,
                    "threads": m.threads,
                    "kernel_gbps": m.kernel_gbps(),
                    "copy_gbps": m.copy_gbps(),
                    "ratio_to_copy": m.ratio_to_copy(),
                    "ratio_to_identity": m.ratio_to_identity(),
                    "round_trip_gbps": m.round_trip_gbps(),
                    "cpu_gbps": m.cpu_gbps(),
                    "cpu_threads_gbps": m.cpu_threads_gbps(),
                    "memcpy_gbps": m.memcpy_gbps(),
                    "memcpy_threads_gbps": m.memcpy_threads_gbps(),
                    "cpu_to_memcpy": m.cpu_to_memcpy(),
                    "speedup": m.speedup(),
                })
            })
            .collect();
        let element_types: Vec<serde_json::Value> = self
            .element_types
            .iter()
            .map(|row| {
                serde_json::json!({
                    "op": row.op,
                    "dtype": row.dtype.name(),
                    "elements": row.elements,
                    "kernel_seconds": row.kernel_seconds,
                    "elements_per_second": row.elements_per_second(),
                    "speedup_over_f32": row.speedup_over_f32,
                })
            })
            .collect();
        let value = serde_json::json!({
            "adapter": self.adapter,
            "backend": self.backend,
            "timer": self.timer.name(),
            "measurements": measurements,
            "element_types": element_types,
        });
        // A `Value` has string keys and no custom Serialize impls, so
        // serialising it cannot fail.
        serde_json::to_string_pretty(&value).expect("a JSON value always serialises")
    }

    /// Writes `bench.csv`, `bench_dtypes.csv` (the per-type rows),
    /// `bench.json` and `bench.svg` (the plot) into `dir`, creating it if
    /// needed, and returns the paths written.
    pub fn write(&self, dir: &Path) -> io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let csv = dir.join("bench.csv");
        std::fs::write(&csv, self.to_csv())?;
        let dtype_csv = dir.join("bench_dtypes.csv");
        std::fs::write(&dtype_csv, self.to_dtype_csv())?;
        let json = dir.join("bench.json");
        std::fs::write(&json, self.to_json())?;
        let svg = dir.join("bench.svg");
        plot::plot_svg(self, &svg).map_err(|e| match e.downcast::<io::Error>() {
            // Keep the kind of a failed file write (permission, disk full).
            Ok(e) => *e,
            Err(e) => io::Error::other(e),
        })?;
        Ok(vec![csv, dtype_csv, json, svg])
    }
}

/// A bandwidth with about three significant digits, so slow CPU rows and
/// fast GPU rows both stay readable in a fixed width.
fn gbps(value: f64) -> String {
    let magnitude = value.abs();
    if !value.is_finite() || magnitude >= 100.0 {
        format!("{value:.1}")
    } else if magnitude >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

/// Quotes a CSV field (RFC 4180) when a delimiter, quote or line break in it
/// would otherwise split the row.
fn csv_field(field: &str) -> String {
    if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{DTypeRow, KernelTimer};
    use wgpu_activations::DType;

    const ADAPTER: &str = "llvmpipe (LLVM 15.0.6, 256 bits)";

    fn report() -> Report {
        let mut measurements = Vec::new();
        for op in ["relu", "bias_relu_backward"] {
            for (i, elements) in [1usize << 10, 1 << 16, 1 << 20].into_iter().enumerate() {
                let bytes = elements as u64 * 8;
                let scale = (i + 1) as f64;
                measurements.push(Measurement {
                    op: op.to_string(),
                    elements,
                    bytes,
                    kernel_seconds: 1e-4 * scale,
                    copy_seconds: 0.8e-4 * scale,
                    identity_seconds: 0.8e-4 * scale,
                    first_round_trip_seconds: 1e-3 * scale,
                    round_trip_seconds: 1e-3 * scale,
                    round_trip_floor_seconds: 1e-3 * scale,
                    round_trip_to_floor: 1.0,
                    cpu_seconds: 2e-3 * scale,
                    cpu_threads_seconds: 1e-3 * scale,
                    memcpy_seconds: 0.5e-3 * scale,
                    memcpy_threads_seconds: 0.4e-3 * scale,
                    threads: 2,
                });
            }
        }
        Report {
            adapter: ADAPTER.to_string(),
            backend: "Vulkan".to_string(),
            timer: KernelTimer::Timestamps,
            measurements,
            small_ops: Vec::new(),
            element_types: DType::ALL
                .into_iter()
                .zip([1.0, 1.8, 1.9])
                .map(|(dtype, speedup_over_f32)| DTypeRow {
                    op: "relu".to_string(),
                    dtype,
                    elements: 1 << 20,
                    kernel_seconds: 1e-3 / speedup_over_f32,
                    speedup_over_f32,
                })
                .collect(),
        }
    }

    #[test]
    fn csv_has_header_rows_and_quoted_adapter() {
        let report = report();
        let csv = report.to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + report.measurements.len());
        assert_eq!(lines[0], CSV_HEADER.join(","));
        let quoted = format!("\"{ADAPTER}\",Vulkan,timestamps,relu,1024,8192,");
        assert!(lines[1].starts_with(&quoted), "{}", lines[1]);
        // The quoted comma must not add a column.
        let unquoted = lines[1].replacen(&format!("\"{ADAPTER}\""), "a", 1);
        assert_eq!(unquoted.split(',').count(), CSV_HEADER.len());
    }

    #[test]
    fn dtype_csv_has_a_row_per_op_and_type() {
        let report = report();
        let csv = report.to_dtype_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + DType::ALL.len());
        assert_eq!(lines[0], DTYPE_CSV_HEADER.join(","));
        let f16 = format!("\"{ADAPTER}\",Vulkan,timestamps,relu,f16,1048576,");
        assert!(lines[2].starts_with(&f16), "{}", lines[2]);
        assert!(lines[2].ends_with(",1.8"), "{}", lines[2]);
        let unquoted = lines[2].replacen(&format!("\"{ADAPTER}\""), "a", 1);
        assert_eq!(unquoted.split(',').count(), DTYPE_CSV_HEADER.len());
    }

    #[test]
    fn csv_field_escapes_quotes() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a \"b\""), "\"a \"\"b\"\"\"");
    }

    #[test]
    fn json_round_trips() {
        let report = report();
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(value["adapter"], ADAPTER);
        assert_eq!(value["timer"], "timestamps");
        let rows = value["measurements"].as_array().unwrap();
        assert_eq!(rows.len(), report.measurements.len());
        let expected = report.measurements[0].kernel_gbps();
        let got = rows[0]["kernel_gbps"].as_f64().unwrap();
        assert!(
            (got - expected).abs() <= expected * 1e-12,
            "{got} vs {expected}"
        );
        let speedup = rows[0]["speedup"].as_f64().unwrap();
        assert!((speedup - 10.0).abs() < 1e-9, "{speedup}");
        let types = value["element_types"].as_array().unwrap();
        assert_eq!(types.len(), DType::ALL.len());
        assert_eq!(types[2]["dtype"], "bf16");
        assert_eq!(types[2]["speedup_over_f32"], 1.9);
        let per_second = types[2]["elements_per_second"].as_f64().unwrap();
        assert!(
            (per_second - 1.9 * 1048576.0 / 1e-3).abs() < 1e-3,
            "{per_second}"
        );
    }

    #[test]
    fn json_turns_non_finite_into_null() {
        let mut report = report();
        report.measurements[0].kernel_seconds = 0.0;
        let value: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert!(value["measurements"][0]["kernel_gbps"].is_null());
        assert_eq!(value["measurements"][0]["kernel_seconds"], 0.0);
    }

    #[test]
    fn table_lists_every_op_and_ratio() {
        let table = report().table();
        assert!(table.starts_with(&format!(
            "{ADAPTER} (Vulkan), kernel time from timestamps\n"
        )));
        assert!(table.contains("CPU 2T"));
        assert!(table.contains("mcpy2T"));
        assert!(table.contains("speedup: GPU kernel over the tuned CPU on 2 threads"));
        assert!(table.contains("0.40x"), "CPU 2T vs memcpy 2T");
        assert!(table.contains("relu"));
        assert!(table.contains("bias_relu_backward"));
        assert!(table.contains("0.80x"));
        assert!(table.contains("10.0x"));
        // The title, then two tables of a header, 6 rows and a legend (4
        // lines and a blank one, then 2 lines).
        assert_eq!(table.lines().count(), 1 + (1 + 6 + 5) + (1 + 6 + 2));
        assert!(table.lines().all(|line| line.chars().count() <= 130));
        // The longest op name still fits.
        let mut long = report();
        long.measurements[0].op = "bias_relu_backward(dx,db)".to_string();
        long.measurements[0].elements = 1 << 26;
        assert!(long.table().lines().all(|line| line.chars().count() <= 130));
    }

    #[test]
    fn write_produces_all_files() {
        let dir = std::env::temp_dir().join(format!(
            "wgpu-activations-report-{}-{:?}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        ));
        let paths = report().write(&dir).unwrap();
        let names: Vec<_> = paths
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(
            names,
            ["bench.csv", "bench_dtypes.csv", "bench.json", "bench.svg"]
        );
        assert!(paths.iter().all(|p| p.is_file()));
        assert_eq!(
            std::fs::read_to_string(&paths[1]).unwrap(),
            report().to_dtype_csv()
        );
        let svg = std::fs::read_to_string(&paths[3]).unwrap();
        assert!(svg.contains(ADAPTER));
        assert!(svg.contains("GB/s"));
        assert!(svg.contains("GPU kernel"));
        assert!(svg.contains("bias_relu_backward"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
