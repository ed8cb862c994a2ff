// Fused bias-add + activation on a row-major [rows, cols] tensor, forward
// (one pass over x, optional mask) and backward (dx and the bias gradient db).

// Forward: y[r, c] = activate(x[r, c] + b[c]), in 32-element chunks like
// activation.wgsl; cols = params.cols. The bias `b` (binding 1) and
// `bias_element(column)` come from bias_storage.wgsl or bias_uniform.wgsl,
// whichever the crate put in front of this file.
@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> y: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> params: Params;
@group(0) @binding(4) var<storage, read_write> mask_out: array<u32>;

// Backward, first pass: dx, and per-block column sums of dx.
@group(0) @binding(0) var<storage, read> dy: array<u32>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<u32>;
@group(0) @binding(3) var<storage, read_write> block_sums_out: array<f32>;
@group(0) @binding(4) var<uniform> backward_params: Params;

// Backward, second pass: db[c] = the sum of block_sums[.., c] in block order.
@group(0) @binding(0) var<storage, read> block_sums_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;

// Rows one invocation sums sequentially before the workgroup's tree. The
// host's error bound (src/ops/bias.rs) is written in terms of it.
const ROWS_PER_INVOCATION: u32 = 32u;

var<workgroup> lane_sums: array<f32, MAX_WORKGROUP_SIZE>;

// The column after `column` in a row of `cols`.
fn next_column(column: u32, cols: u32) -> u32 {
    return select(column + 1u, 0u, column + 1u == cols);
}

// The biases of the next four elements, the first of which is in column
// `*column`; advances `*column` past them. Stepping the column costs less
// than an integer `%` per element.
fn next_biases(column: ptr<function, u32>, cols: u32) -> vec4<u32> {
    let c0 = *column;
    let c1 = next_column(c0, cols);
    let c2 = next_column(c1, cols);
    let c3 = next_column(c2, cols);
    *column = next_column(c3, cols);
    return vec4(bias_element(c0), bias_element(c1), bias_element(c2), bias_element(c3));
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(params.len);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let first = chunk_index(workgroup, workgroups, local, k) * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        var column = column_of(params, first * 4u);
        for (var v = first; v < end; v++) {
            y[v] = activate4(params, add4(x[v], next_biases(&column, params.cols)));
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_forward_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(params.len);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let chunk = chunk_index(workgroup, workgroups, local, k);
        let first = chunk * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        var column = column_of(params, first * 4u);
        var word = 0u;
        for (var v = first; v < end; v++) {
            let sum = add4(x[v], next_biases(&column, params.cols));
            y[v] = activate4(params, sum);
            word |= nibble_of(mask_bit4(params, sum)) << (4u * (v - first));
        }
        if first < end {
            mask_out[chunk] = word & valid_bits(chunk, params.len);
        }
    }
}

// One workgroup covers `tile_cols` adjacent columns (a power of two, so
// neighbouring invocations touch neighbouring addresses) and `lanes =
// WORKGROUP_SIZE / tile_cols` row lanes; each lane walks ROWS_PER_INVOCATION
// rows, `lanes` apart. The lanes' sums are then added in a fixed tree, so
// the result is the same bits on every run: no float atomics anywhere.
@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let cols = backward_params.cols;
    let tile_cols = backward_params.tile_cols;
    let lanes = WORKGROUP_SIZE / tile_cols;
    let rows = arrayLength(&dx) / cols;
    let rows_per_block = lanes * ROWS_PER_INVOCATION;
    let column_tiles = (cols + tile_cols - 1u) / tile_cols;

    let block = linear_workgroup(workgroup, workgroups);
    let row_block = block / column_tiles;
    let column = (block % column_tiles) * tile_cols + local % tile_cols;
    let lane = local / tile_cols;

    var sum = 0.0;
    if column < cols {
        let first_row = row_block * rows_per_block + lane;
        for (var k = 0u; k < ROWS_PER_INVOCATION; k++) {
            let row = first_row + k * lanes;
            if row >= rows {
                break;
            }
            let i = row * cols + column;
            let gradient = backward(backward_params, bit_of(mask_in[i / 32u], i), dy[i]);
            dx[i] = gradient;
            sum += bitcast<f32>(gradient);
        }
    }
    lane_sums[local] = sum;
    workgroupBarrier();
    for (var stride = lanes / 2u; stride > 0u; stride /= 2u) {
        if lane < stride {
            lane_sums[local] += lane_sums[local + stride * tile_cols];
        }
        workgroupBarrier();
    }
    let row_blocks = (rows + rows_per_block - 1u) / rows_per_block;
    if lane == 0u && column < cols && row_block < row_blocks {
        block_sums_out[(backward_params.first_row_block + row_block) * cols + column] = lane_sums[local];
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_gradient_sum(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let column = element_index(workgroup, workgroups, local);
    let cols = arrayLength(&db);
    if column < cols {
        let row_blocks = arrayLength(&block_sums_in) / cols;
        var sum = 0.0;
        for (var block = 0u; block < row_blocks; block++) {
            sum += block_sums_in[block * cols + column];
        }
        db[column] = sum;
    }
}
