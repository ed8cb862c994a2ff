//! The SVG plot of a [`Report`]: GB/s against size, one panel per op.

use std::error::Error;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::measurement::{Measurement, Report};

/// The error of [`plot_svg`]; `Send + Sync` so callers can wrap it in an
/// [`std::io::Error`].
pub type PlotError = Box<dyn Error + Send + Sync>;

const WIDTH: u32 = 1500;
const COLUMNS: usize = 3;
const PANEL_HEIGHT: u32 = 460;
/// Title, subtitle and the shared legend.
const HEADER_HEIGHT: u32 = 120;
const FONT: &str = "sans-serif";
/// More ticks than this crowd a 500 px wide panel.
const MAX_X_TICKS: i32 = 9;

/// One line in every panel.
struct Series {
    label: String,
    color: RGBColor,
    marker: Marker,
    value: fn(&Measurement) -> f64,
}

#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Square,
    Cross,
    /// A small dot on a dashed line: the copy limits (GPU copy, host
    /// memcpy) are references, not results, so they recede behind the
    /// measured series.
    Dot,
}

fn series(report: &Report) -> Vec<Series> {
    let threads = report.measurements.first().map_or(0, |m| m.threads);
    // Okabe-Ito colours stay distinct under the common colour-vision
    // deficiencies; each series also has its own marker shape.
    vec![
        Series {
            label: "copy limit".to_string(),
            color: RGBColor(140, 140, 140),
            marker: Marker::Dot,
            value: Measurement::copy_gbps,
        },
        Series {
            label: format!("host memcpy {threads} threads"),
            color: RGBColor(86, 180, 233),
            marker: Marker::Dot,
            value: Measurement::memcpy_threads_gbps,
        },
        Series {
            label: "GPU kernel".to_string(),
            color: RGBColor(0, 114, 178),
            marker: Marker::Circle,
            value: Measurement::kernel_gbps,
        },
        Series {
            label: "GPU round trip".to_string(),
            color: RGBColor(230, 159, 0),
            marker: Marker::Triangle,
            value: Measurement::round_trip_gbps,
        },
        Series {
            label: "CPU 1 thread".to_string(),
            color: RGBColor(0, 158, 115),
            marker: Marker::Square,
            value: Measurement::cpu_gbps,
        },
        Series {
            label: format!("CPU {threads} threads"),
            color: RGBColor(204, 121, 167),
            marker: Marker::Cross,
            value: Measurement::cpu_threads_gbps,
        },
    ]
}

/// Draws `report` as an SVG file at `path`: GB/s against elements (both
/// log-scaled), one panel per op in a three-column grid, with the GPU
/// kernel, GPU round trip, both CPU runs and the copy limits (GPU copy,
/// host memcpy on every thread) in each.
///
/// Non-finite and non-positive values are left out rather than drawn.
pub fn plot_svg(report: &Report, path: &Path) -> Result<(), PlotError> {
    let svg = render_svg(report)?;
    std::fs::write(path, svg)?;
    Ok(())
}

/// The SVG document [`plot_svg`] writes.
pub fn render_svg(report: &Report) -> Result<String, PlotError> {
    let ops = ops(report);
    let rows = ops.len().div_ceil(COLUMNS).max(1);
    let height = HEADER_HEIGHT + PANEL_HEIGHT * rows as u32;
    let series = series(report);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let (header, body) = root.split_vertically(HEADER_HEIGHT);
        draw_header(&header, report, &series)?;

        if ops.is_empty() {
            let centre = (WIDTH as i32 / 2, PANEL_HEIGHT as i32 / 2);
            let style = (FONT, 24).into_font().color(&BLACK);
            let style = style.pos(Pos::new(HPos::Center, VPos::Center));
            body.draw(&Text::new("no measurements", centre, style))?;
        } else {
            let x_axis = XAxis::new(report);
            let y_axis = YAxis::new(report, &series);
            let panels = body.split_evenly((rows, COLUMNS));
            for (op, panel) in ops.iter().zip(&panels) {
                draw_panel(panel, report, op, &series, &x_axis, &y_axis)?;
            }
        }
        root.present()?;
    }
    Ok(svg)
}

/// Op names in order of first appearance, so the panels follow the order
/// the benchmark ran them in.
fn ops(report: &Report) -> Vec<&str> {
    let mut ops: Vec<&str> = Vec::new();
    for m in &report.measurements {
        if !ops.contains(&m.op.as_str()) {
            ops.push(&m.op);
        }
    }
    ops
}

