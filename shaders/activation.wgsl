// Element-wise activation forward (with or without the 1-bit mask) and
// backward (from the mask or from the saved input), for every kind in
// common.wgsl's `Params`. Each invocation handles whole 32-element chunks
// (see common.wgsl), so the chunk's mask word is built in a register.
//
// The loops have no early exit: a chunk past the end simply has an empty
// vector range (`first >= end`). On CPU adapters, which run a workgroup's
// invocations in SIMD lanes, a `break` costs extra masking on every
// iteration; measured, the backward from the mask ran about 20% slower
// with one (benches/README.md).

@group(0) @binding(0) var<storage, read> x: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> y: array<vec4<u32>>;
@group(0) @binding(2) var<uniform> params: Params;
// Element i's bit is bit i % 32 of word i / 32; the bits past the last
// element of the final word are written as zero.
@group(0) @binding(3) var<storage, read_write> mask_out: array<u32>;

// Backward: dy, what the bit is read from (the mask or the saved input), dx.
@group(0) @binding(0) var<storage, read> dy: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(1) var<storage, read> saved_x: array<vec4<u32>>;
@group(0) @binding(2) var<storage, read_write> dx: array<vec4<u32>>;
@group(0) @binding(3) var<uniform> backward_params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(params.len);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let first = chunk_index(workgroup, workgroups, local, k) * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        for (var v = first; v < end; v++) {
            y[v] = activate4(params, x[v]);
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_forward_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(params.len);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let chunk = chunk_index(workgroup, workgroups, local, k);
        let first = chunk * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        var word = 0u;
        for (var v = first; v < end; v++) {
            let bits = x[v];
            y[v] = activate4(params, bits);
            word |= nibble_of(mask_bit4(params, bits)) << (4u * (v - first));
        }
        if first < end {
            mask_out[chunk] = word & valid_bits(chunk, params.len);
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward_from_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(backward_params.len);
    let words = arrayLength(&mask_in);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let chunk = chunk_index(workgroup, workgroups, local, k);
        let first = chunk * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        let word = mask_in[min(chunk, words - 1u)];
        for (var v = first; v < end; v++) {
            dx[v] = backward4(backward_params, bits_of_vector(word, v - first), dy[v]);
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward_from_input(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let vectors = vector_count(backward_params.len);
    for (var k = 0u; k < CHUNKS_PER_INVOCATION; k++) {
        let first = chunk_index(workgroup, workgroups, local, k) * CHUNK_VECTORS;
        let end = min(first + CHUNK_VECTORS, vectors);
        for (var v = first; v < end; v++) {
            dx[v] = backward4(backward_params, mask_bit4(backward_params, saved_x[v]), dy[v]);
        }
    }
}
