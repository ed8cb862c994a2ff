//! Embedding in a graphics pipeline: the crate's second use case.
//!
//! The program plays a small engine. It owns its wgpu device, queue and
//! buffers. At load time it lays out views of its own buffers and prepares
//! the ops once: relu, fused bias + relu saving its mask, and the fused
//! backward. Then it runs a render loop: each frame draws a triangle into an
//! offscreen texture and, in the same command encoder, records the prepared
//! ops and downloads of their results; it submits once, polls without
//! blocking and takes the results that have arrived.
//!
//! It prints what a frame costs in steady state (wgpu's object counters:
//! buffers and bind groups created while recording and submitting a frame;
//! the CPU time of recording an op against a bare dispatch of the engine's
//! own) and checks the last frame's results against the CPU reference.
//!
//! ```sh
//! cargo run --release --example embed            # adapter from WGPU_BACKEND
//! WGPU_BACKEND=gl cargo run --release --example embed
//! ```

use std::collections::VecDeque;
use std::error::Error;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::verify::{self, OpOutputs};
use wgpu_activations::{
    Activation, BufferLayout, Gpu, HostInputs, Mask, Op, OpTensors, PendingDownload, Tensor, cpu,
};

const ROWS: usize = 257;
const COLS: usize = 301;
const SIZE: u32 = 64;
const CLEAR: wgpu::Color = wgpu::Color {
    r: 0.0,
    g: 0.0,
    b: 1.0,
    a: 1.0,
};
/// Frames before the steady state is measured, and frames measured.
const WARM_UP: usize = 20;
const FRAMES: usize = 200;

