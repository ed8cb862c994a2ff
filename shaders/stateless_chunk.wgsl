// For element-wise kernels that carry no state from one vector of a chunk
// to the next (no column, no mask word read).

struct Chunk {
    unused: u32,
}

fn begin_chunk(chunk: u32, first_vector: u32) -> Chunk {
    return Chunk(0u);
}
