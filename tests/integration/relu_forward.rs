//! relu forward, out-of-place, in-place and recorded, bit-exact against the
//! CPU reference on whichever backend WGPU_BACKEND selects (CI runs Vulkan and GL).

use wgpu_activations::{Gpu, Tensor, cpu};

use crate::common::sample;
use crate::common::{
    LENGTHS, NARROW, assert_bit_exact, gpu, gpu_with_shape, length_past_one_dispatch_dimension,
};

fn check_out_of_place(gpu: &Gpu, len: usize, seed: u64) {
    let input = sample::activations(len, seed);
    let x = Tensor::from_slice(gpu, &input).unwrap();
    let y = gpu.relu(&x).unwrap();
    assert_eq!(y.shape(), x.shape());
    assert_bit_exact(
        &format!("relu len {len}"),
        &input,
        &y.download().unwrap(),
        &cpu::relu_forward(&input),
    );
    // The input is untouched.
    assert_bit_exact(
        &format!("relu input len {len}"),
        &input,
        &x.download().unwrap(),
        &input,
    );
}

fn check_in_place(gpu: &Gpu, len: usize, seed: u64) {
    let input = sample::activations(len, seed);
    let mut x = Tensor::from_slice(gpu, &input).unwrap();
    gpu.relu_in_place(&mut x).unwrap();
    let mut expected = input.clone();
    cpu::relu_forward_in_place(&mut expected);
    assert_bit_exact(
        &format!("relu in place len {len}"),
        &input,
        &x.download().unwrap(),
        &expected,
    );
}

#[test]
fn relu_matches_reference_at_every_length() {
    let Some(gpu) = gpu() else { return };
    for &len in LENGTHS {
        check_out_of_place(&gpu, len, len as u64);
    }
}

#[test]
fn relu_in_place_matches_reference_at_every_length() {
    let Some(gpu) = gpu() else { return };
    for &len in LENGTHS {
        check_in_place(&gpu, len, len as u64 + 1);
    }
}

#[test]
fn relu_past_one_dispatch_dimension() {
    let Some(gpu) = gpu_with_shape(NARROW) else {
        return;
    };
    let len = length_past_one_dispatch_dimension(&gpu);
    check_out_of_place(&gpu, len, 11);
    check_in_place(&gpu, len, 12);
}

#[test]
fn relu_of_each_special_value_is_as_designed() {
    let Some(gpu) = gpu() else { return };
    let specials = cpu::special_values();
    let x = Tensor::from_slice(&gpu, &specials).unwrap();
    let y = gpu.relu(&x).unwrap().download().unwrap();
    for (input, output) in specials.iter().zip(&y) {
        let expected = if input.is_nan() {
            input.to_bits()
        } else if input.to_bits() & 0x8000_0000 != 0 {
            0 // every negative, -0.0 and -inf become +0.0
        } else {
            input.to_bits()
        };
        assert_eq!(
            output.to_bits(),
            expected,
            "relu({:#010x})",
            input.to_bits()
        );
    }
}

#[test]
fn recorded_relu_runs_in_the_callers_encoder_and_submit() {
    let Some(gpu) = gpu() else { return };
    let input = sample::activations(1_000_003, 5);
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    let y = Tensor::uninit(&gpu, x.shape()).unwrap();
    let mut z = Tensor::from_slice(&gpu, &input).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_relu(&mut encoder, &x, &y).unwrap();
    gpu.record_relu_in_place(&mut encoder, &mut z).unwrap();
    gpu.queue().submit([encoder.finish()]);
    let expected = cpu::relu_forward(&input);
    assert_bit_exact("recorded relu", &input, &y.download().unwrap(), &expected);
    assert_bit_exact(
        "recorded relu in place",
        &input,
        &z.download().unwrap(),
        &expected,
    );
}

#[test]
fn chained_ops_stay_on_the_gpu_and_async_download_resolves() {
    let Some(gpu) = gpu() else { return };
    let input = sample::activations(4099, 9);
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    let twice = gpu.relu(&gpu.relu(&x).unwrap()).unwrap();
    let result = pollster::block_on(twice.download_async()).unwrap();
    // relu is idempotent, so two applications equal one of the reference.
    assert_bit_exact("relu(relu(x))", &input, &result, &cpu::relu_forward(&input));
}

#[test]
fn gpu_is_shared_across_threads() {
    let Some(gpu) = gpu() else { return };
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let gpu = gpu.clone();
            std::thread::spawn(move || {
                for round in 0..5 {
                    check_out_of_place(&gpu, 10_007 + t * 13 + round, (t * 100 + round) as u64);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().expect("worker thread");
    }
}

#[test]
fn a_tensor_can_be_rewritten_and_reused() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0, -2.0, 3.0]).unwrap();
    let first = gpu.relu(&x).unwrap();
    x.write(&[-1.0, 2.0, f32::NAN]).unwrap();
    let second = gpu.relu(&x).unwrap();
    // The write is ordered after the first relu and before the second.
    assert_eq!(first.download().unwrap(), vec![1.0, 0.0, 3.0]);
    let second = second.download().unwrap();
    assert_eq!(second[..2], [0.0, 2.0]);
    assert!(second[2].is_nan());
    let error = x.write(&[1.0]).unwrap_err();
    assert!(
        matches!(
            error,
            wgpu_activations::Error::ShapeMismatch {
                expected: 3,
                actual: 1,
                ..
            }
        ),
        "{error:?}"
    );
}
