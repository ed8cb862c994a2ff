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
// Element-wise kernels work in chunks of 32 elements: eight `vec4<u32>`
// loads and stores, and exactly one word of the 1-bit mask, so an invocation
// packs whole mask words on its own (no atomics, no barriers). Their data is
// bound as whole vectors; the last vector may run into the buffer's padding
// (the host pads every tensor to 16 bytes), which they process like data and
// nothing reads back. The element count comes from `Params::len` where a
// kernel needs it exactly (mask bits past the end are written as 0).

// Threads per workgroup and chunks per invocation are pipeline constants the
// host picks per adapter (src/pipeline.rs, `KernelShape`): the best shape for
// a CPU rasteriser running lanes in SIMD registers is not the best for a GPU.
override WORKGROUP_SIZE: u32 = 256u;
override CHUNKS_PER_INVOCATION: u32 = 1u;

// Workgroup arrays need a constant size; WORKGROUP_SIZE may not exceed it.
const MAX_WORKGROUP_SIZE: u32 = 256u;

const CHUNK_ELEMENTS: u32 = 32u;
const CHUNK_VECTORS: u32 = 8u;

const SIGN_BIT: u32 = 0x80000000u;
const ABS_MASK: u32 = 0x7fffffffu;
const POSITIVE_INFINITY: u32 = 0x7f800000u;
const CANONICAL_NAN: u32 = 0x7fc00000u;

// Activation kinds (`Kind` in src/activation.rs). The kind is a pipeline
// constant, not a uniform: each kernel is compiled once per kind, so the
// compiler drops the other kinds' code. That matters on CPU adapters, which
// run every arm of a branch they cannot prove uniform.
override KIND: u32 = 0u;

const KIND_RELU: u32 = 0u;
const KIND_LEAKY_RELU: u32 = 1u;
const KIND_CLIPPED_RELU: u32 = 2u;
// No activation: the bias add alone, the unfused baseline of the benchmarks.
const KIND_IDENTITY: u32 = 3u;

// The activation's parameter, from a uniform buffer so that a slope or cap
// is never baked into shader text (one pipeline serves every value).
struct Params {
    // f32 bits of the leaky slope or the clipped cap.
    parameter: u32,
    // Row length of the fused bias kernels.
    cols: u32,
    // Columns one workgroup of the bias-gradient kernel covers (a power of two).
    tile_cols: u32,
    // Elements of the op's main operand.
    len: u32,
    // `floor(e / cols) = mul_hi(e, column_magic) >> column_shift` for every
    // element index e < 2^31 (cols >= 2; see src/activation.rs), so the fused
    // kernels find a column without an integer division, which CPU adapters
    // run one lane at a time.
    column_magic: u32,
    column_shift: u32,
    // A tensor larger than one storage binding runs as several dispatches,
    // each over its own range of the tensor (src/ops/segments.rs). The fused
    // forward's range may start mid-row, at this column; the bias-gradient
    // kernel's ranges are whole row blocks, and this is the first one's index.
    first_column: u32,
    first_row_block: u32,
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

// Every decision is made on four elements at once: the chunked kernels
// load `vec4`s, and the bias-gradient kernel takes lane x of the same
// functions (`backward`), so each rule is written once.

fn is_nan4(bits: vec4<u32>) -> vec4<bool> {
    return (bits & vec4(ABS_MASK)) > vec4(POSITIVE_INFINITY);
}

// `x <= 0`: +0.0, or sign bit set and not NaN (-0.0, negatives, -inf).
fn is_at_most_zero4(bits: vec4<u32>) -> vec4<bool> {
    return (bits == vec4(0u)) | (((bits & vec4(SIGN_BIT)) != vec4(0u)) & !is_nan4(bits));
}

fn relu4(bits: vec4<u32>) -> vec4<u32> {
    return select(bits, vec4(0u), is_at_most_zero4(bits));
}

// The float arithmetic below takes only magnitudes from the hardware and
// decides signs of zero, infinities and NaN on the bits. Vulkan lets a
// driver ignore the sign of zero and assume no infinities or NaN in float
// operations unless the shader declares otherwise (SPIR-V's
// SignedZeroInfNanPreserve, which WGSL cannot ask for), and lavapipe does so
// in some kernels: it once turned 0 * -1.5 into +0.0 and 0 * -inf into 0.

// `a * v` for non-NaN operands, a finite: the sign is the XOR of the
// operands' signs, 0 * inf is CANONICAL_NAN.
fn multiply4(a: u32, v: vec4<u32>) -> vec4<u32> {
    let a_abs = a & ABS_MASK;
    let v_abs = v & vec4(ABS_MASK);
    let magnitude = bitcast<vec4<u32>>(bitcast<f32>(a_abs) * bitcast<vec4<f32>>(v_abs));
    let sign = (v ^ vec4(a)) & vec4(SIGN_BIT);
    let zero_times_infinity = (vec4(a_abs == 0u) & (v_abs == vec4(POSITIVE_INFINITY)))
        | (vec4(a_abs == POSITIVE_INFINITY) & (v_abs == vec4(0u)));
    return select(
        (magnitude & vec4(ABS_MASK)) | sign,
        vec4(CANONICAL_NAN),
        zero_times_infinity | is_nan4(magnitude),
    );
}

// `x + b`: x's NaN first, then b's; inf - inf is CANONICAL_NAN. A zero sum
// comes only from x = -b, which is +0.0 (round to nearest), or from
// -0.0 + -0.0, which is -0.0; both are decided on the bits. (Written for
// few operations: CPU adapters run each one on every lane.)
fn add4(x: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    let sum = bitcast<vec4<u32>>(bitcast<vec4<f32>>(x) + bitcast<vec4<f32>>(b));
    let x_abs = x & vec4(ABS_MASK);
    // x = -b: +0.0, or NaN for infinities of opposite signs.
    let cancelled = select(vec4(0u), vec4(CANONICAL_NAN), x_abs == vec4(POSITIVE_INFINITY));
    // Given x != -b, both operands are ±0.0 with at least one -0.0: both -0.0.
    let negative_zeros = (x | b) == vec4(SIGN_BIT);
    let result = select(select(sum, vec4(SIGN_BIT), negative_zeros), cancelled, (x ^ b) == vec4(SIGN_BIT));
    let b_is_nan = (b & vec4(ABS_MASK)) > vec4(POSITIVE_INFINITY);
    return select(select(result, b, b_is_nan), x, x_abs > vec4(POSITIVE_INFINITY));
}

fn activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    switch KIND {
        case KIND_LEAKY_RELU: {
            return select(bits, multiply4(params.parameter, bits), is_at_most_zero4(bits));
        }
        case KIND_CLIPPED_RELU: {
            // Positive floats order as their bits do, so the cap is a u32 min.
            return select(min(relu4(bits), vec4(params.parameter)), bits, is_nan4(bits));
        }
        case KIND_IDENTITY: {
            return bits;
        }
        default: {
            return relu4(bits);
        }
    }
}

