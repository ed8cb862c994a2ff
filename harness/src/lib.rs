//! The harness around the `wgpu-activations` engine: the `wgpu-activations`
//! command (`info`, `check`, `accuracy`, `bench`), its report tables, plots, CSV and
//! JSON, seeded sample data and the tuned multi-threaded CPU baseline the
//! benchmarks compare the GPU with.
//!
//! Nothing here is linked by users of the engine: this crate depends on
//! `wgpu-activations`, never the reverse, and is not published.

#![warn(missing_docs)]

pub mod accuracy;
pub mod bench;
pub mod check;
pub mod cpu_parallel;
mod error;
pub mod sample;

pub use error::{Error, Result};