fn draw_header(
    area: &DrawingArea<SVGBackend, Shift>,
    report: &Report,
    series: &[Series],
) -> Result<(), PlotError> {
    let centre = WIDTH as i32 / 2;
    let title = format!("GB/s vs size — {}, {}", report.adapter, report.backend);
    let style = (FONT, 30).into_font().color(&BLACK);
    let style = style.pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(title, (centre, 12), style))?;

    let subtitle = format!(
        "bytes the op reads and writes over the fastest sampled time; GPU kernel time from {}; \
         copy limit = copy_buffer_to_buffer of the same bytes; host memcpy = the CPU's copy of them",
        report.timer.name()
    );
    let style = (FONT, 17).into_font().color(&RGBColor(80, 80, 80));
    let style = style.pos(Pos::new(HPos::Center, VPos::Top));
    area.draw(&Text::new(subtitle, (centre, 50), style))?;

    // One shared legend: the same five series appear in every panel.
    let entry_width = 260;
    let mut x = centre - entry_width * series.len() as i32 / 2;
    let y = 95;
    for s in series {
        let line = style_for(s).stroke_width(2);
        if matches!(s.marker, Marker::Dot) {
            area.draw(&PathElement::new(vec![(x, y), (x + 10, y)], line))?;
            area.draw(&PathElement::new(vec![(x + 16, y), (x + 26, y)], line))?;
            area.draw(&PathElement::new(vec![(x + 32, y), (x + 42, y)], line))?;
        } else {
            area.draw(&PathElement::new(vec![(x, y), (x + 42, y)], line))?;
        }
        draw_marker(area, s, (x + 21, y))?;
        let style = (FONT, 20).into_font().color(&BLACK);
        let style = style.pos(Pos::new(HPos::Left, VPos::Center));
        area.draw(&Text::new(s.label.clone(), (x + 52, y), style))?;
        x += entry_width;
    }
    Ok(())
}

fn style_for(series: &Series) -> ShapeStyle {
    ShapeStyle::from(&series.color)
}

/// Draws `series`' marker centred on `at`; works on any drawing area, so
/// the legend and the panels share it.
fn draw_marker<DB, CT>(
    area: &DrawingArea<DB, CT>,
    series: &Series,
    at: CT::From,
) -> Result<(), PlotError>
where
    DB: DrawingBackend,
    DB::ErrorType: Send + Sync + 'static,
    CT: CoordTranslate,
    CT::From: Clone,
{
    let color = series.color;
    let filled = color.filled();
    let outline = color.stroke_width(2);
    let at = EmptyElement::at(at);
    match series.marker {
        Marker::Circle => area.draw(&(at + Circle::new((0, 0), 5, filled)))?,
        Marker::Triangle => area.draw(&(at + TriangleMarker::new((0, 0), 6, filled)))?,
        Marker::Square => area.draw(&(at + Rectangle::new([(-4, -4), (4, 4)], filled)))?,
        Marker::Cross => area.draw(&(at + Cross::new((0, 0), 5, outline)))?,
        Marker::Dot => area.draw(&(at + Circle::new((0, 0), 3, filled)))?,
    }
    Ok(())
}

/// The shared x axis: elements on a log2 scale, ticks at powers of two.
struct XAxis {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl XAxis {
    fn new(report: &Report) -> Self {
        let elements = report
            .measurements
            .iter()
            .map(|m| m.elements as f64)
            .filter(|&e| e > 0.0);
        let (lo, hi) = min_max(elements).unwrap_or((1024.0, 67_108_864.0));
        // Half a power of two either side keeps end markers off the frame.
        let range = lo / 2f64.sqrt()..hi * 2f64.sqrt();
        let first = range.start.log2().ceil() as i32;
        let last = range.end.log2().floor() as i32;
        let step = ((last - first) / MAX_X_TICKS + 1).max(1);
        // Ticks on multiples of the step, so 2^10 and 2^20 get labels when
        // the step is 2 or 5.
        let ticks = (first..=last)
            .filter(|e| e.rem_euclid(step) == 0)
            .map(|e| 2f64.powi(e))
            .collect();
        XAxis { range, ticks }
    }

    fn label(value: &f64) -> String {
        format!("2^{}", value.log2().round() as i32)
    }
}

/// The shared y axis: GB/s on a log10 scale with 1-2-5 ticks, so panels
/// compare at a glance.
struct YAxis {
    range: std::ops::Range<f64>,
    ticks: Vec<f64>,
}

impl YAxis {
    fn new(report: &Report, series: &[Series]) -> Self {
        let values = report
            .measurements
            .iter()
            .flat_map(|m| series.iter().map(move |s| (s.value)(m)))
            .filter(|v| plottable(*v));
        let (lo, hi) = min_max(values).unwrap_or((0.1, 100.0));
        let range = lo / 1.5..hi * 1.5;
        let first = range.start.log10().floor() as i32;
        let last = range.end.log10().ceil() as i32;
        // 1-2-5 subdivisions only fit when the data spans a few decades.
        let mantissas: &[f64] = if last - first <= 4 {
            &[1.0, 2.0, 5.0]
        } else {
            &[1.0]
        };
        let step = ((last - first) / 8 + 1).max(1);
        let ticks = (first..=last)
            .filter(|e| e.rem_euclid(step) == 0)
            .flat_map(|e| mantissas.iter().map(move |m| (m * 10f64.powi(e), e)))
            .filter(|(v, _)| range.contains(v))
            .map(|(v, _)| v)
            .collect();
        YAxis { range, ticks }
    }

