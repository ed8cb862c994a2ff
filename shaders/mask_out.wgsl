// The mask a forward kernel saves: element i's bit is bit i % 32 of word
// i / 32; the bits past the last element of the final word are written as 0.

@group(0) @binding(3) var<storage, read_write> mask_out: array<u32>;

fn end_chunk(chunk: u32, word: u32) {
    mask_out[chunk] = word & valid_bits(chunk, element_count());
}
