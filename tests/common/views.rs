//! Views into a caller's buffers and devices with small storage bindings:
//! shared by tests/views.rs and tests/split.rs.

#![allow(dead_code)]

use super::*;

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Mask, Tensor, sample};

/// The word a caller's buffer holds wherever no view is: an op that writes
/// outside its views changes one.
pub const GUARD: u32 = 0xDEAD_BEEF;

/// A `Gpu` on the adapter [`gpu`] picks (skipped, or failed under `CI`, the
/// same way when there is none) whose device was requested with
/// `max_storage_buffer_binding_size = bytes`, so that a small tensor is
/// already larger than one storage binding. Opened once per size per test
/// binary, through [`Gpu::from_device`].
pub fn small_binding_gpu(bytes: u64) -> Option<Gpu> {
    use std::collections::HashMap;
    use std::sync::Mutex;
    static OPENED: OnceLock<Mutex<HashMap<u64, Gpu>>> = OnceLock::new();
    let mut opened = OPENED.get_or_init(Default::default).lock().unwrap();
    if let Some(gpu) = opened.get(&bytes) {
        return Some(gpu.clone());
    }
    let (_instance, adapter) = instance_and_adapter()?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("small storage bindings"),
        required_limits: wgpu::Limits {
            max_storage_buffer_binding_size: bytes,
            ..adapter.limits()
        },
        ..Default::default()
    }))
    .unwrap_or_else(|error| panic!("a device with {bytes}-byte storage bindings: {error}"));
    let gpu = Gpu::from_device(device, queue).unwrap();
    assert_eq!(gpu.info().max_storage_buffer_binding_size, bytes);
    opened.insert(bytes, gpu.clone());
    Some(gpu)
}

/// Records a copy of all of `buffer` (which needs `COPY_SRC`) into a
/// mappable buffer of our own: reading it back involves no code of the
/// crate. Finish with [`finish_read`] after submitting `encoder`.
pub fn record_read(
    gpu: &Gpu,
    encoder: &mut wgpu::CommandEncoder,
    buffer: &wgpu::Buffer,
) -> wgpu::Buffer {
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    staging
}

/// The words of a [`record_read`] staging buffer, waiting for the device.
///
/// Tests share one device across threads, and any thread's poll may run
/// this map's callback, maybe just after this thread's own wait returned:
/// so this waits for the callback itself, polling again meanwhile.
pub fn finish_read(gpu: &Gpu, staging: &wgpu::Buffer) -> Vec<u32> {
    let (sender, receiver) = std::sync::mpsc::channel();
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |result| {
            // The receiver outlives the callback unless the test panicked.
            let _ = sender.send(result);
        });
    let mapped = loop {
        gpu.device()
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
        match receiver.recv_timeout(std::time::Duration::from_millis(10)) {
            Ok(result) => break result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(error) => panic!("map callback dropped: {error}"),
        }
    };
    mapped.expect("mapping the readback");
    let words = {
        let view = staging.slice(..).get_mapped_range().unwrap();
        bytemuck::cast_slice::<u8, u32>(&view).to_vec()
    };
    staging.unmap();
    words
}

/// Every word of `buffer` (which needs `COPY_SRC`), by a copy of our own.
pub fn read_words(gpu: &Gpu, buffer: &wgpu::Buffer) -> Vec<u32> {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let staging = record_read(gpu, &mut encoder, buffer);
    gpu.queue().submit([encoder.finish()]);
    finish_read(gpu, &staging)
}

/// Where [`ArenaLayout`] puts the regions of an [`Arena`].
pub struct ArenaLayout {
    alignment: u64,
    regions: Vec<(u64, Vec<u32>)>,
    end: u64,
}

