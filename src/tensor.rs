//! GPU-resident tensors: upload, allocate, download.

use std::future::Future;

use crate::buffer;
use crate::dtype::{DType, Element};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::ops::dispatch::Binding;
use crate::ops::segments;
use crate::readback::{Download, PendingDownload};

/// A row-major buffer of [`DType`] elements (f32, f16 or bf16) on the GPU
/// with a shape.
///
/// Ops take tensors and return tensors, so a chain of ops stays on the GPU
/// until [`download`](Tensor::download). A tensor either owns its buffer
/// ([`from_slice`](Tensor::from_slice), [`uninit`](Tensor::uninit)) or is a
/// view of bytes in a buffer someone else owns
/// ([`from_buffer`](Tensor::from_buffer)); ops treat both alike.
///
/// f32 tensors take and give `f32` slices ([`from_slice`](Tensor::from_slice),
/// [`download`](Tensor::download)); any type, f16 and bf16 included, goes
/// through its [`Element`] type ([`from_elements`](Tensor::from_elements),
/// [`download_elements`](Tensor::download_elements)).
/// [`download`](Tensor::download) of a 16-bit tensor widens it to f32
/// exactly, and [`from_f32_as`](Tensor::from_f32_as) rounds f32 data to a
/// type.
///
/// ```no_run
/// use half::f16;
/// use wgpu_activations::{DType, Gpu, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let data: Vec<f16> = [-1.5f32, 2.0, 0.1].into_iter().map(f16::from_f32).collect();
/// let x = Tensor::from_elements(&gpu, &data, &[3])?;
/// assert_eq!(x.dtype(), DType::F16);
/// let y = gpu.relu(&x)?;
/// assert_eq!(y.download_elements::<f16>()?, [f16::ZERO, data[1], data[2]]);
/// assert_eq!(y.download()?, [0.0, 2.0, f16::from_f32(0.1).to_f32()]);
/// # Ok(()) }
/// ```
///
/// ```no_run
/// use wgpu_activations::{Gpu, Tensor};
/// # fn main() -> wgpu_activations::Result<()> {
/// let gpu = Gpu::new()?;
/// let x = Tensor::from_slice_with_shape(&gpu, &[1.0, -2.0, 3.0, -4.0], &[2, 2])?;
/// assert_eq!(x.shape(), &[2, 2]);
/// assert_eq!(x.download()?, vec![1.0, -2.0, 3.0, -4.0]);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct Tensor {
    gpu: Gpu,
    buffer: wgpu::Buffer,
    /// Where the data starts in `buffer`, in bytes.
    offset: u64,
    shape: Vec<usize>,
    len: usize,
    dtype: DType,
    /// Bytes from `offset` that kernels may write: the whole padded buffer
    /// of a tensor this crate allocated, exactly the data of a view.
    extent: u64,
}

impl Tensor {
    /// Uploads `data` as a 1-D tensor.
    pub fn from_slice(gpu: &Gpu, data: &[f32]) -> Result<Self> {
        Self::from_slice_with_shape(gpu, data, &[data.len()])
    }

    /// Uploads `data` with a shape whose element count must equal `data.len()`.
    pub fn from_slice_with_shape(gpu: &Gpu, data: &[f32], shape: &[usize]) -> Result<Self> {
        Self::from_elements(gpu, data, shape)
    }

    /// Uploads `data` of any [`Element`] type (`f32`, [`half::f16`],
    /// [`half::bf16`]) as a tensor of that type, with a shape whose element
    /// count must equal `data.len()`.
    pub fn from_elements<T: Element>(gpu: &Gpu, data: &[T], shape: &[usize]) -> Result<Self> {
        Self::upload_bytes(gpu, bytemuck::cast_slice(data), data.len(), shape, T::DTYPE)
    }

    /// Uploads f32 `data` as a tensor of `dtype`, each value rounded to it
    /// as [`DType::round`] does (to nearest even; NaN payloads truncated).
    pub fn from_f32_as(gpu: &Gpu, data: &[f32], shape: &[usize], dtype: DType) -> Result<Self> {
        match dtype {
            DType::F32 => Self::from_slice_with_shape(gpu, data, shape),
            _ => {
                let bits = narrowed(data, dtype);
                Self::upload_bytes(gpu, bytemuck::cast_slice(&bits), data.len(), shape, dtype)
            }
        }
    }

