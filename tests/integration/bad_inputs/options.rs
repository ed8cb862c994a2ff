//! Options, backends and kernel shapes, from values and from the
//! environment.

use super::*;

#[test]
fn parse_backends_refuses_unknown_names() {
    for (list, name) in [
        ("vulkan,bogus", "bogus"),
        ("bogus, vulkan", "bogus"),
        ("vulkan;gl", "vulkan;gl"),
        ("", ""),
        (" , ", " , "),
        ("webgpu", "webgpu"),
        ("noop", "noop"),
    ] {
        unsupported_backend(err(parse_backends(list)), name);
    }
    #[cfg(target_os = "linux")]
    for (list, name) in [("metal", "metal"), ("gl,dx12", "dx12"), ("mtl", "mtl")] {
        unsupported_backend(err(parse_backends(list)), name);
    }
    assert_eq!(
        parse_backends(" VULKAN , gl ,").unwrap(),
        wgpu::Backends::VULKAN | wgpu::Backends::GL
    );
    assert_eq!(parse_backends("vk,vk").unwrap(), wgpu::Backends::VULKAN);
}

#[test]
fn kernel_shape_parsing() {
    for text in [
        "",
        "64",
        "x",
        "64x",
        "x2",
        "64*2",
        "64X2",
        "64x2x1",
        "-1x2",
        "1.5x2",
        "64x-1",
        "4294967296x1",
        "0x1 0",
    ] {
        invalid_kernel_shape(err(text.parse::<KernelShape>()), text);
    }
    let shape: KernelShape = " 64 x 2 ".parse().unwrap();
    assert_eq!((shape.workgroup_size, shape.chunks_per_invocation), (64, 2));
    // Parsing takes any numbers; validating is the device's job.
    let zero: KernelShape = "0x0".parse().unwrap();
    assert_eq!(zero.workgroup_size, 0);
}

const WORKGROUP: (&str, &str) = (
    "kernel shape's workgroup size",
    "between 1 and 256 and within the device's workgroup limits",
);
const CHUNKS: (&str, &str) = ("kernel shape's chunks per invocation", "at least 1");

fn shape(workgroup_size: u32, chunks_per_invocation: u32) -> KernelShape {
    KernelShape {
        workgroup_size,
        chunks_per_invocation,
    }
}

#[test]
fn kernel_shape_validate() {
    let limits = wgpu::Limits::default();
    let error = err(shape(0, 1).validate(&limits));
    invalid_parameter(error, WORKGROUP.0, 0.0, WORKGROUP.1);
    let error = err(shape(257, 1).validate(&limits));
    invalid_parameter(error, WORKGROUP.0, 257.0, WORKGROUP.1);
    let error = err(shape(64, 0).validate(&limits));
    invalid_parameter(error, CHUNKS.0, 0.0, CHUNKS.1);
    let small = wgpu::Limits {
        max_compute_invocations_per_workgroup: 32,
        ..limits.clone()
    };
    let error = err(shape(64, 1).validate(&small));
    invalid_parameter(error, WORKGROUP.0, 64.0, WORKGROUP.1);
    shape(256, 1000).validate(&limits).unwrap();
    shape(1, 1).validate(&limits).unwrap();
}

#[test]
fn gpu_with_options() {
    let Some(_) = gpu() else { return };
    let options = GpuOptions::from_env().unwrap();
    for (bad, name, value, requirement) in [
        (shape(0, 1), WORKGROUP.0, 0.0, WORKGROUP.1),
        (shape(512, 1), WORKGROUP.0, 512.0, WORKGROUP.1),
        (shape(64, 0), CHUNKS.0, 0.0, CHUNKS.1),
    ] {
        let options = GpuOptions {
            kernel_shape: Some(bad),
            ..options.clone()
        };
        let error = err(Gpu::with_options(&options));
        invalid_parameter(error, name, value, requirement);
        let error = err(pollster::block_on(Gpu::with_options_async(&options)));
        invalid_parameter(error, name, value, requirement);
    }
    let none = GpuOptions {
        backends: wgpu::Backends::empty(),
        ..options.clone()
    };
    let error = err(Gpu::with_options(&none));
    assert!(matches!(&error, Error::NoAdapter(_)), "{error:?}");
}

