// The "engine" side of examples/embed.rs: one triangle, drawn in a render
// pass of the same command encoder that runs the activation kernels.

@vertex
fn vs_main(@builtin(vertex_index) index: u32) -> @builtin(position) vec4<f32> {
    let corners = array(vec2(-0.5, -0.5), vec2(0.5, -0.5), vec2(0.0, 0.5));
    return vec4(corners[index], 0.0, 1.0);
}

@fragment
fn fs_main() -> @location(0) vec4<f32> {
    return vec4(1.0, 0.5, 0.0, 1.0);
}