impl ArenaLayout {
    /// An empty layout for views on `gpu` (offsets aligned to its
    /// `min_storage_buffer_offset_alignment`).
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            alignment: u64::from(gpu.info().min_storage_buffer_offset_alignment),
            regions: Vec::new(),
            end: 0,
        }
    }

    /// Places a region holding `words` at the next aligned offset past the
    /// previous region plus one to three alignments of guard words (so the
    /// first region never starts at 0); returns its index.
    pub fn add(&mut self, words: Vec<u32>) -> usize {
        let gap = self.alignment * (1 + self.regions.len() as u64 % 3);
        let offset = self.end.next_multiple_of(self.alignment) + gap;
        self.end = offset + words.len() as u64 * 4;
        self.regions.push((offset, words));
        self.regions.len() - 1
    }

    /// [`add`](Self::add) of f32 data.
    pub fn add_f32(&mut self, data: &[f32]) -> usize {
        self.add(bits(data))
    }

    /// A region of `words` [`GUARD`] words, for an op to overwrite.
    pub fn add_output(&mut self, words: usize) -> usize {
        self.add(vec![GUARD; words])
    }

    /// One past the last region's last byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Creates the buffer with `usage`, every word [`GUARD`] but the
    /// regions' contents, and `trailing` bytes after the last region (0: it
    /// ends at the buffer's end). Written while mapped at creation, so it
    /// needs no copy usage.
    pub fn build(self, gpu: &Gpu, usage: wgpu::BufferUsages, trailing: u64) -> Arena {
        assert!(trailing.is_multiple_of(4));
        let size = (self.end + trailing).max(4);
        let mut initial = vec![GUARD; (size / 4) as usize];
        let mut regions = Vec::new();
        for (offset, words) in &self.regions {
            let first = (*offset / 4) as usize;
            initial[first..first + words.len()].copy_from_slice(words);
            regions.push((*offset, words.len()));
        }
        let buffer = caller_buffer_of(gpu, usage, &initial);
        Arena {
            buffer,
            initial,
            regions,
        }
    }
}

/// A caller's buffer of `usage` holding `contents`, written while mapped at
/// creation (so that it needs no copy usage).
pub fn caller_buffer_of<T: bytemuck::NoUninit>(
    gpu: &Gpu,
    usage: wgpu::BufferUsages,
    contents: &[T],
) -> wgpu::Buffer {
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller's buffer"),
        size: std::mem::size_of_val(contents) as u64,
        usage,
        mapped_at_creation: true,
    });
    buffer
        .slice(..)
        .get_mapped_range_mut()
        .unwrap()
        .slice(..)
        .copy_from_slice(bytemuck::cast_slice(contents));
    buffer.unmap();
    buffer
}

/// A caller's buffer holding views at aligned, nonzero offsets with
/// [`GUARD`] words before, between and (unless built without) after them.
pub struct Arena {
    /// The buffer.
    pub buffer: wgpu::Buffer,
    /// Its words as created.
    pub initial: Vec<u32>,
    /// Each region's byte offset and length in words.
    regions: Vec<(u64, usize)>,
}

impl Arena {
    /// Region `region`'s byte offset.
    pub fn offset(&self, region: usize) -> u64 {
        self.regions[region].0
    }

    /// Asserts a `what` of `words` words covers region `region` exactly.
    fn assert_covers(&self, what: &str, region: usize, words: usize) {
        assert_eq!(words, self.regions[region].1, "{what} of region {region}");
    }

    /// A tensor view of region `region` with `shape`.
    pub fn tensor(&self, gpu: &Gpu, region: usize, shape: &[usize]) -> Tensor {
        let view = Tensor::from_buffer(gpu, &self.buffer, self.offset(region), shape).unwrap();
        self.assert_covers("view", region, view.len());
        view
    }

    /// A mask view of `len` elements of region `region`.
    pub fn mask(&self, gpu: &Gpu, region: usize, len: usize) -> Mask {
        let view = Mask::from_buffer(gpu, &self.buffer, self.offset(region), len).unwrap();
        self.assert_covers("mask view", region, view.words());
        view
    }