    fn upload_bytes(
        gpu: &Gpu,
        bytes: &[u8],
        len: usize,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Self> {
        let expected = element_count(shape)?;
        if expected != len {
            return Err(Error::ShapeMismatch {
                what: "data for shape",
                expected,
                actual: len,
            });
        }
        let size = buffer::storage_bytes(gpu, len, dtype.size_bytes(), "tensor")?;
        let buffer = buffer::upload(gpu, bytes, size, "wgpu-activations tensor")?;
        Ok(Self::owning(gpu, buffer, shape, len, dtype))
    }

    /// Allocates an f32 tensor for an op to write. Its contents are
    /// unspecified until written (wgpu happens to zero them; do not rely on
    /// it).
    pub fn uninit(gpu: &Gpu, shape: &[usize]) -> Result<Self> {
        Self::uninit_of(gpu, shape, DType::F32)
    }

    /// [`uninit`](Tensor::uninit) with elements of `dtype`.
    pub fn uninit_of(gpu: &Gpu, shape: &[usize], dtype: DType) -> Result<Self> {
        let len = element_count(shape)?;
        let bytes = buffer::storage_bytes(gpu, len, dtype.size_bytes(), "tensor")?;
        let buffer = buffer::allocate(gpu, bytes, "wgpu-activations tensor")?;
        Ok(Self::owning(gpu, buffer, shape, len, dtype))
    }

    fn owning(gpu: &Gpu, buffer: wgpu::Buffer, shape: &[usize], len: usize, dtype: DType) -> Self {
        Self {
            gpu: gpu.clone(),
            extent: buffer.size(),
            buffer,
            offset: 0,
            shape: shape.to_vec(),
            len,
            dtype,
        }
    }

    /// A view of `shape`'s elements at byte `offset` of a buffer you own,
    /// such as a game engine's: ops read and write those bytes in place and
    /// never touch the rest of the buffer.
    ///
    /// The buffer must belong to `gpu`'s device and have `STORAGE` usage;
    /// `offset` must be a multiple of the device's
    /// `min_storage_buffer_offset_alignment` (see [`GpuInfo`]). Downloads
    /// need `COPY_SRC`, [`write`](Tensor::write) `COPY_DST`. A view of an
    /// element count that is not a multiple of 4 needs both as well: kernels
    /// move whole 16-byte vectors, so an op on such a view runs its last few
    /// elements in a scratch buffer and copies them in and out. The view may
    /// be larger than one storage binding; ops split it.
    ///
    /// Errors: [`Error::OutOfBounds`], [`Error::MisalignedOffset`],
    /// [`Error::MissingUsage`], [`Error::WrongDevice`],
    /// [`Error::ShapeOverflow`].
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
    ///     label: Some("engine buffer"),
    ///     size: 4096,
    ///     usage: wgpu::BufferUsages::STORAGE
    ///         | wgpu::BufferUsages::COPY_SRC
    ///         | wgpu::BufferUsages::COPY_DST,
    ///     mapped_at_creation: false,
    /// });
    /// let alignment = u64::from(gpu.info().min_storage_buffer_offset_alignment);
    /// let x = Tensor::from_buffer(&gpu, &buffer, 4 * alignment, &[8, 10])?;
    /// x.write(&[-1.0; 80])?;
    /// assert_eq!(gpu.relu(&x)?.download()?, vec![0.0; 80]);
    /// # Ok(()) }
    /// ```
    ///
    /// [`GpuInfo`]: crate::GpuInfo
    pub fn from_buffer(
        gpu: &Gpu,
        buffer: &wgpu::Buffer,
        offset: u64,
        shape: &[usize],
    ) -> Result<Self> {
        Self::from_buffer_of(gpu, buffer, offset, shape, DType::F32)
    }

    /// [`from_buffer`](Tensor::from_buffer) with elements of `dtype`: 16-bit
    /// elements are packed two to a 4-byte word, the first in the low half.
    ///
    /// A 16-bit view may hold an odd number of elements. Its last element is
    /// then the low half of a word whose high half is yours: ops and writes
    /// replace that half alone (a small dispatch, after copying the view's
    /// whole words), and never change your two bytes. That word must lie in
    /// the buffer ([`Error::OutOfBounds`] otherwise), since wgpu reads whole
    /// words. Writing such a view ([`write`](Tensor::write)) stages its last
    /// element in a new small buffer each time.
    pub fn from_buffer_of(
        gpu: &Gpu,
        buffer: &wgpu::Buffer,
        offset: u64,
        shape: &[usize],
        dtype: DType,
    ) -> Result<Self> {
        let len = element_count(shape)?;
        let bytes = (len as u64)
            .checked_mul(dtype.size_bytes())
            .ok_or_else(|| Error::ShapeOverflow {
                shape: shape.to_vec(),
            })?;
        // The word holding an odd 16-bit view's last element is read whole.
        let words = bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT);
        buffer::check_view(gpu, "tensor view", buffer, offset, words)?;
        Ok(Self {
            gpu: gpu.clone(),
            buffer: buffer.clone(),
            offset,
            shape: shape.to_vec(),
            len,
            dtype,
            extent: bytes,
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The shape, outermost dimension first.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Number of elements (the product of the shape).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The length of a row: the last dimension (1 for a 0-d tensor). Fused
    /// bias ops treat the tensor as `[len / cols, cols]`.
    pub fn cols(&self) -> usize {
        self.shape.last().copied().unwrap_or(1)
    }

    /// The same data with another shape of the same element count.
    pub fn reshape(mut self, shape: &[usize]) -> Result<Self> {
        let len = element_count(shape)?;
        if len != self.len {
            return Err(Error::ShapeMismatch {
                what: "reshape",
                expected: self.len,
                actual: len,
            });
        }
        self.shape = shape.to_vec();
        Ok(self)
    }

    /// The underlying buffer; the data is `len() * dtype().size_bytes()`
    /// bytes at [`offset`](Tensor::offset).
    ///
    /// A buffer this crate allocated has `STORAGE | COPY_SRC | COPY_DST`
    /// usage and is longer than the data (padded to whole 16-byte vectors,
    /// at least one), and the element-wise kernels may overwrite the padding.
    /// A [view](Tensor::from_buffer) is written nowhere outside its data.
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.buffer
    }

    /// Where the data starts in [`buffer`](Tensor::buffer), in bytes: 0 but
    /// for a [view](Tensor::from_buffer).
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The [`Gpu`] this tensor lives on.
    pub fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Replaces the data with `data` (as many elements as the tensor has),
    /// through the queue: ordered after work already submitted and before
    /// work submitted later, so a training loop can reuse its tensors. The
    /// staging buffer comes from the `Gpu`'s pool, so a write repeated every
    /// step allocates nothing in steady state (once the device has been
    /// polled, e.g. by a download, between writes).
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[1.0, 2.0])?;
    /// x.write(&[-3.0, 4.0])?;
    /// assert_eq!(gpu.relu(&x)?.download()?, vec![0.0, 4.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// A 16-bit tensor stores each value rounded to its type, as
    /// [`from_f32_as`](Tensor::from_f32_as) does (converted on the host into
    /// a temporary; [`write_elements`](Tensor::write_elements) writes its
    /// own type as it is).
    pub fn write(&self, data: &[f32]) -> Result<()> {
        match self.dtype {
            DType::F32 => self.write_bytes(bytemuck::cast_slice(data), data.len()),
            dtype => self.write_bytes(bytemuck::cast_slice(&narrowed(data, dtype)), data.len()),
        }
    }

    /// [`write`](Tensor::write) of the tensor's own element type, as it is.
    /// Errors with [`Error::DTypeMismatch`] if `T` is not the tensor's type.
    pub fn write_elements<T: Element>(&self, data: &[T]) -> Result<()> {
        self.check_element::<T>("data written to a tensor")?;
        self.write_bytes(bytemuck::cast_slice(data), data.len())
    }

    fn write_bytes(&self, bytes: &[u8], len: usize) -> Result<()> {
        if len != self.len {
            return Err(Error::ShapeMismatch {
                what: "data written to a tensor",
                expected: self.len,
                actual: len,
            });
        }
        buffer::require_usage("tensor written", &self.buffer, wgpu::BufferUsages::COPY_DST)?;
        self.gpu.ensure_alive()?;
        if bytes.is_empty() {
            return Ok(());
        }
        // Whole words go by copy (a last partial word too, where the rest
        // of it is the tensor's own padding); the last element of an
        // odd-length view does not.
        let (whole, last) = match self.ends_mid_word() {
            true => bytes.split_at(bytes.len() / 4 * 4),
            false => (bytes, &[][..]),
        };
        if !whole.is_empty() {
            self.gpu.upload_pool().write(
                &self.gpu,
                &self.buffer,
                self.offset,
                whole,
                "writing a tensor",
            )?;
        }
        if last.is_empty() {
            return Ok(());
        }
        // The last element goes into the low half of its word by a
        // dispatch, which keeps the high half (the caller's).
        let staged = buffer::upload(
            &self.gpu,
            last,
            crate::dtype::VECTOR_BYTES,
            "writing a tensor's last element",
        )?;
        let mut encoder = self
            .gpu
            .device()
            .create_command_encoder(&Default::default());
        self.gpu.record_planned(&mut encoder, |plan| {
            segments::record_low_half(
                &self.gpu,
                plan,
                Binding::whole(&staged),
                0,
                &self.buffer,
                self.offset + whole.len() as u64,
            )
        })?;
        self.gpu
            .submit("writing a tensor's last element", encoder)
            .map(|_| ())
    }

    /// Whether the data ends mid-word in bytes that are not the tensor's
    /// (an odd-length 16-bit view), so that its last word is half someone
    /// else's.
    pub(crate) fn ends_mid_word(&self) -> bool {
        self.data_bytes()
            .next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT)
            > self.extent
    }

