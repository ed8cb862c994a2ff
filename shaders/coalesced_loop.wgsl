// The loop of every element-wise kernel in the coalesced layout (GPUs):
// consecutive invocations take consecutive vectors, so each load or store
// instruction of a subgroup reads or writes one contiguous run of memory.
//
// A workgroup covers the same elements as in chunk_loop.wgsl, WORKGROUP_SIZE
// * CHUNKS_PER_INVOCATION chunks of 32, so the host's grid and segments are
// the same in both layouts; it walks them in CHUNKS_PER_INVOCATION rounds of
// WORKGROUP_SIZE chunks, each round in CHUNK_VECTORS steps in which
// invocation `local` takes vector `step * WORKGROUP_SIZE + local` of the
// round.
//
// Why GPUs want this and CPU adapters do not: a GPU runs a subgroup's
// invocations in lock step, and a load serves all of them at once from as
// few 32- or 128-byte memory transactions as their addresses span. In the
// chunked layout the 32 invocations of a warp read vectors 128 bytes apart,
// 32 transactions per instruction, each of which uses 16 of its bytes and
// has to wait in cache for the next seven loads; here they read 512
// consecutive bytes. A CPU adapter (lavapipe, llvmpipe) runs the invocations
// as SIMD lanes and gathers each lane's load separately either way; what it
// pays for is work per vector, and this layout adds some: a chunk's mask
// word is now spread over CHUNK_VECTORS invocations and must be assembled
// (below), and the per-chunk state (`begin_chunk`: a column, a mask word) is
// set up for every vector instead of once per chunk. Measured on lavapipe and
// llvmpipe, every op ran at 0.3x to 0.8x its chunked speed (benches/README.md,
// "Layouts"), so CPU adapters keep chunk_loop.wgsl.
//
// The kernel's parts are those of chunk_loop.wgsl (see its header), used
// unchanged: `begin_chunk(v / CHUNK_VECTORS, v)` starts the state at vector
// v itself, and `process_vector(v, v % CHUNK_VECTORS, ..)` returns v's
// VECTOR_ELEMENTS mask bits. Assembling the mask word from CHUNK_VECTORS
// invocations' bits is the mask-word part's, composed in front of this file:
//   struct Invocation                   the builtins it needs (`local`: the
//                                       local invocation index);
//   struct Gather, fn begin_gather(invocation) -> Gather
//                                       its state, set up once;
//   fn gather_bits(invocation, gather, r, v, vectors, bits)
//       called at every step for the round's vector r = v - the round's first
//       vector (0 <= r < CHUNK_VECTORS * WORKGROUP_SIZE), by every
//       invocation, with the bits 0 for a vector past `vectors`;
//   fn end_round(invocation, first_chunk, vectors)
//       called after the round's CHUNK_VECTORS steps, by every invocation.
// mask_words_none.wgsl (no mask), mask_words_workgroup.wgsl (workgroup
// memory and barriers) and mask_words_subgroup.wgsl (subgroup shuffles)
// supply them.
//
// As in chunk_loop.wgsl, no invocation leaves a loop early: every loop has
// the same trip count in every invocation, so the barriers and subgroup
// operations of the mask-word parts are in uniform control flow; a vector
// past the end is skipped inside the step.

// Vector v's mask bits, after processing it; 0 for a vector past the end.
fn coalesced_vector(v: u32, vectors: u32) -> u32 {
    if v >= vectors {
        return 0u;
    }
    var state = begin_chunk(v / CHUNK_VECTORS, v);
    return process_vector(v, v % CHUNK_VECTORS, &state);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn elementwise(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    invocation: Invocation,
) {
    let vectors = vector_count(element_count());
    let gather = begin_gather(invocation);
    let round_vectors = WORKGROUP_SIZE * CHUNK_VECTORS;
    let first_round = linear_workgroup(workgroup, workgroups) * CHUNKS_PER_INVOCATION;
    for (var round = 0u; round < CHUNKS_PER_INVOCATION; round++) {
        let first = (first_round + round) * round_vectors;
        for (var step = 0u; step < CHUNK_VECTORS; step++) {
            let r = step * WORKGROUP_SIZE + invocation.local;
            let v = first + r;
            gather_bits(invocation, gather, r, v, vectors, coalesced_vector(v, vectors));
        }
        end_round(invocation, first / CHUNK_VECTORS, vectors);
    }
}
