//! Every WGSL file in shaders/, prefixed with common.wgsl as the crate does,
//! parses and validates with naga; no adapter needed.

use std::path::Path;

fn shader_files() -> Vec<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("shaders/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "wgsl"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_shader_file_validates_with_naga() {
    let files = shader_files();
    assert!(!files.is_empty(), "no .wgsl files found under shaders/");
    let common =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders/common.wgsl"))
            .expect("shaders/common.wgsl exists");
    let read = |name: &str| {
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("shaders")
                .join(name),
        )
        .unwrap_or_else(|e| panic!("shaders/{name}: {e}"))
    };
    let mut modules = Vec::new();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match name.as_str() {
            // The prelude of every module, and the two bias bindings that
            // go between it and bias.wgsl, as the crate compiles them.
            "common.wgsl" | "bias_storage.wgsl" | "bias_uniform.wgsl" => {}
            "bias.wgsl" => {
                for binding in ["bias_storage.wgsl", "bias_uniform.wgsl"] {
                    modules.push((
                        path.clone(),
                        format!("{common}\n{}\n{}", read(binding), read(&name)),
                    ));
                }
            }
            _ => modules.push((path.clone(), format!("{common}\n{}", read(&name)))),
        }
    }
    assert!(
        modules.len() >= 4,
        "expected relu, activation and two bias modules"
    );
    for (path, source) in modules {
        let module = naga::front::wgsl::parse_str(&source)
            .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::default(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{}: {}", path.display(), e.emit_to_string(&source)));
        assert!(
            !module.entry_points.is_empty(),
            "{} has no entry point",
            path.display()
        );
    }
}

#[test]
fn the_crate_embeds_exactly_the_files_in_shaders_dir() {
    let on_disk: Vec<String> = shader_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let mut embedded: Vec<String> = wgpu_activations::SHADERS
        .iter()
        .map(|(name, _)| name.to_string())
        .collect();
    embedded.sort();
    assert_eq!(embedded, on_disk);
    for (name, source) in wgpu_activations::SHADERS {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("shaders")
            .join(name);
        assert_eq!(
            *source,
            std::fs::read_to_string(path).unwrap(),
            "{name} is stale"
        );
    }
}