    fn check_element<T: Element>(&self, what: &'static str) -> Result<()> {
        if T::DTYPE == self.dtype {
            Ok(())
        } else {
            Err(Error::DTypeMismatch {
                what,
                expected: self.dtype,
                actual: T::DTYPE,
            })
        }
    }

    /// Copies the data back to the host, waiting for all work on it; a
    /// 16-bit tensor's values widened exactly to f32 (NaN payloads kept).
    pub fn download(&self) -> Result<Vec<f32>> {
        let mut out = vec![0.0; self.len];
        self.download_into(&mut out)?;
        Ok(out)
    }

    /// Copies the data back to the host as its own element type, waiting
    /// for all work on it. Errors with [`Error::DTypeMismatch`] if `T` is
    /// not the tensor's type.
    pub fn download_elements<T: Element>(&self) -> Result<Vec<T>> {
        let mut out = vec![T::zeroed(); self.len];
        self.download_elements_into(&mut out)?;
        Ok(out)
    }

    /// [`download_elements`](Tensor::download_elements) into `out`, which
    /// must hold exactly [`len`](Tensor::len) elements.
    pub fn download_elements_into<T: Element>(&self, out: &mut [T]) -> Result<()> {
        self.check_element::<T>("host slice downloaded into")?;
        if out.len() != self.len {
            return Err(Error::ShapeMismatch {
                what: "host slice downloaded into",
                expected: self.len,
                actual: out.len(),
            });
        }
        match self.start_download()? {
            Some(readback) => readback.wait_into(bytemuck::cast_slice_mut::<T, u8>(out)),
            None => Ok(()),
        }
    }

