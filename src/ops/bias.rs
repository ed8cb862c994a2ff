//! Fused bias-add + activation on row-major `[rows, cols]` tensors: forward in
//! one pass over `x`, backward producing `dx` and the bias gradient `db`.

use crate::activation::Activation;
use crate::buffer;
use crate::dtype::DType;
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::params::{Params, column_divisor};
use crate::kernels::prelude::{
    BACKWARD_LANES, CHUNK_ELEMENTS, MAX_PANELS, MAX_ROW_BLOCKS, MIN_ROWS_PER_BLOCK,
    UNIFORM_BIAS_COLUMNS,
};
use crate::kernels::{
    BIAS_ACTIVATION_BACKWARD, BIAS_ACTIVATION_BACKWARD_PANELS2, BIAS_ACTIVATION_BACKWARD_PANELS4,
    BIAS_ACTIVATION_BACKWARD_SUMS, BIAS_ACTIVATION_BACKWARD_VECTORS,
    BIAS_ACTIVATION_BACKWARD_WORDS, BIAS_ACTIVATION_FORWARD, BIAS_ACTIVATION_FORWARD_MASK,
    BIAS_ACTIVATION_FORWARD_MASK_UNIFORM_BIAS, BIAS_ACTIVATION_FORWARD_PREACTIVATION,
    BIAS_ACTIVATION_FORWARD_PREACTIVATION_UNIFORM_BIAS, BIAS_ACTIVATION_FORWARD_UNIFORM_BIAS,
    BIAS_GRADIENT_SUM, COLUMN_BLOCK_SUMS, ElementTypes, Kernel, Kind,
};
use crate::mask::Mask;
use crate::ops::aliasing::{self, Use};
use crate::ops::dispatch::{self, Binding, Grid};
use crate::ops::plan::{Plan, Step};
use crate::ops::segments::{self, ElementwiseOp, Operand, Split};
use crate::ops::{
    ForwardKernels, check_mask, plan_forward, same_dtype, same_len, saves_mask, u32_of,
};
use crate::tensor::Tensor;

/// Bytes of one f32: the bias, `db` and the block sums are f32 whatever the
/// data's element type.
const F32_BYTES: u64 = DType::F32.size_bytes();

/// The bound the GPU's bias gradient keeps to: for a column whose `dx` values
/// have absolute sum `abs_sum` over `rows` rows,
/// `|db - exact| <= bias_gradient_error_bound(rows, abs_sum)`, where `exact`
/// is the real sum (the f64 sum of [`cpu::column_sums`](crate::cpu::column_sums)).
///
/// The kernel adds each column in f32 in a fixed order: the rows of each
/// block of `r` rows in sequence, then the blocks' sums in sequence (at most
/// `ceil(rows / r)`), where `r` is 64, or for tensors of more than 2M rows
/// the power of two that makes at most 32768 blocks. Each term passes
/// through at most `d = r + ceil(rows / r)` roundings, so the classic bound
/// `γ_d · Σ|dx|` with `γ_d = d·u / (1 - d·u)`, `u = 2^-24` holds; added to
/// it are `(rows + d) · 2^-126` for a GPU that flushes subnormal operands
/// and results, and the f64 reference's own `rows · 2^-53 · Σ|dx|`.
/// Where a partial sum could overflow f32 (Σ|dx| > f32::MAX) the bound does
/// not apply.
///
/// ```
/// use wgpu_activations::bias_gradient_error_bound;
/// // 1000 rows: d = 64 + 16 = 80, about 4.8e-6 relative to the absolute sum.
/// let bound = bias_gradient_error_bound(1000, 1.0);
/// assert!(bound > 4.7e-6 && bound < 4.9e-6);
/// ```
pub fn bias_gradient_error_bound(rows: usize, abs_sum: f64) -> f64 {
    let block = rows_per_block(rows);
    let depth = (block + rows.div_ceil(block)) as f64;
    let unit = f64::from(f32::EPSILON) / 2.0;
    let gamma = depth * unit / (1.0 - depth * unit);
    gamma * abs_sum
        + (rows as f64 + depth) * f64::from(f32::MIN_POSITIVE)
        + rows as f64 * f64::EPSILON / 2.0 * abs_sum
}

