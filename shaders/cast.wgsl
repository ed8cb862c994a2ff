// Element-type conversion, y = x as the kernel's type: x's elements (of
// the prelude's cast source type) widened exactly to f32 and rounded to
// nearest even to y's. Every element both bindings hold is converted, the
// padding of the last vector included.
//
// The loop walks y's vectors; x's vectors hold SOURCE_VECTOR_QUARTETS
// quartets where y's hold VECTOR_QUARTETS, so quartet k of the tensor is
// quartet k % SOURCE_VECTOR_QUARTETS of x's vector k / SOURCE_VECTOR_QUARTETS.

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;

fn element_count() -> u32 {
    // The two bindings are padded each to whole 16-byte vectors.
    return min(arrayLength(&x) * SOURCE_VECTOR_ELEMENTS, arrayLength(&y) * VECTOR_ELEMENTS);
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        let k = v * VECTOR_QUARTETS + q;
        let lanes = source_quartet(x[k / SOURCE_VECTOR_QUARTETS], k % SOURCE_VECTOR_QUARTETS);
        stored = with_quartet(stored, q, lanes_from_f32(source_lanes_to_f32(lanes)));
    }
    y[v] = stored;
    return 0u;
}
