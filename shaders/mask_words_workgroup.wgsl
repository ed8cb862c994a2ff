// For coalesced_loop.wgsl in kernels that save a mask, on devices without
// subgroup operations (or where they are not used): each invocation leaves
// its vector's bits in workgroup memory at every step; after the round's
// CHUNK_VECTORS steps a barrier, then invocation `local` assembles the word
// of the round's chunk `local` from its vectors' bits and stores it with
// mask_out.wgsl's `end_chunk`. A round is WORKGROUP_SIZE whole chunks, so
// this works for any workgroup size. The second barrier keeps the next
// round's bits from overwriting ones not yet read.
//
// Plain stores rather than atomicOr into one word per chunk: CHUNK_VECTORS
// invocations of a subgroup hitting one word would serialise; bits in
// separate words do not, and every slot is written in every round, so the
// array needs no clearing (the pipelines skip zero-initialising workgroup
// memory).

struct Invocation {
    @builtin(local_invocation_index) local: u32,
}

struct Gather {
    unused: u32,
}

// One vector's bits per slot of a round, already at their place in the word.
var<workgroup> round_bits: array<u32, MAX_WORKGROUP_SIZE * CHUNK_VECTORS>;

fn begin_gather(invocation: Invocation) -> Gather {
    return Gather(0u);
}

fn gather_bits(invocation: Invocation, gather: Gather, r: u32, v: u32, vectors: u32, bits: u32) {
    round_bits[r] = bits << (VECTOR_ELEMENTS * (r % CHUNK_VECTORS));
}

fn end_round(invocation: Invocation, first_chunk: u32, vectors: u32) {
    workgroupBarrier();
    let first = invocation.local * CHUNK_VECTORS;
    var word = 0u;
    for (var k = 0u; k < CHUNK_VECTORS; k++) {
        word |= round_bits[first + k];
    }
    workgroupBarrier();
    let chunk = first_chunk + invocation.local;
    if chunk * CHUNK_VECTORS < vectors {
        end_chunk(chunk, word);
    }
}