    /// Region `region`'s words out of a read-back of the whole buffer.
    pub fn words<'a>(&self, all: &'a [u32], region: usize) -> &'a [u32] {
        let (offset, len) = self.regions[region];
        let first = (offset / 4) as usize;
        &all[first..first + len]
    }

    /// Region `region` of a read-back as f32s.
    pub fn floats(&self, all: &[u32], region: usize) -> Vec<f32> {
        self.words(all, region)
            .iter()
            .copied()
            .map(f32::from_bits)
            .collect()
    }

    /// Asserts that `all` (a read-back of the whole buffer) equals the
    /// buffer as created everywhere outside the regions in `written`,
    /// naming the first changed word and where it lies.
    pub fn assert_unchanged_outside(&self, what: &str, all: &[u32], written: &[usize]) {
        assert_eq!(all.len(), self.initial.len(), "{what}: buffer words");
        let inside = |word: usize| {
            written.iter().any(|&r| {
                let (offset, len) = self.regions[r];
                let first = (offset / 4) as usize;
                (first..first + len).contains(&word)
            })
        };
        let changed: Vec<usize> = (0..all.len())
            .filter(|&w| all[w] != self.initial[w] && !inside(w))
            .collect();
        if let Some(&w) = changed.first() {
            let byte = w as u64 * 4;
            let before = self
                .regions
                .iter()
                .enumerate()
                .rev()
                .find(|(_, r)| r.0 <= byte);
            let place = match before {
                Some((r, &(offset, len))) if byte < offset + len as u64 * 4 => {
                    format!("inside region {r}, which this op must not write")
                }
                Some((r, &(offset, len))) => {
                    let end = offset + len as u64 * 4;
                    format!(
                        "{} bytes past the end of region {r} (bytes {offset}..{end})",
                        byte - end
                    )
                }
                None => "before the first region".to_string(),
            };
            panic!(
                "{what}: {} words outside the written views changed; first at byte {byte} \
                 ({place}): {:#010x} -> {:#010x}",
                changed.len(),
                self.initial[w],
                all[w]
            );
        }
    }
}

// Views of the element-wise and fused ops' inputs and outputs in guarded
// caller buffers, every op recorded into one encoder: the checks that
// tests/views.rs runs on the default device and tests/split.rs on devices
// whose bindings are smaller than the views.

/// What a caller's buffer usually has.
pub const FULL: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Bytes of guard after the last view of the `case`-th buffer: none every
/// other case, so that a view ending at the buffer's end is covered too.
pub fn trailing(case: usize) -> u64 {
    if case.is_multiple_of(2) { 0 } else { 96 }
}

/// Submits `encoder` after recording a read of each arena's whole buffer
/// into it; returns the buffers' words.
pub fn submit_and_read(
    gpu: &Gpu,
    mut encoder: wgpu::CommandEncoder,
    arenas: &[&Arena],
) -> Vec<Vec<u32>> {
    let staging: Vec<wgpu::Buffer> = arenas
        .iter()
        .map(|arena| record_read(gpu, &mut encoder, &arena.buffer))
        .collect();
    gpu.queue().submit([encoder.finish()]);
    staging.iter().map(|s| finish_read(gpu, s)).collect()
}

/// The element-wise inputs of one length: `x`, `dy` and the reference's
/// mask of `x` for each activation, as views of one buffer.
pub struct ElementwiseInputs {
    pub activations: Vec<Activation>,
    pub x: Vec<f32>,
    pub dy: Vec<f32>,
    /// The reference's mask of `x` for each activation.
    pub masks: Vec<Vec<u32>>,
    pub arena: Arena,
    x_region: usize,
    dy_region: usize,
    mask_regions: Vec<usize>,
}

impl ElementwiseInputs {
    pub fn new(
        gpu: &Gpu,
        activations: &[Activation],
        len: usize,
        seed: u64,
        usage: wgpu::BufferUsages,
        trailing: u64,
    ) -> Self {
        let x = sample::activations(len, seed);
        let dy = sample::activations(len, seed + 1);
        let masks: Vec<Vec<u32>> = activations
            .iter()
            .map(|&activation| cpu::forward_with_mask(activation, &x).1)
            .collect();
        let mut layout = ArenaLayout::new(gpu);
        let x_region = layout.add_f32(&x);
        let dy_region = layout.add_f32(&dy);
        let mask_regions = masks.iter().map(|m| layout.add(m.clone())).collect();
        Self {
            activations: activations.to_vec(),
            x,
            dy,
            masks,
            arena: layout.build(gpu, usage, trailing),
            x_region,
            dy_region,
            mask_regions,
        }
    }