    /// [`download`](Tensor::download) into `out`, which must hold exactly
    /// [`len`](Tensor::len) elements: a download repeated every frame or
    /// step allocates nothing on the host, and its staging buffer comes from
    /// the `Gpu`'s pool. Blocks.
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[1.0, -2.0, 3.0])?;
    /// let mut host = [0.0f32; 3];
    /// gpu.relu(&x)?.download_into(&mut host)?;
    /// assert_eq!(host, [1.0, 0.0, 3.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// A 16-bit tensor is widened exactly to f32, in `out` itself: nothing
    /// is allocated on the host for it either.
    pub fn download_into(&self, out: &mut [f32]) -> Result<()> {
        if out.len() != self.len {
            return Err(Error::ShapeMismatch {
                what: "host slice downloaded into",
                expected: self.len,
                actual: out.len(),
            });
        }
        let Some(readback) = self.start_download()? else {
            return Ok(());
        };
        let bytes = bytemuck::cast_slice_mut::<f32, u8>(out);
        readback.wait_into(&mut bytes[..self.data_bytes() as usize])?;
        widen_in_place(out, self.dtype);
        Ok(())
    }

    /// Copies the data back to the host without blocking the calling thread.
    ///
    /// The copy is submitted at once; the returned future resolves when it
    /// has finished. A helper thread waits on the device for that submission
    /// (no busy loop), so the future completes without the caller polling.
    pub fn download_async(&self) -> impl Future<Output = Result<Vec<f32>>> + Send + 'static {
        // Every chunk's copy is submitted now, not when the future is
        // first polled: the download sees the data as of this call.
        let started = self.start_download().and_then(|download| {
            download
                .map(|mut download| Ok((download.submit_all()?, download)))
                .transpose()
        });
        let device = self.gpu.device().clone();
        let (dtype, len) = (self.dtype, self.len);
        async move {
            let Some((submission, readback)) = started? else {
                return Ok(Vec::new());
            };
            // Someone must poll the device for the map to complete; a caller
            // who polls already can use `record_download` instead.
            std::thread::spawn(move || {
                // A failed wait surfaces as a failed map in `finish`.
                let _ = device.poll(wgpu::PollType::Wait {
                    submission_index: submission,
                    timeout: None,
                });
            });
            let bytes: Vec<u8> = readback.finish().await?;
            let mut out = vec![0.0f32; len];
            bytemuck::cast_slice_mut::<f32, u8>(&mut out)[..bytes.len()].copy_from_slice(&bytes);
            widen_in_place(&mut out, dtype);
            Ok(out)
        }
    }

    /// Records a copy of the data into `encoder` for a host that must not
    /// block, such as a render loop: submit the encoder as usual, and take
    /// the data with [`PendingDownload::try_take`] once your own
    /// `device.poll` has passed the submission (or `.await` it).
    ///
    /// ```no_run
    /// use wgpu_activations::{Gpu, Tensor};
    /// # fn main() -> wgpu_activations::Result<()> {
    /// let gpu = Gpu::new()?;
    /// let x = Tensor::from_slice(&gpu, &[-1.0, 2.0])?;
    /// let y = Tensor::uninit(&gpu, x.shape())?;
    /// let mut encoder = gpu.device().create_command_encoder(&Default::default());
    /// gpu.record_relu(&mut encoder, &x, &y)?;
    /// let mut pending = y.record_download(&mut encoder)?;
    /// gpu.queue().submit([encoder.finish()]);
    /// let y = loop {
    ///     // A render loop polls once per frame and draws in between.
    ///     gpu.device().poll(wgpu::PollType::Poll).expect("poll");
    ///     if let Some(data) = pending.try_take() {
    ///         break data?;
    ///     }
    /// };
    /// assert_eq!(y, vec![0.0, 2.0]);
    /// # Ok(()) }
    /// ```
    ///
    /// Errors with [`Error::DTypeMismatch`] for a 16-bit tensor: use
    /// [`record_download_elements`](Tensor::record_download_elements).
    pub fn record_download(
        &self,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<PendingDownload<f32>> {
        self.record_download_elements(encoder)
    }

    /// [`record_download`](Tensor::record_download) as the tensor's own
    /// element type. Errors with [`Error::DTypeMismatch`] if `T` is not the
    /// tensor's type.
    pub fn record_download_elements<T: Element>(
        &self,
        encoder: &mut wgpu::CommandEncoder,
    ) -> Result<PendingDownload<T>> {
        self.check_element::<T>("pending download")?;
        buffer::require_usage(
            "tensor downloaded",
            &self.buffer,
            wgpu::BufferUsages::COPY_SRC,
        )?;
        PendingDownload::record(
            &self.gpu,
            encoder,
            &self.buffer,
            self.offset,
            self.data_bytes(),
        )
    }

    fn start_download(&self) -> Result<Option<Download>> {
        buffer::require_usage(
            "tensor downloaded",
            &self.buffer,
            wgpu::BufferUsages::COPY_SRC,
        )?;
        self.gpu.ensure_alive()?;
        if self.len == 0 {
            return Ok(None);
        }
        Download::start(&self.gpu, &self.buffer, self.offset, self.data_bytes()).map(Some)
    }

    pub(crate) fn data_bytes(&self) -> u64 {
        self.len as u64 * self.dtype.size_bytes()
    }

    /// The bytes a kernel binds: exactly the data, never the padding.
    pub(crate) fn binding(&self) -> Binding<'_> {
        Binding {
            buffer: &self.buffer,
            offset: self.offset,
            bytes: self.data_bytes(),
        }
    }

    /// Whether kernels may write whole 16-byte vectors over the data: the
    /// last, partial vector's padding is the tensor's own.
    pub(crate) fn has_vector_padding(&self) -> bool {
        buffer::padded_to_vectors(self.data_bytes()) <= self.extent
    }
}

/// The bits `dtype` stores for each of `data` (a 16-bit type).
fn narrowed(data: &[f32], dtype: DType) -> Vec<u16> {
    data.iter().map(|&x| dtype.bits_of(x) as u16).collect()
}

/// Widens the elements of `dtype` packed at the start of `out`'s bytes to
/// the f32s of `out`. From the last element down, each element is read
/// before any f32 is written over it: element i's bytes lie at or before
/// f32 i's.
fn widen_in_place(out: &mut [f32], dtype: DType) {
    if dtype == DType::F32 {
        return;
    }
    for i in (0..out.len()).rev() {
        let bytes = bytemuck::cast_slice::<f32, u8>(out);
        let bits = u16::from_le_bytes([bytes[2 * i], bytes[2 * i + 1]]);
        out[i] = dtype.value_of(u32::from(bits));
    }
}

/// The product of `shape`, or an error if it overflows.
pub(crate) fn element_count(shape: &[usize]) -> Result<usize> {
    // A zero anywhere makes an empty tensor, however large the rest.
    if shape.contains(&0) {
        return Ok(0);
    }
    shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| Error::ShapeOverflow {
            shape: shape.to_vec(),
        })
}
