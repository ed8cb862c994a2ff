// For backward_from_saved.wgsl: the saved tensor is the forward's output.

fn saved_gradient4(params: Params, y: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return output_gradient4(params, y, dy);
}
