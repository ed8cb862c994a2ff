//! The harness's error: the engine's, or a benchmark that measured a kernel
//! computing something else than the reference.

/// Everything the command and its benchmarks can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An error of the engine (adapter, device, op, download).
    #[error(transparent)]
    Engine(#[from] wgpu_activations::Error),

    /// A benchmarked kernel's output differed from the CPU reference.
    #[error(
        "benchmark of {op} at {elements} elements: {mismatches} outputs differ from the CPU reference"
    )]
    BenchmarkMismatch {
        /// The op.
        op: String,
        /// Its size.
        elements: usize,
        /// Outputs that differ.
        mismatches: usize,
    },

    /// The harness has no multi-threaded CPU baseline for an op the engine
    /// added ([`cpu_parallel::run`](crate::cpu_parallel::run)).
    #[error("no multi-threaded CPU baseline for {op}: add one to cpu_parallel::run")]
    NoBaseline {
        /// The op's name.
        op: String,
    },
}

/// `Result` with the harness's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
