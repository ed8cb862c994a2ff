// Element-wise activation forward, y = activate(x), for the kernel's KIND;
// composed with mask_out.wgsl it also saves the mask, in the same pass.

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;
@group(0) @binding(2) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let loaded = x[v];
    var stored: Vector;
    var mask = 0u;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        let bits = quartet(loaded, q);
        stored = with_quartet(stored, q, activate4(params, bits));
        mask |= nibble_of(mask_bit4(params, bits)) << (4u * q);
    }
    y[v] = stored;
    return mask;
}
