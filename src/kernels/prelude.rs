//! The WGSL prelude of every kernel module, generated from the Rust
//! constants below: every fact the host and the shaders share is defined
//! here once (WGSL refers to it by name) and never typed twice.

use std::fmt::Write as _;

use super::params::Params;
use super::{ElementTypes, Kernel, Kind, Layout};
use crate::cpu::CANONICAL_NAN_BITS;
use crate::dtype::{DType, VECTOR_BYTES};
use crate::pipeline::KernelShape;

/// Elements of one chunk of an element-wise kernel: one mask word, and
/// eight 16-byte vector loads of f32 or four of a 16-bit type.
pub(crate) const CHUNK_ELEMENTS: u64 = 32;

/// Elements of a *quartet*: the four lanes every rule of the shaders takes
/// at once (`vec4<u32>`).
const QUARTET_ELEMENTS: u64 = 4;

/// Quartets of one chunk, as the fused backward's vector kernels step
/// through it whatever the element type.
const CHUNK_QUARTETS: u64 = CHUNK_ELEMENTS / QUARTET_ELEMENTS;

/// The largest workgroup a [`KernelShape`] may ask for: WebGPU's default
/// `max_compute_invocations_per_workgroup`.
pub(crate) const MAX_WORKGROUP_SIZE: u32 = 256;

/// Threads per workgroup of the bias-gradient kernels (the fused backward's
/// two passes). Their summation order does not depend on it: each
/// invocation sums its own rows. The element-wise kernels follow a
/// [`KernelShape`](crate::KernelShape) instead.
pub const WORKGROUP_SIZE: u32 = 256;

/// The fewest rows of one block of the fused backward's first pass, where
/// one invocation sums each of its columns over the block's rows in
/// sequence, and the second pass adds the blocks in order
/// ([`bias_gradient_error_bound`](crate::bias_gradient_error_bound) is
/// written in terms of the blocks).
///
/// 64 rather than 32: the second pass then reads half the block sums, which
/// measured the fused backward at 1.12 to 1.22x the backward from the mask
/// on lavapipe instead of 1.29 to 1.43 (benches/README.md); on 2^24
/// elements of 1024 columns there are still 2048 invocations.
pub(crate) const MIN_ROWS_PER_BLOCK: usize = 64;

/// The most row blocks the fused backward's second pass adds per column;
/// taller tensors take longer blocks. lavapipe and llvmpipe end an
/// invocation's loops after 65535 iterations in all (a guard of their
/// compiler against endless loops: seen as a `db` of only the first 65535
/// blocks of a 6M-row tensor), so every loop stays well under that.
pub(crate) const MAX_ROW_BLOCKS: usize = 32768;

/// Neighbouring invocations of the fused backward's panel kernels
/// (`bias_backward_vectors.wgsl`) that cover one contiguous run of a row
/// together: one AVX2 register of 32-bit lanes, as CPU adapters run them.
pub(crate) const BACKWARD_LANES: usize = 8;

/// The most runs of a row one invocation of the fused backward steps
/// through, each with its own sums.
pub(crate) const MAX_PANELS: usize = 4;

/// Columns the uniform bias array of `bias_uniform.wgsl` holds: 64 KiB, the
/// smallest `max_uniform_buffer_binding_size` WebGPU allows.
pub(crate) const UNIFORM_BIAS_COLUMNS: usize = 16384;

/// The names of the pipeline-overridable constants.
const WORKGROUP_SIZE_OVERRIDE: &str = "WORKGROUP_SIZE";
const CHUNKS_PER_INVOCATION_OVERRIDE: &str = "CHUNKS_PER_INVOCATION";
const KIND_OVERRIDE: &str = "KIND";

/// How a kernel holds elements of a [`DType`]: the WGSL type of a quartet
/// (four elements), and the prefixes of its functions in
/// `shaders/dtypes.wgsl`.
struct Storage {
    quartet: &'static str,
    /// `PREFIX_unpack4`, `PREFIX_pack4`, `PREFIX_quartet`,
    /// `PREFIX_with_quartet`, `PREFIX_word_lane`.
    packing: &'static str,
    /// `PREFIX_lanes_to_f32`, `PREFIX_lanes_from_f32`.
    conversions: &'static str,
    /// The lane of +infinity: lanes above it, sign cleared, are NaN.
    lane_infinity: u32,
}

