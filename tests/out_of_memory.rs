//! Allocating until the device refuses, for real and safely.
//!
//! Software adapters never refuse an allocation on their own: lavapipe
//! reserves address space and backs it lazily (64 x 1 GiB is accepted), and
//! llvmpipe backs it at once, so the process would be killed for memory
//! before any error came back. So this test lowers its own process's
//! address-space limit (`RLIMIT_AS`) to its current size plus 3 GiB: the
//! driver's next allocation then fails as the driver would on a full GPU,
//! long before the machine runs short. That limit is per process, so this
//! binary holds this one test only.
//!
//! What it shows, on Vulkan (lavapipe):
//! - `Tensor::uninit` of 256 MiB at a time is refused with
//!   `Error::OutOfMemory` once the limit is near; dropping the tensors makes
//!   room again and the device keeps working.
//! - `Tensor::from_slice` is refused with `Error::OutOfMemory` too, and the
//!   device survives: uploads go through a staging buffer of the crate's own
//!   (wgpu 30 would lose the device if its internal staging buffer, the one
//!   a storage buffer mapped at creation needs, could not be allocated).
//!
//! On OpenGL (llvmpipe) running out of memory cannot be tested: see
//! [`gl_refuses_only_what_it_can_check`].

#[path = "integration/common/adapter.rs"]
mod adapter;

use std::io::Write;

use wgpu_activations::{Error, Gpu, Tensor};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
/// Each tensor: 256 MiB.
const CHUNK: u64 = 256 * MIB;
/// How far past its size at the start the process may grow.
const HEADROOM: u64 = 3 * GIB;
/// The resident set this test must never reach.
const RSS_CEILING: u64 = 6 * GIB;

