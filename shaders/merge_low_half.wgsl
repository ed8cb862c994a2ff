// The last element of an odd-length 16-bit view: the low half of a word
// whose high half is the caller's (the element after the view). wgpu copies
// whole words, so the segmenter's tail (and a write to such a view) copies
// the view's whole words and leaves this one to a dispatch that replaces
// the low half alone: `view_words` word `params.len` (a binding that ends with
// it) takes the low half of `staged` word `params.cols`.

@group(0) @binding(0) var<storage, read> staged: array<u32>;
@group(0) @binding(1) var<storage, read_write> view_words: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(WORKGROUP_SIZE)
fn merge_low_half(@builtin(global_invocation_id) invocation: vec3<u32>) {
    if invocation.x == 0u {
        view_words[params.len] = (view_words[params.len] & 0xffff0000u) | (staged[params.cols] & 0xffffu);
    }
}
