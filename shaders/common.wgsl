// Shared by every kernel: the crate composes each kernel's module from the
// generated prelude (src/kernels/prelude.rs: the constants, the `Params`
// block and the per-kind dispatch shared with Rust), this file,
// activations.wgsl and the kernel's own parts (WGSL has no #include).
//
// Values travel as u32 bit patterns, never as f32 loads: a float load, compare
// or `max` lets a shader compiler canonicalise NaN payloads or fold -0.0
// differently per backend (seen on GL/llvmpipe). Every decision (`x <= 0`,
// `x < cap`, is NaN) is made on the bits; only the arithmetic the semantics
// call for (bias add, leaky slope multiply, bias-gradient sums) is done in
// f32, and a NaN that arithmetic produces is replaced by CANONICAL_NAN so the
// result does not depend on the hardware's default NaN.
//
// Element-wise kernels work in chunks of 32 elements (CHUNK_ELEMENTS):
// CHUNK_VECTORS 16-byte `Vector` loads and stores (eight of f32, four of a
// 16-bit type) and exactly one word of the 1-bit mask. A kernel applies the
// rules below to each quartet (four lanes, `quartet`) of a vector. Their
// loop is chunk_loop.wgsl, where an invocation packs whole mask words on its
// own (no atomics, no barriers), or coalesced_loop.wgsl, where CHUNK_VECTORS
// neighbouring invocations share a chunk. Their data is bound as whole vectors;
// the last vector may run into the buffer's padding (the host pads every
// tensor to 16 bytes), which they process like data and nothing reads back.
// The element count comes from `Params::len` where a kernel needs it exactly
// (mask bits past the end are written as 0).

// f32 bit patterns (CANONICAL_NAN, which the CPU reference shares, is in the
// generated prelude).
const SIGN_BIT: u32 = 0x80000000u;
const ABS_MASK: u32 = 0x7fffffffu;
const POSITIVE_INFINITY: u32 = 0x7f800000u;

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
// load four elements, and the bias-gradient kernel takes lane x of the same
// functions (`backward4(..).x`), so each rule is written once. The rules
// work on lanes (dtypes.wgsl: an element's bits at the top of a u32), so
// they hold for every element type; the arithmetic below works on f32 bits.

// NaN, for f32 bits.
fn is_nan4(bits: vec4<u32>) -> vec4<bool> {
    return (bits & vec4(ABS_MASK)) > vec4(POSITIVE_INFINITY);
}

// NaN, for lanes of the kernel's element type.
fn is_nan_lane4(lanes: vec4<u32>) -> vec4<bool> {
    return (lanes & vec4(ABS_MASK)) > vec4(LANE_INFINITY);
}

// Sign bit set and not NaN (-0.0, negatives, -inf): the lanes from
// SIGN_BIT to SIGN_BIT | LANE_INFINITY. One wrapping subtraction and one
// compare (CPU adapters pay for every operation on every lane): a lane below
// SIGN_BIT wraps to 2^31 or more, above LANE_INFINITY.
fn is_negative4(bits: vec4<u32>) -> vec4<bool> {
    return bits - vec4(SIGN_BIT) <= vec4(LANE_INFINITY);
}

// `x <= 0`: +0.0, or negative (-0.0 included).
fn is_at_most_zero4(bits: vec4<u32>) -> vec4<bool> {
    return (bits == vec4(0u)) | is_negative4(bits);
}

// +0.0 for x <= 0; +0.0 itself needs no select.
fn relu4(bits: vec4<u32>) -> vec4<u32> {
    return select(bits, vec4(0u), is_negative4(bits));
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

// `x + b` for lanes x and f32 bits b, computed in f32 and rounded once to
// the kernel's element type.
fn add_lanes4(x: vec4<u32>, b: vec4<u32>) -> vec4<u32> {
    return lanes_from_f32(add4(lanes_to_f32(x), b));
}

// `a * v` for f32 bits a and lanes v, computed in f32 and rounded once to
// the kernel's element type.
fn multiply_lanes4(a: u32, v: vec4<u32>) -> vec4<u32> {
    return lanes_from_f32(multiply4(a, lanes_to_f32(v)));
}

const NIBBLE: vec4<u32> = vec4(1u, 2u, 4u, 8u);

// Four mask bits as bits 0..3 of a u32.
fn nibble_of(bit: vec4<bool>) -> u32 {
    let bits = select(vec4(0u), NIBBLE, bit);
    return bits.x | bits.y | bits.z | bits.w;
}

// The four bits of quartet `quartet` (0..7) of a chunk's mask word.
fn bits_of_quartet(word: u32, quartet: u32) -> vec4<bool> {
    return (vec4((word >> (4u * quartet)) & 0xfu) & NIBBLE) != vec4(0u);
}

// Chunk `k` (0 <= k < CHUNKS_PER_INVOCATION) of this invocation. Neighbouring
// invocations take neighbouring chunks, so each workgroup streams one
// contiguous block of memory per k.
fn chunk_index(workgroup: vec3<u32>, workgroups: vec3<u32>, local: u32, k: u32) -> u32 {
    return (linear_workgroup(workgroup, workgroups) * CHUNKS_PER_INVOCATION + k) * WORKGROUP_SIZE + local;
}

fn vector_count(elements: u32) -> u32 {
    return (elements + VECTOR_ELEMENTS - 1u) / VECTOR_ELEMENTS;
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
