// For bias_forward.wgsl: saves the pre-activation z = x + b, the tensor a
// smooth activation's fused backward reads, in the same pass.

@group(0) @binding(5) var<storage, read_write> z: array<Vector>;

fn save_preactivation(v: u32, sums: Vector) {
    z[v] = sums;
}
