//! Backward from the mask and from the saved input, for every activation of
//! the family, bit-exact against the CPU reference (the leaky multiply may
//! flush subnormals, as the contract allows).

use wgpu_activations::{Activation, Error, Gpu, Mask, Tensor, cpu};

use crate::common::sample;
use crate::common::{
    LENGTHS, NARROW, assert_agrees, assert_bit_exact, backward_flushed, gpu, gpu_with_shape,
    length_past_one_dispatch_dimension, relu_family,
};

fn check_backward(gpu: &Gpu, activation: Activation, len: usize, seed: u64) {
    let what = format!("{activation} backward len {len}");
    let x_data = sample::activations(len, seed);
    let dy_data = sample::activations(len, seed + 1000);
    let (_, mask_words) = cpu::forward_with_mask(activation, &x_data);
    let expected = cpu::backward(activation, &dy_data, &mask_words);
    let flushed = backward_flushed(activation, &dy_data, &mask_words);
    // The reference's two forms agree, so one expectation serves both ops.
    assert_eq!(
        crate::common::bits(&expected),
        crate::common::bits(&cpu::backward_from_input(activation, &dy_data, &x_data))
    );

    let dy = Tensor::from_slice(gpu, &dy_data).unwrap();
    let mask = Mask::from_words(gpu, &mask_words, len).unwrap();
    let from_mask = gpu.activation_backward(activation, &dy, &mask).unwrap();
    assert_agrees(
        &format!("{what} from mask"),
        &dy_data,
        &from_mask.download().unwrap(),
        &expected,
        &flushed,
    );

    let x = Tensor::from_slice(gpu, &x_data).unwrap();
    let from_input = gpu
        .activation_backward_from_input(activation, &dy, &x)
        .unwrap();
    assert_agrees(
        &format!("{what} from x"),
        &dy_data,
        &from_input.download().unwrap(),
        &expected,
        &flushed,
    );
}

#[test]
fn backward_matches_reference_at_every_length() {
    let Some(gpu) = gpu() else { return };
    for activation in relu_family() {
        for &len in LENGTHS {
            check_backward(&gpu, activation, len, len as u64);
        }
    }
}

#[test]
fn backward_past_one_dispatch_dimension() {
    let Some(gpu) = gpu_with_shape(NARROW) else {
        return;
    };
    let len = length_past_one_dispatch_dimension(&gpu);
    check_backward(&gpu, Activation::LeakyRelu { slope: 0.01 }, len, 77);
}

#[test]
fn the_gpu_mask_feeds_the_gpu_backward() {
    let Some(gpu) = gpu() else { return };
    let x_data = sample::activations(4099, 3);
    let dy_data = sample::activations(4099, 4);
    let x = Tensor::from_slice(&gpu, &x_data).unwrap();
    let dy = Tensor::from_slice(&gpu, &dy_data).unwrap();
    let (_, mask) = gpu.relu_with_mask(&x).unwrap();
    let dx = gpu.relu_backward(&dy, &mask).unwrap();
    assert_bit_exact(
        "relu backward through the GPU mask",
        &dy_data,
        &dx.download().unwrap(),
        &cpu::backward_from_input(Activation::Relu, &dy_data, &x_data),
    );
}

#[test]
fn garbage_past_the_last_element_of_the_mask_never_leaks() {
    let Some(gpu) = gpu() else { return };
    for len in [1usize, 31, 33, 63, 1000] {
        let dy_data = sample::activations(len, len as u64);
        let mut words = cpu::pack_mask((0..len).map(|i| i % 2 == 0));
        let expected = cpu::backward(Activation::Relu, &dy_data, &words);
        // Set every unused bit of the last word: a backward pass that read
        // past `len` would now produce something.
        if len % 32 != 0 {
            *words.last_mut().unwrap() |= u32::MAX << (len % 32);
        }
        let dy = Tensor::from_slice(&gpu, &dy_data).unwrap();
        let mask = Mask::from_words(&gpu, &words, len).unwrap();
        let dx = gpu.relu_backward(&dy, &mask).unwrap();
        assert_bit_exact(
            &format!("len {len}"),
            &dy_data,
            &dx.download().unwrap(),
            &expected,
        );
    }
}

#[test]
fn dy_and_mask_of_different_lengths_are_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let dy = Tensor::from_slice(&gpu, &[1.0; 64]).unwrap();
    let mask = Mask::uninit(&gpu, 65).unwrap();
    let error = gpu.relu_backward(&dy, &mask).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "upstream gradient (as many elements as the mask)",
                expected: 65,
                actual: 64
            }
        ),
        "{error:?}"
    );
    let x = Tensor::from_slice(&gpu, &[1.0; 63]).unwrap();
    let error = gpu
        .activation_backward_from_input(Activation::Relu, &dy, &x)
        .unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error:?}");
}

#[test]
fn recorded_backward_rejects_a_gradient_output_of_another_length_or_aliasing() {
    let Some(gpu) = gpu() else { return };
    let dy = Tensor::from_slice(&gpu, &[1.0; 64]).unwrap();
    let mask = Mask::uninit(&gpu, 64).unwrap();
    let short = Tensor::uninit(&gpu, &[63]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_activation_backward(&mut encoder, Activation::Relu, &dy, &mask, &short)
        .unwrap_err();
    assert!(matches!(error, Error::ShapeMismatch { .. }), "{error:?}");
    let error = gpu
        .record_activation_backward(&mut encoder, Activation::Relu, &dy, &mask, &dy)
        .unwrap_err();
    assert!(matches!(error, Error::Aliasing { .. }), "{error:?}");
}

#[test]
fn a_mask_from_another_gpu_is_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let other = Gpu::new().unwrap();
    let dy = Tensor::from_slice(&gpu, &[1.0; 8]).unwrap();
    let mask = Mask::uninit(&other, 8).unwrap();
    let error = gpu.relu_backward(&dy, &mask).unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "mask" }),
        "{error:?}"
    );
}
