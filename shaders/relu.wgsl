// ReLU forward, bit-exact on every backend.
//
// Values travel as u32 bit patterns, never as f32: a float load, compare or
// `max` lets a shader compiler canonicalise NaN payloads or fold -0.0
// differently per backend (seen on GL/llvmpipe). The decision `x <= 0` is made
// on the bits instead, which costs nothing on a memory-bound kernel.
//
// The element count is the binding's own length (`arrayLength`), so a caller
// can bind any range of a larger buffer without a uniform.

override WORKGROUP_SIZE: u32 = 256u;

const SIGN_BIT: u32 = 0x80000000u;
const ABS_MASK: u32 = 0x7fffffffu;
const POSITIVE_INFINITY: u32 = 0x7f800000u;

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;

@group(0) @binding(0) var<storage, read_write> xy: array<u32>;

// `x <= 0` holds for -0.0, +0.0, negative finite numbers and -inf, and never
// for NaN. +0.0 has all bits clear, so it maps to itself either way; every
// other case is "sign bit set and not NaN".
fn relu_bits(bits: u32) -> u32 {
    let is_negative_or_zero = (bits & SIGN_BIT) != 0u && (bits & ABS_MASK) <= POSITIVE_INFINITY;
    return select(bits, 0u, is_negative_or_zero);
}

// Dispatches can be 2-D because one dimension holds at most 65535 workgroups;
// the host spreads the grid over x first, then y.
fn element_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    let linear_workgroup = workgroup.y * workgroups.x + workgroup.x;
    return linear_workgroup * WORKGROUP_SIZE + local;
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&y) {
        y[i] = relu_bits(x[i]);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn relu_forward_in_place(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&xy) {
        xy[i] = relu_bits(xy[i]);
    }
}
