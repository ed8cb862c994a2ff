// Each activation's rules, one block per activation, on four elements at a
// time. Each activation `NAME` (Rust: `Activation::kind_name`) defines:
//
//   fn NAME_activate4(params: Params, bits: vec4<u32>) -> vec4<u32>
//       the forward value;
//
// and, for the ReLU family (which saves a mask),
//
//   fn NAME_mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool>
//       the mask bit: where the derivative passes `dy` unchanged;
//   fn NAME_backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32>
//       dx from the bit and dy;
//
// or, for a smooth activation (which saves its input),
//
//   fn NAME_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32>
//       dx = dy * f'(x);
//
// and, for one whose derivative is a function of its output (sigmoid, tanh),
//
//   fn NAME_output_gradient4(params: Params, y: vec4<u32>, dy: vec4<u32>) -> vec4<u32>
//       dx = dy * f'(f^-1(y)).
//
// The generated prelude's `activate4`, `mask_bit4`, `backward4` and
// `gradient4` call the block of the kernel's KIND; a block that is missing
// fails to compile. The CPU reference (src/cpu.rs) is the definition the
// ReLU family must match bit for bit, and the smooth ones within their
// bound (`Activation::max_error_ulps`). Every value is a lane of the kernel's element type (dtypes.wgsl);
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

// The smooth activations compute in f32 from the widened lanes
// (shaders/smooth.wgsl, which never calls the backend's exp/tanh/sin) and
// round once to the element type. NaN is decided on the bits: a NaN input
// passes with its payload, and a NaN computed from a non-NaN input is
// CANONICAL_NAN, whatever NaN the hardware made.

fn widened4(lanes: vec4<u32>) -> vec4<f32> {
    return bitcast<vec4<f32>>(lanes_to_f32(lanes));
}

// The lanes of `computed`, the activation of `x`.
fn smooth_lanes4(x: vec4<u32>, computed: vec4<f32>) -> vec4<u32> {
    let bits = bitcast<vec4<u32>>(computed);
    let rounded = lanes_from_f32(select(bits, vec4(CANONICAL_NAN), is_nan4(bits)));
    return select(rounded, x, is_nan_lane4(x));
}

// dx = dy * f'(x), with `derivative` = f'(x): x's NaN first, then dy's.
fn smooth_gradient4(x: vec4<u32>, dy: vec4<u32>, derivative: vec4<f32>) -> vec4<u32> {
    let product = bitcast<vec4<u32>>(widened4(dy) * derivative);
    let rounded = lanes_from_f32(select(product, vec4(CANONICAL_NAN), is_nan4(product)));
    return select(select(rounded, dy, is_nan_lane4(dy)), x, is_nan_lane4(x));
}

fn sigmoid_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, sigmoid_f32(widened4(bits)));
}

fn sigmoid_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return smooth_gradient4(x, dy, sigmoid_derivative_f32(widened4(x)));
}

// y (1 - y): 1 - y is exact for y >= 0.5 (Sterbenz).
fn sigmoid_output_gradient4(params: Params, y: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    let s = widened4(y);
    return smooth_gradient4(y, dy, s * (1.0 - s));
}

fn tanh_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, tanh_f32(widened4(bits)));
}

fn tanh_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return smooth_gradient4(x, dy, tanh_derivative_f32(widened4(x)));
}

// 1 - y^2 as (1 - y)(1 + y): no cancellation where |y| nears 1 (1 - |y| is
// exact there), as 1 - y * y would have.
fn tanh_output_gradient4(params: Params, y: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    let t = widened4(y);
    return smooth_gradient4(y, dy, (1.0 - t) * (1.0 + t));
}

fn silu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, silu_f32(widened4(bits)));
}

fn silu_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return smooth_gradient4(x, dy, silu_derivative_f32(widened4(x)));
}

fn gelu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, gelu_f32(widened4(bits)));
}

fn gelu_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return smooth_gradient4(x, dy, gelu_derivative_f32(widened4(x)));
}

fn gelu_tanh_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, gelu_tanh_f32(widened4(bits)));
}

fn gelu_tanh_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    return smooth_gradient4(x, dy, gelu_tanh_derivative_f32(widened4(x)));
}

// softplus: params.parameter is beta, params.second_parameter the threshold.
fn softplus_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    let beta = bitcast<f32>(params.parameter);
    let threshold = bitcast<f32>(params.second_parameter);
    return smooth_lanes4(bits, softplus_f32(widened4(bits), beta, threshold));
}

fn softplus_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    let beta = bitcast<f32>(params.parameter);
    let threshold = bitcast<f32>(params.second_parameter);
    return smooth_gradient4(x, dy, softplus_derivative_f32(widened4(x), beta, threshold));
}

// elu: params.parameter is alpha.
fn elu_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    return smooth_lanes4(bits, elu_f32(widened4(bits), bitcast<f32>(params.parameter)));
}

fn elu_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    let alpha = bitcast<f32>(params.parameter);
    return smooth_gradient4(x, dy, elu_derivative_f32(widened4(x), alpha));
}

// sine: params.parameter is omega. sin(t) of a zero t = omega * x is that
// zero, its sign included (the sign the product's rules give).
fn sine_activate4(params: Params, bits: vec4<u32>) -> vec4<u32> {
    let omega = bitcast<f32>(params.parameter);
    let x = widened4(bits);
    let t = bitcast<vec4<u32>>(omega * x);
    let y = select(sine_f32(x, omega), bitcast<vec4<f32>>(t), (t & vec4(ABS_MASK)) == vec4(0u));
    return smooth_lanes4(bits, y);
}

fn sine_gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {
    let omega = bitcast<f32>(params.parameter);
    return smooth_gradient4(x, dy, sine_derivative_f32(widened4(x), omega));
}