fn storage(dtype: DType) -> Storage {
    match dtype {
        DType::F32 => Storage {
            quartet: "vec4<u32>",
            packing: "f32",
            conversions: "f32",
            lane_infinity: 0x7f80_0000,
        },
        DType::F16 => Storage {
            quartet: "vec2<u32>",
            packing: "half",
            conversions: "f16",
            lane_infinity: 0x7c00 << 16,
        },
        DType::BF16 => Storage {
            quartet: "vec2<u32>",
            packing: "half",
            conversions: "bf16",
            lane_infinity: 0x7f80 << 16,
        },
    }
}

/// The lane (`shaders/dtypes.wgsl`) of a `dtype` value's `bits`, as
/// [`DType::bits_of`] returns them: 16-bit values sit in the top half.
pub(crate) fn lane_of(dtype: DType, bits: u32) -> u32 {
    if dtype.size_bytes() == 2 {
        bits << 16
    } else {
        bits
    }
}

/// Elements of one 16-byte `Vector` of `dtype`.
fn vector_elements(dtype: DType) -> u64 {
    VECTOR_BYTES / dtype.size_bytes()
}

/// The prelude's element-type declarations for `types`.
fn element_types(types: ElementTypes) -> String {
    let data = storage(types.data);
    let source = storage(types.source);
    let data_elements = vector_elements(types.data);
    format!(
        "alias Vector = vec4<u32>;\n\
         alias Quartet = {quartet};\n\
         const VECTOR_ELEMENTS: u32 = {vector_elements}u;\n\
         const VECTOR_QUARTETS: u32 = {vector_quartets}u;\n\
         const SOURCE_VECTOR_ELEMENTS: u32 = {source_vector_elements}u;\n\
         const SOURCE_VECTOR_QUARTETS: u32 = {source_vector_quartets}u;\n\
         const CHUNK_VECTORS: u32 = {chunk_vectors}u;\n\
         const LANE_INFINITY: u32 = {infinity:#010x}u;\n\
         const ELEMENTS_PER_WORD: u32 = {per_word}u;\n\
         fn word_lane(word: u32, element: u32) -> u32 {{ return {packing}_word_lane(word, element); }}\n\
         fn quartet(v: Vector, q: u32) -> vec4<u32> {{ return {packing}_quartet(v, q); }}\n\
         fn with_quartet(v: Vector, q: u32, lanes: vec4<u32>) -> Vector {{ return {packing}_with_quartet(v, q, lanes); }}\n\
         fn unpack_quartet(v: Quartet) -> vec4<u32> {{ return {packing}_unpack4(v); }}\n\
         fn pack_quartet(lanes: vec4<u32>) -> Quartet {{ return {packing}_pack4(lanes); }}\n\
         fn lanes_to_f32(lanes: vec4<u32>) -> vec4<u32> {{ return {conversions}_lanes_to_f32(lanes); }}\n\
         fn lanes_from_f32(f: vec4<u32>) -> vec4<u32> {{ return {conversions}_lanes_from_f32(f); }}\n\
         fn source_quartet(v: Vector, q: u32) -> vec4<u32> {{ return {source_packing}_quartet(v, q); }}\n\
         fn source_lanes_to_f32(lanes: vec4<u32>) -> vec4<u32> {{ return {source_conversions}_lanes_to_f32(lanes); }}\n",
        quartet = data.quartet,
        vector_elements = data_elements,
        vector_quartets = data_elements / QUARTET_ELEMENTS,
        source_vector_elements = vector_elements(types.source),
        source_vector_quartets = vector_elements(types.source) / QUARTET_ELEMENTS,
        chunk_vectors = CHUNK_ELEMENTS / data_elements,
        infinity = data.lane_infinity,
        per_word = 4 / types.data.size_bytes(),
        packing = data.packing,
        conversions = data.conversions,
        source_packing = source.packing,
        source_conversions = source.conversions,
    )
}

