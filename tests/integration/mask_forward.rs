//! Forward with the 1-bit mask, for every activation of the family: values
//! as the CPU reference, mask words bit-exact including the last partial
//! word (whose unused bits must be zero), on whichever backend WGPU_BACKEND
//! selects (CI runs Vulkan and GL).

use wgpu_activations::{Activation, Error, Gpu, Mask, Tensor, cpu};

use crate::common::sample;
use crate::common::{
    LENGTHS, NARROW, assert_agrees, assert_mask_exact, gpu, gpu_with_shape,
    length_past_one_dispatch_dimension, relu_family,
};

/// The reference with subnormals flushed: the one deviation the contract
/// allows (it matters for the leaky multiply only).
fn flushed_forward(activation: Activation, x: &[f32]) -> Vec<f32> {
    x.iter()
        .map(|&v| cpu::activate_with(activation, v, cpu::Subnormals::FlushToZero))
        .collect()
}

fn check_forward_with_mask(gpu: &Gpu, activation: Activation, input: &[f32]) {
    let what = format!("{activation} len {}", input.len());
    let x = Tensor::from_slice(gpu, input).unwrap();
    let (y, mask) = gpu.activation_with_mask(activation, &x).unwrap();
    assert_eq!(mask.len(), input.len());
    assert_eq!(mask.words(), input.len().div_ceil(32));

    let (expected_y, expected_mask) = cpu::forward_with_mask(activation, input);
    let y = y.download().unwrap();
    assert_agrees(
        &what,
        input,
        &y,
        &expected_y,
        &flushed_forward(activation, input),
    );
    assert_mask_exact(&what, &mask.download().unwrap(), &expected_mask);

    // Without the mask, the same values.
    let plain = gpu.activation(activation, &x).unwrap().download().unwrap();
    crate::common::assert_bit_exact(&format!("{what} without mask"), input, &plain, &y);
}

#[test]
fn forward_with_mask_matches_reference_at_every_length() {
    let Some(gpu) = gpu() else { return };
    for activation in relu_family() {
        for &len in LENGTHS {
            check_forward_with_mask(&gpu, activation, &sample::activations(len, len as u64));
        }
    }
}

#[test]
fn forward_with_mask_past_one_dispatch_dimension() {
    let Some(gpu) = gpu_with_shape(NARROW) else {
        return;
    };
    let len = length_past_one_dispatch_dimension(&gpu);
    check_forward_with_mask(&gpu, Activation::Relu, &sample::activations(len, 5));
    check_forward_with_mask(&gpu, Activation::relu6(), &sample::activations(len, 6));
}

#[test]
fn mask_bits_of_special_values_are_as_designed() {
    let Some(gpu) = gpu() else { return };
    let specials = cpu::special_values();
    let x = Tensor::from_slice(&gpu, &specials).unwrap();
    let (_, mask) = gpu.relu_with_mask(&x).unwrap();
    let words = mask.download().unwrap();
    for (i, value) in specials.iter().enumerate() {
        // The design table: bit = !(x <= 0), so NaN -> 1, -0.0 and +0.0 -> 0.
        let expected = value.is_nan() || *value > 0.0;
        assert_eq!(
            cpu::mask_bit_at(&words, i),
            expected,
            "relu mask bit of {:#010x}",
            value.to_bits()
        );
    }
    assert_eq!(words[0] >> specials.len(), 0, "bits past the end are zero");
}

#[test]
fn every_bit_position_of_a_word_lands_where_the_layout_says() {
    let Some(gpu) = gpu() else { return };
    // One positive element at each position i of 70 elements: word i / 32,
    // bit i % 32, and nothing else set.
    for hot in 0..70 {
        let mut input = vec![-1.0f32; 70];
        input[hot] = 1.0;
        let x = Tensor::from_slice(&gpu, &input).unwrap();
        let (_, mask) = gpu.relu_with_mask(&x).unwrap();
        let mut expected = vec![0u32; 3];
        expected[hot / 32] = 1 << (hot % 32);
        assert_eq!(mask.download().unwrap(), expected, "element {hot}");
    }
}

#[test]
fn recorded_forward_with_mask_runs_in_the_callers_submit() {
    let Some(gpu) = gpu() else { return };
    let input = sample::activations(1000, 9);
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    let y = Tensor::uninit(&gpu, x.shape()).unwrap();
    let mask = Mask::uninit(&gpu, x.len()).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    gpu.record_activation(&mut encoder, Activation::Relu, &x, &y, Some(&mask))
        .unwrap();
    gpu.queue().submit([encoder.finish()]);
    let (expected_y, expected_mask) = cpu::forward_with_mask(Activation::Relu, &input);
    crate::common::assert_bit_exact("recorded", &input, &y.download().unwrap(), &expected_y);
    assert_mask_exact("recorded", &mask.download().unwrap(), &expected_mask);
}

#[test]
fn mask_of_another_length_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0; 40]).unwrap();
    let y = Tensor::uninit(&gpu, &[40]).unwrap();
    let mask = Mask::uninit(&gpu, 33).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_activation(&mut encoder, Activation::Relu, &x, &y, Some(&mask))
        .unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "mask",
                expected: 40,
                actual: 33
            }
        ),
        "{error:?}"
    );
}

#[test]
fn mask_words_that_do_not_fit_the_length_are_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let error = Mask::from_words(&gpu, &[0, 0], 65).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 3,
                actual: 2,
                ..
            }
        ),
        "{error:?}"
    );
}
