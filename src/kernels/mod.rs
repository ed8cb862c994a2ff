//! The kernel table: every kernel the crate dispatches, described once.
//!
//! A [`KernelSpec`] names the WGSL parts its module is composed of, its entry
//! point, its bindings (index and WGSL name, in the order the host binds its
//! operands), the activation kinds it is compiled for and how its work is
//! laid out. Everything else follows from the table: the pipeline cache
//! compiles it ([`Pipelines`](crate::pipeline::Pipelines)), bind group
//! layouts come from the shaders (wgpu's automatic layout), `precompile`
//! walks it, and a test checks each binding against naga's reflection of the
//! composed module.
//!
//! Each module is: the generated [`prelude`] (constants, `Params`, the
//! per-kind dispatch, the element types), `shaders/common.wgsl`,
//! `shaders/dtypes.wgsl`, `shaders/activations.wgsl`, then the kernel's own
//! parts. A module is compiled per [`ElementTypes`] the kernel serves.

pub(crate) mod params;
pub(crate) mod prelude;

use crate::activation::{Activation, Saved};
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::pipeline::{KernelLayout, KernelVariant, MaskWords};

/// One WGSL file under `shaders/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Part {
    pub name: &'static str,
    pub source: &'static str,
}

macro_rules! part {
    ($file:literal) => {
        Part {
            name: $file,
            source: include_str!(concat!("../../shaders/", $file)),
        }
    };
}

const COMMON: Part = part!("common.wgsl");
const DTYPES: Part = part!("dtypes.wgsl");
const ACTIVATIONS: Part = part!("activations.wgsl");
const SMOOTH: Part = part!("smooth.wgsl");
const CHUNK_LOOP: Part = part!("chunk_loop.wgsl");
const COALESCED_LOOP: Part = part!("coalesced_loop.wgsl");
const MASK_OUT: Part = part!("mask_out.wgsl");
const NO_MASK_OUT: Part = part!("no_mask_out.wgsl");
const MASK_WORDS_NONE: Part = part!("mask_words_none.wgsl");
const MASK_WORDS_WORKGROUP: Part = part!("mask_words_workgroup.wgsl");
const MASK_WORDS_SUBGROUP: Part = part!("mask_words_subgroup.wgsl");
const STATELESS_CHUNK: Part = part!("stateless_chunk.wgsl");
const IDENTITY_PART: Part = part!("identity.wgsl");
const RELU: Part = part!("relu.wgsl");
const RELU_IN_PLACE: Part = part!("relu_in_place.wgsl");
const FORWARD: Part = part!("forward.wgsl");
const BACKWARD_FROM_MASK: Part = part!("backward_from_mask.wgsl");
const BACKWARD_FROM_SAVED: Part = part!("backward_from_saved.wgsl");
const FROM_INPUT: Part = part!("from_input.wgsl");
const FROM_OUTPUT: Part = part!("from_output.wgsl");
const BIAS_STORAGE: Part = part!("bias_storage.wgsl");
const BIAS_UNIFORM: Part = part!("bias_uniform.wgsl");
const BIAS_FORWARD: Part = part!("bias_forward.wgsl");
const BIAS_BACKWARD: Part = part!("bias_backward.wgsl");
const BIAS_BACKWARD_VECTORS: Part = part!("bias_backward_vectors.wgsl");
const BIAS_GRADIENT: Part = part!("bias_gradient_sum.wgsl");
const CAST_PART: Part = part!("cast.wgsl");
const GRADIENT_OUT: Part = part!("gradient_out.wgsl");
const GRADIENT_FROM_MASK: Part = part!("gradient_from_mask.wgsl");
const GRADIENT_GIVEN: Part = part!("gradient_given.wgsl");
const PREACTIVATION_OUT: Part = part!("preactivation_out.wgsl");
const NO_PREACTIVATION_OUT: Part = part!("no_preactivation_out.wgsl");
const NO_GRADIENT_OUT: Part = part!("no_gradient_out.wgsl");
const MERGE_LOW_HALF_PART: Part = part!("merge_low_half.wgsl");

