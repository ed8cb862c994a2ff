//! The fused bias ops: the bias add alone, bias + activation with and
//! without mask, and its backward (`dx` and `db`), each case recorded into
//! one `Batch`.

use super::strategies::{Bits, floats, fused, mask_activation, value};
use super::*;

#[test]
fn bias_add_alone() {
    run_cases(
        "bias_add_alone",
        BIAS_ADD_CASES,
        (fused(value(), true), any::<bool>()),
        |gpu, (case, other_reader)| {
            let gpu = &if other_reader {
                other_bias_reader(gpu)
            } else {
                gpu.clone()
            };
            let shape = case.shape();
            let (x, b) = (floats(&case.flat()), floats(&case.bias));
            let what = format!(
                "bias add {shape:?} (uniform bias {})",
                gpu.info().uniform_bias
            );
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let y = Tensor::uninit(gpu, &shape).unwrap();
            let mut batch = gpu.batch();
            batch.bias_add(&x_tensor, &b_tensor, &y).unwrap();
            submit(batch);

            assert_agrees(
                &what,
                &x,
                &download(&y),
                &cpu::bias_add(&x, &b, Subnormals::Preserve),
                &cpu::bias_add(&x, &b, Subnormals::FlushToZero),
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}

#[test]
fn bias_activation_with_and_without_mask() {
    run_cases(
        "bias_activation_with_and_without_mask",
        BIAS_FORWARD_CASES,
        (mask_activation(), fused(value(), true), any::<bool>()),
        |gpu, (activation, case, other_reader)| {
            let gpu = &if other_reader {
                other_bias_reader(gpu)
            } else {
                gpu.clone()
            };
            let shape = case.shape();
            let len = case.len();
            let (x, b) = (floats(&case.flat()), floats(&case.bias));
            let what = format!(
                "bias {activation} {shape:?} (uniform bias {})",
                gpu.info().uniform_bias
            );
            let x_tensor = Tensor::from_slice_with_shape(gpu, &x, &shape).unwrap();
            let b_tensor = Tensor::from_slice(gpu, &b).unwrap();
            let y = Tensor::uninit(gpu, &shape).unwrap();
            let y_masked = Tensor::uninit(gpu, &shape).unwrap();
            let mask = Mask::uninit(gpu, len).unwrap();
            let mut batch = gpu.batch();
            batch
                .bias_activation(activation, &x_tensor, &b_tensor, &y, None)
                .unwrap();
            batch
                .bias_activation(activation, &x_tensor, &b_tensor, &y_masked, Some(&mask))
                .unwrap();
            submit(batch);

            let reference = BiasRefs::new(activation, &x, &b);
            let y = download(&y);
            assert_agrees(&what, &x, &y, &reference.y, &reference.y_flushed);
            let y_masked = download(&y_masked);
            assert_agrees(
                &format!("{what} (with mask)"),
                &x,
                &y_masked,
                &reference.y,
                &reference.y_flushed,
            );
            assert_bit_exact(&format!("{what}: without vs with mask"), &x, &y, &y_masked);
            assert_mask_within_flush(
                &format!("{what}: mask"),
                len,
                &download_mask(&mask),
                &reference.mask,
                &reference.mask_flushed,
            );
            assert_bit_exact(&format!("{what}: x after"), &x, &download(&x_tensor), &x);
            assert_bit_exact(&format!("{what}: b after"), &b, &download(&b_tensor), &b);
        },
    );
}

#[test]
fn bias_activation_backward_dx_and_db() {
    run_cases(
        "bias_activation_backward_dx_and_db",
        BIAS_BACKWARD_CASES,
        (
            mask_activation(),
            fused((value(), any::<bool>()), false),
            any::<u32>(),
        ),
        |gpu, (activation, case, garbage)| {
            let shape = case.shape();
            let [rows, cols] = shape;
            let len = case.len();
            let (dy, bits): (Vec<Bits>, Vec<bool>) = case.flat().into_iter().unzip();
            let dy = floats(&dy);
            let what = format!("bias {activation} backward {shape:?}");
            // Any mask: the backward pass is defined by the bits alone.
            let mask_words = cpu::pack_mask(bits);
            let expected = cpu::backward(activation, &dy, &mask_words);
            let flushed = backward_flushed(activation, &dy, &mask_words);

            let dy_tensor = Tensor::from_slice_with_shape(gpu, &dy, &shape).unwrap();
            let mask = Mask::from_words(gpu, &dirty(mask_words, len, garbage), len).unwrap();
            let outputs = [0, 1].map(|_| {
                (
                    Tensor::uninit(gpu, &shape).unwrap(),
                    Tensor::uninit(gpu, &[cols]).unwrap(),
                )
            });
            let mut batch = gpu.batch();
            // Twice: a fixed summation order gives the same bits every run.
            for (dx, db) in &outputs {
                batch
                    .bias_activation_backward(activation, &dy_tensor, &mask, dx, db)
                    .unwrap();
            }
            submit(batch);

            let [(dx, db), (dx_again, db_again)] =
                outputs.map(|(dx, db)| (download(&dx), download(&db)));
            assert_agrees(&format!("{what}: dx"), &dy, &dx, &expected, &flushed);
            assert_db_within_bound(&what, &db, &expected, rows);
            if rows == 0 {
                // A sum over no rows is +0.0, never -0.0 or leftovers.
                assert_eq!(
                    crate::common::bits(&db),
                    vec![0; cols],
                    "{what}: db of no rows"
                );
            }
            assert_bit_exact(&format!("{what}: dx again"), &dy, &dx_again, &dx);
            assert_eq!(
                crate::common::bits(&db_again),
                crate::common::bits(&db),
                "{what}: db of a second run"
            );
            assert_bit_exact(
                &format!("{what}: dy after"),
                &dy,
                &download(&dy_tensor),
                &dy,
            );
        },
    );
}
