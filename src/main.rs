//! `wgpu-activations`: list adapters and verify every op against the CPU reference.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use wgpu_activations::{Gpu, GpuOptions, check, parse_backends};

#[derive(Parser)]
#[command(
    version,
    about = "ReLU-family activations as WGSL compute shaders, verified against a CPU reference"
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
    };
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(2)
        }
    }
}

fn info() -> wgpu_activations::Result<ExitCode> {
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

fn run_check(size: usize, seed: u64, backends: Option<&str>) -> wgpu_activations::Result<ExitCode> {
    let base = GpuOptions::from_env()?;
    let runs: Vec<GpuOptions> = match backends {
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
    };
    let inputs = check::Inputs::generate(size, seed);
    println!(
        "seed {seed}: {size} elements; fused bias ops on [{} rows, {} cols]",
        inputs.rows(),
        inputs.cols()
    );
    let mut failures = 0;
    for options in &runs {
        let gpu = Gpu::with_options(options)?;
        let info = gpu.info();
        println!("\n{:?}: {} ({})", info.backend, info.name, info.driver);
        println!(
            "{:<36} {:>10} {:>10} {:>8} {:>12} {:>9} {:>9}  result",
            "op", "compared", "mismatches", "flushed", "db err/bound", "GPU ms", "CPU ms"
        );
        for op in check::Op::all() {
            let report = check::run(&gpu, op, &inputs)?;
            println!(
                "{:<36} {:>10} {:>10} {:>8} {:>12} {:>9.3} {:>9.3}  {}",
                truncate(&op.name(), 36),
                report.compared,
                report.mismatches,
                report.flushed,
                report
                    .max_error_to_bound
                    .map_or("-".to_string(), |r| format!("{r:.2e}")),
                report.gpu_ms,
                report.cpu_ms,
                if report.passed() { "ok" } else { "MISMATCH" }
            );
            if let Some(mismatch) = report.first_mismatch {
                println!("    first mismatch: {mismatch}");
                failures += 1;
            }
        }
    }
    println!(
        "\ncompared: output elements + mask bits + bias-gradient columns (twice: bound, then a\n\
second run's bits). flushed: values that matched only the reference with subnormals\n\
flushed to zero, which the contract allows where the op does float arithmetic.\n\
db err/bound: largest |db - f64 sum| / bias_gradient_error_bound over the columns.\n\
GPU ms: wall time of record + submit + wait for the op alone (inputs uploaded, outputs\n\
allocated, pipelines compiled beforehand). CPU ms: the reference, one thread."
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
