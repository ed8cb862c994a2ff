// Element-wise backward from the forward's saved input: the bit is
// recomputed from x (`mask_bit4`), then dx as backward_from_mask.wgsl.

@group(0) @binding(0) var<storage, read> dy: array<Vector>;
@group(0) @binding(1) var<storage, read> saved_x: array<Vector>;
@group(0) @binding(2) var<storage, read_write> dx: array<Vector>;
@group(0) @binding(3) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let gradient = dy[v];
    let input = saved_x[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        let bits = mask_bit4(params, quartet(input, q));
        stored = with_quartet(stored, q, backward4(params, bits, quartet(gradient, q)));
    }
    dx[v] = stored;
    return 0u;
}
