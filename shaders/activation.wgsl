// Element-wise activation forward (with or without the 1-bit mask) and
// backward (from the mask or from the saved input), for every kind in
// common.wgsl's `Params`.

@group(0) @binding(0) var<storage, read> x: array<u32>;
@group(0) @binding(1) var<storage, read_write> y: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;
// Element i's bit is bit i % 32 of word i / 32; the bits past the last
// element of the final word are written as zero.
@group(0) @binding(3) var<storage, read_write> mask_out: array<u32>;

// Backward: dy, what the bit is read from (the mask or the saved input), dx.
@group(0) @binding(0) var<storage, read> dy: array<u32>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(1) var<storage, read> saved_x: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<u32>;
@group(0) @binding(3) var<uniform> backward_params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_forward(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&y) {
        y[i] = activate(params, x[i]);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_forward_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    var bit = false;
    if i < arrayLength(&y) {
        let bits = x[i];
        y[i] = activate(params, bits);
        bit = mask_bit(params, bits);
    }
    let word = pack_mask_bits(local, bit);
    let word_index = linear_workgroup(workgroup, workgroups) * (WORKGROUP_SIZE / 32u) + local;
    if local < WORKGROUP_SIZE / 32u && word_index < arrayLength(&mask_out) {
        mask_out[word_index] = word;
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward_from_mask(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&dx) {
        dx[i] = backward(backward_params, bit_of(mask_in[i / 32u], i), dy[i]);
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn activation_backward_from_input(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    let i = element_index(workgroup, workgroups, local);
    if i < arrayLength(&dx) {
        dx[i] = backward(backward_params, mask_bit(backward_params, saved_x[i]), dy[i]);
    }
}
