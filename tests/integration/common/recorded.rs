//! Every element-wise and fused op on views of guarded caller buffers, all
//! recorded into one encoder and submitted once: the checks that
//! tests/integration/views runs on the default device and
//! tests/integration/split on devices whose bindings are smaller than the
//! views.

use wgpu_activations::cpu::{self, Subnormals};
use wgpu_activations::{Activation, Gpu, Mask, Tensor};

use super::arena::{Arena, ArenaLayout, FULL, submit_and_read, trailing};
use super::checks::{
    BiasRefs, assert_agrees, assert_bit_exact, assert_db_within_bound, assert_mask_exact,
    assert_mask_within_flush, backward_refs, bias_values, bits, forward_refs,
};
use super::sample;

/// The element-wise inputs of one length: `x`, `dy` and the reference's
/// mask of `x` for each activation, as views of one buffer.
pub struct ElementwiseInputs {
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
            .mask(gpu, self.mask_regions[activation], &[self.x.len()])
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
        let mask = forward.mask(gpu, out.mask, &[len]);
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
    let mask = forward.mask(gpu, outputs[1].mask, &[len]);
    assert_eq!(
        mask.download().unwrap(),
        forward.words(got_forward, outputs[1].mask),
        "{what}: download of a mask view"
    );
}

/// The fused ops' inputs of one shape: `x`, `b`, `dy` and the reference's
/// mask of `x + b` for each activation, as views of one buffer.
pub struct FusedInputs {
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
            .mask(gpu, self.mask_regions[activation], &self.shape)
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
        let mask = forward.mask(gpu, out.mask, &shape);
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
