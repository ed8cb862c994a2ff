// The element types' storage and conversions, composed into every kernel.
// The generated prelude picks the kernel's types (src/kernels/prelude.rs):
// `quartet`/`with_quartet` (four elements of the 16-byte `Vector` a kernel
// loads and stores at once, which holds VECTOR_QUARTETS of them),
// `unpack_quartet`/`pack_quartet` (a `Quartet` stored on its own),
// `lanes_to_f32`/`lanes_from_f32` and LANE_INFINITY, and the same for a
// cast's source type.
//
// Inside a kernel every element is a *lane*: a u32 whose top bits are the
// element's. An f32 lane is its bits; a 16-bit lane is the element's bits
// shifted to the top (low 16 bits zero). So the sign is bit 31 in every
// type, positive values order as their lanes do, and the rules of
// common.wgsl and activations.wgsl decide signs, zeros, NaN (a lane above
// LANE_INFINITY once the sign is cleared) and the cap on lanes, exactly and
// for every type at once. Only arithmetic converts: `lanes_to_f32` widens
// exactly, `lanes_from_f32` rounds to nearest even (src/dtype.rs is the
// definition both match bit for bit).
//
// 16-bit storage is packed pairs in u32 words: element 2k in the low half of
// word k, 2k + 1 in the high half, as the host's little-endian bytes are.
// All of it is integer arithmetic on the bits, not `pack2x16float` or
// `enable f16;`: WGSL leaves the rounding of f32 -> f16 conversions to the
// implementation and backends differ on NaN (llvmpipe GL canonicalises every
// f16 NaN it unpacks), and GL has no SHADER_F16.

// ---- f32: lanes are the elements.

fn f32_unpack4(v: vec4<u32>) -> vec4<u32> {
    return v;
}

fn f32_pack4(lanes: vec4<u32>) -> vec4<u32> {
    return lanes;
}

fn f32_lanes_to_f32(lanes: vec4<u32>) -> vec4<u32> {
    return lanes;
}

fn f32_lanes_from_f32(f: vec4<u32>) -> vec4<u32> {
    return f;
}

// The lane of element `element` from the u32 word that holds it.
fn f32_word_lane(word: u32, element: u32) -> u32 {
    return word;
}

// A vector is one quartet.
fn f32_quartet(v: vec4<u32>, q: u32) -> vec4<u32> {
    return v;
}

fn f32_with_quartet(v: vec4<u32>, q: u32, lanes: vec4<u32>) -> vec4<u32> {
    return lanes;
}

// ---- 16-bit types: a quartet in two words.

fn half_word_lane(word: u32, element: u32) -> u32 {
    return select(word << 16u, word & 0xffff0000u, (element & 1u) == 1u);
}

fn half_unpack4(v: vec2<u32>) -> vec4<u32> {
    return vec4(v.x << 16u, v.x & 0xffff0000u, v.y << 16u, v.y & 0xffff0000u);
}

fn half_pack4(lanes: vec4<u32>) -> vec2<u32> {
    return vec2((lanes.x >> 16u) | (lanes.y & 0xffff0000u), (lanes.z >> 16u) | (lanes.w & 0xffff0000u));
}

// A vector is two quartets: elements 0..3 in its first two words, 4..7 in
// the last two. Kernels call these with a constant `q` in an unrolled loop,
// so the select folds away.
fn half_quartet(v: vec4<u32>, q: u32) -> vec4<u32> {
    return half_unpack4(select(v.zw, v.xy, q == 0u));
}

fn half_with_quartet(v: vec4<u32>, q: u32, lanes: vec4<u32>) -> vec4<u32> {
    let packed = half_pack4(lanes);
    return select(vec4(v.xy, packed), vec4(packed, v.zw), q == 0u);
}

// ---- bf16: a lane is the f32 of the same value already.

fn bf16_lanes_to_f32(lanes: vec4<u32>) -> vec4<u32> {
    return lanes;
}

