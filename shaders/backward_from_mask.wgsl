// Element-wise backward from the mask the forward saved: dx = bit ? dy : ...
// per the kernel's KIND (`backward4`).

@group(0) @binding(0) var<storage, read> dy: array<Vector>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<Vector>;
@group(0) @binding(3) var<uniform> params: Params;

// The chunk's mask word.
struct Chunk {
    word: u32,
}

fn element_count() -> u32 {
    return params.len;
}

fn begin_chunk(chunk: u32, first_vector: u32) -> Chunk {
    // Clamped: a chunk past the end reads a word it does not use.
    return Chunk(mask_in[min(chunk, arrayLength(&mask_in) - 1u)]);
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> vec4<bool> {
    dx[v] = pack_vector(backward4(params, bits_of_vector((*state).word, lane), unpack_vector(dy[v])));
    return vec4(false);
}