/// What a fused forward saves for the backward pass besides `y`.
#[derive(Clone, Copy)]
enum Saving<'a> {
    Nothing,
    Mask(&'a Mask),
    Preactivation(&'a Tensor),
}

/// Rows of one block of the fused backward's first pass for a tensor of
/// `rows` rows: [`MIN_ROWS_PER_BLOCK`], or the power of two that keeps the
/// blocks within [`MAX_ROW_BLOCKS`].
pub(crate) fn rows_per_block(rows: usize) -> usize {
    rows.div_ceil(MAX_ROW_BLOCKS)
        .next_power_of_two()
        .max(MIN_ROWS_PER_BLOCK)
}

impl Gpu {
    /// Fused `y[r, c] = activation(x[r, c] + b[c])` for `x` of shape
    /// `[.., cols]` and `b` of `cols` elements, in one pass over `x`.
    /// Matches [`cpu::bias_forward`](crate::cpu::bias_forward) bit for bit,
    /// except that a GPU may flush subnormal sums to zero. Submits without
    /// waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -1.0, 2.0, -3.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&gpu, &[0.5, 2.0])?;
    /// assert_eq!(gpu.bias_relu(&x, &b)?.download()?, vec![1.5, 1.0, 2.5, 0.0]);
    /// # Ok(()) }
    /// ```
    pub fn bias_activation(
        &self,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
    ) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_activation(&mut encoder, activation, x, b, &y, None)?;
        self.submit("bias + activation", encoder)?;
        Ok(y)
    }

    /// [`bias_activation`](Gpu::bias_activation) that also saves the mask of
    /// `x + b` for the backward pass, still in one pass over `x`.
    pub fn bias_activation_with_mask(
        &self,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
    ) -> Result<(Tensor, Mask)> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mask = Mask::uninit(self, x.len())?.with_row_length(x.cols())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_activation(&mut encoder, activation, x, b, &y, Some(&mask))?;
        self.submit("bias + activation with mask", encoder)?;
        Ok((y, mask))
    }

    /// [`bias_activation`](Gpu::bias_activation) for plain ReLU.
    pub fn bias_relu(&self, x: &Tensor, b: &Tensor) -> Result<Tensor> {
        self.bias_activation(Activation::Relu, x, b)
    }

    /// [`bias_activation_with_mask`](Gpu::bias_activation_with_mask) for plain ReLU.
    pub fn bias_relu_with_mask(&self, x: &Tensor, b: &Tensor) -> Result<(Tensor, Mask)> {
        self.bias_activation_with_mask(Activation::Relu, x, b)
    }

    /// The fused backward pass: from `dy` of shape `[.., cols]` and the
    /// forward pass's mask, returns `dx` (shape of `dy`, bit-exact with
    /// [`cpu::backward`](crate::cpu::backward)) and the bias gradient
    /// `db[c] = sum over rows of dx[r, c]` (shape `[cols]`).
    ///
    /// `db` is summed in a fixed order without float atomics: the same bits on
    /// every run on one device, within [`bias_gradient_error_bound`] of the
    /// exact sum. Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -1.0, 2.0, 3.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&gpu, &[0.0, 0.0])?;
    /// let (_y, mask) = gpu.bias_relu_with_mask(&x, &b)?;
    /// let dy = Tensor::from_slice_with_shape(&gpu, &[1.0, 1.0, 1.0, 1.0], &[2, 2])?;
    /// let (dx, db) = gpu.bias_relu_backward(&dy, &mask)?;
    /// assert_eq!(dx.download()?, vec![1.0, 0.0, 1.0, 1.0]);
    /// assert_eq!(db.download()?, vec![2.0, 1.0]);
    /// # Ok(()) }
    /// ```
    pub fn bias_activation_backward(
        &self,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
    ) -> Result<(Tensor, Tensor)> {
        let dx = Tensor::uninit_of(self, dy.shape(), dy.dtype())?;
        let db = Tensor::uninit(self, &[dy.cols()])?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_activation_backward(&mut encoder, activation, dy, mask, &dx, &db)?;
        self.submit("bias + activation backward", encoder)?;
        Ok((dx, db))
    }

    /// [`bias_activation_backward`](Gpu::bias_activation_backward) for plain ReLU.
    pub fn bias_relu_backward(&self, dy: &Tensor, mask: &Mask) -> Result<(Tensor, Tensor)> {
        self.bias_activation_backward(Activation::Relu, dy, mask)
    }

    /// Records the fused forward into `encoder`: no submit, no wait. `b` must
    /// have `x.cols()` elements; `y` (and `mask`) as many as `x`.
    pub fn record_bias_activation(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_bias_activation(plan, activation, x, b, y, mask)
        })
    }

    /// [`record_bias_activation`](Gpu::record_bias_activation)'s checks and commands.
    pub(crate) fn plan_bias_activation(
        &self,
        plan: &mut Plan,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        mask: Option<&Mask>,
    ) -> Result<()> {
        activation.validate()?;
        if mask.is_some() {
            saves_mask(activation)?;
        }
        let saving = mask.map_or(Saving::Nothing, Saving::Mask);
        self.plan_bias_forward(plan, Some(activation), x, b, y, saving)
    }

    /// [`bias_activation`](Gpu::bias_activation) that also saves the
    /// pre-activation `z = x + b` (shape and type of `x`), what
    /// [`bias_activation_backward_from_preactivation`](Gpu::bias_activation_backward_from_preactivation)
    /// reads, still in one pass over `x` (cuBLASLt's `GELU_AUX`). Any
    /// activation may save it; a smooth one, which has no mask, must.
    /// Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -1.0, 2.0, -3.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&gpu, &[0.5, 2.0])?;
    /// let (y, z) = gpu.bias_activation_with_preactivation(Activation::Gelu, &x, &b)?;
    /// assert_eq!(z.download()?, vec![1.5, 1.0, 2.5, -1.0]);
    /// # Ok(()) }
    /// ```
    pub fn bias_activation_with_preactivation(
        &self,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let z = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_activation_with_preactivation(&mut encoder, activation, x, b, &y, &z)?;
        self.submit("bias + activation with pre-activation", encoder)?;
        Ok((y, z))
    }

    /// Records [`bias_activation_with_preactivation`](Gpu::bias_activation_with_preactivation)
    /// into `encoder`: no submit, no wait. `y` and `z` must have as many
    /// elements as `x`, and its type.
    pub fn record_bias_activation_with_preactivation(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        z: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_bias_activation_with_preactivation(plan, activation, x, b, y, z)
        })
    }

    /// [`record_bias_activation_with_preactivation`](Gpu::record_bias_activation_with_preactivation)'s
    /// checks and commands.
    pub(crate) fn plan_bias_activation_with_preactivation(
        &self,
        plan: &mut Plan,
        activation: Activation,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        z: &Tensor,
    ) -> Result<()> {
        activation.validate()?;
        self.plan_bias_forward(plan, Some(activation), x, b, y, Saving::Preactivation(z))
    }

    /// `y[r, c] = x[r, c] + b[c]`, the bias add alone, with the same rules as
    /// [`cpu::bias_add`](crate::cpu::bias_add): a NaN operand passes (x's
    /// first), a NaN the sum makes is the canonical one. The fused ops do not
    /// need it; it is here for layers without an activation and as the
    /// unfused baseline the benchmarks compare the fused kernel against.
    /// Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -1.0, 2.0, -3.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&gpu, &[0.5, 2.0])?;
    /// assert_eq!(gpu.bias_add(&x, &b)?.download()?, vec![1.5, 1.0, 2.5, -1.0]);
    /// # Ok(()) }
    /// ```
    pub fn bias_add(&self, x: &Tensor, b: &Tensor) -> Result<Tensor> {
        let y = Tensor::uninit_of(self, x.shape(), x.dtype())?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_add(&mut encoder, x, b, &y)?;
        self.submit("bias add", encoder)?;
        Ok(y)
    }

    /// Records [`bias_add`](Gpu::bias_add) into `encoder`: no submit, no
    /// wait. `b` must have `x.cols()` elements and `y` as many as `x`.
    pub fn record_bias_add(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| self.plan_bias_add(plan, x, b, y))
    }

    /// [`record_bias_add`](Gpu::record_bias_add)'s checks and commands.
    pub(crate) fn plan_bias_add(
        &self,
        plan: &mut Plan,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
    ) -> Result<()> {
        self.plan_bias_forward(plan, None, x, b, y, Saving::Nothing)
    }

    /// The fused forward, or the bias add alone for no activation.
    fn plan_bias_forward(
        &self,
        plan: &mut Plan,
        activation: Option<Activation>,
        x: &Tensor,
        b: &Tensor,
        y: &Tensor,
        saving: Saving<'_>,
    ) -> Result<()> {
        self.ensure_same(x.gpu(), "input")?;
        self.ensure_same(b.gpu(), "bias")?;
        self.ensure_same(y.gpu(), "output")?;
        same_len("bias (one per column of the input)", x.cols(), b.len())?;
        same_len("output", x.len(), y.len())?;
        same_dtype("output", x.dtype(), y)?;
        let (mask, preactivation) = match saving {
            Saving::Nothing => (None, None),
            Saving::Mask(mask) => (Some(mask), None),
            Saving::Preactivation(z) => (None, Some(z)),
        };
        if let Some(z) = preactivation {
            self.ensure_same(z.gpu(), "pre-activation output")?;
            same_len("pre-activation output", x.len(), z.len())?;
            same_dtype("pre-activation output", x.dtype(), z)?;
        }
        if b.dtype() != DType::F32 {
            same_dtype("bias (f32 or the input's type)", x.dtype(), b)?;
        }
        let (kind, params) = match activation {
            Some(activation) => (Kind::of(activation)?, Params::new(activation, x.dtype())),
            None => (Kind::identity(), Params::default()),
        };
        let cols = u32_of(x.cols(), "columns")?;
        let (column_magic, column_shift) = column_divisor(cols);
        let params = Params {
            cols,
            column_magic,
            column_shift,
            ..params
        };
        check_mask(self, mask, x.len())?;
        let mut uses = vec![
            Use::read("input", x),
            Use::read("bias", b),
            Use::write("output", y),
        ];
        uses.extend(mask.map(Use::write_mask));
        uses.extend(preactivation.map(|z| Use::write("pre-activation output", z)));
        aliasing::check(&uses)?;
        // The kernels add an f32 bias: a 16-bit one is cast into an f32
        // scratch tensor first, by a step of the same plan (a prepared op
        // casts it again every frame, into the same scratch).
        let cast;
        let b = if b.dtype() == DType::F32 {
            b
        } else {
            cast = Tensor::uninit(self, b.shape())?;
            self.plan_cast(plan, b, &cast)?;
            &cast
        };
        // Every segment binds the whole bias.
        let limit = self.limits().max_storage_buffer_binding_size;
        if b.data_bytes() > limit {
            return Err(Error::TooLarge {
                what: "the bias",
                bytes: b.data_bytes(),
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        // Where the adapter reads uniform buffers faster (CPU adapters), the
        // bias is copied into one by the encoder, ahead of the kernel.
        let staged;
        // A caller's bias without COPY_SRC is read from storage instead.
        let stageable = b.buffer().usage().contains(wgpu::BufferUsages::COPY_SRC);
        let uniform = self.info().uniform_bias
            && x.cols() <= UNIFORM_BIAS_COLUMNS
            && !x.is_empty()
            && stageable;
        let (kernel_pair, bias) = if uniform {
            staged = self.uniform_bias_staging()?;
            plan.push(Step::Copy {
                source: b.buffer().clone(),
                source_offset: b.offset(),
                destination: staged.clone(),
                destination_offset: 0,
                bytes: b.data_bytes(),
            });
            (
                [
                    &BIAS_ACTIVATION_FORWARD_UNIFORM_BIAS,
                    &BIAS_ACTIVATION_FORWARD_MASK_UNIFORM_BIAS,
                ],
                Binding::whole(&staged),
            )
        } else {
            (
                [&BIAS_ACTIVATION_FORWARD, &BIAS_ACTIVATION_FORWARD_MASK],
                b.binding(),
            )
        };
        let mut operands = vec![
            Operand::Input(x),
            Operand::Whole(bias),
            Operand::Output(y),
            Operand::Params,
        ];
        // The pre-activation is the plain kernel's twin with one more output.
        let plain: Kernel = match (preactivation, uniform) {
            (None, _) => kernel_pair[0],
            (Some(z), uniform) => {
                operands.push(Operand::Output(z));
                if uniform {
                    &BIAS_ACTIVATION_FORWARD_PREACTIVATION_UNIFORM_BIAS
                } else {
                    &BIAS_ACTIVATION_FORWARD_PREACTIVATION
                }
            }
        };
        plan_forward(
            self,
            plan,
            ForwardKernels {
                kind,
                types: ElementTypes::of(x.dtype()),
                plain,
                with_mask: kernel_pair[1],
                cols: Some(x.cols()),
            },
            params,
            &operands,
            x.len(),
            mask,
        )
    }

    /// Records the fused backward into `encoder`: no submit, no wait. `mask`
    /// and `dx` must cover as many elements as `dy`, and `db` hold `dy.cols()`;
    /// where the mask knows its [row length](Mask::row_length), `dy` must
    /// have the same.
    /// With zero rows, `db` is written as zeros.
    pub fn record_bias_activation_backward(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
        db: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_bias_activation_backward(plan, activation, dy, mask, dx, db)
        })
    }

    /// [`record_bias_activation_backward`](Gpu::record_bias_activation_backward)'s checks and commands.
    pub(crate) fn plan_bias_activation_backward(
        &self,
        plan: &mut Plan,
        activation: Activation,
        dy: &Tensor,
        mask: &Mask,
        dx: &Tensor,
        db: &Tensor,
    ) -> Result<()> {
        activation.validate()?;
        saves_mask(activation)?;
        self.ensure_alive()?;
        self.ensure_same(dy.gpu(), "upstream gradient")?;
        self.ensure_same(mask.gpu(), "mask")?;
        self.ensure_same(dx.gpu(), "gradient output")?;
        self.ensure_same(db.gpu(), "bias gradient")?;
        same_len(
            "upstream gradient (as many elements as the mask)",
            mask.len(),
            dy.len(),
        )?;
        // A mask that knows its forward's shape (every view does) checks dy's.
        if let Some(mask_cols) = mask.row_length() {
            same_len(
                "upstream gradient's row length (the mask's)",
                mask_cols,
                dy.cols(),
            )?;
        }
        same_len("gradient output", dy.len(), dx.len())?;
        same_dtype("gradient output", dy.dtype(), dx)?;
        same_dtype("bias gradient", DType::F32, db)?;
        let cols = dy.cols();
        same_len("bias gradient (one per column)", cols, db.len())?;
        aliasing::check(&[
            Use::read("upstream gradient", dy),
            Use::read_mask(mask),
            Use::write("gradient output", dx),
            Use::write("bias gradient", db).in_second_dispatch(),
        ])?;
        if cols == 0 {
            return Ok(());
        }
        let rows = dy.len() / cols;
        if rows == 0 {
            return plan_zero_bias_gradient(plan, db);
        }
        let tiling = BackwardTiling::new(rows, cols);
        let params = Params::new(activation, dy.dtype());
        // 16-bit rows that are not whole vectors: two elements of a word
        // belong to two invocations of the one-element kernel, which must
        // not both write it; the element-wise backward writes dx (the same
        // bits: the same rule on the same operands) and the kernel only
        // sums.
        let (tiling, dx_operand) =
            if dy.dtype() != DType::F32 && tiling.kernel == &BIAS_ACTIVATION_BACKWARD {
                self.plan_activation_backward(plan, activation, dy, mask, dx)?;
                let sums = BackwardTiling {
                    kernel: &BIAS_ACTIVATION_BACKWARD_SUMS,
                    ..tiling
                };
                (sums, None)
            } else {
                (tiling, Some(Operand::Output(dx)))
            };
        let operands: Vec<Operand<'_>> = [Operand::Input(dy), Operand::MaskIn(mask)]
            .into_iter()
            .chain(dx_operand)
            .collect();
        let kind = Kind::of(activation)?;
        self.plan_bias_gradient(plan, &tiling, kind, params, dy.dtype(), operands, db)
    }

    /// The fused backward of a smooth activation (or any other) from the
    /// forward's saved pre-activation `z = x + b`
    /// ([`bias_activation_with_preactivation`](Gpu::bias_activation_with_preactivation)):
    /// `dx = dy * f'(z)` (shape and type of `dy`, within the activation's
    /// bound of [`cpu::gradient_in`](crate::cpu::gradient_in)) and the bias
    /// gradient `db[c] = sum over rows of dx[r, c]` (f32, shape `[cols]`),
    /// summed in a fixed order: deterministic, within
    /// [`bias_gradient_error_bound`] of the exact sum of `dx` (cuBLASLt's
    /// `DGELU_BGRAD`). Submits without waiting.
    ///
    /// ```no_run
    /// use wgpu_activations::{Activation, Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice_with_shape(&gpu, &[0.0, 0.0, 0.0, 0.0], &[2, 2])?;
    /// let b = Tensor::from_slice(&gpu, &[0.0, 0.0])?;
    /// let (_y, z) = gpu.bias_activation_with_preactivation(Activation::Sigmoid, &x, &b)?;
    /// let dy = Tensor::from_slice_with_shape(&gpu, &[1.0, 2.0, 3.0, 4.0], &[2, 2])?;
    /// let (dx, db) = gpu.bias_activation_backward_from_preactivation(Activation::Sigmoid, &dy, &z)?;
    /// assert_eq!(dx.download()?, vec![0.25, 0.5, 0.75, 1.0]);
    /// assert_eq!(db.download()?, vec![1.0, 1.5]);
    /// # Ok(()) }
    /// ```
    pub fn bias_activation_backward_from_preactivation(
        &self,
        activation: Activation,
        dy: &Tensor,
        z: &Tensor,
    ) -> Result<(Tensor, Tensor)> {
        let dx = Tensor::uninit_of(self, dy.shape(), dy.dtype())?;
        let db = Tensor::uninit(self, &[dy.cols()])?;
        let mut encoder = self.device().create_command_encoder(&Default::default());
        self.record_bias_activation_backward_from_preactivation(
            &mut encoder,
            activation,
            dy,
            z,
            &dx,
            &db,
        )?;
        self.submit(
            "bias + activation backward from the pre-activation",
            encoder,
        )?;
        Ok((dx, db))
    }

    /// Records [`bias_activation_backward_from_preactivation`](Gpu::bias_activation_backward_from_preactivation)
    /// into `encoder`: no submit, no wait. `z` and `dx` must have `dy`'s
    /// shape and type, `db` hold `dy.cols()` f32. With zero rows, `db` is
    /// written as zeros.
    pub fn record_bias_activation_backward_from_preactivation(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        activation: Activation,
        dy: &Tensor,
        z: &Tensor,
        dx: &Tensor,
        db: &Tensor,
    ) -> Result<()> {
        self.record_planned(encoder, |plan| {
            self.plan_bias_activation_backward_from_preactivation(plan, activation, dy, z, dx, db)
        })
    }

    /// [`record_bias_activation_backward_from_preactivation`](Gpu::record_bias_activation_backward_from_preactivation)'s
    /// checks and commands: the element-wise backward from `z` writes `dx`,
    /// then the fused backward's two summing passes read it.
    pub(crate) fn plan_bias_activation_backward_from_preactivation(
        &self,
        plan: &mut Plan,
        activation: Activation,
        dy: &Tensor,
        z: &Tensor,
        dx: &Tensor,
        db: &Tensor,
    ) -> Result<()> {
        activation.validate()?;
        self.ensure_alive()?;
        self.ensure_same(dy.gpu(), "upstream gradient")?;
        self.ensure_same(z.gpu(), "saved pre-activation")?;
        self.ensure_same(dx.gpu(), "gradient output")?;
        self.ensure_same(db.gpu(), "bias gradient")?;
        same_len(
            "saved pre-activation (as many elements as dy)",
            dy.len(),
            z.len(),
        )?;
        same_len(
            "saved pre-activation's row length (dy's)",
            dy.cols(),
            z.cols(),
        )?;
        same_dtype("saved pre-activation", dy.dtype(), z)?;
        same_len("gradient output", dy.len(), dx.len())?;
        same_dtype("gradient output", dy.dtype(), dx)?;
        same_dtype("bias gradient", DType::F32, db)?;
        let cols = dy.cols();
        same_len("bias gradient (one per column)", cols, db.len())?;
        aliasing::check(&[
            Use::read("upstream gradient", dy),
            Use::read("saved pre-activation", z),
            Use::write("gradient output", dx),
            Use::write("bias gradient", db).in_second_dispatch(),
        ])?;
        if cols == 0 {
            return Ok(());
        }
        let rows = dy.len() / cols;
        if rows == 0 {
            return plan_zero_bias_gradient(plan, db);
        }
        self.plan_activation_backward_from_input(plan, activation, dy, z, dx)?;
        let tiling = BackwardTiling {
            kernel: &COLUMN_BLOCK_SUMS,
            ..BackwardTiling::one_element(rows, cols)
        };
        self.plan_bias_gradient(
            plan,
            &tiling,
            Kind::fixed(),
            Params::default(),
            dy.dtype(),
            vec![Operand::Input(dx)],
            db,
        )
    }

    /// The fused backward's sums: `tiling.kernel` over `operands` (its
    /// bindings before the block sums and the parameter block) writes the
    /// block sums of every column, then `db` adds them in order.
    #[allow(
        clippy::too_many_arguments,
        reason = "one call per fused backward, every operand named"
    )]
    fn plan_bias_gradient(
        &self,
        plan: &mut Plan,
        tiling: &BackwardTiling,
        kind: Kind,
        params: Params,
        dtype: DType,
        operands: Vec<Operand<'_>>,
        db: &Tensor,
    ) -> Result<()> {
        let cols = db.len();
        let rows = tiling.rows;
        // Larger than one binding: whole row blocks at a time, each group
        // starting at an offset every operand can be bound at.
        let group_rows = self.backward_group_rows(tiling, rows, cols)?;
        let block_sums_len = tiling.row_blocks * cols;
        // Every dispatch binds all the block sums (1/64 of dy or less).
        let limit = self.limits().max_storage_buffer_binding_size;
        if block_sums_len as u64 * F32_BYTES > limit {
            return Err(Error::TooLarge {
                what: "the bias gradient's partial sums (one per block of rows and column)",
                bytes: block_sums_len as u64 * F32_BYTES,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        let bytes =
            buffer::storage_bytes(self, block_sums_len, F32_BYTES, "bias-gradient block sums")?;
        let block_sums = self.block_sums_scratch(bytes)?;
        let block_sums = Binding {
            buffer: &block_sums,
            offset: 0,
            bytes: block_sums_len as u64 * F32_BYTES,
        };
        let params = Params {
            cols: u32_of(cols, "columns")?,
            rows_per_block: tiling.rows_per_block as u32,
            ..params
        };
        let operands: Vec<Operand<'_>> = operands
            .into_iter()
            .chain([Operand::Whole(block_sums), Operand::Params])
            .collect();
        segments::record(
            self,
            plan,
            &ElementwiseOp {
                kernel: tiling.kernel,
                kind,
                types: ElementTypes::of(dtype),
                params,
                operands: &operands,
                elements: rows * cols,
                split: Split::Rows {
                    cols,
                    group_rows,
                    rows_per_block: tiling.rows_per_block,
                    invocations_per_block: tiling.groups_per_row,
                },
            },
        )?;
        dispatch::record(
            self,
            plan,
            &BIAS_GRADIENT_SUM,
            Kind::fixed(),
            ElementTypes::of(DType::F32),
            &[block_sums, db.binding()],
            Grid::Invocations(cols as u64),
        )
    }

    /// Rows per dispatch of the fused backward: all of them where they fit
    /// one binding, else whole row blocks (so each
    /// block's sums come from one dispatch), a row count whose first
    /// element is a segment quantum (so `dy`, `dx` and the mask words all
    /// start at a bindable offset), and within one storage binding.
    fn backward_group_rows(
        &self,
        tiling: &BackwardTiling,
        rows: usize,
        cols: usize,
    ) -> Result<usize> {
        let limit = self.limits().max_storage_buffer_binding_size;
        let rows_in_binding = (limit / (cols as u64 * F32_BYTES)) as usize;
        if rows <= rows_in_binding {
            return Ok(rows);
        }
        let quantum = segments::segment_quantum(self) as usize;
        // Both are powers of two, so the larger is a multiple of the smaller.
        let step = tiling
            .rows_per_block
            .max(quantum / greatest_common_divisor(cols, quantum));
        let group = rows_in_binding / step * step;
        if group == 0 {
            return Err(Error::TooLarge {
                what: "the fused backward's smallest group of whole rows",
                bytes: (step * cols) as u64 * F32_BYTES,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
        Ok(group)
    }
}

/// A sum over no rows is zero; no kernel runs to write it.
fn plan_zero_bias_gradient(plan: &mut Plan, db: &Tensor) -> Result<()> {
    buffer::require_usage("bias gradient", db.buffer(), wgpu::BufferUsages::COPY_DST)?;
    plan.push(Step::Clear {
        buffer: db.buffer().clone(),
        offset: db.offset(),
        bytes: db.data_bytes(),
    });
    Ok(())
}

fn greatest_common_divisor(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// How the fused backward's first pass covers `[rows, cols]`: each
/// invocation some columns (`columns` per row, a multiple of a row's width)
/// of one block of [`rows_per_block`] rows, with the kernel that reads
/// them.
#[derive(Clone, Copy)]
struct BackwardTiling {
    kernel: Kernel,
    groups_per_row: usize,
    rows: usize,
    rows_per_block: usize,
    row_blocks: usize,
}

impl BackwardTiling {
    fn new(rows: usize, cols: usize) -> Self {
        let word = CHUNK_ELEMENTS as usize;
        // The widest the row length allows: runs that neighbouring
        // invocations stream together, a mask word per row (the
        // element-wise kernels' chunk), a vector, or one element.
        let (kernel, columns): (Kernel, usize) =
            if cols.is_multiple_of(BACKWARD_LANES * word * MAX_PANELS) {
                (&BIAS_ACTIVATION_BACKWARD_PANELS4, word * 4)
            } else if cols.is_multiple_of(BACKWARD_LANES * word * 2) {
                (&BIAS_ACTIVATION_BACKWARD_PANELS2, word * 2)
            } else if cols.is_multiple_of(word) {
                (&BIAS_ACTIVATION_BACKWARD_WORDS, word)
            } else if cols.is_multiple_of(4) {
                (&BIAS_ACTIVATION_BACKWARD_VECTORS, 4)
            } else {
                (&BIAS_ACTIVATION_BACKWARD, 1)
            };
        Self {
            kernel,
            groups_per_row: cols / columns,
            rows,
            rows_per_block: rows_per_block(rows),
            row_blocks: rows.div_ceil(rows_per_block(rows)),
        }
    }

    /// One column per invocation and row block, by the one-element kernel.
    fn one_element(rows: usize, cols: usize) -> Self {
        Self {
            kernel: &BIAS_ACTIVATION_BACKWARD,
            groups_per_row: cols,
            rows,
            rows_per_block: rows_per_block(rows),
            row_blocks: rows.div_ceil(rows_per_block(rows)),
        }
    }
}
