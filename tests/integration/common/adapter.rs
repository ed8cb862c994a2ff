//! The adapter every test runs on. Its own file so that the binaries that
//! must stand alone (tests/soak.rs, tests/out_of_memory.rs) include it with
//! `#[path]`.

use std::sync::OnceLock;

use wgpu_activations::Gpu;

/// The adapter `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` select, opened once per
/// test binary and shared by its tests (which also exercises `Gpu` across
/// threads).
///
/// With `CI` set, a missing adapter fails the test. Elsewhere the test is
/// skipped with a message on stderr, so that `cargo test` on a machine
/// without any driver still runs the adapter-free tests.
pub fn gpu() -> Option<Gpu> {
    static GPU: OnceLock<Result<Gpu, String>> = OnceLock::new();
    match GPU.get_or_init(|| Gpu::new().map_err(|e| e.to_string())) {
        Ok(gpu) => Some(gpu.clone()),
        Err(error) if std::env::var_os("CI").is_some() => {
            panic!("CI is set and no GPU adapter is available: {error}")
        }
        Err(error) => {
            eprintln!("SKIPPED: no GPU adapter ({error}); set CI=1 to make this a failure");
            None
        }
    }
}