    pub fn x(&self, gpu: &Gpu) -> Tensor {
        self.arena.tensor(gpu, self.x_region, &[self.x.len()])
    }

    pub fn dy(&self, gpu: &Gpu) -> Tensor {
        self.arena.tensor(gpu, self.dy_region, &[self.dy.len()])
    }

    pub fn mask(&self, gpu: &Gpu, activation: usize) -> Mask {
        self.arena
            .mask(gpu, self.mask_regions[activation], self.x.len())
    }
}

/// The regions of one activation's outputs.
pub struct ActivationOutputs {
    y: usize,
    y_masked: usize,
    mask: usize,
    dx_from_mask: usize,
    dx_from_gpu_mask: usize,
    dx_from_input: usize,
}

/// Every element-wise op recorded on views into one encoder, one submit:
/// forward outputs in one buffer, backward outputs (from the inputs' mask
/// view and from the forward's mask view) in another.
pub fn check_elementwise_recorded(gpu: &Gpu, activations: &[Activation], len: usize, case: usize) {
    let what = format!("recorded, {len} elements");
    let inputs = ElementwiseInputs::new(
        gpu,
        activations,
        len,
        case as u64 * 10,
        FULL,
        trailing(case + 1),
    );
    let words = cpu::mask_words(len);
    let mut forward = ArenaLayout::new(gpu);
    let mut backward = ArenaLayout::new(gpu);
    let relu = forward.add_output(len);
    let in_place = forward.add_f32(&inputs.x);
    let outputs: Vec<ActivationOutputs> = activations
        .iter()
        .map(|_| ActivationOutputs {
            y: forward.add_output(len),
            y_masked: forward.add_output(len),
            mask: forward.add_output(words),
            dx_from_mask: backward.add_output(len),
            dx_from_gpu_mask: backward.add_output(len),
            dx_from_input: backward.add_output(len),
        })
        .collect();
    let forward = forward.build(gpu, FULL, trailing(case));
    let backward = backward.build(gpu, FULL, trailing(case));

    let x = inputs.x(gpu);
    let dy = inputs.dy(gpu);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_relu(&mut encoder, &x, &forward.tensor(gpu, relu, &[len]))
        .unwrap();
    let mut in_place_view = forward.tensor(gpu, in_place, &[len]);
    gpu.record_relu_in_place(&mut encoder, &mut in_place_view)
        .unwrap();
    for (a, (&activation, out)) in activations.iter().zip(&outputs).enumerate() {
        let y = forward.tensor(gpu, out.y, &[len]);
        let y_masked = forward.tensor(gpu, out.y_masked, &[len]);
        let mask = forward.mask(gpu, out.mask, len);
        gpu.record_activation(&mut encoder, activation, &x, &y, None)
            .unwrap();
        gpu.record_activation(&mut encoder, activation, &x, &y_masked, Some(&mask))
            .unwrap();
        let dx = |region| backward.tensor(gpu, region, &[len]);
        gpu.record_activation_backward(
            &mut encoder,
            activation,
            &dy,
            &inputs.mask(gpu, a),
            &dx(out.dx_from_mask),
        )
        .unwrap();
        gpu.record_activation_backward(
            &mut encoder,
            activation,
            &dy,
            &mask,
            &dx(out.dx_from_gpu_mask),
        )
        .unwrap();
        gpu.record_activation_backward_from_input(
            &mut encoder,
            activation,
            &dy,
            &x,
            &dx(out.dx_from_input),
        )
        .unwrap();
    }
    let read = submit_and_read(gpu, encoder, &[&inputs.arena, &forward, &backward]);
    let (got_inputs, got_forward, got_backward) = (&read[0], &read[1], &read[2]);

    inputs
        .arena
        .assert_unchanged_outside(&format!("{what}: inputs' buffer"), got_inputs, &[]);
    let mut written = vec![relu, in_place];
    written.extend(outputs.iter().flat_map(|o| [o.y, o.y_masked, o.mask]));
    forward.assert_unchanged_outside(
        &format!("{what}: forward outputs' buffer"),
        got_forward,
        &written,
    );
    let written: Vec<usize> = outputs
        .iter()
        .flat_map(|o| [o.dx_from_mask, o.dx_from_gpu_mask, o.dx_from_input])
        .collect();
    backward.assert_unchanged_outside(
        &format!("{what}: backward outputs' buffer"),
        got_backward,
        &written,
    );

    let x_data = &inputs.x;
    let relu_ref = cpu::relu_forward(x_data);
    let at = |arena: &Arena, all: &[u32], region| arena.floats(all, region);
    assert_bit_exact(
        &format!("{what}: relu"),
        x_data,
        &at(&forward, got_forward, relu),
        &relu_ref,
    );
    assert_bit_exact(
        &format!("{what}: relu in place"),
        x_data,
        &at(&forward, got_forward, in_place),
        &relu_ref,
    );
    for (a, (&activation, out)) in activations.iter().zip(&outputs).enumerate() {
        let what = format!("{what}, {activation}");
        let (exact, flushed) = forward_refs(activation, x_data);
        let y = at(&forward, got_forward, out.y);
        assert_agrees(&format!("{what}: y"), x_data, &y, &exact, &flushed);
        let y_masked = at(&forward, got_forward, out.y_masked);
        assert_agrees(
            &format!("{what}: y (mask)"),
            x_data,
            &y_masked,
            &exact,
            &flushed,
        );
        assert_bit_exact(
            &format!("{what}: y without vs with mask"),
            x_data,
            &y,
            &y_masked,
        );
        assert_mask_exact(
            &format!("{what}: mask"),
            forward.words(got_forward, out.mask),
            &inputs.masks[a],
        );
        let (exact, flushed) = backward_refs(activation, &inputs.dy, &inputs.masks[a]);
        for (name, region) in [
            ("dx from the mask view", out.dx_from_mask),
            ("dx from the forward's mask view", out.dx_from_gpu_mask),
        ] {
            let dx = at(&backward, got_backward, region);
            assert_agrees(
                &format!("{what}: {name}"),
                &inputs.dy,
                &dx,
                &exact,
                &flushed,
            );
        }
        let exact = cpu::backward_from_input(activation, &inputs.dy, x_data);
        let dx = at(&backward, got_backward, out.dx_from_input);
        assert_agrees(
            &format!("{what}: dx from input"),
            &inputs.dy,
            &dx,
            &exact,
            &flushed,
        );
    }

    // The views download their own bytes, at their offsets.
    let y = forward.tensor(gpu, outputs[1].y_masked, &[len]);
    assert_eq!(
        bits(&y.download().unwrap()),
        forward.words(got_forward, outputs[1].y_masked),
        "{what}: download of a view"
    );
    let mask = forward.mask(gpu, outputs[1].mask, len);
    assert_eq!(
        mask.download().unwrap(),
        forward.words(got_forward, outputs[1].mask),
        "{what}: download of a mask view"
    );
}

