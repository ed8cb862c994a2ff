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

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let gradient = dy[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        let bits = bits_of_quartet((*state).word, lane * VECTOR_QUARTETS + q);
        stored = with_quartet(stored, q, backward4(params, bits, quartet(gradient, q)));
    }
    dx[v] = stored;
    return 0u;
}
