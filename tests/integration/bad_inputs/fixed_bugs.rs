//! Bugs these tests found in src/, now fixed: one test per bug, named
//! after it.

use super::options::FROM_ENV_CASE;
use super::*;

/// A mask that shares a buffer with an input (forward) or the output
/// (backward) is bound read-only and writable in one dispatch; wgpu refuses
/// the dispatch at submit, so the `record_*` form returns `Ok` and the
/// caller's own submit fails (the op silently never runs).
#[test]
fn mask_sharing_a_buffer_with_a_tensor_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let (buffer, offsets) = caller_buffer(&gpu, 2, 64, ALL);
    let m = Mask::from_buffer(&gpu, &buffer, offsets[0], &[64]).unwrap();
    let x = Tensor::from_buffer(&gpu, &buffer, offsets[1], &[64]).unwrap();
    let y = old(&gpu, &[64]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation(e, Activation::Relu, &x, &y, Some(&m))
    });
    assert!(matches!(error, Error::Aliasing { .. }), "{error:?}");
    let dy = input(&gpu, &[64]);
    let error = refuse(&gpu, |e| {
        gpu.record_activation_backward(e, Activation::Relu, &dy, &m, &x)
    });
    assert!(matches!(error, Error::Aliasing { .. }), "{error:?}");
}

/// `ensure_owns` maps every validation error of its probe to WrongDevice.
#[test]
fn destroyed_buffer_is_not_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let (buffer, _) = caller_buffer(&gpu, 1, 16, ALL);
    buffer.destroy();
    let error = err(Tensor::from_buffer(&gpu, &buffer, 0, &[4]));
    assert!(!matches!(error, Error::WrongDevice { .. }), "{error:?}");
}

/// The check runner (now the harness's) sliced `dy[..x.len()]` without
/// checking its length. The engine's entry point refuses a `dy` shorter
/// than `x`, and writes nothing.
#[test]
fn check_run_with_short_dy_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[8]);
    let dy = input(&gpu, &[4]);
    let dx = old(&gpu, &[8]);
    let tensors = OpTensors {
        x: Some(&x),
        dy: Some(&dy),
        dx: Some(&dx),
        ..OpTensors::default()
    };
    for activation in Activation::examples() {
        let op = Op::BackwardFromInput(activation);
        let error = refuse(&gpu, |e| gpu.record_op(e, op, &tensors));
        assert!(
            matches!(error, Error::ShapeMismatch { .. }),
            "{op}: {error:?}"
        );
        assert_old(&dx);
    }
}

/// `storage_bytes` reports the element count as the shape.
#[test]
fn uninit_overflow_reports_the_given_shape() {
    let Some(gpu) = gpu() else { return };
    let error = err(Tensor::uninit(&gpu, &[2, 1 << 62]));
    assert!(
        matches!(&error, Error::ShapeOverflow { shape } if shape == &[2, 1 << 62])
            || matches!(
                &error,
                Error::TooLarge {
                    limit_name: "max_buffer_size",
                    ..
                }
            ),
        "{error:?}"
    );
}

/// `element_count` stops at the first overflow, before a later 0.
#[test]
fn shape_with_a_zero_has_no_elements() {
    let Some(gpu) = gpu() else { return };
    // [0, MAX, 2] is empty; so is [MAX, 2, 0].
    assert!(
        Tensor::uninit(&gpu, &[0, usize::MAX, 2])
            .unwrap()
            .is_empty()
    );
    assert!(
        Tensor::uninit(&gpu, &[usize::MAX, 2, 0])
            .unwrap()
            .is_empty()
    );
}

/// `compare_exact` checked three lengths but reported two.
#[test]
fn compare_exact_names_the_wrong_length() {
    let error = err(compare::exact(
        &[1.0, 2.0],
        &[1.0, 2.0, 3.0],
        &[1.0, 2.0, 3.0],
    ));
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

/// A download whose encoder was never submitted stays pending: no zeros.
#[test]
fn download_before_submit_is_not_zeros() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[4]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mut pending = x.record_download(&mut encoder).unwrap();
    gpu.wait_idle().unwrap();
    let early = pending.try_take();
    assert!(
        early.is_none() || early.as_ref().is_some_and(|r| r.is_err()),
        "before the submit: {early:?}"
    );
}

/// `WGPU_POWER_PREF` goes through wgpu's own helper, which ignores what it
/// does not know, unlike `WGPU_BACKEND`.
#[test]
fn unknown_power_preference_is_invalid_option() {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "bad_inputs::options::from_env_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(FROM_ENV_CASE, "power_pref")
        .env("WGPU_POWER_PREF", "fastest")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "WGPU_POWER_PREF=fastest:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
