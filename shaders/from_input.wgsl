// For backward_from_saved.wgsl: the saved tensor is the forward's input.

fn saved_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return gradient4(params, x, dy);
}
