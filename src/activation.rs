//! Which activation an op applies, its parameters, what it saves for the
//! backward pass, and the accuracy it is held to.

use std::fmt;

use crate::dtype::DType;
use crate::error::{Error, Result};

/// An activation: the ReLU family, exact, or a smooth one, held to a
/// stated accuracy bound.
///
/// **The ReLU family** (`Relu`, `LeakyRelu`, `ClippedRelu`) saves a 1-bit
/// mask for the backward pass ([`Saved::Mask`]). The CPU reference
/// ([`cpu::activate`](crate::cpu::activate)) defines each one exactly,
/// NaN and -0.0 included, and the kernels match it bit for bit.
///
/// | activation | forward | mask bit (derivative passes `dy`) | backward where the bit is 0 |
/// |---|---|---|---|
/// | `Relu` | `x <= 0 ? +0.0 : x` | `!(x <= 0)` (NaN: 1) | `+0.0` |
/// | `LeakyRelu { slope }` | `x <= 0 ? slope * x : x` | `!(x <= 0)` (NaN: 1) | `slope * dy` |
/// | `ClippedRelu { cap }` | `min(relu(x), cap)` | `0 < x < cap` (NaN: 1) | `+0.0` |
///
/// **The smooth activations** save their input (or, fused with a bias, the
/// pre-activation `z = x + b`; sigmoid and tanh may also go backward from
/// their output): [`Saved::Input`]. [`exact`](crate::exact) defines each
/// one and its derivative in f64, and the kernels compute them from their
/// own range-reduced approximations (`shaders/smooth.wgsl`), never the
/// backend's `exp`/`tanh`/`sin`, whose accuracy differs by driver. Each
/// result is within [`max_error_ulps`](Activation::max_error_ulps) of the
/// exact value. Special values:
///
/// | activation | `f(x)` | at -inf | at +inf | at -0.0 |
/// |---|---|---|---|---|
/// | `Sigmoid` | `1 / (1 + e^-x)` | +0 | 1 | 0.5 |
/// | `Tanh` | `tanh x` | -1 | 1 | -0.0 |
/// | `Silu` | `x * sigmoid(x)` | -0.0 | +inf | -0.0 |
/// | `Gelu` | `x / 2 * (1 + erf(x / sqrt 2))` | -0.0 | +inf | -0.0 |
/// | `GeluTanh` | `x / 2 * (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))` | -0.0 | +inf | -0.0 |
/// | `Softplus { beta, threshold }` | `t = beta * x` (f32); `t > threshold ? x : ln(1 + e^t) / beta` | +0 | +inf | `ln 2 / beta` |
/// | `Elu { alpha }` | `x > 0 ? x : alpha * (e^x - 1)` | `-alpha` | +inf | `alpha * -0.0` |
/// | `Sine { omega }` | `sin(omega * x)` (the f32 product) | NaN | NaN | `sin(omega * -0.0)` |
///
/// Every smooth activation passes a NaN input through with its payload;
/// a NaN it produces from a non-NaN input (sine of an infinity) is the
/// canonical NaN. Subnormal inputs are ordinary inputs: tanh, SiLU and the
/// GELUs of a subnormal are within the bound of `x`, `x / 2`, `x / 2`.
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
/// assert_eq!(Activation::Gelu.saves(), Saved::Input);
/// # use wgpu_activations::Saved;
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
    /// The logistic function `1 / (1 + e^-x)`.
    Sigmoid,
    /// The hyperbolic tangent.
    Tanh,
    /// SiLU (swish): `x * sigmoid(x)`.
    Silu,
    /// GELU, `x * Phi(x)` with the normal CDF through `erf` (PyTorch's
    /// default `gelu`).
    Gelu,
    /// GELU with the tanh approximation (PyTorch's `approximate='tanh'`).
    GeluTanh,
    /// Softplus with PyTorch's semantics: `ln(1 + e^(beta x)) / beta`, or
    /// `x` where `beta * x > threshold`. `beta` must be finite and > 0,
    /// `threshold` finite.
    Softplus {
        /// The sharpness (PyTorch's default 1).
        beta: f32,
        /// Above this `beta * x`, the result is `x` (PyTorch's default 20).
        threshold: f32,
    },
    /// ELU: `x` where `x > 0`, else `alpha * (e^x - 1)`. `alpha` must be
    /// finite.
    Elu {
        /// The negative side's scale (commonly 1).
        alpha: f32,
    },
    /// SIREN's sine, `sin(omega * x)` with the product rounded to f32 as
    /// PyTorch computes it. `omega` must be finite.
    Sine {
        /// The frequency `omega_0` (SIREN uses 30 for the first layer).
        omega: f32,
    },
}

