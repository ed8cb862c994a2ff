//! Every convenience form, chained through the GPU's own masks.

use super::strategies::{Bits, floats, fused, mask_activation, value};
use super::*;

#[test]
fn every_convenience_form_in_a_chain() {
    run_cases(
        "every_convenience_form_in_a_chain",
        CONVENIENCE_CASES,
        (mask_activation(), fused((value(), value()), true)),
        |gpu, (activation, case)| {
            let shape = case.shape();
            let [rows, cols] = shape;
            let len = case.len();
            let (x, dy): (Vec<Bits>, Vec<Bits>) = case.flat().into_iter().unzip();
            let (x, dy, b) = (floats(&x), floats(&dy), floats(&case.bias));
            let what = format!("{activation} {shape:?}");
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let dy_tensor = Tensor::from_slice_with_shape(gpu, &dy, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let flushed = forward_flushed(activation, &x);
            let same_shape = |t: &Tensor, op: &str| {
                assert_eq!(t.shape(), &shape, "{what}: {op} shape");
                download(t)
            };

            // relu, out of place and in place.
            let relu = cpu::relu_forward(&x);
            let y = gpu.relu(&x_tensor).unwrap();
            assert_bit_exact(&format!("{what}: relu"), &x, &same_shape(&y, "relu"), &relu);
            let mut in_place = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            gpu.relu_in_place(&mut in_place).unwrap();
            let mut relu_in_place = x.clone();
            cpu::relu_forward_in_place(&mut relu_in_place);
            assert_bit_exact(
                &format!("{what}: relu_in_place"),
                &x,
                &same_shape(&in_place, "relu_in_place"),
                &relu_in_place,
            );

            // activation, with and without mask, and relu_with_mask.
            let (expected, expected_mask) = cpu::forward_with_mask(activation, &x);
            let y = gpu.activation(activation, &x_tensor).unwrap();
            assert_agrees(
                &format!("{what}: activation"),
                &x,
                &same_shape(&y, "activation"),
                &expected,
                &flushed,
            );
            let (y, mask) = gpu.activation_with_mask(activation, &x_tensor).unwrap();
            assert_agrees(
                &format!("{what}: activation_with_mask"),
                &x,
                &same_shape(&y, "activation_with_mask"),
                &expected,
                &flushed,
            );
            assert_eq!(mask.len(), len, "{what}: mask length");
            assert_mask_exact(
                &format!("{what}: activation_with_mask mask"),
                &download_mask(&mask),
                &expected_mask,
            );
            let (y, relu_mask) = gpu.relu_with_mask(&x_tensor).unwrap();
            let (_, expected_relu_mask) = cpu::forward_with_mask(Activation::Relu, &x);
            assert_bit_exact(
                &format!("{what}: relu_with_mask"),
                &x,
                &same_shape(&y, "relu_with_mask"),
                &relu,
            );
            assert_mask_exact(
                &format!("{what}: relu_with_mask mask"),
                &download_mask(&relu_mask),
                &expected_relu_mask,
            );

            // Backward from those masks, and from x.
            let dx = cpu::backward(activation, &dy, &expected_mask);
            let dx_flushed = backward_flushed(activation, &dy, &expected_mask);
            let got = gpu
                .activation_backward(activation, &dy_tensor, &mask)
                .unwrap();
            assert_agrees(
                &format!("{what}: activation_backward"),
                &dy,
                &same_shape(&got, "activation_backward"),
                &dx,
                &dx_flushed,
            );
            let got = gpu
                .activation_backward_from_input(activation, &dy_tensor, &x_tensor)
                .unwrap();
            assert_agrees(
                &format!("{what}: activation_backward_from_input"),
                &dy,
                &same_shape(&got, "activation_backward_from_input"),
                &dx,
                &dx_flushed,
            );
            let got = gpu.relu_backward(&dy_tensor, &relu_mask).unwrap();
            assert_bit_exact(
                &format!("{what}: relu_backward"),
                &dy,
                &same_shape(&got, "relu_backward"),
                &cpu::backward(Activation::Relu, &dy, &expected_relu_mask),
            );

            // bias_add.
            let got = gpu.bias_add(&x_tensor, &b_tensor).unwrap();
            assert_agrees(
                &format!("{what}: bias_add"),
                &x,
                &same_shape(&got, "bias_add"),
                &cpu::bias_add(&x, &b, Subnormals::Preserve),
                &cpu::bias_add(&x, &b, Subnormals::FlushToZero),
            );

            // The fused forward and backward, for the activation and for relu:
            // the backward gets the GPU's own mask (row length set), whose bits
            // may follow a flushed sum, so dx is expected from those bits.
            let fused_ops: [(Activation, &str); 2] = [
                (activation, "bias_activation"),
                (Activation::Relu, "bias_relu"),
            ];
            for (a, op) in fused_ops {
                let reference = BiasRefs::new(a, &x, &b);
                let y = if op == "bias_relu" {
                    gpu.bias_relu(&x_tensor, &b_tensor).unwrap()
                } else {
                    gpu.bias_activation(a, &x_tensor, &b_tensor).unwrap()
                };
                assert_agrees(
                    &format!("{what}: {op}"),
                    &x,
                    &same_shape(&y, op),
                    &reference.y,
                    &reference.y_flushed,
                );
                let (y, mask) = if op == "bias_relu" {
                    gpu.bias_relu_with_mask(&x_tensor, &b_tensor).unwrap()
                } else {
                    gpu.bias_activation_with_mask(a, &x_tensor, &b_tensor)
                        .unwrap()
                };
                assert_agrees(
                    &format!("{what}: {op}_with_mask"),
                    &x,
                    &same_shape(&y, op),
                    &reference.y,
                    &reference.y_flushed,
                );
                assert_eq!(mask.len(), len, "{what}: {op} mask length");
                assert_eq!(
                    mask.row_length(),
                    Some(cols),
                    "{what}: {op} mask row length"
                );
                let gpu_mask = download_mask(&mask);
                assert_mask_within_flush(
                    &format!("{what}: {op}_with_mask mask"),
                    len,
                    &gpu_mask,
                    &reference.mask,
                    &reference.mask_flushed,
                );
                let (dx, db) = if op == "bias_relu" {
                    gpu.bias_relu_backward(&dy_tensor, &mask).unwrap()
                } else {
                    gpu.bias_activation_backward(a, &dy_tensor, &mask).unwrap()
                };
                assert_eq!(db.shape(), &[cols], "{what}: {op}_backward db shape");
                let expected = cpu::backward(a, &dy, &gpu_mask);
                assert_agrees(
                    &format!("{what}: {op}_backward dx"),
                    &dy,
                    &same_shape(&dx, op),
                    &expected,
                    &backward_flushed(a, &dy, &gpu_mask),
                );
                assert_db_within_bound(
                    &format!("{what}: {op}_backward"),
                    &download(&db),
                    &expected,
                    rows,
                );
            }

            // The inputs are untouched.
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}
