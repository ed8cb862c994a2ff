//! Leaky and clipped ReLU: the design table's special cases on the GPU, the
//! parameter as a runtime value (one pipeline, many slopes), and parameter
//! validation.

use wgpu_activations::{Activation, Error, Tensor, cpu};

use crate::common::sample;
use crate::common::{assert_agrees, gpu};

#[test]
fn every_special_value_through_every_activation_is_as_the_reference_says() {
    let Some(gpu) = gpu() else { return };
    let specials = cpu::special_values();
    let x = Tensor::from_slice(&gpu, &specials).unwrap();
    for activation in crate::common::relu_family() {
        let y = gpu.activation(activation, &x).unwrap().download().unwrap();
        let flushed: Vec<f32> = specials
            .iter()
            .map(|&v| cpu::activate_with(activation, v, cpu::Subnormals::FlushToZero))
            .collect();
        assert_agrees(
            &activation.name(),
            &specials,
            &y,
            &cpu::forward(activation, &specials),
            &flushed,
        );
    }
}

#[test]
fn leaky_relu_keeps_nan_payloads_and_signs_zero_as_designed() {
    let Some(gpu) = gpu() else { return };
    let leaky = Activation::LeakyRelu { slope: 0.5 };
    let input = [
        f32::from_bits(0xffc0_1234), // -qNaN with payload: passes unchanged
        f32::from_bits(0x7f80_0001), // +sNaN: passes unchanged (not quieted)
        -0.0,                        // s * -0.0 = -0.0
        f32::NEG_INFINITY,
        -8.0,
        3.0,
    ];
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    let y = crate::common::bits(&gpu.activation(leaky, &x).unwrap().download().unwrap());
    assert_eq!(
        y,
        crate::common::bits(&[
            f32::from_bits(0xffc0_1234),
            f32::from_bits(0x7f80_0001),
            -0.0,
            f32::NEG_INFINITY,
            -4.0,
            3.0
        ])
    );
    // A zero slope makes 0 * -inf: the canonical NaN, not the hardware's.
    let zero = Activation::LeakyRelu { slope: 0.0 };
    let y = gpu.activation(zero, &x).unwrap().download().unwrap();
    assert_eq!(y[3].to_bits(), cpu::CANONICAL_NAN_BITS);
}

#[test]
fn clipped_relu_caps_and_masks_as_designed() {
    let Some(gpu) = gpu() else { return };
    let relu6 = Activation::relu6();
    let input = [
        -1.0,
        -0.0,
        0.0,
        3.0,
        6.0,
        7.0,
        f32::INFINITY,
        f32::from_bits(0xffc0_0001),
    ];
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    let (y, mask) = gpu.activation_with_mask(relu6, &x).unwrap();
    assert_eq!(
        crate::common::bits(&y.download().unwrap()),
        crate::common::bits(&[
            0.0,
            0.0,
            0.0,
            3.0,
            6.0,
            6.0,
            6.0,
            f32::from_bits(0xffc0_0001)
        ])
    );
    // 0 < x < cap, and NaN: elements 3 and 7.
    assert_eq!(mask.download().unwrap(), vec![0b1000_1000]);
}

#[test]
fn the_parameter_is_a_runtime_value_not_part_of_the_pipeline() {
    let Some(gpu) = gpu() else { return };
    let input = sample::activations(10_007, 21);
    let x = Tensor::from_slice(&gpu, &input).unwrap();
    for slope in [0.01f32, 0.2, -0.3, 3.0, 1e-30] {
        let leaky = Activation::LeakyRelu { slope };
        let y = gpu.activation(leaky, &x).unwrap().download().unwrap();
        let flushed: Vec<f32> = input
            .iter()
            .map(|&v| cpu::activate_with(leaky, v, cpu::Subnormals::FlushToZero))
            .collect();
        assert_agrees(
            &leaky.name(),
            &input,
            &y,
            &cpu::forward(leaky, &input),
            &flushed,
        );
    }
    for cap in [0.5f32, 1.0, 6.0, 1e30] {
        let clipped = Activation::ClippedRelu { cap };
        let (y, mask) = gpu.activation_with_mask(clipped, &x).unwrap();
        let (expected, expected_mask) = cpu::forward_with_mask(clipped, &input);
        crate::common::assert_bit_exact(&clipped.name(), &input, &y.download().unwrap(), &expected);
        crate::common::assert_mask_exact(
            &clipped.name(),
            &mask.download().unwrap(),
            &expected_mask,
        );
    }
}

#[test]
fn out_of_range_parameters_are_invalid_parameter_errors() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0, -1.0]).unwrap();
    for activation in [
        Activation::LeakyRelu { slope: f32::NAN },
        Activation::LeakyRelu {
            slope: f32::INFINITY,
        },
        Activation::ClippedRelu { cap: 0.0 },
        Activation::ClippedRelu { cap: -1.0 },
        Activation::ClippedRelu { cap: f32::INFINITY },
        Activation::ClippedRelu { cap: f32::NAN },
    ] {
        let error = gpu.activation(activation, &x).unwrap_err();
        assert!(
            matches!(error, Error::InvalidParameter { .. }),
            "{activation}: {error:?}"
        );
        assert!(error.to_string().contains("must be"), "{error}");
    }
}
