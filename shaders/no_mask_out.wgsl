// For element-wise kernels that save no mask: the chunk's word is dropped.

fn end_chunk(chunk: u32, word: u32) {}
