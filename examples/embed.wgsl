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

// The engine's own compute step, the baseline a prepared op's recording is
// timed against: one dispatch with a bind group made once.
@group(0) @binding(0) var<storage, read_write> engine_data: array<f32>;

@compute @workgroup_size(64)
fn engine_step(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&engine_data) {
        engine_data[id.x] = engine_data[id.x] * 0.5;
    }
}
