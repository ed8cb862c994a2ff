// bias_backward.wgsl's gradient of element `i`: the activation's backward
// from the forward's mask.

@group(0) @binding(1) var<storage, read> mask_in: array<u32>;

fn gradient_lane(i: u32, dy_lane: u32) -> u32 {
    return backward4(params, vec4(bit_of(mask_in[i / 32u], i)), vec4(dy_lane)).x;
}
