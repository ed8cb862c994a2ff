// Fused bias-add + activation forward on a row-major [rows, cols] tensor:
// y[r, c] = activate(x[r, c] + b[c]), cols = params.cols, in one pass over
// x; composed with mask_out.wgsl it also saves the mask of x + b, and with
// preactivation_out.wgsl the pre-activation z = x + b itself (what a smooth
// activation's backward reads); no_preactivation_out.wgsl saves nothing. The bias
// `b` (binding 4) and `bias_element(column)` come from bias_storage.wgsl or
// bias_uniform.wgsl, whichever the crate composed in front of this file; the
// bias is f32 whatever the element type (the host casts a 16-bit one).

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;
@group(0) @binding(2) var<uniform> params: Params;

// The column of the chunk's next element.
struct Chunk {
    column: u32,
}

fn element_count() -> u32 {
    return params.len;
}

fn begin_chunk(chunk: u32, first_vector: u32) -> Chunk {
    return Chunk(column_of(params, first_vector * VECTOR_ELEMENTS));
}

// The column after `column` in a row of `cols`.
fn next_column(column: u32, cols: u32) -> u32 {
    return select(column + 1u, 0u, column + 1u == cols);
}

// The biases of the chunk's next four elements; steps the chunk's column past
// them. Stepping the column costs less than an integer `%` per element.
fn next_biases(state: ptr<function, Chunk>) -> vec4<u32> {
    let cols = params.cols;
    let c0 = (*state).column;
    let c1 = next_column(c0, cols);
    let c2 = next_column(c1, cols);
    let c3 = next_column(c2, cols);
    (*state).column = next_column(c3, cols);
    return vec4(bias_element(c0), bias_element(c1), bias_element(c2), bias_element(c3));
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let loaded = x[v];
    var stored: Vector;
    var sums: Vector;
    var mask = 0u;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        // Rounded to the element type before the activation: the fused op
        // stores what bias_add followed by the activation would.
        let sum = add_lanes4(quartet(loaded, q), next_biases(state));
        sums = with_quartet(sums, q, sum);
        stored = with_quartet(stored, q, activate4(params, sum));
        mask |= nibble_of(mask_bit4(params, sum)) << (4u * q);
    }
    y[v] = stored;
    save_preactivation(v, sums);
    return mask;
}