fn main() -> Result<(), Box<dyn Error>> {
    // The engine's device, opened the engine's way.
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()))?;
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("engine"),
        ..Default::default()
    }))?;

    // The kernels, once, on that device: no second device, nothing submitted.
    let gpu = Gpu::from_device(device.clone(), queue.clone())?;
    gpu.precompile()?;
    println!("{}\n", gpu.info());

    // The engine's buffers, laid out at the offsets the device requires:
    // what the ops read in one, the forward's outputs in another, the
    // gradients in a third (an op may not read and write one buffer in one
    // dispatch; disjoint outputs may share one).
    let shape = [ROWS, COLS];
    let inputs = HostInputs {
        x: activations(ROWS * COLS, 7),
        dy: activations(ROWS * COLS, 9),
        bias: activations(COLS, 8),
    };
    let mut read = BufferLayout::new(&gpu);
    let (x_at, b_at, dy_at) = (
        read.tensor(&shape)?,
        read.tensor(&[COLS])?,
        read.tensor(&shape)?,
    );
    let mut forward = BufferLayout::new(&gpu);
    let (relu_at, y_at, mask_at) = (
        forward.tensor(&shape)?,
        forward.tensor(&shape)?,
        forward.mask(&shape)?,
    );
    let mut backward = BufferLayout::new(&gpu);
    let (dx_at, db_at) = (backward.tensor(&shape)?, backward.tensor(&[COLS])?);
    let engine_buffer = |label, layout: &BufferLayout| {
        device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: layout.size(),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    };
    let (reads, forwards, gradients) = (
        engine_buffer("engine inputs", &read),
        engine_buffer("engine forward", &forward),
        engine_buffer("engine gradients", &backward),
    );
    queue.write_buffer(&reads, x_at, bytemuck::cast_slice(&inputs.x));
    queue.write_buffer(&reads, b_at, bytemuck::cast_slice(&inputs.bias));
    queue.write_buffer(&reads, dy_at, bytemuck::cast_slice(&inputs.dy));

    // Views of those bytes: nothing is copied, and ops write nothing else.
    let x = Tensor::from_buffer(&gpu, &reads, x_at, &shape)?;
    let b = Tensor::from_buffer(&gpu, &reads, b_at, &[COLS])?;
    let dy = Tensor::from_buffer(&gpu, &reads, dy_at, &shape)?;
    let relu_y = Tensor::from_buffer(&gpu, &forwards, relu_at, &shape)?;
    let y = Tensor::from_buffer(&gpu, &forwards, y_at, &shape)?;
    let mask = Mask::from_buffer(&gpu, &forwards, mask_at, &shape)?;
    let dx = Tensor::from_buffer(&gpu, &gradients, dx_at, &shape)?;
    let db = Tensor::from_buffer(&gpu, &gradients, db_at, &[COLS])?;

    // Once, at load time: the ops bound to those views.
    let relu = Activation::Relu;
    let ops = [
        (
            Op::ReluForward,
            OpTensors {
                x: Some(&x),
                y: Some(&relu_y),
                ..Default::default()
            },
        ),
        (
            Op::BiasForwardWithMask(relu),
            OpTensors {
                x: Some(&x),
                bias: Some(&b),
                y: Some(&y),
                mask: Some(&mask),
                ..Default::default()
            },
        ),
        (
            Op::BiasBackward(relu),
            OpTensors {
                dy: Some(&dy),
                mask: Some(&mask),
                dx: Some(&dx),
                db: Some(&db),
                ..Default::default()
            },
        ),
    ];
    let prepared = gpu.prepare_batch(&ops)?;
    let target = RenderTarget::new(&device);

    // The render loop. Each frame: the engine's pass, the activations, a
    // download of db, one submit, one non-blocking poll; a download is taken
    // when it has arrived (a frame or two later).
    let mut in_flight: VecDeque<PendingDownload<f32>> = VecDeque::new();
    let (mut buffers_created, mut bind_groups_created) = (0, 0);
    let mut recording = Duration::ZERO;
    let mut arrived = 0;
    let mut last_db = Vec::new();
    for frame in 0..WARM_UP + FRAMES {
        let before = objects(&device);
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("frame"),
        });
        target.draw(&mut encoder);
        let started = Instant::now();
        prepared.record(&mut encoder);
        let elapsed = started.elapsed();
        in_flight.push_back(db.record_download(&mut encoder)?);
        queue.submit([encoder.finish()]);
        let after = objects(&device);
        if frame >= WARM_UP {
            buffers_created += after.0 - before.0;
            bind_groups_created += after.1 - before.1;
            recording += elapsed;
        }
        device.poll(wgpu::PollType::Poll)?;
        while let Some(data) = in_flight.front_mut().and_then(PendingDownload::try_take) {
            last_db = data?;
            arrived += 1;
            in_flight.pop_front();
        }
    }
    // Let the last frames finish, and read every result of the last one.
    device.poll(wgpu::PollType::wait_indefinitely())?;
    for mut pending in in_flight {
        if let Some(data) = pending.try_take() {
            last_db = data?;
            arrived += 1;
        }
    }
    println!("{arrived} of {} db downloads arrived", WARM_UP + FRAMES);

    let per_op = recording.as_secs_f64() * 1e6 / (FRAMES * ops.len()) as f64;
    let bare = bare_dispatch_record_time(&device);
    println!(
        "steady state per frame: {} buffers, {} bind groups created; record {per_op:.2} µs/op (bare dispatch {:.2} µs)",
        buffers_created / FRAMES as isize,
        bind_groups_created / FRAMES as isize,
        bare.as_secs_f64() * 1e6
    );
    let commands = prepared.commands();
    println!(
        "  ({} ops, {commands} commands: each op's dispatches and the copies of its unpadded \
         views' tails and of the bias staged for a CPU adapter; {:.2} µs per command)",
        ops.len(),
        per_op * ops.len() as f64 / commands as f64
    );
    if buffers_created != 0 || bind_groups_created != 0 {
        println!(
            "  over {FRAMES} frames: {buffers_created} buffers, {bind_groups_created} bind groups"
        );
    }

    // The last frame's results against the CPU reference.
    let mut encoder = device.create_command_encoder(&Default::default());
    let mut pixels_pending = target.record_readback(&mut encoder);
    queue.submit([encoder.finish()]);
    device.poll(wgpu::PollType::wait_indefinitely())?;
    verify_pixels(pixels_pending.try_take().unwrap_or_default())?;
    let results = [
        (Op::ReluForward, relu_y.download()?, None, None),
        (
            Op::BiasForwardWithMask(relu),
            y.download()?,
            Some(mask.download()?),
            None,
        ),
        (Op::BiasBackward(relu), dx.download()?, None, Some(last_db)),
    ];
    let mut mismatches = 0;
    for (op, values, mask, db) in results {
        let outputs = OpOutputs {
            values,
            mask,
            db,
            preactivation: None,
        };
        let comparison = verify::compare(op, &inputs, &outputs)?;
        println!(
            "{op} over [{ROWS}, {COLS}]: {} mismatches against the CPU reference",
            comparison.mismatches
        );
        mismatches += comparison.mismatches;
    }
    if mismatches > 0 {
        return Err("the activations differ from the CPU reference".into());
    }
    Ok(())
}

/// Buffers and bind groups alive on `device` (wgpu's `counters` feature).
fn objects(device: &wgpu::Device) -> (isize, isize) {
    let counters = device.get_internal_counters();
    (counters.hal.buffers.read(), counters.hal.bind_groups.read())
}

