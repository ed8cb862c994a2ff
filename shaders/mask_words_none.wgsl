// For coalesced_loop.wgsl in kernels that save no mask: no bit is
// gathered, so the loop has no barrier and no subgroup operation.

struct Invocation {
    @builtin(local_invocation_index) local: u32,
}

struct Gather {
    unused: u32,
}

fn begin_gather(invocation: Invocation) -> Gather {
    return Gather(0u);
}

fn gather_bits(invocation: Invocation, gather: Gather, r: u32, v: u32, vectors: u32, bits: u32) {}

fn end_round(invocation: Invocation, first_chunk: u32, vectors: u32) {}
