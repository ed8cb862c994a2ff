// bias_backward.wgsl summing a gradient another dispatch computed: `dy`
// holds dx itself.

fn gradient_lane(i: u32, dy_lane: u32) -> u32 {
    return dy_lane;
}
