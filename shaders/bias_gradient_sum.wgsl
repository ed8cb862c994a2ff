// Second pass of the fused backward: db[c] = the sum of the first pass's
// block sums of column c (bias_backward.wgsl, bias_backward_vectors.wgsl),
// in block order, in one register: a fixed order, no float atomics.

@group(0) @binding(0) var<storage, read> block_sums_in: array<f32>;
@group(0) @binding(1) var<storage, read_write> db: array<f32>;

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