/// The fused ops' inputs of one shape: `x`, `b`, `dy` and the reference's
/// mask of `x + b` for each activation, as views of one buffer.
pub struct FusedInputs {
    pub activations: Vec<Activation>,
    pub shape: [usize; 2],
    pub x: Vec<f32>,
    pub b: Vec<f32>,
    pub dy: Vec<f32>,
    /// The reference of each activation.
    pub refs: Vec<BiasRefs>,
    pub arena: Arena,
    regions: [usize; 3],
    mask_regions: Vec<usize>,
}

impl FusedInputs {
    pub fn new(
        gpu: &Gpu,
        activations: &[Activation],
        shape: [usize; 2],
        seed: u64,
        usage: wgpu::BufferUsages,
        trailing: u64,
    ) -> Self {
        let [rows, cols] = shape;
        let x = sample::activations(rows * cols, seed);
        let b = bias_values(cols, seed + 1);
        let dy = sample::activations(rows * cols, seed + 2);
        let refs: Vec<BiasRefs> = activations
            .iter()
            .map(|&activation| BiasRefs::new(activation, &x, &b))
            .collect();
        let mut layout = ArenaLayout::new(gpu);
        let regions = [layout.add_f32(&x), layout.add_f32(&b), layout.add_f32(&dy)];
        let mask_regions = refs.iter().map(|r| layout.add(r.mask.clone())).collect();
        Self {
            activations: activations.to_vec(),
            shape,
            x,
            b,
            dy,
            refs,
            arena: layout.build(gpu, usage, trailing),
            regions,
            mask_regions,
        }
    }

