// For coalesced_loop.wgsl in kernels that save a mask, on devices with
// subgroup operations (wgpu's SUBGROUP feature; naga 30 takes the builtins
// without an `enable subgroups;`, which it refuses): the CHUNK_VECTORS
// invocations of a chunk (8 for f32, 4 for a 16-bit type) OR their bits
// together with subgroupShuffleXor by 1, 2 (and 4), and the first of them
// stores the word. No workgroup memory, no barrier.
// This file replaces mask_out.wgsl: it declares the mask binding itself.
//
// The shuffles reach lane `lane ^ m`, and WGSL does not promise which
// invocation a lane holds: not that subgroup_invocation_id is
// local_invocation_index % subgroup_size, nor that subgroups are full, nor
// their size. Vectors are still taken by local_invocation_index (so every
// vector is processed exactly once whatever the mapping), and each group of
// CHUNK_VECTORS aligned lanes checks once, in `begin_gather`, that it holds
// CHUNK_VECTORS invocations whose indices differ exactly in their low bits,
// in the matching lanes. Where that holds (every GPU we know of maps
// invocations to lanes in order, and the host uses this file only where
// subgroups have at least 8 lanes) and the workgroup size is a multiple of
// CHUNK_VECTORS, those invocations take the vectors of one chunk at every
// step, and the exchange is exact. Elsewhere (any other mapping, a partial
// group, a workgroup size that is not a multiple of CHUNK_VECTORS) each
// invocation writes its own bits of the word in memory with an atomicAnd and
// an atomicOr: the vectors' bits of a word are disjoint, so the word is
// exact in any order, only slower. The check itself is exact: a lane of the group that is not active
// fails it (the ballot), so no shuffle result it relies on is indeterminate.

@group(0) @binding(3) var<storage, read_write> mask_out: array<atomic<u32>>;

struct Invocation {
    @builtin(local_invocation_index) local: u32,
    @builtin(subgroup_invocation_id) lane: u32,
}

// Whether this invocation's group of CHUNK_VECTORS lanes exchanges bits by
// shuffles (the same for all the invocations of a chunk).
struct Gather {
    exchange: bool,
}

fn lane_is_active(ballot: vec4<u32>, lane: u32) -> bool {
    return ((ballot[lane / 32u] >> (lane % 32u)) & 1u) != 0u;
}

// 1 if lane `lane ^ m` is active and holds invocation `local ^ m`.
fn partner_holds(ballot: vec4<u32>, invocation: Invocation, m: u32) -> u32 {
    let partner = subgroupShuffleXor(invocation.local, m);
    return select(0u, 1u, lane_is_active(ballot, invocation.lane ^ m) && partner == (invocation.local ^ m));
}

fn begin_gather(invocation: Invocation) -> Gather {
    let ballot = subgroupBallot(true);
    var holds = select(0u, 1u, WORKGROUP_SIZE % CHUNK_VECTORS == 0u);
    for (var m = 1u; m < CHUNK_VECTORS; m <<= 1u) {
        holds &= partner_holds(ballot, invocation, m);
    }
    // The whole group must hold: once a lane's own check passed, the lanes
    // it reads below are active, so each AND reads a determinate value.
    for (var m = 1u; m < CHUNK_VECTORS; m <<= 1u) {
        holds &= subgroupShuffleXor(holds, m);
    }
    return Gather(holds == 1u);
}

fn gather_bits(invocation: Invocation, gather: Gather, r: u32, v: u32, vectors: u32, bits: u32) {
    let shift = VECTOR_ELEMENTS * (r % CHUNK_VECTORS);
    var word = bits << shift;
    for (var m = 1u; m < CHUNK_VECTORS; m <<= 1u) {
        word |= subgroupShuffleXor(word, m);
    }
    let chunk = v / CHUNK_VECTORS;
    if chunk * CHUNK_VECTORS >= vectors {
        return;
    }
    let valid = valid_bits(chunk, element_count());
    if gather.exchange {
        if r % CHUNK_VECTORS == 0u {
            atomicStore(&mask_out[chunk], word & valid);
        }
    } else {
        let vector_bits = (1u << VECTOR_ELEMENTS) - 1u;
        atomicAnd(&mask_out[chunk], ~(vector_bits << shift));
        atomicOr(&mask_out[chunk], (bits << shift) & valid);
    }
}

fn end_round(invocation: Invocation, first_chunk: u32, vectors: u32) {}
