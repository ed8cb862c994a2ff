// The identity, y = x, out of place: the element-wise kernels' loop with no
// work in it. It moves exactly the bytes relu moves, in relu's launch shape,
// so it is the WGSL bandwidth baseline every kernel is compared with (the
// ceiling a kernel can reach on an adapter, which copy_buffer_to_buffer,
// done by the driver, may exceed); and a copy that can be recorded inside a
// compute pass. Like relu.wgsl, it processes every vector of the binding.

@group(0) @binding(0) var<storage, read> x: array<Vector>;
@group(0) @binding(1) var<storage, read_write> y: array<Vector>;

fn element_count() -> u32 {
    return arrayLength(&y) * VECTOR_ELEMENTS;
}

fn process_vector(v: u32, lane: u32, state: ptr<function, Chunk>) -> u32 {
    y[v] = x[v];
    return 0u;
}
