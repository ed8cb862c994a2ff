// Shared by every kernel family: the crate prepends this file to each of the
// other shaders/*.wgsl files before compiling them (WGSL has no #include).
//
// Values travel as u32 bit patterns, never as f32 loads: a float load, compare
// or `max` lets a shader compiler canonicalise NaN payloads or fold -0.0
// differently per backend (seen on GL/llvmpipe). Every decision (`x <= 0`,
// `x < cap`, is NaN) is made on the bits; only the arithmetic the semantics
// call for (bias add, leaky slope multiply, bias-gradient sums) is done in
// f32, and a NaN that arithmetic produces is replaced by CANONICAL_NAN so the
// result does not depend on the hardware's default NaN.
//
// Element counts come from the bindings' own lengths (`arrayLength`), so a
// caller can bind any range of a larger buffer.

override WORKGROUP_SIZE: u32 = 256u;

// Workgroup arrays need a constant size; WORKGROUP_SIZE may not exceed it.
const MAX_WORKGROUP_SIZE: u32 = 256u;

const SIGN_BIT: u32 = 0x80000000u;
const ABS_MASK: u32 = 0x7fffffffu;
const POSITIVE_INFINITY: u32 = 0x7f800000u;
const CANONICAL_NAN: u32 = 0x7fc00000u;

// Activation kinds, as `Params::kind` (see src/activation.rs).
const KIND_RELU: u32 = 0u;
const KIND_LEAKY_RELU: u32 = 1u;
const KIND_CLIPPED_RELU: u32 = 2u;

// The activation and its parameter, from a uniform buffer so that a slope or
// cap is never baked into shader text (one pipeline serves every value).
struct Params {
    kind: u32,
    // f32 bits of the leaky slope or the clipped cap.
    parameter: u32,
    // Row length, for the kernels that need it beyond arrayLength.
    cols: u32,
    // Columns one workgroup of the bias-gradient kernel covers (a power of two).
    tile_cols: u32,
}

fn is_nan(bits: u32) -> bool {
    return (bits & ABS_MASK) > POSITIVE_INFINITY;
}

// `x <= 0`: +0.0, or sign bit set and not NaN (-0.0, negatives, -inf).
fn is_at_most_zero(bits: u32) -> bool {
    return bits == 0u || ((bits & SIGN_BIT) != 0u && !is_nan(bits));
}

fn relu_bits(bits: u32) -> u32 {
    return select(bits, 0u, is_at_most_zero(bits));
}

fn canonical(bits: u32) -> u32 {
    return select(bits, CANONICAL_NAN, is_nan(bits));
}

// `a * b` for non-NaN operands; 0 * inf gives CANONICAL_NAN.
fn multiply(a: u32, b: u32) -> u32 {
    return canonical(bitcast<u32>(bitcast<f32>(a) * bitcast<f32>(b)));
}

// `x + b`: a NaN operand passes unchanged (x's first), a NaN the sum produces
// (inf - inf) is CANONICAL_NAN.
fn add(x: u32, b: u32) -> u32 {
    if is_nan(x) {
        return x;
    }
    if is_nan(b) {
        return b;
    }
    return canonical(bitcast<u32>(bitcast<f32>(x) + bitcast<f32>(b)));
}

fn activate(params: Params, bits: u32) -> u32 {
    switch params.kind {
        case KIND_LEAKY_RELU: {
            return select(bits, multiply(params.parameter, bits), is_at_most_zero(bits));
        }
        case KIND_CLIPPED_RELU: {
            // Positive floats order as their bits do, so the cap is a u32 min.
            return select(min(relu_bits(bits), params.parameter), bits, is_nan(bits));
        }
        default: {
            return relu_bits(bits);
        }
    }
}

// The mask bit: where the derivative is the pass-through one.
fn mask_bit(params: Params, bits: u32) -> bool {
    if params.kind == KIND_CLIPPED_RELU {
        return is_nan(bits) || (!is_at_most_zero(bits) && bits < params.parameter);
    }
    return !is_at_most_zero(bits);
}

// dx for one element: dy where the bit is set, else +0.0 (relu, clipped) or
// slope * dy (leaky; a NaN dy passes unchanged).
fn backward(params: Params, bit: bool, dy: u32) -> u32 {
    if bit {
        return dy;
    }
    if params.kind == KIND_LEAKY_RELU {
        return select(multiply(params.parameter, dy), dy, is_nan(dy));
    }
    return 0u;
}

fn bit_of(words_value: u32, element: u32) -> bool {
    return ((words_value >> (element % 32u)) & 1u) != 0u;
}

// Dispatches can be 2-D because one dimension holds at most 65535 workgroups;
// the host spreads the grid over x first, then y.
fn linear_workgroup(workgroup: vec3<u32>, workgroups: vec3<u32>) -> u32 {
    return workgroup.y * workgroups.x + workgroup.x;
}

fn element_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32) -> u32 {
    return linear_workgroup(workgroup, workgroups) * WORKGROUP_SIZE + local;
}

// Mask words being assembled by one workgroup: WORKGROUP_SIZE / 32 of them.
var<workgroup> mask_words: array<atomic<u32>, MAX_WORKGROUP_SIZE / 32u>;

// Packs one bit per invocation into the workgroup's mask words and returns,
// to invocation `local < WORKGROUP_SIZE / 32`, word `local`. Workgroup
// atomics keep it deterministic without any float atomics; every invocation
// must call it (it holds barriers), in bounds or not.
fn pack_mask_bits(local: u32, bit: bool) -> u32 {
    let words = WORKGROUP_SIZE / 32u;
    if local < words {
        atomicStore(&mask_words[local], 0u);
    }
    workgroupBarrier();
    if bit {
        atomicOr(&mask_words[local / 32u], 1u << (local % 32u));
    }
    workgroupBarrier();
    return atomicLoad(&mask_words[min(local, words - 1u)]);
}