    pub fn len(&self) -> usize {
        self.x.len()
    }

    pub fn x(&self, gpu: &Gpu) -> Tensor {
        self.arena.tensor(gpu, self.regions[0], &self.shape)
    }

    pub fn b(&self, gpu: &Gpu) -> Tensor {
        self.arena.tensor(gpu, self.regions[1], &[self.shape[1]])
    }

    pub fn dy(&self, gpu: &Gpu) -> Tensor {
        self.arena.tensor(gpu, self.regions[2], &self.shape)
    }

    pub fn mask(&self, gpu: &Gpu, activation: usize) -> Mask {
        self.arena
            .mask(gpu, self.mask_regions[activation], self.len())
    }

    /// `bias_add`'s reference: exact and flushed.
    pub fn bias_add_refs(&self) -> (Vec<f32>, Vec<f32>) {
        (
            cpu::bias_add(&self.x, &self.b, Subnormals::Preserve),
            cpu::bias_add(&self.x, &self.b, Subnormals::FlushToZero),
        )
    }
}

/// The regions of one activation's fused outputs.
pub struct FusedOutputs {
    y: usize,
    y_masked: usize,
    mask: usize,
    dx_from_mask: usize,
    dx_from_gpu_mask: usize,
    /// In the forward outputs' buffer (which the backward reads its mask
    /// from, in another dispatch).
    db_from_mask: usize,
    /// In a buffer of its own.
    db_from_gpu_mask: usize,
}

