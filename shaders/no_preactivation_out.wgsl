// For bias_forward.wgsl: the pre-activation is not saved.

fn save_preactivation(v: u32, sums: Vector) {}