/// Every file under `shaders/`, each in at least one kernel's module (a test
/// checks both directions against the directory).
#[cfg(test)]
pub(crate) const PARTS: &[Part] = &[
    COMMON,
    DTYPES,
    SMOOTH,
    ACTIVATIONS,
    CHUNK_LOOP,
    COALESCED_LOOP,
    MASK_OUT,
    NO_MASK_OUT,
    MASK_WORDS_NONE,
    MASK_WORDS_WORKGROUP,
    MASK_WORDS_SUBGROUP,
    STATELESS_CHUNK,
    IDENTITY_PART,
    RELU,
    RELU_IN_PLACE,
    FORWARD,
    BACKWARD_FROM_MASK,
    BACKWARD_FROM_SAVED,
    FROM_INPUT,
    FROM_OUTPUT,
    BIAS_STORAGE,
    BIAS_UNIFORM,
    BIAS_FORWARD,
    BIAS_BACKWARD,
    BIAS_BACKWARD_VECTORS,
    BIAS_GRADIENT,
    CAST_PART,
    GRADIENT_OUT,
    GRADIENT_FROM_MASK,
    GRADIENT_GIVEN,
    PREACTIVATION_OUT,
    NO_PREACTIVATION_OUT,
    NO_GRADIENT_OUT,
    MERGE_LOW_HALF_PART,
];

/// The element types a kernel module is compiled for: its data's, and the
/// type a cast reads (the data's for every other kernel).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ElementTypes {
    pub data: DType,
    pub source: DType,
}

impl ElementTypes {
    /// Data of `dtype`, nothing cast.
    pub const fn of(dtype: DType) -> Self {
        Self {
            data: dtype,
            source: dtype,
        }
    }

    /// A cast from `source` to `data`.
    pub const fn cast(source: DType, data: DType) -> Self {
        Self { data, source }
    }
}

/// Which element types a kernel serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Types {
    /// f32 only.
    F32,
    /// Every [`DType`], the same for all its data.
    Every,
    /// Every pair of different types: a cast.
    Casts,
}

/// Which activation kinds a kernel is compiled for (the `KIND` constant).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kinds {
    /// None: the kernel applies no activation, or only relu; compiled once.
    Fixed,
    /// Every activation of [`Activation::examples`].
    Activations,
    /// The activations that save a mask (the ReLU family): the kernels that
    /// read or write one.
    MaskActivations,
    /// The activations with a backward from their output (sigmoid, tanh).
    OutputActivations,
    /// Every activation, and the identity (the bias add alone).
    ActivationsAndIdentity,
}

/// How a kernel spreads its work, and so how its operands are bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Element-wise: 32-element chunks, the workgroup size and chunks per
    /// invocation of the device's [`KernelShape`](crate::KernelShape), walked
    /// by `chunk_loop.wgsl` or `coalesced_loop.wgsl` as the device's
    /// [`KernelLayout`](crate::KernelLayout) says; data bound as whole
    /// 16-byte vectors.
    Elementwise,
    /// Workgroups of [`prelude::WORKGROUP_SIZE`] invocations over row blocks
    /// and columns (the bias-gradient kernels); data bound exactly.
    Rows,
}

/// One kernel: its module, entry point and bindings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct KernelSpec {
    /// Unique; the pipeline's label and the name errors use.
    pub name: &'static str,
    /// The kernel's own parts, composed after the prelude, common.wgsl and
    /// activations.wgsl.
    pub parts: &'static [Part],
    pub entry_point: &'static str,
    /// `(binding index in group 0, WGSL variable)`, in the order the host
    /// passes its operands.
    pub bindings: &'static [(u32, &'static str)],
    pub kinds: Kinds,
    pub types: Types,
    pub layout: Layout,
}

/// A kernel of the table.
pub(crate) type Kernel = &'static KernelSpec;