// To nearest even on the 16 dropped bits (a carry steps the exponent, up to
// infinity); a NaN keeps its sign and top 7 payload bits, the quiet bit set
// if those are zero.
fn bf16_lanes_from_f32(f: vec4<u32>) -> vec4<u32> {
    let rounded = (f + vec4(0x7fffu) + ((f >> vec4(16u)) & vec4(1u))) & vec4(0xffff0000u);
    let top = f & vec4(0xffff0000u);
    let nan = select(top, top | vec4(0x00400000u), (top & vec4(0x007f0000u)) == vec4(0u));
    return select(rounded, nan, (f & vec4(ABS_MASK)) > vec4(POSITIVE_INFINITY));
}

// ---- f16.

// Exact. The f16's exponent and mantissa, shifted to an f32's places,
// need only their exponent rebiased: by 112 for normals, by 224 for
// infinities and NaNs (which keep their payload). A subnormal is
// mantissa * 2^-24: the normal f32 (1 + mantissa / 1024) * 2^-14, which the
// same shift and a rebias by 113 make, minus 2^-14, a subtraction of two
// normal values within a factor of two of each other, so exact on any
// device, with a normal (or zero) result that no flushing touches.
fn f16_lanes_to_f32(lanes: vec4<u32>) -> vec4<u32> {
    let shifted = (lanes & vec4(ABS_MASK)) >> vec4(3u);
    let exponent = shifted & vec4(POSITIVE_INFINITY);
    let normal = shifted + vec4(112u << 23u);
    let special = shifted + vec4(224u << 23u);
    let smallest_normal = 6.103515625e-5;
    let subnormal = bitcast<vec4<u32>>(bitcast<vec4<f32>>(shifted + vec4(113u << 23u)) - vec4(smallest_normal));
    let magnitude = select(select(normal, subnormal, exponent == vec4(0u)), special, exponent == vec4(0x0f800000u));
    return (lanes & vec4(SIGN_BIT)) | magnitude;
}

// To nearest even: from 2^-14 up the exponent is rebiased and the 13
// dropped bits rounded (a carry steps the exponent, up to infinity); below,
// the 24-bit significand is shifted into units of 2^-24 and rounded the
// same way. All integer arithmetic, so exact whatever rounding the device's
// float operations use (rounding below 2^-14 by adding 0.5 in f32 measured
// no faster on lavapipe). A NaN keeps its sign and top 10 payload bits, the
// quiet bit set if those are zero.
fn f16_lanes_from_f32(f: vec4<u32>) -> vec4<u32> {
    let sign = (f >> vec4(16u)) & vec4(0x8000u);
    let magnitude = f & vec4(ABS_MASK);
    let lsb = (magnitude >> vec4(13u)) & vec4(1u);
    let normal = min((magnitude - vec4(0x38000000u) + vec4(0xfffu) + lsb) >> vec4(13u), vec4(0x7c00u));
    let exponent = magnitude >> vec4(23u);
    let shift = min(vec4(126u) - min(exponent, vec4(126u)), vec4(31u));
    let significand = (magnitude & vec4(0x7fffffu)) | vec4(0x800000u);
    let quotient = significand >> shift;
    let remainder = significand - (quotient << shift);
    let half = vec4(1u) << (max(shift, vec4(1u)) - vec4(1u));
    let up = (remainder > half) | ((remainder == half) & ((quotient & vec4(1u)) == vec4(1u)));
    let subnormal = quotient + select(vec4(0u), vec4(1u), up);
    let payload = (magnitude >> vec4(13u)) & vec4(0x3ffu);
    let nan = vec4(0x7c00u) | select(payload, vec4(0x200u), payload == vec4(0u));
    let rounded = select(select(subnormal, normal, magnitude >= vec4(0x38800000u)), nan, magnitude > vec4(POSITIVE_INFINITY));
    return (sign | rounded) << vec4(16u);
}
