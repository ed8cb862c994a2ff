// ReLU forward in place: relu.wgsl on one read-write binding.

@group(0) @binding(0) var<storage, read_write> xy: array<Vector>;

fn element_count() -> u32 {
    return arrayLength(&xy) * 4u;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> vec4<bool> {
    xy[v] = pack_vector(relu4(unpack_vector(xy[v])));
    return vec4(false);
}
