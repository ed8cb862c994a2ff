//! The integration tests: one binary, one module per topic (wgpu's
//! `tests/tests/root.rs` layout), all of them sharing the one adapter that
//! `WGPU_BACKEND` / `WGPU_ADAPTER_NAME` select (`common::gpu`; with `CI` set,
//! a missing adapter fails). CI runs them on Vulkan (lavapipe) and GL
//! (llvmpipe).
//!
//! Only what must stand alone is a binary of its own: tests/soak.rs (ignored
//! by a plain `cargo test`, it watches the process's memory) and
//! tests/out_of_memory.rs (it lowers its own process's address-space limit).
//!
//! Helpers of one topic live in its module; those several topics (or the
//! other binaries) use are in `common`.

mod common;

mod backward;
mod bad_inputs;
mod batch;
mod bias_add;
mod bias_backward;
mod bias_forward;
mod compare;
mod concurrency;
mod dtypes;
mod errors;
mod kernel_shapes;
mod layouts;
mod mask_forward;
mod prepared;
mod properties;
mod relu_family;
mod relu_forward;
mod shaders;
mod smooth;
mod split;
mod transfers;
mod views;
