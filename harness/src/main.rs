//! `wgpu-activations`: list adapters and verify every op against the CPU reference.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgpu_activations::compare::Tolerance;
use wgpu_activations::{DType, Gpu, GpuOptions, KernelLayout, Op, parse_backends};
use wgpu_activations_harness::bench::{self, BenchOp};
use wgpu_activations_harness::{Result, accuracy, check, sample};

#[derive(Parser)]
#[command(
    version,
    about = "Neural-network activations as WGSL compute shaders, verified against a CPU reference"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List the adapters wgpu finds, and the one `check` would use.
    Info,
    /// Run every op on seeded random data with special values mixed in, compare
    /// with the CPU reference, print a table; exit 1 on any mismatch.
    Check {
        /// Elements per op.
        #[arg(long, default_value_t = 1 << 20)]
        size: usize,
        /// Seed of the generated data.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Run on each of these backends in turn (comma-separated, e.g.
        /// `vulkan,gl`) instead of the one `WGPU_BACKEND` picks.
        #[arg(long)]
        backends: Option<String>,
    },
    /// Measure every smooth activation's forward and derivative against the
    /// exact (f64) value, in ULP: every f16 and bf16 input, and a stratified
    /// sample of 2^24 f32 inputs (or all 2^32 with --exhaustive); print the
    /// largest error, where it occurs and the inputs above the bound; exit 1
    /// on any.
    Accuracy {
        /// Every f32 input instead of the sample (hours on a CPU adapter).
        #[arg(long)]
        exhaustive: bool,
        /// Run on each of these backends in turn (comma-separated).
        #[arg(long)]
        backends: Option<String>,
        /// Only these element types (comma-separated: f32, f16, bf16).
        #[arg(long)]
        dtypes: Option<String>,
        /// Only these activations (comma-separated kind names, e.g.
        /// `gelu,silu`).
        #[arg(long)]
        activations: Option<String>,
        /// Only this direction (`forward` or `derivative`).
        #[arg(long)]
        direction: Option<String>,
    },
    /// Time every op on the GPU (kernel only, and round trip), against the
    /// copy bandwidth of the same device, and the tuned CPU baseline against
    /// the host's memcpy, on one and on all cores; print a table, the targets
    /// and the batched-vs-one-by-one comparison of small ops.
    Bench {
        /// Fewer sizes and samples (about 1.5 minutes on a 2-core machine).
        #[arg(long)]
        quick: bool,
        /// Write bench.csv, bench_dtypes.csv (the per-type rows), bench.json and the plot bench.svg into this directory.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Only these ops (comma-separated names as the table prints them;
        /// a comma inside a name's parentheses, as in
        /// `bias_relu_backward(dx,db)`, is part of the name).
        #[arg(long)]
        ops: Option<String>,
        /// Only these sizes, as powers of two (comma-separated, e.g. `20,24`).
        #[arg(long, value_delimiter = ',')]
        log2_sizes: Option<Vec<u32>>,
        /// Timed GPU samples per figure (default 5 with --quick, else 11).
        #[arg(long)]
        samples: Option<usize>,
        /// Run once per kernel layout and write a markdown report
        /// (`bench.md`: adapter, driver, limits, each layout's table and
        /// targets, the layouts side by side) with each layout's CSV, JSON
        /// and plot into this directory. `scripts/gpu-report.sh` adds the
        /// test results.
        #[arg(long)]
        report: Option<PathBuf>,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Info => info(),
        Command::Check {
            size,
            seed,
            backends,
        } => run_check(size, seed, backends.as_deref()),
        Command::Accuracy {
            exhaustive,
            backends,
            dtypes,
            activations,
            direction,
        } => run_accuracy(
            exhaustive,
            backends.as_deref(),
            dtypes.as_deref(),
            activations.as_deref(),
            direction.as_deref(),
        ),
        Command::Bench {
            quick,
            out,
            ops,
            log2_sizes,
            samples,
            report,
        } => run_bench(quick, out, ops, log2_sizes, samples, report),
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn info() -> Result<ExitCode> {
    let options = GpuOptions::from_env()?;
    let adapters = Gpu::enumerate_adapters(options.backends);
    if adapters.is_empty() {
        println!("no adapters on backends {:?}", options.backends);
    }
    for (info, compute) in &adapters {
        println!(
            "{:<8} {:<14} {:<40} {} {}{}",
            format!("{:?}", info.backend),
            format!("{:?}", info.device_type),
            info.name,
            info.driver,
            info.driver_info,
            if *compute { "" } else { "  (no compute)" }
        );
    }
    println!();
    match Gpu::with_options(&options) {
        Ok(gpu) => println!("selected:\n{}", gpu.info()),
        Err(error) => println!("selected: none ({error})"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The options of each run: `WGPU_BACKEND`'s, or one per backend listed.
fn backend_runs(backends: Option<&str>) -> Result<Vec<GpuOptions>> {
    let base = GpuOptions::from_env()?;
    Ok(match backends {
        None => vec![base],
        Some(list) => list
            .split(',')
            .map(|name| {
                Ok(GpuOptions {
                    backends: parse_backends(name)?,
                    ..base.clone()
                })
            })
            .collect::<wgpu_activations::Result<_>>()?,
    })
}

fn run_accuracy(
    exhaustive: bool,
    backends: Option<&str>,
    dtypes: Option<&str>,
    activations: Option<&str>,
    direction: Option<&str>,
) -> Result<ExitCode> {
    let coverage = if exhaustive {
        accuracy::Coverage::Exhaustive
    } else {
        accuracy::Coverage::Sample
    };
    let dtypes: Vec<DType> = match dtypes {
        None => DType::ALL.to_vec(),
        Some(list) => {
            let mut parsed = Vec::new();
            for name in list.split(',') {
                let Some(dtype) = DType::ALL.into_iter().find(|d| d.name() == name.trim()) else {
                    eprintln!("error: unknown dtype {name:?}; known: f32, f16, bf16");
                    return Ok(ExitCode::from(2));
                };
                parsed.push(dtype);
            }
            parsed
        }
    };
    let all = accuracy::activations();
    let activations: Vec<_> = match activations {
        None => all,
        Some(list) => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            let chosen: Vec<_> = all
                .into_iter()
                .filter(|a| names.contains(&a.kind_name()))
                .collect();
            if chosen.len() != names.len() {
                let known: Vec<&str> = accuracy::activations()
                    .iter()
                    .map(|a| a.kind_name())
                    .collect();
                eprintln!(
                    "error: unknown activation in {list:?}; known: {}",
                    known.join(", ")
                );
                return Ok(ExitCode::from(2));
            }
            chosen
        }
    };
    let directions: Vec<accuracy::Direction> = match direction {
        None => accuracy::Direction::ALL.to_vec(),
        Some(name) => match accuracy::Direction::ALL
            .into_iter()
            .find(|d| d.name() == name)
        {
            Some(direction) => vec![direction],
            None => {
                eprintln!("error: unknown direction {name:?}; known: forward, derivative");
                return Ok(ExitCode::from(2));
            }
        },
    };
    let mut failures = 0;
    for options in backend_runs(backends)? {
        let gpu = Gpu::with_options(&options)?;
        let info = gpu.info();
        println!("\n{:?}: {} ({})", info.backend, info.name, info.driver);
        println!("{}", accuracy::header());
        for &activation in &activations {
            for &direction in &directions {
                for &dtype in &dtypes {
                    let started = std::time::Instant::now();
                    let what = format!("{activation} {} {dtype}", direction.name());
                    let row = accuracy::measure(
                        &gpu,
                        activation,
                        direction,
                        dtype,
                        coverage,
                        |done, total| {
                            if total > 1 {
                                eprint!(
                                    "\r{}",
                                    accuracy::progress_line(&what, done, total, started)
                                );
                            }
                        },
                    )?;
                    if dtype == DType::F32 && coverage == accuracy::Coverage::Exhaustive {
                        eprintln!();
                    }
                    println!("{}", accuracy::line(&row));
                    failures += usize::from(!row.passed());
                }
            }
        }
    }
    println!(
        "\nmax ULP: the largest |gpu - exact| / ulp(exact) (exact: the f64 value of src/exact.rs;\n\
ulp: the type's spacing at the exact value, its smallest subnormal below the normal range;\n\
NaN and infinite results must be exact, else inf). derivative: the backward from x with dy = 1.\n\
covering every 16-bit value; f32 {}.\n\
inputs: those the bound holds at; outside: sine's inputs with |omega x| > {} (finite results\n\
required, no bound), left out of the figures.",
        match coverage {
            accuracy::Coverage::Sample =>
                "a stratified sample of 2^24 values (every sign and exponent, and the special values)",
            accuracy::Coverage::Exhaustive => "every one of the 2^32 values",
        },
        wgpu_activations::SINE_BOUNDED_RANGE
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_check(size: usize, seed: u64, backends: Option<&str>) -> Result<ExitCode> {
    let runs = backend_runs(backends)?;
    let inputs = sample::inputs(size, seed);
    println!(
        "seed {seed}: {size} elements; fused bias ops on [{} rows, {} cols]",
        inputs.rows(),
        inputs.cols()
    );
    let mut failures = 0;
    for options in &runs {
        let gpu = Gpu::with_options(options)?;
        let info = gpu.info();
        println!(
            "\n{:?}: {} ({}), kernels {} {}",
            info.backend, info.name, info.driver, info.kernel_variant, info.kernel_shape
        );
        println!(
            "{:<36} {:<5} {:>10} {:>10} {:>8} {:>8} {:>12} {:>9} {:>9}  result",
            "op",
            "dtype",
            "compared",
            "mismatches",
            "flushed",
            "max ULP",
            "db err/bound",
            "GPU ms",
            "CPU ms"
        );
        for (op, dtype) in Op::all()
            .into_iter()
            .flat_map(|op| DType::ALL.into_iter().map(move |dtype| (op, dtype)))
        {
            if !op.dtypes().contains(&dtype) {
                println!(
                    "{:<36} {:<5} {:>10} {:>10} {:>8} {:>8} {:>12} {:>9} {:>9}  not supported",
                    truncate(&op.name(), 36),
                    dtype.name(),
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-",
                    "-"
                );
                continue;
            }
            let report = check::run(&gpu, op, dtype, &inputs)?;
            let tolerance = match op.tolerance(dtype) {
                Tolerance::Exact => "exact".to_string(),
                Tolerance::Ulps(_) => report
                    .comparison
                    .max_ulps
                    .map_or("-".to_string(), |u| u.to_string()),
            };
            println!(
                "{:<36} {:<5} {:>10} {:>10} {:>8} {:>8} {:>12} {:>9.3} {:>9.3}  {}",
                truncate(&op.name(), 36),
                dtype.name(),
                report.comparison.compared,
                report.comparison.mismatches,
                report.comparison.flushed,
                tolerance,
                report
                    .comparison
                    .max_error_to_bound
                    .map_or("-".to_string(), |r| format!("{r:.2e}")),
                report.gpu_ms,
                report.cpu_ms,
                if report.passed() { "ok" } else { "MISMATCH" }
            );
            if let Some(mismatch) = report.comparison.first_mismatch {
                println!("    first mismatch: {mismatch}");
                failures += 1;
            }
        }
    }
    println!(
        "\ncompared: output elements + mask bits + bias-gradient columns (twice: bound, then a\n\
second run's bits). flushed: values that matched only the reference with subnormals\n\
flushed to zero, which the contract allows where the op does float arithmetic.\n\
max ULP: exact for the ReLU family (bit for bit); for a smooth activation the largest\n\
distance in the type's steps from the reference, held to Op::tolerance.\n\
db err/bound: largest |db - f64 sum| / bias_gradient_error_bound over the columns.\n\
GPU ms: wall time of record + submit + wait for the op alone (inputs uploaded, outputs\n\
allocated, pipelines compiled beforehand). CPU ms: the reference, one thread.\n\
dtype: the data's element type (the inputs rounded to it; the bias f32); 16-bit values\n\
are compared as their bits. not supported: the op refuses that type (Op::dtypes)."
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn run_bench(
    quick: bool,
    out: Option<PathBuf>,
    ops: Option<String>,
    log2_sizes: Option<Vec<u32>>,
    samples: Option<usize>,
    report_dir: Option<PathBuf>,
) -> Result<ExitCode> {
    let mut config = if quick {
        bench::Config::quick()
    } else {
        bench::Config::full()
    };
    if let Some(names) = ops {
        config.ops = Vec::new();
        for name in op_names(&names) {
            let Some(op) = BenchOp::from_name(name) else {
                let known: Vec<String> = BenchOp::all().iter().map(|op| op.name()).collect();
                eprintln!("error: unknown op {name:?}; known: {}", known.join(", "));
                return Ok(ExitCode::from(2));
            };
            config.ops.push(op);
        }
    }
    if let Some(samples) = samples {
        config.gpu_samples = samples;
    }
    if let Some(exponents) = log2_sizes {
        config.sizes = exponents.iter().map(|&e| 1usize << e).collect();
    }
    let options = GpuOptions::from_env()?;
    let variants = match report_dir {
        Some(_) => layouts(&options),
        None => vec![(None, options)],
    };
    let mut runs = Vec::new();
    for (layout, options) in variants {
        let gpu = Gpu::with_options(&options)?;
        let (report, targets) = bench_on(&gpu, &config)?;
        let dir = match (&out, &report_dir, &layout) {
            (_, Some(dir), Some(layout)) => Some(dir.join(layout)),
            (Some(dir), _, _) => Some(dir.clone()),
            _ => None,
        };
        if let Some(dir) = dir {
            match report.write(&dir) {
                Ok(paths) => {
                    for path in paths {
                        println!("wrote {}", path.display());
                    }
                }
                Err(error) => {
                    eprintln!("error: writing {}: {error}", dir.display());
                    return Ok(ExitCode::from(2));
                }
            }
        }
        runs.push(bench::LayoutRun {
            layout: layout.unwrap_or_else(|| "default".to_string()),
            info: gpu.info().to_string(),
            report,
            targets,
        });
    }
    if let Some(dir) = report_dir {
        let path = dir.join("bench.md");
        if let Err(error) = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, bench::markdown(&runs)))
        {
            eprintln!("error: writing {}: {error}", path.display());
            return Ok(ExitCode::from(2));
        }
        println!("wrote {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// `options` once per kernel layout, each named as
/// `WGPU_ACTIVATIONS_LAYOUT` names it.
fn layouts(options: &GpuOptions) -> Vec<(Option<String>, GpuOptions)> {
    KernelLayout::ALL
        .into_iter()
        .map(|layout| {
            let options = GpuOptions {
                kernel_layout: Some(layout),
                ..options.clone()
            };
            (Some(layout.to_string()), options)
        })
        .collect()
}

/// The table, the small-ops comparison and the targets of `config` on
/// `gpu`, printed as they come.
fn bench_on(gpu: &Gpu, config: &bench::Config) -> Result<(bench::Report, Vec<bench::Target>)> {
    let info = gpu.info();
    let (_, skipped) = config.sizes_for(gpu);
    println!(
        "{} ({:?}), kernels {} {}, {} CPU threads{}",
        info.name,
        info.backend,
        info.kernel_variant,
        info.kernel_shape,
        config.threads,
        if skipped.is_empty() {
            String::new()
        } else {
            format!(
                "; skipping sizes {skipped:?}: over max_storage_buffer_binding_size ({} MiB)",
                info.max_storage_buffer_binding_size >> 20
            )
        }
    );
    let mut report = bench::run(gpu, config, |m| {
        eprintln!(
            "  {:<26} {:>9} elements: {:>8.2} GB/s, {:.2}x copy; CPU {:.2}x memcpy",
            m.op,
            m.elements,
            m.kernel_gbps(),
            m.ratio_to_copy(),
            m.cpu_to_memcpy()
        );
    })?;
    println!("\n{}", report.table());
    println!("{}", report.small_ops_table());

    let required = if info.device_type == wgpu::DeviceType::Cpu {
        0.75
    } else {
        0.9
    };
    let target_elements = bench::TARGET_ELEMENTS;
    let mut targets = Vec::new();
    if BenchOp::largest_binding(target_elements) <= info.max_storage_buffer_binding_size {
        let samples = config.gpu_samples.max(9);
        let timer = bench::GpuTimer::new(gpu)?;
        let rows = bench::dtype_rows(gpu, &timer, target_elements, samples, config.min_sample)?;
        println!(
            "element types at {target_elements} elements (same values, each type's kernel timed in turn):\n{}",
            bench::dtype_table(&rows)
        );
        targets =
            bench::measure_targets(gpu, target_elements, required, samples, config.min_sample)?;
        targets.extend(bench::dtype_targets(&rows));
        report.element_types = rows;
        println!(
            "targets at {target_elements} elements (median of {samples} back-to-back ratios of alternating samples):"
        );
        for target in &targets {
            println!("{}", target.line());
        }
    }
    Ok((report, targets))
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut short: String = text.chars().take(width - 1).collect();
        short.push('…');
        short
    }
}

/// The names of a comma-separated `--ops` list. Commas inside parentheses
/// belong to a name (`bias_relu_backward(dx,db)`).
fn op_names(list: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (index, character) in list.char_indices() {
        match character {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                names.push(list[start..index].trim());
                start = index + 1;
            }
            _ => {}
        }
    }
    names.push(list[start..].trim());
    names
}

#[cfg(test)]
mod tests {
    use super::op_names;

    #[test]
    fn op_names_keep_commas_inside_parentheses() {
        assert_eq!(
            op_names("relu_backward(mask), bias_relu_backward(dx,db),relu"),
            ["relu_backward(mask)", "bias_relu_backward(dx,db)", "relu"]
        );
        assert_eq!(op_names("relu"), ["relu"]);
    }
}
