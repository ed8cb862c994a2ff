//! Every kernel module, for every activation kind (in one shape and
//! variant; each module once in the others), parses, validates and
//! translates with naga to the language of each backend wgpu drives: SPIR-V
//! (Vulkan), MSL (Metal), HLSL (DX12) and GLSL (GL). A break that only
//! Metal or DX12 would see fails here, on any machine, with no adapter.
//!
//! Where `spirv-val` (Debian's spirv-tools) and `glslangValidator`
//! (glslang-tools) are installed, the SPIR-V and GLSL are validated by them
//! too; with `CI` set they must be installed (`.ci/run` installs them).
//!
//! Each kernel's bindings, as the crate's kernel table lists them, are
//! compared with naga's reflection of the entry point: the host binds its
//! operands by that table, so a layout mismatch fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use naga::back::PipelineConstants;
use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};
use wgpu_activations::{KernelModule, KernelShape, KernelVariant, kernel_modules};

fn parse(kernel: &KernelModule) -> (naga::Module, ModuleInfo) {
    let module = naga::front::wgsl::parse_str(&kernel.source)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.name, e.emit_to_string(&kernel.source)));
    let capabilities = if kernel.subgroups {
        Capabilities::default() | Capabilities::SUBGROUP
    } else {
        Capabilities::default()
    };
    let info = Validator::new(ValidationFlags::all(), capabilities)
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", kernel.name, e.emit_to_string(&kernel.source)));
    (module, info)
}

/// The module with `constants` applied and its overrides gone, as wgpu
/// hands it to a backend.
fn specialise(
    kernel: &KernelModule,
    module: &naga::Module,
    info: &ModuleInfo,
    constants: &[(&str, f64)],
) -> (naga::Module, ModuleInfo) {
    let mut values = PipelineConstants::default();
    for &(name, value) in constants {
        values.insert(name.to_string(), value);
    }
    let (module, info) = naga::back::pipeline_constants::process_overrides(
        module,
        info,
        Some((naga::ShaderStage::Compute, kernel.entry_point)),
        &values,
    )
    .unwrap_or_else(|e| panic!("{} {constants:?}: {e}", kernel.name));
    (module.into_owned(), info.into_owned())
}

/// An external validator, if installed; with `CI` set, a missing one fails.
fn tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and {name} is missing: apt-get install {package}"
        );
        eprintln!("SKIPPED: {name} not installed (apt-get install {package})");
    }
    found
}