/// The prelude's text for a module of `types`.
pub(crate) fn source(types: ElementTypes) -> String {
    let mut wgsl = String::from(
        "// Generated by src/kernels/prelude.rs from the Rust definitions; edit them there.\n\n",
    );
    let line = &mut |text: String| {
        wgsl.push_str(&text);
        wgsl.push('\n');
    };
    // Threads per workgroup and chunks per invocation are set per adapter
    // (`KernelShape`); the kind per pipeline.
    line(format!(
        "override {WORKGROUP_SIZE_OVERRIDE}: u32 = {}u;",
        KernelShape::GPU.workgroup_size
    ));
    line(format!(
        "override {CHUNKS_PER_INVOCATION_OVERRIDE}: u32 = {}u;",
        KernelShape::GPU.chunks_per_invocation
    ));
    line(format!("override {KIND_OVERRIDE}: u32 = 0u;"));
    line(format!(
        "const MAX_WORKGROUP_SIZE: u32 = {MAX_WORKGROUP_SIZE}u;"
    ));
    line(format!("const CHUNK_ELEMENTS: u32 = {CHUNK_ELEMENTS}u;"));
    line(format!("const CHUNK_QUARTETS: u32 = {CHUNK_QUARTETS}u;"));
    line(format!("const BACKWARD_LANES: u32 = {BACKWARD_LANES}u;"));
    line(format!("const MAX_PANELS: u32 = {MAX_PANELS}u;"));
    line(format!(
        "const UNIFORM_BIAS_VECTORS: u32 = {}u;",
        UNIFORM_BIAS_COLUMNS / 4
    ));
    line(format!(
        "const CANONICAL_NAN: u32 = {CANONICAL_NAN_BITS:#010x}u;"
    ));
    for kind in Kind::all() {
        line(format!(
            "const {}: u32 = {}u;",
            kind_constant(kind),
            kind.id
        ));
    }
    line(format!(
        "// Elements: {} data{}.",
        types.data,
        if types.source == types.data {
            String::new()
        } else {
            format!(", cast from {}", types.source)
        }
    ));
    line(element_types(types));
    line(String::new());
    line(Params::WGSL.to_string());
    line(dispatch(
        "activate4(params: Params, bits: vec4<u32>) -> vec4<u32>",
        "activate4(params, bits)",
        &Kind::all(),
    ));
    line(dispatch(
        "mask_bit4(params: Params, bits: vec4<u32>) -> vec4<bool>",
        "mask_bit4(params, bits)",
        &Kind::masked(),
    ));
    line(dispatch(
        "backward4(params: Params, bit: vec4<bool>, dy: vec4<u32>) -> vec4<u32>",
        "backward4(params, bit, dy)",
        &Kind::masked(),
    ));
    line(gradient_dispatch());
    line(dispatch(
        "output_gradient4(params: Params, y: vec4<u32>, dy: vec4<u32>) -> vec4<u32>",
        "output_gradient4(params, y, dy)",
        &Kind::from_output(),
    ));
    wgsl
}

/// `gradient4(params, x, dy)`: `dx` from the forward's input for every
/// activation's kind; the ReLU family's through its mask bit, a smooth
/// one's `NAME_gradient4`.
fn gradient_dispatch() -> String {
    let mut wgsl = format!(
        "fn gradient4(params: Params, x: vec4<u32>, dy: vec4<u32>) -> vec4<u32> {{\n    switch {KIND_OVERRIDE} {{\n"
    );
    for kind in Kind::activations() {
        let name = kind.name;
        let call = if kind.saves_mask {
            format!("{name}_backward4(params, {name}_mask_bit4(params, x), dy)")
        } else {
            format!("{name}_gradient4(params, x, dy)")
        };
        let _ = writeln!(
            wgsl,
            "        case {}: {{ return {call}; }}",
            kind_constant(kind)
        );
    }
    let _ = writeln!(
        wgsl,
        "        default: {{ return vec4(CANONICAL_NAN); }}\n    }}\n}}"
    );
    wgsl
}

fn kind_constant(kind: Kind) -> String {
    format!("KIND_{}", kind.name.to_uppercase())
}

