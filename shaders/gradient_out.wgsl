// dx of bias_backward.wgsl, one f32 element per invocation and row.

@group(0) @binding(2) var<storage, read_write> dx: array<u32>;

fn store_gradient(element: u32, lane: u32) {
    dx[element] = lane;
}
