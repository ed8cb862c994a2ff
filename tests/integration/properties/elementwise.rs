//! The element-wise ops: relu, the activations with and without mask, the
//! backward from a mask and from the input, each case recorded into one
//! `Batch`.

use super::strategies::{Bits, floats, mask_activation, value, vectors};
use super::*;

#[test]
fn relu_and_relu_in_place() {
    run_cases(
        "relu_and_relu_in_place",
        RELU_CASES,
        vectors(value()),
        |gpu, x| {
            let x = floats(&x);
            let what = format!("relu len {}", x.len());
            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let y = Tensor::uninit(gpu, &[x.len()]).unwrap();
            let mut in_place = Tensor::from_slice(gpu, &x).unwrap();
            let mut batch = gpu.batch();
            batch.relu(&x_tensor, &y).unwrap();
            batch.relu_in_place(&mut in_place).unwrap();
            submit(batch);

            let expected = cpu::relu_forward(&x);
            assert_bit_exact(&what, &x, &download(&y), &expected);
            let mut expected_in_place = x.clone();
            cpu::relu_forward_in_place(&mut expected_in_place);
            assert_bit_exact(
                &format!("{what} in place"),
                &x,
                &download(&in_place),
                &expected_in_place,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}

#[test]
fn activation_with_and_without_mask() {
    run_cases(
        "activation_with_and_without_mask",
        FORWARD_CASES,
        (mask_activation(), vectors(value())),
        |gpu, (activation, x)| {
            let x = floats(&x);
            let len = x.len();
            let what = format!("{activation} len {len}");
            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let y = Tensor::uninit(gpu, &[len]).unwrap();
            let y_masked = Tensor::uninit(gpu, &[len]).unwrap();
            let mask = Mask::uninit(gpu, len).unwrap();
            let mut batch = gpu.batch();
            batch.activation(activation, &x_tensor, &y, None).unwrap();
            batch
                .activation(activation, &x_tensor, &y_masked, Some(&mask))
                .unwrap();
            submit(batch);

            let (expected, expected_mask) = cpu::forward_with_mask(activation, &x);
            let flushed = forward_flushed(activation, &x);
            let y = download(&y);
            assert_agrees(&what, &x, &y, &expected, &flushed);
            let y_masked = download(&y_masked);
            assert_agrees(
                &format!("{what} (with mask)"),
                &x,
                &y_masked,
                &expected,
                &flushed,
            );
            // One device, the same arithmetic: the same bits, flushed or not.
            assert_bit_exact(&format!("{what}: without vs with mask"), &x, &y, &y_masked);
            // The mask is decided on the bits, no arithmetic: exact.
            assert_mask_exact(
                &format!("{what}: mask"),
                &download_mask(&mask),
                &expected_mask,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}

#[test]
fn activation_backward_from_mask_and_from_input() {
    run_cases(
        "activation_backward_from_mask_and_from_input",
        BACKWARD_CASES,
        (mask_activation(), vectors((value(), value())), any::<u32>()),
        |gpu, (activation, pairs, garbage)| {
            let (x, dy): (Vec<Bits>, Vec<Bits>) = pairs.into_iter().unzip();
            let (x, dy) = (floats(&x), floats(&dy));
            let len = x.len();
            let what = format!("{activation} backward len {len}");
            let mask_words = cpu::forward_with_mask(activation, &x).1;
            let expected = cpu::backward(activation, &dy, &mask_words);
            let flushed = backward_flushed(activation, &dy, &mask_words);
            // The reference's two forms agree, so one expectation serves all.
            assert_bit_exact(
                &format!("{what}: reference from x vs from mask"),
                &dy,
                &cpu::backward_from_input(activation, &dy, &x),
                &expected,
            );

            let x_tensor = Tensor::from_slice(gpu, &x).unwrap();
            let dy_tensor = Tensor::from_slice(gpu, &dy).unwrap();
            // The reference's mask, with garbage past the last element.
            let mask = Mask::from_words(gpu, &dirty(mask_words, len, garbage), len).unwrap();
            let from_mask = Tensor::uninit(gpu, &[len]).unwrap();
            let from_input = Tensor::uninit(gpu, &[len]).unwrap();
            // And the GPU's own mask, made earlier in the same batch.
            let y = Tensor::uninit(gpu, &[len]).unwrap();
            let gpu_mask = Mask::uninit(gpu, len).unwrap();
            let from_gpu_mask = Tensor::uninit(gpu, &[len]).unwrap();
            let mut batch = gpu.batch();
            batch
                .activation_backward(activation, &dy_tensor, &mask, &from_mask)
                .unwrap();
            batch
                .activation_backward_from_input(activation, &dy_tensor, &x_tensor, &from_input)
                .unwrap();
            batch
                .activation(activation, &x_tensor, &y, Some(&gpu_mask))
                .unwrap();
            batch
                .activation_backward(activation, &dy_tensor, &gpu_mask, &from_gpu_mask)
                .unwrap();
            submit(batch);

            for (form, dx) in [
                ("from mask", &from_mask),
                ("from x", &from_input),
                ("from the GPU's mask", &from_gpu_mask),
            ] {
                assert_agrees(
                    &format!("{what} {form}"),
                    &dy,
                    &download(dx),
                    &expected,
                    &flushed,
                );
            }
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
        },
    );
}