/// Writes straight to stderr, past the test harness's capture, so that the
/// test's findings show in a plain `cargo test`.
macro_rules! report {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

#[cfg(target_os = "linux")]
#[test]
fn allocating_until_refused_is_out_of_memory() {
    let Some(_) = adapter::gpu() else { return };
    // A device of its own: the second half of the test loses it.
    let gpu = Gpu::new().unwrap();
    if gpu.info().backend == wgpu::Backend::Gl {
        gl_refuses_only_what_it_can_check(&gpu);
        return;
    }
    let elements = (CHUNK / 4) as usize;
    let data: Vec<f32> = (0..elements).map(|i| (i % 1000) as f32 - 500.0).collect();
    small_op_works(&gpu);

    let limit = status_bytes("VmSize:") + HEADROOM;
    let guard = AddressSpaceLimit::lower_to(limit);
    report!(
        "out_of_memory: address space limited to {} MiB ({} MiB in use, {} MiB resident)",
        limit / MIB,
        status_bytes("VmSize:") / MIB,
        status_bytes("VmRSS:") / MIB
    );

    // Phase 1: allocations alone, until refused; then room again.
    let (kept, error) = allocate_until_refused(|| Tensor::uninit(&gpu, &[elements]));
    assert_out_of_memory(&error, "Tensor::uninit", kept.len());
    drop(kept);
    gpu.wait_idle().unwrap();
    small_op_works(&gpu);
    let again = Tensor::uninit(&gpu, &[elements]).expect("room again after dropping");
    drop(again);

    // Phase 2: uploads, until refused.
    let (kept, error) = allocate_until_refused(|| Tensor::from_slice(&gpu, &data));
    assert_out_of_memory(&error, "Tensor::from_slice", kept.len());
    drop(kept);
    gpu.wait_idle()
        .expect("the device survives a refused upload");
    small_op_works(&gpu);
    report!("out_of_memory: the device survived the refused upload");
    drop(guard);
    // A new device works once the limit is lifted.
    small_op_works(&Gpu::new().unwrap());
}

/// Allocates with `allocate` until it fails, at most as many times as the
/// headroom holds plus a few (a refusal must come before the limit could be
/// exceeded), watching the resident set. Returns what it kept and the error.
fn allocate_until_refused(
    mut allocate: impl FnMut() -> wgpu_activations::Result<Tensor>,
) -> (Vec<Tensor>, Error) {
    let mut kept = Vec::new();
    let most = (HEADROOM / CHUNK) as usize + 4;
    for _ in 0..most {
        let rss = status_bytes("VmRSS:");
        assert!(rss < RSS_CEILING, "resident set {} MiB", rss / MIB);
        match allocate() {
            Ok(tensor) => kept.push(tensor),
            Err(error) => return (kept, error),
        }
    }
    panic!(
        "{most} allocations of {} MiB under a {} MiB headroom and no refusal",
        CHUNK / MIB,
        HEADROOM / MIB
    );
}

#[track_caller]
fn assert_out_of_memory(error: &Error, what: &str, allocated: usize) {
    report!(
        "out_of_memory: {what}: {allocated} x {} MiB, then {error:?} \
         ({} MiB in use, {} MiB resident)",
        CHUNK / MIB,
        status_bytes("VmSize:") / MIB,
        status_bytes("VmRSS:") / MIB
    );
    assert!(
        matches!(error, Error::OutOfMemory(context) if context == "wgpu-activations tensor"),
        "{what}: {error:?}"
    );
    assert_eq!(
        error.to_string(),
        "out of GPU memory while wgpu-activations tensor"
    );
    // It came from the limit, and before it: at least one tensor fit, and
    // no more than the headroom holds.
    assert!(allocated >= 1, "{what}: refused at once");
    assert!(
        allocated as u64 * CHUNK <= HEADROOM,
        "{what}: {allocated} fit"
    );
}

/// A small op and its download give the right answer.
#[track_caller]
fn small_op_works(gpu: &Gpu) {
    let x = Tensor::from_slice(gpu, &[1.0, -1.0, 2.5, -0.0, 3.0]).unwrap();
    let y = gpu.relu(&x).unwrap().download().unwrap();
    assert_eq!(y, vec![1.0, 0.0, 2.5, 0.0, 3.0]);
}

/// OpenGL: wgpu-hal's GL backend never calls `glGetError` after
/// `glBufferStorage`, so an allocation the driver cannot back "succeeds" as
/// a buffer object without storage. Under the same limit, 40 x 256 MiB
/// `Tensor::uninit` all returned `Ok` (llvmpipe backs memory at once: the
/// first 11 took 2.8 GiB resident, the other 29 nothing), and the next map
/// (any download, any upload) lost the device; `Tensor::from_slice` failed
/// with `Error::BufferMap`, then every call was `Error::DeviceLost`. So on GL
/// this test checks the one refusal that does not depend on the driver:
/// sizes over `max_buffer_size`, refused before wgpu is asked.
fn gl_refuses_only_what_it_can_check(gpu: &Gpu) {
    report!(
        "out_of_memory: SKIPPED on GL: wgpu's GL backend cannot report running out of \
         memory (it never checks glGetError after glBufferStorage; the allocation \
         returns Ok without storage and the device is lost at the next map). Checking \
         the refusal over max_buffer_size instead."
    );
    let limit = gpu.info().max_buffer_size;
    let elements = (limit / 4 + 1) as usize;
    let bytes = (elements as u64 * 4).next_multiple_of(16);
    for error in [
        Tensor::uninit(gpu, &[elements]).unwrap_err(),
        wgpu_activations::Mask::uninit(gpu, elements * 32).unwrap_err(),
    ] {
        assert!(
            matches!(
                &error,
                Error::TooLarge { bytes: b, limit_name: "max_buffer_size", limit: l, .. }
                    if *b == bytes && *l == limit
            ),
            "{error:?}"
        );
    }
    small_op_works(gpu);
}

/// `name`'s value in /proc/self/status (a `kB` figure), in bytes.
fn status_bytes(name: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|line| line.starts_with(name))
        .unwrap_or_else(|| panic!("no {name} in /proc/self/status"));
    let kib: u64 = line[name.len()..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

/// The process's soft address-space limit lowered to a value, restored on
/// drop (also when the test panics): a soft limit may be raised again up to
/// the hard one.
struct AddressSpaceLimit {
    previous: libc::rlimit,
}

impl AddressSpaceLimit {
    fn lower_to(bytes: u64) -> Self {
        let mut previous = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes one rlimit through a valid pointer.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut previous) },
            0
        );
        let lowered = libc::rlimit {
            rlim_cur: (bytes as libc::rlim_t).min(previous.rlim_cur),
            rlim_max: previous.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through a valid pointer.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lowered) }, 0);
        Self { previous }
    }
}

impl Drop for AddressSpaceLimit {
    fn drop(&mut self) {
        // SAFETY: as in `lower_to`.
        unsafe { libc::setrlimit(libc::RLIMIT_AS, &self.previous) };
    }
}
