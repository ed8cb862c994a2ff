// Fused bias-add + activation backward on a row-major [rows, cols] tensor:
// dx (from dy and the forward's mask, per the kernel's KIND) and the bias
// gradient db[c] = sum over rows of dx[r, c], in two passes. Deterministic:
// a fixed summation order, no float atomics.

// First pass: dx, and per-block column sums of dx. A tensor larger than one
// storage binding runs as several dispatches over groups of whole row blocks
// (src/ops/segments.rs); each writes its blocks' sums from
// `params.first_row_block` on.
@group(0) @binding(0) var<storage, read> dy: array<u32>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<u32>;
@group(0) @binding(3) var<storage, read_write> block_sums_out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

// Second pass: db[c] = the sum of block_sums[.., c] in block order.
@group(0) @binding(0) var<storage, read> block_sums_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;

// ROWS_PER_INVOCATION (the prelude's) rows are summed in sequence by one
// invocation before the workgroup's tree; the host's error bound
// (`bias_gradient_error_bound`) is written in terms of it.
var<workgroup> lane_sums: array<f32, MAX_WORKGROUP_SIZE>;

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
    let cols = params.cols;
    let tile_cols = params.tile_cols;
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
            let gradient = backward4(params, vec4(bit_of(mask_in[i / 32u], i)), vec4(dy[i])).x;
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
        block_sums_out[(params.first_row_block + row_block) * cols + column] = lane_sums[local];
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
