// Fused bias-add + activation on a row-major [rows, cols] tensor, forward
// (one pass over x, optional mask) and backward (dx and the bias gradient db).

// Forward: y[r, c] = activate(x[r, c] + b[c]); cols = arrayLength(&b).
@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read> b: array<u32>;
@group(0) @binding(2) var<storage, read_write> y: array<u32>;
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

fn biased(i: u32) -> u32 {
    return add(x[i], b[i % arrayLength(&b)]);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&y) {
        y[i] = activate(params, biased(i));
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_forward_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    var bit = false;
    if i < arrayLength(&y) {
        let sum = biased(i);
        y[i] = activate(params, sum);
        bit = mask_bit(params, sum);
    }
    let word = pack_mask_bits(local, bit);
    let word_index = linear_workgroup(workgroup, workgroups) * (WORKGROUP_SIZE / 32u) + local;
    if local < WORKGROUP_SIZE / 32u && word_index < arrayLength(&mask_out) {
        mask_out[word_index] = word;
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
        block_sums_out[row_block * cols + column] = lane_sums[local];
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
