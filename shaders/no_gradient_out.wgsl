// For bias_backward.wgsl summing without writing dx (another dispatch
// writes it).

fn store_gradient(element: u32, lane: u32) {}
