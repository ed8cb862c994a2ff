// ReLU forward in place: relu.wgsl on one read-write binding.

@group(0) @binding(0) var<storage, read_write> xy: array<Vector>;

fn element_count() -> u32 {
    return arrayLength(&xy) * VECTOR_ELEMENTS;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let loaded = xy[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        stored = with_quartet(stored, q, relu4(quartet(loaded, q)));
    }
    xy[v] = stored;
    return 0u;
}
