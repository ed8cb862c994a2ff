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
    /// One value of every variant, in kernel-kind order: the list that
    /// `check`, `bench`, the tests and [`Gpu::precompile`](crate::Gpu::precompile)
    /// iterate. A variant's kernel kind is its place here, so a variant
    /// missing from it has no kernels: [`Error::UnsupportedActivation`] at
    /// its first use.
    ///
    /// ```
    /// use wgpu_activations::Activation;
    /// assert_eq!(Activation::examples()[0], Activation::Relu);
    /// ```
    pub fn examples() -> Vec<Activation> {
        vec![
            Activation::Relu,
            Activation::LeakyRelu { slope: 0.01 },
            Activation::ClippedRelu { cap: 6.0 },
        ]
    }

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

    /// The variant's name without its parameter, e.g. `leaky_relu`: also the
    /// prefix of its rules in `shaders/activations.wgsl`
    /// (`leaky_relu_activate4`, ...).
    pub fn kind_name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::LeakyRelu { .. } => "leaky_relu",
            Activation::ClippedRelu { .. } => "clipped_relu",
        }
    }

    /// The same variant with `parameter` instead of its own (unchecked: see
    /// [`validate`](Activation::validate)); a variant without a parameter
    /// is returned as it is.
    ///
    /// ```
    /// use wgpu_activations::Activation;
    /// let leaky = Activation::LeakyRelu { slope: 0.01 }.with_parameter(0.2);
    /// assert_eq!(leaky, Activation::LeakyRelu { slope: 0.2 });
    /// assert_eq!(Activation::Relu.with_parameter(0.2), Activation::Relu);
    /// ```
    pub fn with_parameter(self, parameter: f32) -> Activation {
        match self {
            Activation::Relu => Activation::Relu,
            Activation::LeakyRelu { .. } => Activation::LeakyRelu { slope: parameter },
            Activation::ClippedRelu { .. } => Activation::ClippedRelu { cap: parameter },
        }
    }

    /// Whether the activation's forward or backward does float arithmetic
    /// (the leaky multiply), where a GPU may flush subnormals to zero: the
    /// one deviation from the reference the checker then allows.
    pub fn does_arithmetic(self) -> bool {
        match self {
            Activation::LeakyRelu { .. } => true,
            Activation::Relu | Activation::ClippedRelu { .. } => false,
        }
    }

    /// The f32 the kernels read as the activation's parameter (its bits in
    /// `Params::parameter`); 0 for none.
    pub fn parameter(self) -> f32 {
        match self {
            Activation::Relu => 0.0,
            Activation::LeakyRelu { slope } => slope,
            Activation::ClippedRelu { cap } => cap,
        }
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
