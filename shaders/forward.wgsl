// Element-wise activation forward, y = activate(x), for the kernel's KIND;
// composed with mask_out.wgsl it also saves the mask, in the same pass.

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;
@group(0) @binding(2) var<uniform> params: Params;

fn element_count() -> u32 {
    return params.len;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> vec4<bool> {
    let bits = unpack_vector(x[v]);
    y[v] = pack_vector(activate4(params, bits));
    return mask_bit4(params, bits);
}
