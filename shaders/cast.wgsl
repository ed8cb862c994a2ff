// Element-type conversion, y = x as the kernel's type: x's elements
// (`SourceVector`, the prelude's cast source type) widened exactly to f32
// and rounded to nearest even to y's (`Vector`). Every vector both bindings
// hold is converted, the padding of the last one included.

@group(0) @binding(0) var<storage, read> x: array<SourceVector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;

fn element_count() -> u32 {
    // The two bindings are padded each to whole 16-byte vectors, which hold
    // four elements of f32 and eight of a 16-bit type.
    return min(arrayLength(&x), arrayLength(&y)) * 4u;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> vec4<bool> {
    y[v] = pack_vector(lanes_from_f32(source_lanes_to_f32(unpack_source(x[v]))));
    return vec4(false);
}
