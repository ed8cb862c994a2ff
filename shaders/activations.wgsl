// The ReLU family's rules, one block per activation, on four elements at a
// time. Each activation `NAME` (Rust: `Activation::kind_name`) defines:
//
//   fn NAME_activate4(params: Params, bits: vec4<u32>) -> vec4<u32>
//       the forward value;
//   fn NAME_mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool>
//       the mask bit: where the derivative passes `dy` unchanged;
//   fn NAME_backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32>
//       dx from the bit and dy.
//
// The generated prelude's `activate4`, `mask_bit4` and `backward4` call the
// block of the kernel's KIND; a block that is missing fails to compile. The
// CPU reference (src/cpu.rs) is the definition each block must match bit for
// bit. Every value is a lane of the kernel's element type (dtypes.wgsl);
// `params.parameter` holds the f32 bits of the activation's parameter, and
// `params.parameter_nearest` and `params.parameter_above` the lanes of the
// element type nearest to it and the least at or above it.

// relu: x <= 0 ? +0.0 : x.
fn relu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return relu4(bits);
}

fn relu_mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool> {
    return !is_at_most_zero4(bits);
}

fn relu_backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32> {
    return select(vec4(0u), dy, bit);
}

// leaky_relu: x <= 0 ? slope * x : x; dx = bit ? dy : slope * dy (a NaN dy
// passes unchanged).
fn leaky_relu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return select(bits, multiply_lanes4(params.parameter, bits), is_at_most_zero4(bits));
}

fn leaky_relu_mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool> {
    return !is_at_most_zero4(bits);
}

fn leaky_relu_backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32> {
    return select(select(multiply_lanes4(params.parameter, dy), dy, is_nan_lane4(dy)), dy, bit);
}

// clipped_relu: min(relu(x), cap), rounded to the element type; the bit is
// 0 < x < cap (NaN: 1). Positive floats order as their lanes do, so both
// compare lanes: for an x of the element type, x < cap exactly when x is
// below the least value at or above the cap.
fn clipped_relu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    let positive = relu4(bits);
    let clipped = select(vec4(params.parameter_nearest), positive, positive < vec4(params.parameter_above));
    return select(clipped, bits, is_nan_lane4(bits));
}

fn clipped_relu_mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool> {
    return is_nan_lane4(bits) | (!is_at_most_zero4(bits) & (bits < vec4(params.parameter_above)));
}

fn clipped_relu_backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32> {
    return select(vec4(0u), dy, bit);
}

// identity: no activation, the bias add alone (`Gpu::bias_add`); forward only.
fn identity_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return bits;
}
