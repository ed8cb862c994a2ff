// Element-wise backward from the forward's saved input (or a fused op's
// saved pre-activation): `gradient4`, which for the ReLU family recomputes
// the mask bit from x and goes on as backward_from_mask.wgsl, and for a
// smooth activation is dy * f'(x).

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
        stored = with_quartet(stored, q, gradient4(params, quartet(input, q), quartet(gradient, q)));
    }
    dx[v] = stored;
    return 0u;
}
