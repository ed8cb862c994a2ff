// The benchmark's "bare dispatch": an engine's own one-binding compute
// kernel, recorded with a bind group made once, the floor a prepared op's
// recording is compared with. (A benchmark fixture, not one of the crate's
// kernels, which live in shaders/.)

@group(0) @binding(0) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(64)
fn step(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&data) {
        data[id.x] = data[id.x] * 0.5;
    }
}
