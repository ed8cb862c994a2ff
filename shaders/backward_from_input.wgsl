// Element-wise backward from the forward's saved input: the bit is
// recomputed from x (`mask_bit4`), then dx as backward_from_mask.wgsl.

@group(0) @binding(0) var<storage, read> dy: array<Vector>;
@group(0) @binding(1) var<storage, read> saved_x: array<Vector>;
@group(0) @binding(2) var<storage, read_write> dx: array<Vector>;
@group(0) @binding(3) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> vec4<bool> {
    let bits = mask_bit4(params, unpack_vector(saved_x[v]));
    dx[v] = pack_vector(backward4(params, bits, unpack_vector(dy[v])));
    return vec4(false);
}