/// The fused ops recorded on views into one encoder, one submit.
pub fn check_fused_recorded(gpu: &Gpu, activations: &[Activation], shape: [usize; 2], case: usize) {
    let [rows, cols] = shape;
    let what = format!("recorded, {rows}x{cols}");
    let inputs = FusedInputs::new(
        gpu,
        activations,
        shape,
        1000 + case as u64 * 10,
        FULL,
        trailing(case),
    );
    let len = inputs.len();
    let words = cpu::mask_words(len);
    let mut forward = ArenaLayout::new(gpu);
    let mut backward = ArenaLayout::new(gpu);
    let mut gradients = ArenaLayout::new(gpu);
    let bias_add = forward.add_output(len);
    let outputs: Vec<FusedOutputs> = activations
        .iter()
        .map(|_| FusedOutputs {
            y: forward.add_output(len),
            y_masked: forward.add_output(len),
            mask: forward.add_output(words),
            dx_from_mask: backward.add_output(len),
            dx_from_gpu_mask: backward.add_output(len),
            db_from_mask: forward.add_output(cols),
            db_from_gpu_mask: gradients.add_output(cols),
        })
        .collect();
    let forward = forward.build(gpu, FULL, trailing(case + 1));
    let backward = backward.build(gpu, FULL, trailing(case));
    let gradients = gradients.build(gpu, FULL, trailing(case + 1));

    let (x, b, dy) = (inputs.x(gpu), inputs.b(gpu), inputs.dy(gpu));
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_bias_add(&mut encoder, &x, &b, &forward.tensor(gpu, bias_add, &shape))
        .unwrap();
    for (a, (&activation, out)) in activations.iter().zip(&outputs).enumerate() {
        let y = forward.tensor(gpu, out.y, &shape);
        let y_masked = forward.tensor(gpu, out.y_masked, &shape);
        let mask = forward.mask(gpu, out.mask, len);
        gpu.record_bias_activation(&mut encoder, activation, &x, &b, &y, None)
            .unwrap();
        gpu.record_bias_activation(&mut encoder, activation, &x, &b, &y_masked, Some(&mask))
            .unwrap();
        gpu.record_bias_activation_backward(
            &mut encoder,
            activation,
            &dy,
            &inputs.mask(gpu, a),
            &backward.tensor(gpu, out.dx_from_mask, &shape),
            &forward.tensor(gpu, out.db_from_mask, &[cols]),
        )
        .unwrap();
        gpu.record_bias_activation_backward(
            &mut encoder,
            activation,
            &dy,
            &mask,
            &backward.tensor(gpu, out.dx_from_gpu_mask, &shape),
            &gradients.tensor(gpu, out.db_from_gpu_mask, &[cols]),
        )
        .unwrap();
    }
    let read = submit_and_read(
        gpu,
        encoder,
        &[&inputs.arena, &forward, &backward, &gradients],
    );
    let (got_inputs, got_forward, got_backward, got_gradients) =
        (&read[0], &read[1], &read[2], &read[3]);

    inputs
        .arena
        .assert_unchanged_outside(&format!("{what}: inputs' buffer"), got_inputs, &[]);
    let mut written = vec![bias_add];
    written.extend(
        outputs
            .iter()
            .flat_map(|o| [o.y, o.y_masked, o.mask, o.db_from_mask]),
    );
    forward.assert_unchanged_outside(
        &format!("{what}: forward outputs' buffer"),
        got_forward,
        &written,
    );
    let written: Vec<usize> = outputs
        .iter()
        .flat_map(|o| [o.dx_from_mask, o.dx_from_gpu_mask])
        .collect();
    backward.assert_unchanged_outside(&format!("{what}: dx buffer"), got_backward, &written);
    let written: Vec<usize> = outputs.iter().map(|o| o.db_from_gpu_mask).collect();
    gradients.assert_unchanged_outside(&format!("{what}: db buffer"), got_gradients, &written);

    let (exact, flushed) = inputs.bias_add_refs();
    let y = forward.floats(got_forward, bias_add);
    assert_agrees(
        &format!("{what}: bias add"),
        &inputs.x,
        &y,
        &exact,
        &flushed,
    );
    for (a, (&activation, out)) in activations.iter().zip(&outputs).enumerate() {
        let what = format!("{what}, {activation}");
        let refs = &inputs.refs[a];
        let y = forward.floats(got_forward, out.y);
        assert_agrees(
            &format!("{what}: y"),
            &inputs.x,
            &y,
            &refs.y,
            &refs.y_flushed,
        );
        let y_masked = forward.floats(got_forward, out.y_masked);
        assert_agrees(
            &format!("{what}: y (mask)"),
            &inputs.x,
            &y_masked,
            &refs.y,
            &refs.y_flushed,
        );
        assert_bit_exact(
            &format!("{what}: y without vs with mask"),
            &inputs.x,
            &y,
            &y_masked,
        );
        let gpu_mask = forward.words(got_forward, out.mask);
        assert_mask_within_flush(
            &format!("{what}: mask"),
            len,
            gpu_mask,
            &refs.mask,
            &refs.mask_flushed,
        );

        for (name, mask, dx, db) in [
            (
                "from the mask view",
                &refs.mask[..],
                backward.floats(got_backward, out.dx_from_mask),
                forward.floats(got_forward, out.db_from_mask),
            ),
            (
                "from the forward's mask view",
                gpu_mask,
                backward.floats(got_backward, out.dx_from_gpu_mask),
                gradients.floats(got_gradients, out.db_from_gpu_mask),
            ),
        ] {
            let (exact, flushed) = backward_refs(activation, &inputs.dy, mask);
            assert_agrees(
                &format!("{what}: dx {name}"),
                &inputs.dy,
                &dx,
                &exact,
                &flushed,
            );
            assert_db_within_bound(&format!("{what}: db {name}"), &db, &exact, rows);
        }
    }
}