// The mask bit: where the derivative is the pass-through one.
fn mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool> {
    if KIND == KIND_CLIPPED_RELU {
        return is_nan4(bits) | (!is_at_most_zero4(bits) & (bits < vec4(params.parameter)));
    }
    return !is_at_most_zero4(bits);
}

// dx: dy where the bit is set, else +0.0 (relu, clipped) or slope * dy
// (leaky; a NaN dy passes unchanged).
fn backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32> {
    if KIND == KIND_LEAKY_RELU {
        return select(select(multiply4(params.parameter, dy), dy, is_nan4(dy)), dy, bit);
    }
    return select(vec4(0u), dy, bit);
}

// `backward4` for one element.
fn backward(params: Params, bit: bool, dy: u32) -> u32 {
    return backward4(params, vec4(bit), vec4(dy)).x;
}

const NIBBLE: vec4<u32> = vec4(1u, 2u, 4u, 8u);

// Four mask bits as bits 0..3 of a u32.
fn nibble_of(bit: vec4<bool>) -> u32 {
    let bits = select(vec4(0u), NIBBLE, bit);
    return bits.x | bits.y | bits.z | bits.w;
}

// The four bits of vector `vector` (0..7) of a chunk's mask word.
fn bits_of_vector(word: u32, vector: u32) -> vec4<bool> {
    return (vec4((word >> (4u * vector)) & 0xfu) & NIBBLE) != vec4(0u);
}

// Chunk `k` (0 <= k < CHUNKS_PER_INVOCATION) of this invocation. Neighbouring
// invocations take neighbouring chunks, so each workgroup streams one
// contiguous block of memory per k.
fn chunk_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32, k: u32) -> u32 {
    return (linear_workgroup(workgroup, workgroups) * CHUNKS_PER_INVOCATION + k) * WORKGROUP_SIZE + local;
}

fn vector_count(elements: u32) -> u32 {
    return (elements + 3u) / 4u;
}

// The high 32 bits of the 64-bit product a * b, from 16-bit halves (WGSL
// has no 64-bit integers).
fn mul_hi(a: u32, b: u32) -> u32 {
    let a_lo = a & 0xffffu;
    let a_hi = a >> 16u;
    let b_lo = b & 0xffffu;
    let b_hi = b >> 16u;
    let lo_lo = a_lo * b_lo;
    let hi_lo = a_hi * b_lo;
    let lo_hi = a_lo * b_hi;
    let cross = (lo_lo >> 16u) + (hi_lo & 0xffffu) + (lo_hi & 0xffffu);
    return a_hi * b_hi + (hi_lo >> 16u) + (lo_hi >> 16u) + (cross >> 16u);
}

// The column of element `element` in rows of `params.cols`.
fn column_of(params: Params, element: u32) -> u32 {
    // Columns are counted from the dispatch's first element, which sits in
    // column `first_column` (< cols).
    if params.cols == 1u {
        return 0u;
    }
    let row = mul_hi(element, params.column_magic) >> params.column_shift;
    let column = element - row * params.cols + params.first_column;
    return select(column, column - params.cols, column >= params.cols);
}

// The bits of chunk `chunk`'s mask word that hold elements (< len): the
// rest are written as 0.
fn valid_bits(chunk: u32, len: u32) -> u32 {
    let left = len - chunk * CHUNK_ELEMENTS;
    return select((1u << left) - 1u, 0xffffffffu, left >= CHUNK_ELEMENTS);
}
