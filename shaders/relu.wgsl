// ReLU forward without a mask or parameters: the plain op, out-of-place and
// in-place. Bit-exact on every backend (see common.wgsl).
//
// No element count is needed: every vector of the binding is processed, the
// padding of the last one included (its result is never read back).

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<u32>>;

// The in-place kernel binds one buffer at the same slot; naga accepts the
// overlap because no entry point uses both `x` and `xy`.
@group(0) @binding(0) var<storage, read_write> xy: array<vec4<u32>>;

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = arrayLength(&y);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let first = chunk_index(workgroup, workgroups, local, k) * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        for (var v = first; v < end; v++) {
            y[v] = relu4(x[v]);
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward_in_place(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = arrayLength(&xy);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let first = chunk_index(workgroup, workgroups, local, k) * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        for (var v = first; v < end; v++) {
            xy[v] = relu4(xy[v]);
        }
    }
}
