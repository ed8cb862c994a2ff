// The bias of the fused forward kernels in a uniform buffer: how CPU
// adapters read it. Composed in front of bias_forward.wgsl by the crate.
//
// A CPU adapter (lavapipe, llvmpipe) reads a storage buffer one SIMD lane at
// a time, with a bounds check per lane, but gathers a uniform-buffer read
// into one vector instruction; the bias is read once per element, so this is
// most of the fused kernel's advantage over a bias add followed by a relu.
// A uniform array has a fixed size: UNIFORM_BIAS_VECTORS (the prelude's, from
// src/kernels/prelude.rs) of 4 columns, 64 KiB, the smallest
// max_uniform_buffer_binding_size WebGPU allows; wider rows use
// bias_storage.wgsl.

@group(0) @binding(4) var<uniform> b: array<vec4<u32>, UNIFORM_BIAS_VECTORS>;

fn bias_element(column: u32) -> u32 {
    return b[column / 4u][column % 4u];
}
