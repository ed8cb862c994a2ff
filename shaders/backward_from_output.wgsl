// Element-wise backward from the forward's saved output, for the
// activations whose derivative is a function of it (sigmoid: y (1 - y);
// tanh: 1 - y^2): `output_gradient4`.

@group(0) @binding(0) var<storage, read> dy: array<Vector>;
@group(0) @binding(1) var<storage, read> saved_y: array<Vector>;
@group(0) @binding(2) var<storage, read_write> dx: array<Vector>;
@group(0) @binding(3) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let gradient = dy[v];
    let output = saved_y[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        stored = with_quartet(stored, q, output_gradient4(params, quartet(output, q), quartet(gradient, q)));
    }
    dx[v] = stored;
    return 0u;
}
