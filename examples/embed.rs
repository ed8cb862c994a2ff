//! Embedding in a graphics pipeline: the crate's second use case.
//!
//! The program plays a small engine. It owns its wgpu device, queue and
//! buffers; it draws a triangle into an offscreen texture, and in the same
//! command encoder runs relu and fused bias + relu on data that lives in its
//! own buffers, at offsets it chose. It submits once, polls without blocking
//! as a render loop would, and checks the results against the CPU reference.
//!
//! ```sh
//! cargo run --release --example embed            # adapter from WGPU_BACKEND
//! WGPU_BACKEND=gl cargo run --release --example embed
//! ```

use std::error::Error;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use wgpu_activations::{Activation, Gpu, Tensor, cpu};

const ROWS: usize = 257;
const COLS: usize = 301;
const SIZE: u32 = 64;
const CLEAR: wgpu::Color = wgpu::Color {
    r: 0.0,
    g: 0.0,
    b: 1.0,
    a: 1.0,
};

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

    // The engine's buffers: inputs x and b in one, outputs in another, each
    // at an offset aligned as the device requires.
    let x_data = activations(ROWS * COLS, 7);
    let b_data = activations(COLS, 8);
    let alignment = u64::from(device.limits().min_storage_buffer_offset_alignment);
    let x_offset = alignment;
    let b_offset = aligned(x_offset + bytes(ROWS * COLS), alignment);
    let relu_offset = alignment * 2;
    let bias_relu_offset = aligned(relu_offset + bytes(ROWS * COLS), alignment);
    let usage =
        wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST;
    let inputs = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine inputs"),
        size: b_offset + bytes(COLS),
        usage,
        mapped_at_creation: false,
    });
    let outputs = device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("engine outputs"),
        size: bias_relu_offset + bytes(ROWS * COLS),
        usage,
        mapped_at_creation: false,
    });
    queue.write_buffer(&inputs, x_offset, bytemuck::cast_slice(&x_data));
    queue.write_buffer(&inputs, b_offset, bytemuck::cast_slice(&b_data));

    // Views of those bytes: nothing is copied, and ops write nothing else.
    let x = Tensor::from_buffer(&gpu, &inputs, x_offset, &[ROWS, COLS])?;
    let b = Tensor::from_buffer(&gpu, &inputs, b_offset, &[COLS])?;
    let relu_y = Tensor::from_buffer(&gpu, &outputs, relu_offset, &[ROWS, COLS])?;
    let bias_relu_y = Tensor::from_buffer(&gpu, &outputs, bias_relu_offset, &[ROWS, COLS])?;

    let target = RenderTarget::new(&device);

    // One frame: the engine's render pass, then the activations, then the
    // copies out, all in one encoder and one submit.
    let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
        label: Some("frame"),
    });
    target.draw(&mut encoder);
    gpu.record_relu(&mut encoder, &x, &relu_y)?;
    gpu.record_bias_activation(&mut encoder, Activation::Relu, &x, &b, &bias_relu_y, None)?;
    let mut relu_pending = relu_y.record_download(&mut encoder)?;
    let mut bias_relu_pending = bias_relu_y.record_download(&mut encoder)?;
    let mut pixels_pending = target.record_readback(&mut encoder);
    queue.submit([encoder.finish()]);

    // The render loop: poll once per frame, never block, take what arrived.
    let (mut relu, mut bias_relu, mut pixels) = (None, None, None);
    let mut frames = 0;
    while relu.is_none() || bias_relu.is_none() || pixels.is_none() {
        device.poll(wgpu::PollType::Poll)?;
        frames += 1;
        if relu.is_none() {
            relu = relu_pending.try_take().transpose()?;
        }
        if bias_relu.is_none() {
            bias_relu = bias_relu_pending.try_take().transpose()?;
        }
        if pixels.is_none() {
            pixels = pixels_pending.try_take();
        }
        // The rest of a frame's work would go here.
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    println!("results arrived after {frames} frames of the render loop");

    verify_pixels(pixels.unwrap_or_default())?;
    let relu = relu.unwrap_or_default();
    let expected = cpu::relu_forward(&x_data);
    let relu_mismatches = count_mismatches(&relu, &[expected]);
    // A GPU may flush a subnormal sum x + b to zero; either result is right.
    let bias_relu = bias_relu.unwrap_or_default();
    let flushed = cpu::forward(
        Activation::Relu,
        &cpu::bias_add(&x_data, &b_data, cpu::Subnormals::FlushToZero),
    );
    let bias_relu_mismatches = count_mismatches(
        &bias_relu,
        &[
            cpu::bias_forward(Activation::Relu, &x_data, &b_data),
            flushed,
        ],
    );
    println!("relu over [{ROWS}, {COLS}]: {relu_mismatches} mismatches against the CPU reference");
    println!("bias + relu over [{ROWS}, {COLS}]: {bias_relu_mismatches} mismatches");
    if relu_mismatches + bias_relu_mismatches > 0 {
        return Err("the activations differ from the CPU reference".into());
    }
    Ok(())
}

fn bytes(elements: usize) -> u64 {
    elements as u64 * 4
}

fn aligned(offset: u64, alignment: u64) -> u64 {
    offset.div_ceil(alignment) * alignment
}

/// Elements of `gpu` whose bits match none of the accepted results.
fn count_mismatches(gpu: &[f32], accepted: &[Vec<f32>]) -> usize {
    (0..accepted[0].len())
        .filter(|&i| {
            gpu.get(i).is_none_or(|value| {
                !accepted
                    .iter()
                    .any(|result| result[i].to_bits() == value.to_bits())
            })
        })
        .count()
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
            texture,
            pipeline,
            readback,
        }
    }

    fn draw(&self, encoder: &mut wgpu::CommandEncoder) {
        let view = self.texture.create_view(&Default::default());
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("draw"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &view,
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