/// `fn SIGNATURE` calling `KINDNAME_CALL` for the kernel's `KIND`. The host
/// compiles only the kinds listed here, so the default arm never runs; it
/// returns NaN (or no bit) everywhere rather than another kind's result.
fn dispatch(signature: &str, call: &str, kinds: &[Kind]) -> String {
    let mut wgsl = format!("fn {signature} {{\n    switch {KIND_OVERRIDE} {{\n");
    for &kind in kinds {
        let _ = writeln!(
            wgsl,
            "        case {}: {{ return {}_{call}; }}",
            kind_constant(kind),
            kind.name
        );
    }
    let unreachable = if signature.ends_with("vec4<bool>") {
        "vec4(false)"
    } else {
        "vec4(CANONICAL_NAN)"
    };
    let _ = writeln!(
        wgsl,
        "        default: {{ return {unreachable}; }}\n    }}\n}}"
    );
    wgsl
}

/// The values of the overridable constants for `kernel`'s pipeline of
/// `kind`, element-wise kernels in `shape`.
pub(crate) fn pipeline_constants(
    kernel: Kernel,
    shape: KernelShape,
    kind: Kind,
) -> [(&'static str, f64); 3] {
    let shape = effective_shape(kernel, shape);
    [
        (WORKGROUP_SIZE_OVERRIDE, f64::from(shape.workgroup_size)),
        (
            CHUNKS_PER_INVOCATION_OVERRIDE,
            f64::from(shape.chunks_per_invocation),
        ),
        (KIND_OVERRIDE, f64::from(kind.id)),
    ]
}

/// The shape `kernel` runs in: `shape` for the element-wise kernels, the
/// fixed [`WORKGROUP_SIZE`] for the bias-gradient kernels, whose grid the
/// host counts in invocations of that size.
pub(crate) fn effective_shape(kernel: Kernel, shape: KernelShape) -> KernelShape {
    match kernel.layout {
        Layout::Elementwise => shape,
        Layout::Rows => KernelShape {
            workgroup_size: WORKGROUP_SIZE,
            chunks_per_invocation: 1,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prelude_declares_every_kind_and_dispatches_to_its_rules() {
        let wgsl = source(ElementTypes::of(DType::F32));
        for kind in Kind::all() {
            assert!(wgsl.contains(&format!(
                "const {}: u32 = {}u;",
                kind_constant(kind),
                kind.id
            )));
            assert!(wgsl.contains(&format!("return {}_activate4(params, bits);", kind.name)));
        }
        for kind in Kind::masked() {
            assert!(wgsl.contains(&format!("return {}_backward4(params, bit, dy);", kind.name)));
        }
        for kind in Kind::activations().into_iter().filter(|k| !k.saves_mask) {
            assert!(wgsl.contains(&format!("return {}_gradient4(params, x, dy);", kind.name)));
        }
        assert!(wgsl.contains("const CANONICAL_NAN: u32 = 0x7fc00000u;"));
    }

    #[test]
    fn lane_infinity_is_the_lane_of_each_types_infinity() {
        for dtype in DType::ALL {
            let bits = dtype.bits_of(f32::INFINITY);
            assert_eq!(
                storage(dtype).lane_infinity,
                lane_of(dtype, bits),
                "{dtype}"
            );
        }
    }

    #[test]
    fn vectors_and_quartets_hold_what_the_prelude_says() {
        for dtype in DType::ALL {
            let wgsl = source(ElementTypes::of(dtype));
            let elements = VECTOR_BYTES / dtype.size_bytes();
            // A quartet's words: four elements of `dtype` in u32s.
            let quartet_words = QUARTET_ELEMENTS * dtype.size_bytes() / 4;
            for line in [
                format!("alias Quartet = vec{quartet_words}<u32>;"),
                format!("const VECTOR_ELEMENTS: u32 = {elements}u;"),
                format!(
                    "const VECTOR_QUARTETS: u32 = {}u;",
                    elements / QUARTET_ELEMENTS
                ),
                format!("const CHUNK_VECTORS: u32 = {}u;", CHUNK_ELEMENTS / elements),
            ] {
                assert!(wgsl.contains(&line), "{dtype}: {line}");
            }
            assert_eq!(storage(dtype).quartet, format!("vec{quartet_words}<u32>"));
        }
    }
}
