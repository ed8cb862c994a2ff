// The bias of the fused forward kernels in a storage buffer: how GPUs read
// it. Composed in front of bias_forward.wgsl by the crate.

@group(0) @binding(4) var<storage, read> b: array<u32>;

fn bias_element(column: u32) -> u32 {
    return b[column];
}
