//! The host's own copy limit: `memcpy` on one thread and split over the
//! baseline's rayon pools.

use rayon::prelude::*;

use super::{CHUNK, on_threads};

/// Bytes per parallel task of [`copy`]: the ops' tasks' 64 KiB
/// ([`CHUNK`] f32s), so the copy is split over the pool as they are.
const COPY_CHUNK: usize = CHUNK * size_of::<f32>();

/// Copies `source` into `destination` over `threads` threads: the host's
/// memcpy, the limit for a memory-bound op on the CPU, as
/// `copy_buffer_to_buffer` is on the GPU.
///
/// With `threads` <= 1 it is one `memcpy` ([`slice::copy_from_slice`]) on
/// the calling thread; with N, pieces of 64 KiB copied by the same pool of
/// N threads the ops run on (built on first use, then reused). Copying half
/// an op's bytes reads and writes as many bytes as the op moves; the
/// benchmark does that on 1 and on all threads, and a round trip's floor
/// adds the one-thread copy of its input and output bytes to the kernel.
///
/// ```
/// use wgpu_activations_harness::cpu_parallel;
/// let source: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
/// let mut destination = vec![0; source.len()];
/// cpu_parallel::copy(&source, &mut destination, cpu_parallel::available_threads());
/// assert_eq!(destination, source);
/// ```
///
/// # Panics
/// If the lengths differ.
pub fn copy(source: &[u8], destination: &mut [u8], threads: usize) {
    assert_eq!(
        destination.len(),
        source.len(),
        "destination and source lengths"
    );
    on_threads(threads, |parallel| {
        if parallel {
            destination
                .par_chunks_mut(COPY_CHUNK)
                .zip(source.par_chunks(COPY_CHUNK))
                .for_each(|(to, from)| to.copy_from_slice(from));
        } else {
            destination.copy_from_slice(source);
        }
    });
}
