// The one loop of every element-wise kernel in the chunked layout (CPU
// adapters; coalesced_loop.wgsl is the GPUs'). Each invocation handles
// CHUNKS_PER_INVOCATION chunks of 32 elements (CHUNK_VECTORS vectors, one
// mask word);
// neighbouring invocations take neighbouring chunks (`chunk_index`).
//
// Why CPU adapters want this: lavapipe and llvmpipe run a workgroup's
// invocations as the lanes of SIMD registers and load each lane's vector
// separately, so which invocation reads which address costs nothing, while
// work per vector does. Here an invocation owns a whole mask word (no
// exchange between invocations: no barrier, no shuffle) and sets up a
// chunk's state (`begin_chunk`: a column, a mask word read) once per
// CHUNK_VECTORS vectors. On a GPU the same layout makes each load
// instruction of a subgroup touch one 128-byte line per invocation; see
// coalesced_loop.wgsl.
//
// The kernel's own part, composed before this file, supplies (and
// coalesced_loop.wgsl uses the same functions):
//   fn element_count() -> u32                  elements of the dispatch;
//   struct Chunk                               per-chunk state (a column, a mask word);
//   fn begin_chunk(chunk: u32, first_vector: u32) -> Chunk;
//       the state of chunk `chunk` from vector `first_vector` on (here the
//       chunk's first vector; in the coalesced layout the one vector it is
//       used for), both from stateless_chunk.wgsl for a kernel that needs none;
//   fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32
//       reads and writes vector `v` (`lane` = v % CHUNK_VECTORS, its place
//       in its chunk), each of its VECTOR_QUARTETS quartets in turn, and
//       returns its VECTOR_ELEMENTS mask bits from bit 0 on;
// and mask_out.wgsl or no_mask_out.wgsl supplies `end_chunk`, which stores
// the chunk's mask word or drops it (the compiler then drops the bits too).
//
// The loops have no early exit: a chunk past the end simply has an empty
// vector range (`first >= end`). On CPU adapters, which run a workgroup's
// invocations in SIMD lanes, a `break` costs extra masking on every
// iteration; measured, the backward from the mask ran about 20% slower with
// one (benches/README.md).

@compute @workgroup_size(WORKGROUP_SIZE)
fn elementwise(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(element_count());
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let chunk = chunk_index(workgroup, workgroups, local, k);
        let first = chunk * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        var state = begin_chunk(chunk, first);
        var word = 0u;
        for (var v = first; v < end; v++) {
            word |= process_vector(v, v - first, &state) << (VECTOR_ELEMENTS * (v - first));
        }
        if first < end {
            end_chunk(chunk, word);
        }
    }
}
