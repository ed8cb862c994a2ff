//! Each bad input returns its documented `Error` variant; none panics.

mod common;

use common::gpu;
use wgpu_activations::{Error, Gpu, GpuOptions, Tensor, parse_backends};

#[test]
fn unknown_backend_name_is_unsupported_backend() {
    let error = parse_backends("vulkan,bogus").unwrap_err();
    assert!(
        matches!(&error, Error::UnsupportedBackend { name } if name == "bogus"),
        "{error:?}"
    );
    assert!(matches!(
        parse_backends(" , ").unwrap_err(),
        Error::UnsupportedBackend { .. }
    ));
}

#[cfg(target_os = "linux")]
#[test]
fn backend_not_built_for_this_platform_is_unsupported_backend() {
    let error = parse_backends("metal").unwrap_err();
    assert!(
        matches!(&error, Error::UnsupportedBackend { name } if name == "metal"),
        "{error:?}"
    );
}

#[test]
fn known_backend_names_parse() {
    assert_eq!(
        parse_backends("vulkan, gl").unwrap(),
        wgpu::Backends::VULKAN | wgpu::Backends::GL
    );
}

#[test]
fn adapter_name_that_matches_nothing_is_no_adapter() {
    let options = GpuOptions {
        adapter_name: Some("no adapter is called this".to_string()),
        ..GpuOptions::default()
    };
    let error = Gpu::with_options(&options).unwrap_err();
    assert!(
        matches!(&error, Error::NoAdapter(message) if message.contains("no adapter is called this")),
        "{error:?}"
    );
}

#[test]
fn data_that_does_not_fill_the_shape_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let error = Tensor::from_slice_with_shape(&gpu, &[1.0; 5], &[2, 3]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 6,
                actual: 5,
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn shape_whose_product_overflows_is_shape_overflow() {
    let Some(gpu) = gpu() else { return };
    let error = Tensor::uninit(&gpu, &[usize::MAX, 2]).unwrap_err();
    assert!(matches!(error, Error::ShapeOverflow { .. }), "{error:?}");
}

#[test]
fn tensor_over_max_buffer_size_is_too_large() {
    let Some(gpu) = gpu() else { return };
    let limit = gpu.info().max_buffer_size;
    let elements = (limit / 4 + 1) as usize;
    let error = Tensor::uninit(&gpu, &[elements]).unwrap_err();
    assert!(
        matches!(error, Error::TooLarge { limit_name: "max_buffer_size", limit: l, .. } if l == limit),
        "{error:?}"
    );
    assert!(error.to_string().contains("max_buffer_size"));
}

#[test]
fn tensor_over_one_storage_binding_is_too_large_for_relu() {
    let Some(gpu) = gpu() else { return };
    let binding = gpu.info().max_storage_buffer_binding_size;
    if binding + 4 > gpu.info().max_buffer_size {
        eprintln!("this device binds whole buffers; nothing to test");
        return;
    }
    let x = Tensor::uninit(&gpu, &[(binding / 4 + 1) as usize]).unwrap();
    let error = gpu.relu(&x).unwrap_err();
    assert!(
        matches!(
            error,
            Error::TooLarge {
                limit_name: "max_storage_buffer_binding_size",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn output_of_another_length_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0; 10]).unwrap();
    let y = Tensor::uninit(&gpu, &[9]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu.record_relu(&mut encoder, &x, &y).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                what: "output",
                expected: 10,
                actual: 9
            }
        ),
        "{error:?}"
    );
}

#[test]
fn output_aliasing_input_is_aliasing() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0; 10]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu.record_relu(&mut encoder, &x, &x).unwrap_err();
    assert!(
        matches!(error, Error::Aliasing { what: "output" }),
        "{error:?}"
    );
}

#[test]
fn tensor_from_another_device_is_wrong_device() {
    let Some(gpu) = gpu() else { return };
    let other = Gpu::new().unwrap();
    let foreign = Tensor::from_slice(&other, &[1.0, -1.0]).unwrap();
    let error = gpu.relu(&foreign).unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "input" }),
        "{error:?}"
    );

    let x = Tensor::from_slice(&gpu, &[1.0, -1.0]).unwrap();
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu.record_relu(&mut encoder, &x, &foreign).unwrap_err();
    assert!(
        matches!(error, Error::WrongDevice { what: "output" }),
        "{error:?}"
    );
}

#[test]
fn destroyed_device_is_device_lost_not_a_panic() {
    let Some(_) = gpu() else { return };
    let own = Gpu::new().unwrap();
    let x = Tensor::from_slice(&own, &[1.0, -1.0]).unwrap();
    own.device().destroy();
    // The lost callback runs on the next poll of the device.
    let _ = own.wait_idle();
    let error = own.relu(&x).unwrap_err();
    assert!(matches!(error, Error::DeviceLost(_)), "{error:?}");
    let error = x.download().unwrap_err();
    assert!(matches!(error, Error::DeviceLost(_)), "{error:?}");
}

#[test]
fn empty_tensors_are_legal() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[]).unwrap();
    assert!(x.is_empty());
    assert_eq!(gpu.relu(&x).unwrap().download().unwrap(), Vec::<f32>::new());
    let x = Tensor::uninit(&gpu, &[0, 7]).unwrap();
    assert_eq!(gpu.relu(&x).unwrap().shape(), &[0, 7]);
}

#[test]
fn reshape_to_another_element_count_is_shape_mismatch() {
    let Some(gpu) = gpu() else { return };
    let x = Tensor::from_slice(&gpu, &[1.0; 6]).unwrap();
    let x = x.reshape(&[2, 3]).unwrap();
    assert_eq!(x.shape(), &[2, 3]);
    let error = x.reshape(&[4, 2]).unwrap_err();
    assert!(
        matches!(
            error,
            Error::ShapeMismatch {
                expected: 6,
                actual: 8,
                ..
            }
        ),
        "{error:?}"
    );
}