#[test]
fn gpu_from_device_with_shape() {
    let Some((_instance, adapter)) = crate::common::instance_and_adapter() else {
        return;
    };
    for (bad, name, value, requirement) in [
        (shape(0, 4), WORKGROUP.0, 0.0, WORKGROUP.1),
        (shape(300, 1), WORKGROUP.0, 300.0, WORKGROUP.1),
        (shape(1, 0), CHUNKS.0, 0.0, CHUNKS.1),
    ] {
        let (device, queue) =
            pollster::block_on(adapter.request_device(&Default::default())).unwrap();
        let error = err(Gpu::from_device_with_shape(device, queue, bad));
        invalid_parameter(error, name, value, requirement);
    }
}

/// The variable `from_env_child` reads: which case to check.
pub(super) const FROM_ENV_CASE: &str = "BAD_INPUTS_FROM_ENV_CASE";

/// `GpuOptions::from_env` and `Gpu::new` with bad variables, each in a child
/// process of this test binary (`from_env_child`), since the environment is
/// shared by every test thread.
#[test]
fn gpu_options_from_env() {
    let Some(_) = gpu() else { return };
    for (case, variable, value) in [
        ("backend", "WGPU_BACKEND", "vulkan,bogus"),
        ("kernel_shape", "WGPU_ACTIVATIONS_KERNEL_SHAPE", "64"),
        ("kernel_shape_zero", "WGPU_ACTIVATIONS_KERNEL_SHAPE", "0x1"),
        ("uniform_bias", "WGPU_ACTIVATIONS_UNIFORM_BIAS", "yes"),
        ("layout", "WGPU_ACTIVATIONS_LAYOUT", "fast"),
        ("layout_chunked", "WGPU_ACTIVATIONS_LAYOUT", "Chunked"),
        ("layout_coalesced", "WGPU_ACTIVATIONS_LAYOUT", "coalesced"),
        (
            "adapter_name",
            "WGPU_ADAPTER_NAME",
            "no adapter is called this",
        ),
    ] {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "bad_inputs::options::from_env_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(FROM_ENV_CASE, case)
            .env(variable, value)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains(&format!("from_env case {case}: checked")),
            "{variable}={value:?}: the child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// Part of `gpu_options_from_env`: does nothing unless that test set
/// `BAD_INPUTS_FROM_ENV_CASE` in this (child) process's environment.
#[test]
fn from_env_child() {
    let Ok(case) = std::env::var(FROM_ENV_CASE) else {
        return;
    };
    match case.as_str() {
        "backend" => {
            unsupported_backend(err(GpuOptions::from_env()), "bogus");
            unsupported_backend(err(Gpu::new()), "bogus");
        }
        "kernel_shape" => {
            invalid_kernel_shape(err(GpuOptions::from_env()), "64");
            invalid_kernel_shape(err(Gpu::new()), "64");
        }
        "kernel_shape_zero" => {
            assert_eq!(
                GpuOptions::from_env().unwrap().kernel_shape,
                Some(shape(0, 1))
            );
            invalid_parameter(err(Gpu::new()), WORKGROUP.0, 0.0, WORKGROUP.1);
        }
        "uniform_bias" => {
            let expected = "1, true, 0 or false";
            let name = "WGPU_ACTIVATIONS_UNIFORM_BIAS";
            invalid_option(err(GpuOptions::from_env()), name, "yes", expected);
            invalid_option(err(Gpu::new()), name, "yes", expected);
        }
        "layout" => {
            let expected = "chunked or coalesced";
            let name = "WGPU_ACTIVATIONS_LAYOUT";
            invalid_option(err(GpuOptions::from_env()), name, "fast", expected);
            invalid_option(err(Gpu::new()), name, "fast", expected);
        }
        "layout_chunked" | "layout_coalesced" => {
            let layout = match case.as_str() {
                "layout_chunked" => KernelLayout::Chunked,
                _ => KernelLayout::Coalesced,
            };
            assert_eq!(GpuOptions::from_env().unwrap().kernel_layout, Some(layout));
            assert_eq!(Gpu::new().unwrap().info().kernel_variant.layout, layout);
        }
        "power_pref" => {
            let error = err(GpuOptions::from_env());
            assert!(
                matches!(&error, Error::InvalidOption { name: "WGPU_POWER_PREF", value, .. }
                    if value == "fastest"),
                "{error:?}"
            );
        }
        "adapter_name" => {
            let error = err(Gpu::new());
            assert!(
                matches!(&error, Error::NoAdapter(m) if m.contains("no adapter is called this")),
                "{error:?}"
            );
        }
        other => panic!("unknown case {other}"),
    }
    println!("from_env case {case}: checked");
}