    /// Enough decimals to show a 1-2-5 tick exactly, and no more.
    fn label(value: &f64) -> String {
        let decimals = (-value.log10().floor()).max(0.0) as usize;
        format!("{value:.decimals$}")
    }
}

fn plottable(value: f64) -> bool {
    value.is_finite() && value > 0.0
}

fn min_max(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn draw_panel(
    area: &DrawingArea<SVGBackend, Shift>,
    report: &Report,
    op: &str,
    series: &[Series],
    x_axis: &XAxis,
    y_axis: &YAxis,
) -> Result<(), PlotError> {
    let mut chart = ChartBuilder::on(area)
        .caption(op, (FONT, 24))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(
            x_axis
                .range
                .clone()
                .log_scale()
                .with_key_points(x_axis.ticks.clone()),
            y_axis
                .range
                .clone()
                .log_scale()
                .with_key_points(y_axis.ticks.clone()),
        )?;
    chart
        .configure_mesh()
        .x_desc("elements (log scale)")
        .y_desc("GB/s (log scale)")
        .x_label_formatter(&XAxis::label)
        .y_label_formatter(&YAxis::label)
        .label_style((FONT, 15))
        .axis_desc_style((FONT, 17))
        .bold_line_style(RGBColor(225, 225, 225))
        .draw()?;

    let mut rows: Vec<&Measurement> = report.measurements.iter().filter(|m| m.op == op).collect();
    rows.sort_by_key(|m| m.elements);
    for s in series {
        let points: Vec<(f64, f64)> = rows
            .iter()
            .map(|m| (m.elements as f64, (s.value)(m)))
            .filter(|&(x, y)| x > 0.0 && plottable(y))
            .collect();
        let line = style_for(s).stroke_width(2);
        if matches!(s.marker, Marker::Dot) {
            chart.draw_series(DashedLineSeries::new(points.clone(), 10, 6, line))?;
        } else {
            chart.draw_series(LineSeries::new(points.clone(), line))?;
        }
        let plotting_area = chart.plotting_area();
        for point in points {
            draw_marker(plotting_area, s, point)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x_ticks_cover_the_range_in_even_powers() {
        let report = Report {
            adapter: String::new(),
            backend: String::new(),
            timer: crate::bench::KernelTimer::Timestamps,
            small_ops: Vec::new(),
            element_types: Vec::new(),
            measurements: [10, 26]
                .into_iter()
                .map(|e| Measurement {
                    op: "relu".into(),
                    elements: 1 << e,
                    bytes: 8 << e,
                    kernel_seconds: 1.0,
                    copy_seconds: 1.0,
                    identity_seconds: 1.0,
                    first_round_trip_seconds: 1.0,
                    round_trip_seconds: 1.0,
                    round_trip_floor_seconds: 1.0,
                    round_trip_to_floor: 1.0,
                    cpu_seconds: 1.0,
                    cpu_threads_seconds: 1.0,
                    memcpy_seconds: 1.0,
                    memcpy_threads_seconds: 1.0,
                    threads: 1,
                })
                .collect(),
        };
        let labels: Vec<_> = XAxis::new(&report).ticks.iter().map(XAxis::label).collect();
        assert_eq!(labels.first().unwrap(), "2^10");
        assert_eq!(labels.last().unwrap(), "2^26");
        assert!(labels.contains(&"2^20".to_string()));
        assert!(labels.len() <= MAX_X_TICKS as usize);
    }

    #[test]
    fn y_labels_are_exact() {
        assert_eq!(YAxis::label(&0.05), "0.05");
        assert_eq!(YAxis::label(&0.2), "0.2");
        assert_eq!(YAxis::label(&1.0), "1");
        assert_eq!(YAxis::label(&500.0), "500");
    }

    #[test]
    fn empty_and_degenerate_reports_render() {
        let mut report = Report {
            adapter: "a & <b>".into(),
            backend: "Vulkan".into(),
            timer: crate::bench::KernelTimer::SubmitAndWait,
            measurements: vec![],
            small_ops: Vec::new(),
            element_types: Vec::new(),
        };
        assert!(render_svg(&report).unwrap().contains("no measurements"));
        report.measurements.push(Measurement {
            op: "relu".into(),
            elements: 4096,
            bytes: 0,
            kernel_seconds: 0.0,
            copy_seconds: f64::NAN,
            identity_seconds: f64::NAN,
            first_round_trip_seconds: 1e-3,
            round_trip_seconds: 1e-3,
            round_trip_floor_seconds: 1e-3,
            round_trip_to_floor: 1.0,
            cpu_seconds: 1e-3,
            cpu_threads_seconds: 1e-3,
            memcpy_seconds: 1e-3,
            memcpy_threads_seconds: 1e-3,
            threads: 4,
        });
        let svg = render_svg(&report).unwrap();
        assert!(svg.contains("a &amp; &lt;b&gt;"));
        assert!(svg.contains("CPU 4 threads"));
    }
}
