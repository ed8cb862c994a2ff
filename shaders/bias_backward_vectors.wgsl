// The first pass of the fused backward (see bias_backward.wgsl) for rows of
// whole vectors (cols % 4 == 0): dy, dx and the block sums as `vec4`s, four
// adjacent columns at a time, as the element-wise kernels move them.
//
// Each invocation owns `vectors` adjacent vectors of columns of one row
// block: ROWS_PER_INVOCATION rows, each column summed in sequence in a
// register, no workgroup memory, no barrier, no tree. Two entry points:
// - `bias_activation_backward_words` (cols % 32 == 0): eight vectors, 32
//   columns, exactly one mask word per row, as a chunk of the element-wise
//   kernels;
// - `bias_activation_backward_vectors`: one vector per row, its four bits
//   taken from the word that holds them.
// Neighbouring invocations take neighbouring vectors, so a SIMD group reads
// one run of a row at a time.

@group(0) @binding(0) var<storage, read> dy: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<u32>>;
@group(0) @binding(3) var<storage, read_write> block_sums_out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

// Invocation `invocation`'s share: `vectors` (1 to CHUNK_VECTORS) vectors
// per row of one row block. Called with a literal `vectors`, so that
// compilers unroll the inner loops and keep the sums in registers.
fn backward_block(invocation: u32, vectors: u32) {
    let cols = params.cols;
    let columns = 4u * vectors;
    let groups = cols / columns;
    let group = invocation % groups;
    let block = invocation / groups;
    // An invocation past the last block has an empty range of rows (no
    // early exit: see chunk_loop.wgsl).
    let first = block * ROWS_PER_INVOCATION;
    let end = min(first + ROWS_PER_INVOCATION, params.len / cols);
    var sums: array<vec4<f32>, CHUNK_VECTORS>;
    for (var row = first; row < end; row++) {
        let element = row * cols + group * columns;
        // The group's bits from bit 0 on: its first element sits at a
        // multiple of 4 (of 32 for eight vectors) within its word.
        let word = mask_in[element / 32u] >> (element % 32u);
        let first_vector = element / 4u;
        for (var v = 0u; v < vectors; v++) {
            let gradient = backward4(params, bits_of_vector(word, v), dy[first_vector + v]);
            dx[first_vector + v] = gradient;
            sums[v] += bitcast<vec4<f32>>(gradient);
        }
    }
    if first < end {
        let out = (params.first_row_block + block) * (cols / 4u) + group * vectors;
        for (var v = 0u; v < vectors; v++) {
            block_sums_out[out + v] = sums[v];
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_words(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), CHUNK_VECTORS);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_vectors(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), 1u);
}
