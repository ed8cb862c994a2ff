// ReLU forward without a mask or parameters, out of place. Bit-exact on
// every backend (see common.wgsl). Every vector of the binding is processed,
// the padding of the last one included (its result is never read back), so
// no element count is needed.

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;

fn element_count() -> u32 {
    return arrayLength(&y) * VECTOR_ELEMENTS;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    let loaded = x[v];
    var stored: Vector;
    for (var q = 0u; q < VECTOR_QUARTETS; q++) {
        stored = with_quartet(stored, q, relu4(quartet(loaded, q)));
    }
    y[v] = stored;
    return 0u;
}