/// The CPU time of recording one dispatch of the engine's own compute
/// pipeline with a bind group made once: its own pass, pipeline, bind group
/// and dispatch, as a prepared op records them. The median of 5 rounds of
/// 1000 recordings.
fn bare_dispatch_record_time(device: &wgpu::Device) -> Duration {
    let module = device.create_shader_module(wgpu::include_wgsl!("embed.wgsl"));
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("engine step"),
        layout: None,
        module: &module,
        entry_point: Some("engine_step"),
        compilation_options: Default::default(),
        cache: None,
    });
    let data = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine data"),
        size: 4096,
        usage: wgpu::BufferUsages::STORAGE,
        mapped_at_creation: false,
    });
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("engine step"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: data.as_entire_binding(),
        }],
    });
    let mut rounds: Vec<Duration> = (0..5)
        .map(|_| {
            let mut encoder = device.create_command_encoder(&Default::default());
            let started = Instant::now();
            for _ in 0..1000 {
                let mut pass = encoder.begin_compute_pass(&Default::default());
                pass.set_pipeline(&pipeline);
                pass.set_bind_group(0, &bind_group, &[]);
                pass.dispatch_workgroups(16, 1, 1);
            }
            started.elapsed() / 1000
        })
        .collect();
    rounds.sort();
    rounds[2]
}

/// The triangle covers the centre and leaves the corners the clear colour.
fn verify_pixels(pixels: Vec<u8>) -> Result<(), Box<dyn Error>> {
    let pixel = |x: u32, y: u32| {
        let i = ((y * SIZE + x) * 4) as usize;
        pixels.get(i..i + 4).map(<[u8]>::to_vec).unwrap_or_default()
    };
    let (centre, corner) = (pixel(SIZE / 2, SIZE / 2), pixel(1, 1));
    println!("rendered: centre pixel {centre:?}, corner pixel {corner:?}");
    let orange = centre.len() == 4 && centre[0] == 255 && centre[2] == 0 && centre[3] == 255;
    if !orange || corner != [0, 0, 255, 255] {
        return Err("the render pass did not draw the triangle".into());
    }
    Ok(())
}

/// The engine's drawing: an offscreen texture, a pipeline, and a buffer its
/// pixels are copied into.
struct RenderTarget {
    texture: wgpu::Texture,
    view: wgpu::TextureView,
    pipeline: wgpu::RenderPipeline,
    readback: wgpu::Buffer,
}

impl RenderTarget {
    const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

    fn new(device: &wgpu::Device) -> Self {
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("offscreen target"),
            size: wgpu::Extent3d {
                width: SIZE,
                height: SIZE,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: Self::FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let module = device.create_shader_module(wgpu::include_wgsl!("embed.wgsl"));
        let pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("triangle"),
            layout: None,
            vertex: wgpu::VertexState {
                module: &module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: Default::default(),
            depth_stencil: None,
            multisample: Default::default(),
            fragment: Some(wgpu::FragmentState {
                module: &module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                targets: &[Some(Self::FORMAT.into())],
            }),
            multiview_mask: None,
            cache: None,
        });
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("pixels"),
            size: u64::from(SIZE * SIZE * 4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Self {
            view: texture.create_view(&Default::default()),
            texture,
            pipeline,
            readback,
        }
    }

    fn draw(&self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("draw"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &self.view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(CLEAR),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
        pass.set_pipeline(&self.pipeline);
        pass.draw(0..3, 0..1);
    }

    /// Copies the pixels out; the returned slot fills once the submission
    /// has run and the device has been polled past it.
    fn record_readback(&self, encoder: &mut wgpu::CommandEncoder) -> PendingPixels {
        encoder.copy_texture_to_buffer(
            self.texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &self.readback,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    // 64 pixels of 4 bytes: already the 256-byte row alignment.
                    bytes_per_row: Some(SIZE * 4),
                    rows_per_image: None,
                },
            },
            self.texture.size(),
        );
        let (sender, receiver) = std::sync::mpsc::channel();
        encoder.map_buffer_on_submit(&self.readback, wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        PendingPixels {
            buffer: self.readback.clone(),
            receiver,
        }
    }
}

struct PendingPixels {
    buffer: wgpu::Buffer,
    receiver: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

impl PendingPixels {
    fn try_take(&mut self) -> Option<Vec<u8>> {
        match self.receiver.try_recv() {
            Ok(Ok(())) => {
                let pixels = self.buffer.slice(..).get_mapped_range().ok()?.to_vec();
                self.buffer.unmap();
                Some(pixels)
            }
            // A failed map leaves no pixels, which verify_pixels reports.
            Ok(Err(_)) | Err(std::sync::mpsc::TryRecvError::Disconnected) => Some(Vec::new()),
            Err(std::sync::mpsc::TryRecvError::Empty) => None,
        }
    }
}

/// Uniform values in [-4, 4) with every special value of the contract
/// (`cpu::SPECIAL_BITS`) in every 16th place.
fn activations(len: usize, seed: u64) -> Vec<f32> {
    let specials = cpu::special_values();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|i| match i % 16 {
            0 => specials[i / 16 % specials.len()],
            _ => rng.random_range(-4.0f32..4.0),
        })
        .collect()
}
