// Element-wise backward from a tensor the forward saved: `saved_gradient4`,
// from from_input.wgsl (the forward's input, or a fused op's pre-activation:
// `gradient4`, which for the ReLU family recomputes the mask bit from x and
// goes on as backward_from_mask.wgsl, and for a smooth activation is
// dy * f'(x)) or from_output.wgsl (the forward's output, for sigmoid and
// tanh: `output_gradient4`).

@group(0) @binding(0) var<storage, read> dy: array<Vector>;
@group(0) @binding(1) var<storage, read> saved: array<Vector>;
@group(0) @binding(2) var<storage, read_write> dx: array<Vector>;
@group(0) @binding(3) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let gradient = dy[v];
    let kept = saved[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        stored = with_quartet(stored, q, saved_gradient4(params, quartet(kept, q), quartet(gradient, q)));
    }
    dx[v] = stored;
    return 0u;
}
