// ReLU forward without a mask or parameters: the plain op, out-of-place and
// in-place. Bit-exact on every backend (see common.wgsl).

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;

// The in-place kernel binds one buffer at the same slot; naga accepts the
// overlap because no entry point uses both `x` and `xy`.
@group(0) @binding(0) var<storage, read_write> xy: array<u32>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&y) {
        y[i] = relu_bits(x[i]);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward_in_place(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&xy) {
        xy[i] = relu_bits(xy[i]);
    }
}