/// The largest `|omega * x|` over which [`Activation::Sine`] is held to its
/// bound ([`Activation::bound_holds_at`]): the argument range its
/// reduction by pi/2 keeps the error within 2 ULP over. Beyond it the
/// result is finite and within [-1, 1] (the derivative within
/// `[-|omega|, |omega|]`), but not held to the bound.
pub const SINE_BOUNDED_RANGE: f32 = 4096.0;

/// What an activation's backward pass reads, as its forward pass saves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Saved {
    /// A 1-bit mask ([`Mask`](crate::Mask)): the ReLU family. Such an
    /// activation also goes backward from its input.
    Mask,
    /// The input `x` (or the pre-activation `z = x + b` of a fused bias
    /// op); sigmoid and tanh may also go backward from their output
    /// ([`Activation::has_backward_from_output`]).
    Input,
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
            Activation::Sigmoid,
            Activation::Tanh,
            Activation::Silu,
            Activation::Gelu,
            Activation::GeluTanh,
            Activation::Softplus {
                beta: 1.0,
                threshold: 20.0,
            },
            Activation::Elu { alpha: 1.0 },
            Activation::Sine { omega: 30.0 },
        ]
    }

    /// What the backward pass reads: a mask for the ReLU family, the input
    /// for the smooth activations.
    pub fn saves(self) -> Saved {
        match self {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::ClippedRelu { .. } => {
                Saved::Mask
            }
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Softplus { .. }
            | Activation::Elu { .. }
            | Activation::Sine { .. } => Saved::Input,
        }
    }

    /// Whether the activation is smooth: computed within a bound, not
    /// exactly ([`max_error_ulps`](Activation::max_error_ulps)).
    pub fn is_smooth(self) -> bool {
        self.saves() == Saved::Input
    }

    /// Whether the backward pass may read the forward's output instead of
    /// its input: sigmoid (`dx = dy * y * (1 - y)`) and tanh
    /// (`dx = dy * (1 - y^2)`), the usual choice for them.
    pub fn has_backward_from_output(self) -> bool {
        matches!(self, Activation::Sigmoid | Activation::Tanh)
    }

    /// Whether [`max_error_ulps`](Activation::max_error_ulps) holds at the
    /// input `x` (the forward's input, or a fused op's pre-activation):
    /// everywhere but for [`Activation::Sine`] where `|omega * x|` (the f32
    /// product) is finite and above [`SINE_BOUNDED_RANGE`].
    ///
    /// ```
    /// use wgpu_activations::Activation;
    /// let sine = Activation::Sine { omega: 30.0 };
    /// assert!(sine.bound_holds_at(100.0));
    /// assert!(!sine.bound_holds_at(1000.0));
    /// assert!(sine.bound_holds_at(f32::INFINITY)); // NaN, exactly
    /// assert!(Activation::Gelu.bound_holds_at(1e30));
    /// ```
    pub fn bound_holds_at(self, x: f32) -> bool {
        match self {
            Activation::Sine { omega } => {
                let t = omega * x;
                !t.is_finite() || t.abs() <= SINE_BOUNDED_RANGE
            }
            _ => true,
        }
    }

    /// The largest error of this activation's results in `dtype`, in units
    /// in the last place of the exact value (subnormal results in units of
    /// the type's smallest subnormal): 0 for the ReLU family, which is
    /// exact. `derivative` asks for the backward's `f'(x)` instead of the
    /// forward.
    ///
    /// | smooth, in | forward | derivative |
    /// |---|---|---|
    /// | f32 | 2 | 4 |
    /// | f16, bf16 | 1 | 1 |
    ///
    /// `accuracy` (the harness command) measures every activation against
    /// these bounds on every 16-bit input and a stratified sample of f32;
    /// README.md shows its figures.
    ///
    /// ```
    /// use wgpu_activations::{Activation, DType};
    /// assert_eq!(Activation::Gelu.max_error_ulps(DType::F32, false), 2);
    /// assert_eq!(Activation::Relu.max_error_ulps(DType::F32, true), 0);
    /// ```
    pub fn max_error_ulps(self, dtype: DType, derivative: bool) -> u32 {
        match (self.is_smooth(), dtype, derivative) {
            (false, _, _) => 0,
            (true, DType::F32, false) => 2,
            (true, DType::F32, true) => 4,
            (true, DType::F16 | DType::BF16, _) => 1,
        }
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
            Activation::Softplus { beta, .. } if !(beta.is_finite() && beta > 0.0) => {
                Err(Error::InvalidParameter {
                    name: "softplus beta",
                    value: beta,
                    requirement: "finite and greater than zero",
                })
            }
            Activation::Softplus { threshold, .. } if !threshold.is_finite() => {
                Err(Error::InvalidParameter {
                    name: "softplus threshold",
                    value: threshold,
                    requirement: "finite",
                })
            }
            Activation::Elu { alpha } if !alpha.is_finite() => Err(Error::InvalidParameter {
                name: "elu alpha",
                value: alpha,
                requirement: "finite",
            }),
            Activation::Sine { omega } if !omega.is_finite() => Err(Error::InvalidParameter {
                name: "sine omega",
                value: omega,
                requirement: "finite",
            }),
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh
            | Activation::Softplus { .. }
            | Activation::Elu { .. }
            | Activation::Sine { .. } => Ok(()),
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
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
            Activation::Silu => "silu",
            Activation::Gelu => "gelu",
            Activation::GeluTanh => "gelu_tanh",
            Activation::Softplus { .. } => "softplus",
            Activation::Elu { .. } => "elu",
            Activation::Sine { .. } => "sine",
        }
    }

    /// The same variant with `parameter` instead of its first one
    /// (unchecked: see [`validate`](Activation::validate)); a variant
    /// without a parameter is returned as it is.
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
            Activation::Softplus { threshold, .. } => Activation::Softplus {
                beta: parameter,
                threshold,
            },
            Activation::Elu { .. } => Activation::Elu { alpha: parameter },
            Activation::Sine { .. } => Activation::Sine { omega: parameter },
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh => self,
        }
    }

    /// Whether the ReLU-family activation's forward or backward does float
    /// arithmetic (the leaky multiply), where a GPU may flush subnormals to
    /// zero: the one deviation from the reference the checker allows the
    /// exact activations. False for the smooth ones, which are held to their
    /// bound, subnormal results included.
    pub fn does_arithmetic(self) -> bool {
        matches!(self, Activation::LeakyRelu { .. })
    }

    /// The f32 the kernels read as the activation's first parameter (its
    /// bits in `Params::parameter`); 0 for none.
    pub fn parameter(self) -> f32 {
        match self {
            Activation::LeakyRelu { slope } => slope,
            Activation::ClippedRelu { cap } => cap,
            Activation::Softplus { beta, .. } => beta,
            Activation::Elu { alpha } => alpha,
            Activation::Sine { omega } => omega,
            Activation::Relu
            | Activation::Sigmoid
            | Activation::Tanh
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh => 0.0,
        }
    }

    /// The second parameter (`Params::second_parameter`): softplus's
    /// threshold; 0 for every other activation.
    pub fn second_parameter(self) -> f32 {
        match self {
            Activation::Softplus { threshold, .. } => threshold,
            _ => 0.0,
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Activation::Relu => f.write_str("relu"),
            Activation::LeakyRelu { slope } => write!(f, "leaky_relu({slope})"),
            Activation::ClippedRelu { cap } => write!(f, "clipped_relu({cap})"),
            Activation::Softplus { beta, threshold } => write!(f, "softplus({beta},{threshold})"),
            Activation::Elu { alpha } => write!(f, "elu({alpha})"),
            Activation::Sine { omega } => write!(f, "sine({omega})"),
            Activation::Sigmoid
            | Activation::Tanh
            | Activation::Silu
            | Activation::Gelu
            | Activation::GeluTanh => f.write_str(self.kind_name()),
        }
    }
}
