// The bias of the fused forward kernels in a uniform buffer: how CPU
// adapters read it. Placed between common.wgsl and bias.wgsl by the crate.
//
// A CPU adapter (lavapipe, llvmpipe) reads a storage buffer one SIMD lane at
// a time, with a bounds check per lane, but gathers a uniform-buffer read
// into one vector instruction; the bias is read once per element, so this is
// most of the fused kernel's advantage over a bias add followed by a relu.
// A uniform array has a fixed size: 16384 columns at most (64 KiB, the
// smallest max_uniform_buffer_binding_size WebGPU allows); wider rows use
// bias_storage.wgsl.

const UNIFORM_BIAS_VECTORS: u32 = 4096u;

@group(0) @binding(1) var<uniform> b: array<vec4<u32>, UNIFORM_BIAS_VECTORS>;

fn bias_element(column: u32) -> u32 {
    return b[column / 4u][column % 4u];
}
