// Fused bias-add + activation backward on a row-major [rows, cols] tensor,
// first pass: dx (from dy and the forward's mask, per the kernel's KIND:
// gradient_from_mask.wgsl) and the column sums of dx per block of
// `params.rows_per_block` rows. With gradient_given.wgsl, `dy` is a
// gradient already computed (a smooth activation's dx, from its saved
// pre-activation) and the pass only sums it.
// bias_gradient_sum.wgsl then adds the blocks of each column in block order.
// Deterministic: every sum has a fixed order, no float atomics.
//
// This part reads one element at a time, for rows that are not whole
// vectors (cols % 4 != 0); bias_backward_vectors.wgsl is its vec4 twin.
// `store_gradient` comes from gradient_out.wgsl (f32: dx written here) or
// no_gradient_out.wgsl (16-bit types, whose elements share words that two
// invocations would write: the element-wise backward writes dx in a
// dispatch of its own, with the same bits, and this one only sums).
//
// A tensor larger than one storage binding runs as several dispatches over
// groups of whole row blocks (src/ops/segments.rs); each writes its blocks'
// sums from `params.first_row_block` on.
//
// Each invocation owns one column of one row block and sums its rows in
// sequence in a register: no workgroup memory, no barrier, no tree (CPU
// adapters run a workgroup's invocations in SIMD lanes, where each barrier
// and each step of a tree costs a pass over every lane). Neighbouring
// invocations take neighbouring columns, so a SIMD group reads one run of
// a row at a time.

@group(0) @binding(0) var<storage, read> dy: array<u32>;
@group(0) @binding(3) var<storage, read_write> block_sums_out: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let cols = params.cols;
    let invocation = element_index(workgroup, workgroups, local);
    let column = invocation % cols;
    let block = invocation / cols;
    // An invocation past the last block has an empty range of rows (no
    // early exit: see chunk_loop.wgsl).
    let first = block * params.rows_per_block;
    let end = min(first + params.rows_per_block, params.len / cols);
    var sum = 0.0;
    for (var row = first; row < end; row++) {
        let i = row * cols + column;
        let dy_lane = word_lane(dy[i / ELEMENTS_PER_WORD], i);
        let gradient = gradient_lane(i, dy_lane);
        store_gradient(i, gradient);
        sum += bitcast<f32>(lanes_to_f32(vec4(gradient)).x);
    }
    if first < end {
        block_sums_out[(params.first_row_block + block) * cols + column] = sum;
    }
}
