//! Element types of tensors, and the sizes the kernels' bindings are
//! counted in.

/// The element type of a [`Tensor`](crate::Tensor).
///
/// Only `F32` exists yet; the kernels carry every value as its bit pattern,
/// and the host sizes every binding from [`DType::size_bytes`], so another
/// type adds a variant here and its kernels.
///
/// ```
/// use wgpu_activations::DType;
/// assert_eq!(DType::F32.size_bytes(), 4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DType {
    /// IEEE 754 binary32.
    F32,
}

impl DType {
    /// Bytes of one element.
    pub const fn size_bytes(self) -> u64 {
        match self {
            DType::F32 => 4,
        }
    }

    /// The name reports print, e.g. `f32`.
    pub const fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes of one word of a [`Mask`](crate::Mask): 32 elements' bits,
/// whatever the element type.
pub(crate) const MASK_WORD_BYTES: u64 = 4;

/// Bytes of the vectors the element-wise kernels load and store.
pub(crate) const VECTOR_BYTES: u64 = 16;