fn run_validator(tool: &PathBuf, args: &[&str], file: &std::path::Path, what: &str) {
    let output = Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", tool.display()));
    assert!(
        output.status.success(),
        "{what} rejected by {}:\n{}{}",
        tool.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_kernel_translates_to_every_backend_language() {
    let spirv_val = tool("spirv-val", "spirv-tools");
    let glslang = tool("glslangValidator", "glslang-tools");
    let dir = std::env::temp_dir().join(format!("wgpu-activations-shaders-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut translated = 0;
    let shapes_and_variants = [KernelShape::GPU, KernelShape::CPU]
        .into_iter()
        .flat_map(|shape| KernelVariant::all().map(|variant| (shape, variant)));
    for (case, (shape, variant)) in shapes_and_variants.enumerate() {
        // Every kind's pipeline in the first shape and variant; in the others,
        // whose modules differ only in the loop and mask-word parts (the
        // activations' code is the same text), each module's first pipeline.
        let kinds = if case == 0 { usize::MAX } else { 1 };
        for kernel in kernel_modules(shape, variant) {
            let (module, info) = parse(&kernel);
            let subgroups = kernel.subgroups;
            assert!(
                !kernel.pipelines.is_empty(),
                "{}: no pipelines",
                kernel.name
            );
            for (index, constants) in kernel.pipelines.iter().enumerate().take(kinds) {
                let (module, info) = specialise(&kernel, &module, &info, constants);
                let what = format!("{} (pipeline {index}, {shape}, {variant})", kernel.name);

                // Subgroup operations are SPIR-V 1.3 (Vulkan 1.1), HLSL
                // shader model 6.0 (wave intrinsics); wgpu asks for no less
                // where it offers SUBGROUP.
                let spirv_options = naga::back::spv::Options {
                    lang_version: if subgroups { (1, 3) } else { (1, 0) },
                    ..Default::default()
                };
                let spirv = naga::back::spv::write_vec(
                    &module,
                    &info,
                    &spirv_options,
                    Some(&naga::back::spv::PipelineOptions {
                        shader_stage: naga::ShaderStage::Compute,
                        entry_point: kernel.entry_point.to_string(),
                    }),
                )
                .unwrap_or_else(|e| panic!("{what}: SPIR-V: {e}"));

                let msl_options = naga::back::msl::Options {
                    lang_version: (2, 1),
                    ..Default::default()
                };
                naga::back::msl::write_string(
                    &module,
                    &info,
                    &msl_options,
                    &naga::back::msl::PipelineOptions {
                        entry_point: Some((
                            naga::ShaderStage::Compute,
                            kernel.entry_point.to_string(),
                        )),
                        ..Default::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));

                let mut hlsl = String::new();
                let hlsl_options = naga::back::hlsl::Options {
                    shader_model: if subgroups {
                        naga::back::hlsl::ShaderModel::V6_0
                    } else {
                        naga::back::hlsl::Options::default().shader_model
                    },
                    ..Default::default()
                };
                let hlsl_pipeline = naga::back::hlsl::PipelineOptions {
                    entry_point: Some((naga::ShaderStage::Compute, kernel.entry_point.to_string())),
                };
                naga::back::hlsl::Writer::new(&mut hlsl, &hlsl_options, &hlsl_pipeline)
                    .write(&module, &info, None)
                    .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));

                let mut glsl = String::new();
                let glsl_options = naga::back::glsl::Options::default();
                let glsl_pipeline = naga::back::glsl::PipelineOptions {
                    shader_stage: naga::ShaderStage::Compute,
                    entry_point: kernel.entry_point.to_string(),
                    multiview: None,
                };
                naga::back::glsl::Writer::new(
                    &mut glsl,
                    &module,
                    &info,
                    &glsl_options,
                    &glsl_pipeline,
                    naga::proc::BoundsCheckPolicies::default(),
                )
                .and_then(|mut writer| writer.write())
                .unwrap_or_else(|e| panic!("{what}: GLSL: {e}"));

                let stem = format!(
                    "{}-{index}-{shape}-{}",
                    kernel.name.replace([' ', '(', ')'], "_"),
                    variant.to_string().replace([' ', '(', ')'], "_")
                );
                if let Some(spirv_val) = &spirv_val {
                    let file = dir.join(format!("{stem}.spv"));
                    std::fs::write(&file, bytemuck::cast_slice::<u32, u8>(&spirv)).unwrap();
                    let env = if subgroups { "vulkan1.1" } else { "vulkan1.0" };
                    run_validator(spirv_val, &["--target-env", env], &file, &what);
                }
                if let Some(glslang) = &glslang {
                    let file = dir.join(format!("{stem}.comp"));
                    std::fs::write(&file, &glsl).unwrap();
                    run_validator(glslang, &[], &file, &what);
                }
                translated += 1;
            }
        }
    }
    std::fs::remove_dir_all(&dir).ok();
    // Every module in each of the 6 shapes and variants, and every kind of
    // the activation kernels once more in the first.
    let modules = kernel_modules(KernelShape::GPU, KernelVariant::CHUNKED);
    let kinds: usize = modules.iter().map(|m| m.pipelines.len() - 1).sum();
    assert!(
        translated >= 2 * 3 * modules.len() + kinds,
        "only {translated} pipelines translated"
    );
}

#[test]
fn every_kernel_binds_what_its_entry_point_uses() {
    let modules = KernelVariant::all()
        .into_iter()
        .flat_map(|variant| kernel_modules(KernelShape::GPU, variant));
    for kernel in modules {
        let (module, info) = parse(&kernel);
        let index = module
            .entry_points
            .iter()
            .position(|entry| entry.name == kernel.entry_point)
            .unwrap_or_else(|| panic!("{}: no entry point {}", kernel.name, kernel.entry_point));
        let uses = info.get_entry_point(index);
        let reflected: BTreeSet<(u32, String)> = module
            .global_variables
            .iter()
            .filter(|(handle, _)| !uses[*handle].is_empty())
            .filter_map(|(_, global)| {
                let binding = global.binding.as_ref()?;
                assert_eq!(binding.group, 0, "{}: {:?}", kernel.name, global.name);
                Some((binding.binding, global.name.clone().unwrap_or_default()))
            })
            .collect();
        let listed: BTreeSet<(u32, String)> = kernel
            .bindings
            .iter()
            .map(|&(binding, name)| (binding, name.to_string()))
            .collect();
        assert_eq!(
            listed.len(),
            kernel.bindings.len(),
            "{}: a binding listed twice",
            kernel.name
        );
        assert_eq!(
            reflected, listed,
            "{}: the kernel table's bindings differ from the shader's",
            kernel.name
        );
    }
}
