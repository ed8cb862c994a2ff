// The first pass of the fused backward (see bias_backward.wgsl) for rows of
// whole quartets (cols % 4 == 0): dy, dx and the block sums four adjacent
// columns at a time (dy and dx in the kernel's element type, as a `Quartet`:
// an f32 vec4 or two words of 16-bit pairs; the sums in f32). A "vector"
// below is such a quartet, whatever the element type.
//
// Each invocation owns some columns of one row block (`rows_per_block`
// rows) and sums each of them in sequence in a register: no workgroup
// memory, no barrier, no tree. Its columns are `panels` runs of `vectors`
// adjacent vectors, the runs `lanes` invocations' widths apart. Entry
// points, from the widest rows down (the host picks the first that divides
// the row):
// - `bias_activation_backward_panels4` and `_panels2` (cols a multiple of
//   BACKWARD_LANES * 32 * 4 or * 2): BACKWARD_LANES neighbouring
//   invocations (one SIMD register of them on CPU adapters) cover a
//   contiguous run of 32 * BACKWARD_LANES columns at each step, and step
//   along the row through `panels` such runs before the next row, so they
//   stream memory in order. Measured on lavapipe: a SIMD group that jumps
//   to the next row after each kilobyte, as the kernels below do on rows
//   longer than 1 KiB, took 1.7x the time of one streaming the same bytes
//   in order (benches/README.md).
// - `bias_activation_backward_words` (cols % 32 == 0): 32 columns, eight
//   vectors and exactly one mask word per row, as a chunk of the
//   element-wise kernels;
// - `bias_activation_backward_vectors`: one vector per row, its four bits
//   taken from the word that holds them.
// In the last two, neighbouring invocations take neighbouring columns.

@group(0) @binding(0) var<storage, read> dy: array<Quartet>;
@group(0) @binding(1) var<storage, read> mask_in: array<u32>;
@group(0) @binding(2) var<storage, read_write> dx: array<Quartet>;
@group(0) @binding(3) var<storage, read_write> block_sums_out: array<vec4<f32>>;
@group(0) @binding(4) var<uniform> params: Params;

// An invocation's column sums, one array per run (not an array of arrays:
// lavapipe keeps these in registers only when every index is a constant).
struct RunSums {
    run0: array<vec4<f32>, CHUNK_QUARTETS>,
    run1: array<vec4<f32>, CHUNK_QUARTETS>,
    run2: array<vec4<f32>, CHUNK_QUARTETS>,
    run3: array<vec4<f32>, CHUNK_QUARTETS>,
}

// Vectors `first` to `end` (excluded) of run `panel` of a row, from vector `first_vector`
// on, with their mask bits from bit 0 of `word`: dx, and the gradients into
// the run's sums. Each run's sums take its gradients through a select rather
// than an index, which would not be a constant; adding the other runs' +0.0
// rounds nothing.
fn backward_vectors(first: u32, end: u32, first_vector: u32, word: u32, panel: u32, panels: u32, sums: ptr<function, RunSums>) {
    for (var v = first; v < end; v++) {
        let gradient = backward4(params, bits_of_quartet(word, v), unpack_quartet(dy[first_vector + v]));
        dx[first_vector + v] = pack_quartet(gradient);
        let value = bitcast<vec4<f32>>(lanes_to_f32(gradient));
        if panels == 1u {
            (*sums).run0[v] += value;
        } else {
            (*sums).run0[v] += select(vec4(0.0), value, panel == 0u);
            (*sums).run1[v] += select(vec4(0.0), value, panel == 1u);
            if panels == MAX_PANELS {
                (*sums).run2[v] += select(vec4(0.0), value, panel == 2u);
                (*sums).run3[v] += select(vec4(0.0), value, panel == 3u);
            }
        }
    }
}

// Invocation `invocation`'s share of the tensor: `vectors` (1 or
// CHUNK_QUARTETS) vectors per run, `panels` (1, 2 or MAX_PANELS = 4) runs per
// row, `lanes` runs apart. Called with literals, so that compilers unroll the
// inner loops and keep the sums in registers.
fn backward_block(invocation: u32, vectors: u32, lanes: u32, panels: u32) {
    let cols = params.cols;
    let run = 4u * vectors;
    let panel_width = lanes * run;
    let group_width = panels * panel_width;
    let groups = cols / group_width;
    let lane = invocation % lanes;
    let group = (invocation / lanes) % groups;
    let block = invocation / lanes / groups;
    let first_column = group * group_width + lane * run;
    // An invocation past the last block has an empty range of rows (no
    // early exit: see chunk_loop.wgsl).
    let first = block * params.rows_per_block;
    let end = min(first + params.rows_per_block, params.len / cols);
    var sums: RunSums;
    // One step per run: row by row, each row's runs in order.
    for (var step = first * panels; step < end * panels; step++) {
        let row = step / panels;
        let panel = step % panels;
        let element = row * cols + first_column + panel * panel_width;
        // The run's bits from bit 0 on: its first element sits at a
        // multiple of 4 (of 32 for eight quartets) within its word.
        let word = mask_in[element / 32u] >> (element % 32u);
        let first_vector = element / 4u;
        // Two loops of at most four vectors rather than one of eight:
        // lavapipe's compiler unrolls a loop, and so keeps the sums in
        // registers, only up to a size, which eight vectors with the f16
        // widening passed (measured: the f16 fused backward ran at 0.47x
        // f32's elements per second in one loop, 1.22x in two).
        let half = (vectors + 1u) / 2u;
        backward_vectors(0u, half, first_vector, word, panel, panels, &sums);
        backward_vectors(half, vectors, first_vector, word, panel, panels, &sums);
    }
    if first < end {
        let out = ((params.first_row_block + block) * cols + first_column) / 4u;
        let apart = panel_width / 4u;
        for (var v = 0u; v < vectors; v++) {
            block_sums_out[out + v] = sums.run0[v];
            if panels > 1u {
                block_sums_out[out + apart + v] = sums.run1[v];
            }
            if panels == MAX_PANELS {
                block_sums_out[out + 2u * apart + v] = sums.run2[v];
                block_sums_out[out + 3u * apart + v] = sums.run3[v];
            }
        }
    }
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_panels4(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), CHUNK_QUARTETS, BACKWARD_LANES, MAX_PANELS);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_panels2(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), CHUNK_QUARTETS, BACKWARD_LANES, 2u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_words(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), CHUNK_QUARTETS, 1u, 1u);
}

@compute @workgroup_size(WORKGROUP_SIZE)
fn bias_activation_backward_vectors(
    @builtin(workgroup_id) workgroup: vec3<u32>,
    @builtin(num_workgroups) workgroups: vec3<u32>,
    @builtin(local_invocation_index) local: u32,
) {
    backward_block(element_index(workgroup, workgroups, local), 1u, 1u, 1u);
}