pub(crate) static IDENTITY: KernelSpec = KernelSpec {
    name: "identity",
    parts: &[IDENTITY_PART, STATELESS_CHUNK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (1, "y")],
    kinds: Kinds::Fixed,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static RELU_FORWARD: KernelSpec = KernelSpec {
    name: "relu_forward",
    parts: &[RELU, STATELESS_CHUNK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (1, "y")],
    kinds: Kinds::Fixed,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static RELU_FORWARD_IN_PLACE: KernelSpec = KernelSpec {
    name: "relu_forward_in_place",
    parts: &[RELU_IN_PLACE, STATELESS_CHUNK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "xy")],
    kinds: Kinds::Fixed,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static ACTIVATION_FORWARD: KernelSpec = KernelSpec {
    name: "activation_forward",
    parts: &[FORWARD, STATELESS_CHUNK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (1, "y"), (2, "params")],
    kinds: Kinds::Activations,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static ACTIVATION_FORWARD_MASK: KernelSpec = KernelSpec {
    name: "activation_forward_mask",
    parts: &[FORWARD, STATELESS_CHUNK, MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (1, "y"), (2, "params"), (3, "mask_out")],
    kinds: Kinds::MaskActivations,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static ACTIVATION_BACKWARD_FROM_MASK: KernelSpec = KernelSpec {
    name: "activation_backward_from_mask",
    parts: &[BACKWARD_FROM_MASK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "dy"), (1, "mask_in"), (2, "dx"), (3, "params")],
    kinds: Kinds::MaskActivations,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static ACTIVATION_BACKWARD_FROM_INPUT: KernelSpec = KernelSpec {
    name: "activation_backward_from_input",
    parts: &[
        BACKWARD_FROM_SAVED,
        FROM_INPUT,
        STATELESS_CHUNK,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    entry_point: "elementwise",
    bindings: &[(0, "dy"), (1, "saved"), (2, "dx"), (3, "params")],
    kinds: Kinds::Activations,
    types: Types::Every,
    layout: Layout::Elementwise,
};

/// [`ACTIVATION_BACKWARD_FROM_INPUT`] from the forward's output (sigmoid,
/// tanh).
pub(crate) static ACTIVATION_BACKWARD_FROM_OUTPUT: KernelSpec = KernelSpec {
    name: "activation_backward_from_output",
    parts: &[
        BACKWARD_FROM_SAVED,
        FROM_OUTPUT,
        STATELESS_CHUNK,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    kinds: Kinds::OutputActivations,
    ..ACTIVATION_BACKWARD_FROM_INPUT
};

pub(crate) static BIAS_ACTIVATION_FORWARD: KernelSpec = KernelSpec {
    name: "bias_activation_forward",
    parts: &[
        BIAS_STORAGE,
        BIAS_FORWARD,
        NO_PREACTIVATION_OUT,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (4, "b"), (1, "y"), (2, "params")],
    kinds: Kinds::ActivationsAndIdentity,
    types: Types::Every,
    layout: Layout::Elementwise,
};

pub(crate) static BIAS_ACTIVATION_FORWARD_MASK: KernelSpec = KernelSpec {
    name: "bias_activation_forward_mask",
    parts: &[
        BIAS_STORAGE,
        BIAS_FORWARD,
        NO_PREACTIVATION_OUT,
        MASK_OUT,
        CHUNK_LOOP,
    ],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (4, "b"), (1, "y"), (2, "params"), (3, "mask_out")],
    kinds: Kinds::MaskActivations,
    types: Types::Every,
    layout: Layout::Elementwise,
};

/// [`BIAS_ACTIVATION_FORWARD`] reading the bias from a uniform buffer (CPU
/// adapters gather uniform reads into vectors).
pub(crate) static BIAS_ACTIVATION_FORWARD_UNIFORM_BIAS: KernelSpec = KernelSpec {
    name: "bias_activation_forward (uniform bias)",
    parts: &[
        BIAS_UNIFORM,
        BIAS_FORWARD,
        NO_PREACTIVATION_OUT,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    ..BIAS_ACTIVATION_FORWARD
};

/// [`BIAS_ACTIVATION_FORWARD_MASK`] reading the bias from a uniform buffer.
pub(crate) static BIAS_ACTIVATION_FORWARD_MASK_UNIFORM_BIAS: KernelSpec = KernelSpec {
    name: "bias_activation_forward_mask (uniform bias)",
    parts: &[
        BIAS_UNIFORM,
        BIAS_FORWARD,
        NO_PREACTIVATION_OUT,
        MASK_OUT,
        CHUNK_LOOP,
    ],
    ..BIAS_ACTIVATION_FORWARD_MASK
};

/// [`BIAS_ACTIVATION_FORWARD`] that also saves the pre-activation `z = x +
/// b` (a smooth activation's fused backward reads it).
pub(crate) static BIAS_ACTIVATION_FORWARD_PREACTIVATION: KernelSpec = KernelSpec {
    name: "bias_activation_forward_preactivation",
    parts: &[
        BIAS_STORAGE,
        BIAS_FORWARD,
        PREACTIVATION_OUT,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    bindings: &[(0, "x"), (4, "b"), (1, "y"), (2, "params"), (5, "z")],
    kinds: Kinds::Activations,
    ..BIAS_ACTIVATION_FORWARD
};

/// [`BIAS_ACTIVATION_FORWARD_PREACTIVATION`] reading the bias from a
/// uniform buffer.
pub(crate) static BIAS_ACTIVATION_FORWARD_PREACTIVATION_UNIFORM_BIAS: KernelSpec = KernelSpec {
    name: "bias_activation_forward_preactivation (uniform bias)",
    parts: &[
        BIAS_UNIFORM,
        BIAS_FORWARD,
        PREACTIVATION_OUT,
        NO_MASK_OUT,
        CHUNK_LOOP,
    ],
    ..BIAS_ACTIVATION_FORWARD_PREACTIVATION
};

/// The fused backward's first pass (`dx` and block sums) one element at a
/// time, for f32 rows that are not whole vectors.
pub(crate) static BIAS_ACTIVATION_BACKWARD: KernelSpec = KernelSpec {
    name: "bias_activation_backward",
    parts: &[BIAS_BACKWARD, GRADIENT_FROM_MASK, GRADIENT_OUT],
    entry_point: "bias_activation_backward",
    bindings: &[
        (0, "dy"),
        (1, "mask_in"),
        (2, "dx"),
        (3, "block_sums_out"),
        (4, "params"),
    ],
    kinds: Kinds::MaskActivations,
    types: Types::F32,
    layout: Layout::Rows,
};

/// [`BIAS_ACTIVATION_BACKWARD`]'s block sums without `dx`, for 16-bit rows
/// that are not whole vectors (the element-wise backward writes `dx`).
pub(crate) static BIAS_ACTIVATION_BACKWARD_SUMS: KernelSpec = KernelSpec {
    name: "bias_activation_backward (sums only)",
    parts: &[BIAS_BACKWARD, GRADIENT_FROM_MASK, NO_GRADIENT_OUT],
    bindings: &[
        (0, "dy"),
        (1, "mask_in"),
        (3, "block_sums_out"),
        (4, "params"),
    ],
    types: Types::Every,
    ..BIAS_ACTIVATION_BACKWARD
};

/// The block sums of a gradient already computed (the second pass's input
/// for a smooth activation's fused backward, whose `dx` the element-wise
/// backward writes from the saved pre-activation): `dy` binds that `dx`.
pub(crate) static COLUMN_BLOCK_SUMS: KernelSpec = KernelSpec {
    name: "column_block_sums",
    parts: &[BIAS_BACKWARD, GRADIENT_GIVEN, NO_GRADIENT_OUT],
    bindings: &[(0, "dy"), (3, "block_sums_out"), (4, "params")],
    kinds: Kinds::Fixed,
    types: Types::Every,
    ..BIAS_ACTIVATION_BACKWARD
};

/// [`BIAS_ACTIVATION_BACKWARD`] one vector of columns per invocation and
/// row, for rows of whole vectors.
pub(crate) static BIAS_ACTIVATION_BACKWARD_VECTORS: KernelSpec = KernelSpec {
    name: "bias_activation_backward_vectors",
    parts: &[BIAS_BACKWARD_VECTORS],
    entry_point: "bias_activation_backward_vectors",
    types: Types::Every,
    ..BIAS_ACTIVATION_BACKWARD
};

/// [`BIAS_ACTIVATION_BACKWARD`] 32 columns (eight `vec4`s, one mask word)
/// per invocation and row, for rows of whole mask words.
pub(crate) static BIAS_ACTIVATION_BACKWARD_WORDS: KernelSpec = KernelSpec {
    name: "bias_activation_backward_words",
    parts: &[BIAS_BACKWARD_VECTORS],
    entry_point: "bias_activation_backward_words",
    ..BIAS_ACTIVATION_BACKWARD_VECTORS
};

/// [`BIAS_ACTIVATION_BACKWARD_WORDS`] with neighbouring invocations
/// streaming contiguous runs of a row, two runs each per row, for rows of a
/// multiple of 512 columns.
pub(crate) static BIAS_ACTIVATION_BACKWARD_PANELS2: KernelSpec = KernelSpec {
    name: "bias_activation_backward_panels2",
    parts: &[BIAS_BACKWARD_VECTORS],
    entry_point: "bias_activation_backward_panels2",
    ..BIAS_ACTIVATION_BACKWARD_VECTORS
};

/// [`BIAS_ACTIVATION_BACKWARD_PANELS2`] with four runs each per row, for
/// rows of a multiple of 1024 columns.
pub(crate) static BIAS_ACTIVATION_BACKWARD_PANELS4: KernelSpec = KernelSpec {
    name: "bias_activation_backward_panels4",
    parts: &[BIAS_BACKWARD_VECTORS],
    entry_point: "bias_activation_backward_panels4",
    ..BIAS_ACTIVATION_BACKWARD_VECTORS
};

/// The fused backward's second pass: `db` from the block sums.
pub(crate) static BIAS_GRADIENT_SUM: KernelSpec = KernelSpec {
    name: "bias_gradient_sum",
    parts: &[BIAS_GRADIENT],
    entry_point: "bias_gradient_sum",
    bindings: &[(0, "block_sums_in"), (1, "db")],
    kinds: Kinds::Fixed,
    types: Types::F32,
    layout: Layout::Rows,
};

/// Element-type conversion: `y = x` as another [`DType`].
pub(crate) static CAST: KernelSpec = KernelSpec {
    name: "cast",
    parts: &[CAST_PART, STATELESS_CHUNK, NO_MASK_OUT, CHUNK_LOOP],
    entry_point: "elementwise",
    bindings: &[(0, "x"), (1, "y")],
    kinds: Kinds::Fixed,
    types: Types::Casts,
    layout: Layout::Elementwise,
};

/// The last element of an odd-length 16-bit view: one word's low half
/// replaced, its high half (the caller's) kept. Bits only, so compiled once.
pub(crate) static MERGE_LOW_HALF: KernelSpec = KernelSpec {
    name: "merge_low_half",
    parts: &[MERGE_LOW_HALF_PART],
    entry_point: "merge_low_half",
    bindings: &[(0, "staged"), (1, "view_words"), (2, "params")],
    kinds: Kinds::Fixed,
    types: Types::F32,
    layout: Layout::Rows,
};

/// Every kernel the crate dispatches.
pub(crate) static KERNELS: &[Kernel] = &[
    &IDENTITY,
    &RELU_FORWARD,
    &RELU_FORWARD_IN_PLACE,
    &ACTIVATION_FORWARD,
    &ACTIVATION_FORWARD_MASK,
    &ACTIVATION_BACKWARD_FROM_MASK,
    &ACTIVATION_BACKWARD_FROM_INPUT,
    &ACTIVATION_BACKWARD_FROM_OUTPUT,
    &BIAS_ACTIVATION_FORWARD,
    &BIAS_ACTIVATION_FORWARD_MASK,
    &BIAS_ACTIVATION_FORWARD_UNIFORM_BIAS,
    &BIAS_ACTIVATION_FORWARD_MASK_UNIFORM_BIAS,
    &BIAS_ACTIVATION_FORWARD_PREACTIVATION,
    &BIAS_ACTIVATION_FORWARD_PREACTIVATION_UNIFORM_BIAS,
    &BIAS_ACTIVATION_BACKWARD,
    &BIAS_ACTIVATION_BACKWARD_SUMS,
    &BIAS_ACTIVATION_BACKWARD_VECTORS,
    &BIAS_ACTIVATION_BACKWARD_WORDS,
    &BIAS_ACTIVATION_BACKWARD_PANELS2,
    &BIAS_ACTIVATION_BACKWARD_PANELS4,
    &BIAS_GRADIENT_SUM,
    &COLUMN_BLOCK_SUMS,
    &CAST,
    &MERGE_LOW_HALF,
];

impl KernelSpec {
    /// The kinds this kernel is compiled for.
    pub fn kinds(&self) -> Vec<Kind> {
        match self.kinds {
            Kinds::Fixed => vec![Kind::fixed()],
            Kinds::Activations => Kind::activations(),
            Kinds::MaskActivations => Kind::masked(),
            Kinds::OutputActivations => Kind::from_output(),
            Kinds::ActivationsAndIdentity => Kind::all(),
        }
    }

    /// The element types this kernel is compiled for.
    pub fn element_types(&self) -> Vec<ElementTypes> {
        match self.types {
            Types::F32 => vec![ElementTypes::of(DType::F32)],
            Types::Every => DType::ALL.into_iter().map(ElementTypes::of).collect(),
            Types::Casts => DType::ALL
                .into_iter()
                .flat_map(|source| {
                    DType::ALL
                        .into_iter()
                        .filter(move |&data| data != source)
                        .map(move |data| ElementTypes::cast(source, data))
                })
                .collect(),
        }
    }

    /// Errors with [`Error::UnsupportedDType`] unless this kernel serves `types`.
    pub fn check_types(&self, types: ElementTypes) -> Result<()> {
        if self.element_types().contains(&types) {
            Ok(())
        } else {
            Err(Error::UnsupportedDType {
                what: self.name,
                dtype: if types.data == DType::F32 {
                    types.source
                } else {
                    types.data
                },
            })
        }
    }

    /// The kernel's own parts in `variant`: an element-wise kernel in the
    /// coalesced layout runs `coalesced_loop.wgsl` instead of
    /// `chunk_loop.wgsl`, with the mask-word part for its mask (none, or
    /// the variant's; the subgroup one declares the mask binding itself).
    /// The kernel parts proper are the same in both layouts.
    pub fn parts(&self, variant: KernelVariant) -> Vec<Part> {
        if self.layout != Layout::Elementwise || variant.layout == KernelLayout::Chunked {
            return self.parts.to_vec();
        }
        let mut parts = Vec::with_capacity(self.parts.len() + 1);
        for &part in self.parts {
            if part == CHUNK_LOOP {
                parts.push(COALESCED_LOOP);
            } else if part == NO_MASK_OUT {
                parts.push(MASK_WORDS_NONE);
            } else if part == MASK_OUT {
                match variant.mask_words {
                    MaskWords::Workgroup => parts.extend([MASK_OUT, MASK_WORDS_WORKGROUP]),
                    MaskWords::Subgroup => parts.push(MASK_WORDS_SUBGROUP),
                }
            } else {
                parts.push(part);
            }
        }
        parts
    }

    /// The WGSL wgpu compiles for this kernel in `variant`, for `types`.
    pub fn module_source(&self, variant: KernelVariant, types: ElementTypes) -> String {
        // No `enable subgroups;` for the subgroup mask words: naga 30 refuses
        // the directive ("not yet implemented") and takes subgroup builtins
        // without it, under the SUBGROUP capability that wgpu grants a
        // device with the feature.
        let mut source = prelude::source(types);
        for part in [COMMON, DTYPES, SMOOTH, ACTIVATIONS]
            .iter()
            .chain(&self.parts(variant))
        {
            source.push_str(&format!("\n// ---- shaders/{} ----\n", part.name));
            source.push_str(part.source);
        }
        source
    }

    /// Whether the module in `variant` uses subgroup operations, and so
    /// needs [`wgpu::Features::SUBGROUP`].
    pub fn uses_subgroups(&self, variant: KernelVariant) -> bool {
        self.parts(variant).contains(&MASK_WORDS_SUBGROUP)
    }

    /// The names of the parts in `variant` and the element types, which
    /// identify the module (kernels with the same parts share one; the parts
    /// say the layout and the mask-word variant).
    pub fn module_key(
        &self,
        variant: KernelVariant,
        types: ElementTypes,
    ) -> (Vec<&'static str>, ElementTypes) {
        (
            self.parts(variant).iter().map(|part| part.name).collect(),
            types,
        )
    }
}

/// Which activation a kernel is compiled for: the WGSL pipeline constant
/// `KIND`, so each kernel has one pipeline per kind and the compiler drops
/// the other kinds' code (CPU adapters would run every arm of a branch they
/// cannot prove uniform).
///
/// A kind's number is its activation's place in [`Activation::examples`];
/// the identity (the bias add alone) comes after them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Kind {
    pub id: u32,
    /// The prefix of its rules in `shaders/activations.wgsl`.
    pub name: &'static str,
    /// Whether the activation saves a mask: it has `NAME_mask_bit4` and
    /// `NAME_backward4` rules; else it has `NAME_gradient4`.
    pub saves_mask: bool,
    /// Whether it goes backward from its output: `NAME_output_gradient4`.
    pub from_output: bool,
}

impl Kind {
    fn new(id: usize, activation: Activation) -> Kind {
        Kind {
            id: id as u32,
            name: activation.kind_name(),
            saves_mask: activation.saves() == Saved::Mask,
            from_output: activation.has_backward_from_output(),
        }
    }

    /// The kind of `activation`.
    pub fn of(activation: Activation) -> Result<Kind> {
        let variant = std::mem::discriminant(&activation);
        Activation::examples()
            .iter()
            .position(|example| std::mem::discriminant(example) == variant)
            .map(|id| Kind::new(id, activation))
            .ok_or_else(|| Error::UnsupportedActivation {
                activation: activation.to_string(),
            })
    }

    /// Every activation's kind, in [`Activation::examples`] order.
    pub fn activations() -> Vec<Kind> {
        Activation::examples()
            .into_iter()
            .enumerate()
            .map(|(id, activation)| Kind::new(id, activation))
            .collect()
    }

    /// The kinds of the activations that save a mask.
    pub fn masked() -> Vec<Kind> {
        Kind::activations()
            .into_iter()
            .filter(|kind| kind.saves_mask)
            .collect()
    }

    /// The kinds of the activations with a backward from their output.
    pub fn from_output() -> Vec<Kind> {
        Kind::activations()
            .into_iter()
            .filter(|kind| kind.from_output)
            .collect()
    }

    /// No activation: the bias add alone.
    pub fn identity() -> Kind {
        Kind {
            id: Activation::examples().len() as u32,
            name: "identity",
            saves_mask: false,
            from_output: false,
        }
    }

    /// The kind of kernels compiled once ([`Kinds::Fixed`]): relu's.
    pub fn fixed() -> Kind {
        Kind::activations()[0]
    }

    /// Every kind: the activations', then the identity.
    pub fn all() -> Vec<Kind> {
        let mut all = Kind::activations();
        all.push(Kind::identity());
        all
    }
}

/// One kernel module as wgpu receives it, for tools and tests that compile
/// or inspect the kernels offline (naga translation to every backend's
/// language, for instance).
#[derive(Clone, Debug)]
pub struct KernelModule {
    /// The kernel's name (unique).
    pub name: &'static str,
    /// The entry point wgpu is given.
    pub entry_point: &'static str,
    /// The element type of its data.
    pub dtype: DType,
    /// The element type it reads: `dtype` but for a cast.
    pub source_dtype: DType,
    /// The composed WGSL: the generated prelude, the shared files and the
    /// kernel's own parts.
    pub source: String,
    /// `(binding index in group 0, WGSL variable)` the entry point uses.
    pub bindings: &'static [(u32, &'static str)],
    /// The pipeline-overridable constants of each pipeline the crate builds
    /// from the module (one per activation kind), by name.
    pub pipelines: Vec<Vec<(&'static str, f64)>>,
    /// Whether the module uses subgroup operations: it needs
    /// [`wgpu::Features::SUBGROUP`] (naga's `SUBGROUP` capability) and, in
    /// each backend's language, a version that has them.
    pub subgroups: bool,
}

/// Every kernel module the crate compiles (one per kernel and element
/// types), with the constants of each of its pipelines, the element-wise
/// kernels in `shape` and `variant`.
///
/// ```
/// use wgpu_activations::{KernelShape, KernelVariant, kernel_modules};
/// let modules = kernel_modules(KernelShape::GPU, KernelVariant::CHUNKED);
/// assert!(modules.iter().any(|m| m.name == "activation_forward_mask"));
/// assert!(modules.iter().all(|m| m.source.contains("struct Params")));
/// ```
pub fn kernel_modules(shape: crate::KernelShape, variant: KernelVariant) -> Vec<KernelModule> {
    KERNELS
        .iter()
        .flat_map(|kernel| {
            kernel
                .element_types()
                .into_iter()
                .map(move |types| KernelModule {
                    name: kernel.name,
                    entry_point: kernel.entry_point,
                    dtype: types.data,
                    source_dtype: types.source,
                    source: kernel.module_source(variant, types),
                    subgroups: kernel.uses_subgroups(variant),
                    bindings: kernel.bindings,
                    pipelines: kernel
                        .kinds()
                        .into_iter()
                        .map(|kind| prelude::pipeline_constants(kernel, shape, kind).to_vec())
                        .collect(),
                })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn names_are_unique_and_every_shader_file_is_a_part() {
        let names: HashSet<_> = KERNELS.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), KERNELS.len());
        let used: HashSet<&str> = KernelVariant::all()
            .into_iter()
            .flat_map(|variant| KERNELS.iter().flat_map(move |k| k.parts(variant)))
            .map(|p| p.name)
            .chain([COMMON.name, DTYPES.name, SMOOTH.name, ACTIVATIONS.name])
            .collect();
        let listed: HashSet<&str> = PARTS.iter().map(|p| p.name).collect();
        assert_eq!(
            used, listed,
            "a part listed but used by no kernel, or the reverse"
        );
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
        let on_disk: HashSet<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".wgsl"))
            .collect();
        let listed: HashSet<String> = listed.iter().map(|s| s.to_string()).collect();
        assert_eq!(on_disk, listed, "shaders/ and PARTS differ");
    }

    #[test]
    fn coalesced_modules_swap_only_the_loop_and_the_mask_words() {
        let workgroup = KernelVariant {
            layout: KernelLayout::Coalesced,
            mask_words: MaskWords::Workgroup,
        };
        let subgroup = KernelVariant {
            mask_words: MaskWords::Subgroup,
            ..workgroup
        };
        for &kernel in KERNELS {
            let chunked = kernel.parts(KernelVariant::CHUNKED);
            assert_eq!(chunked, kernel.parts, "{}", kernel.name);
            for variant in [workgroup, subgroup] {
                let parts = kernel.parts(variant);
                let source = kernel.module_source(variant, ElementTypes::of(DType::F32));
                if kernel.layout == Layout::Rows {
                    assert_eq!(parts, kernel.parts, "{}", kernel.name);
                    assert!(!kernel.uses_subgroups(variant), "{}", kernel.name);
                    assert!(!source.contains("subgroup"), "{}", kernel.name);
                    continue;
                }
                assert!(!parts.contains(&CHUNK_LOOP), "{}", kernel.name);
                assert!(parts.contains(&COALESCED_LOOP), "{}", kernel.name);
                let kept: Vec<Part> = kernel
                    .parts
                    .iter()
                    .copied()
                    .filter(|p| ![CHUNK_LOOP, MASK_OUT, NO_MASK_OUT].contains(p))
                    .collect();
                let kept_now: Vec<Part> = parts
                    .iter()
                    .copied()
                    .filter(|p| kernel.parts.contains(p) && *p != MASK_OUT)
                    .collect();
                assert_eq!(kept, kept_now, "{}: the kernel's own parts", kernel.name);
                let masked = kernel.parts.contains(&MASK_OUT);
                let words = match (masked, variant.mask_words) {
                    (false, _) => MASK_WORDS_NONE,
                    (true, MaskWords::Workgroup) => MASK_WORDS_WORKGROUP,
                    (true, MaskWords::Subgroup) => MASK_WORDS_SUBGROUP,
                };
                assert!(parts.contains(&words), "{} {variant}", kernel.name);
                let shuffles = source.contains("subgroupShuffleXor(");
                assert_eq!(
                    shuffles,
                    words == MASK_WORDS_SUBGROUP,
                    "{} {variant}",
                    kernel.name
                );
                assert_eq!(
                    shuffles,
                    kernel.uses_subgroups(variant),
                    "{} {variant}",
                    kernel.name
                );
                assert_ne!(
                    kernel.module_key(variant, ElementTypes::of(DType::F32)),
                    kernel.module_key(KernelVariant::CHUNKED, ElementTypes::of(DType::F32)),
                    "{}: the module key names the variant",
                    kernel.name
                );
            }
        }
    }

    #[test]
    fn every_activation_has_its_own_kind() {
        for (id, activation) in Activation::examples().into_iter().enumerate() {
            let kind = Kind::of(activation).unwrap();
            assert_eq!(kind.id, id as u32, "{activation}");
            assert_eq!(kind.name, activation.kind_name());
        }
        let names: HashSet<_> = Kind::all().iter().map(|k| k.name).collect();
        assert_eq!(names.len(), Kind::all().len(), "two kinds share a name");
    }
}
