//! The ReLU family: which activation an op applies, and its parameter.

use std::fmt;

use crate::error::{Error, Result};

/// An activation of the ReLU family. The CPU reference
/// ([`cpu::activate`](crate::cpu::activate)) defines each one exactly,
/// NaN and -0.0 included.
///
/// | activation | forward | mask bit (derivative passes `dy`) | backward where the bit is 0 |
/// |---|---|---|---|
/// | `Relu` | `x <= 0 ? +0.0 : x` | `!(x <= 0)` (NaN: 1) | `+0.0` |
/// | `LeakyRelu { slope }` | `x <= 0 ? slope * x : x` | `!(x <= 0)` (NaN: 1) | `slope * dy` |
/// | `ClippedRelu { cap }` | `min(relu(x), cap)` | `0 < x < cap` (NaN: 1) | `+0.0` |
///
/// Parameters are runtime values passed to the kernels in a uniform buffer,
/// never baked into shader text: one compiled pipeline serves every slope
/// and cap.
///
/// ```
/// use wgpu_activations::{cpu, Activation};
/// let leaky = Activation::LeakyRelu { slope: 0.01 };
/// assert_eq!(cpu::activate(leaky, -2.0), -0.02);
/// let relu6 = Activation::relu6();
/// assert_eq!(cpu::activate(relu6, 7.5), 6.0);
/// assert!(Activation::LeakyRelu { slope: f32::NAN }.validate().is_err());
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Activation {
    /// `max(x, 0)` with the NaN and -0.0 rules of the crate's design.
    Relu,
    /// `x` where `x > 0`, else `slope * x`. `slope` must be finite.
    LeakyRelu {
        /// Multiplier of the non-positive side (commonly 0.01).
        slope: f32,
    },
    /// `min(relu(x), cap)`; ReLU6 is `cap = 6`. `cap` must be finite and > 0.
    ClippedRelu {
        /// The upper bound.
        cap: f32,
    },
}

impl Activation {
    /// Clipped ReLU with cap 6, as in MobileNet.
    pub fn relu6() -> Self {
        Activation::ClippedRelu { cap: 6.0 }
    }

    /// Errors with [`Error::InvalidParameter`] unless the parameter is legal:
    /// a finite slope, a finite positive cap.
    pub fn validate(self) -> Result<()> {
        match self {
            Activation::Relu => Ok(()),
            Activation::LeakyRelu { slope } if slope.is_finite() => Ok(()),
            Activation::LeakyRelu { slope } => Err(Error::InvalidParameter {
                name: "leaky relu slope",
                value: slope,
                requirement: "finite",
            }),
            Activation::ClippedRelu { cap } if cap.is_finite() && cap > 0.0 => Ok(()),
            Activation::ClippedRelu { cap } => Err(Error::InvalidParameter {
                name: "clipped relu cap",
                value: cap,
                requirement: "finite and greater than zero",
            }),
        }
    }

    /// Short name, e.g. `leaky_relu(0.01)`.
    pub fn name(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu({slope})"),
            Activation::ClippedRelu { cap } => write!(f, "clipped_relu({cap})"),
        }
    }
}

/// Which activation a kernel is compiled for: the WGSL pipeline constant
/// `KIND` (shaders/common.wgsl), so each kernel has one pipeline per kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Kind {
    Relu = 0,
    LeakyRelu = 1,
    ClippedRelu = 2,
    /// No activation: the bias add alone.
    Identity = 3,
}

impl Kind {
    pub fn of(activation: Activation) -> Self {
        match activation {
            Activation::Relu => Kind::Relu,
            Activation::LeakyRelu { .. } => Kind::LeakyRelu,
            Activation::ClippedRelu { .. } => Kind::ClippedRelu,
        }
    }
}

/// The uniform block every parameterised kernel reads: `Params` in
/// `shaders/common.wgsl`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub parameter: u32,
    pub cols: u32,
    pub tile_cols: u32,
    pub len: u32,
}

impl Params {
    /// The activation's parameter; the other fields zero.
    pub fn new(activation: Activation) -> Self {
        let parameter = match activation {
            Activation::Relu => 0,
            Activation::LeakyRelu { slope } => slope.to_bits(),
            Activation::ClippedRelu { cap } => cap.to_bits(),
        };
        Self {
            parameter,
            ..Self::default()
        }
    }
}
