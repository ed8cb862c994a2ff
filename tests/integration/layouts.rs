//! The element-wise kernels give the same bits in both layouts
//! ([`KernelLayout`]): chunked, and coalesced with each way of assembling
//! mask words the device offers ([`MaskWords`]: workgroup memory always,
//! subgroup shuffles where the device has `SUBGROUP`, as lavapipe does).
//! Every op of [`Op::all`], on seeded data with every special value (NaN
//! payloads, ±inf, -0.0, subnormals), at lengths around a vec4, a mask word
//! and the workgroups and at one spanning many workgroups, in three kernel
//! shapes: the device's default, 12x1 (a workgroup that is not a multiple of
//! 8, so a chunk's invocations straddle steps: the subgroup variant takes its
//! atomic path) and 64x3 (several rounds per workgroup). Each result agrees
//! with the reference ([`verify::compare`]) and has the same bits as the
//! chunked layout's, flushed subnormals included.
//!
//! Also: the layout a `Gpu` picks by default and from
//! `WGPU_ACTIVATIONS_LAYOUT`, and subgroup mask words refused on a device
//! without `SUBGROUP`. (Bad values of the variable: `bad_inputs::options`.)

use std::sync::OnceLock;

use wgpu_activations::verify::{self, OpOperands, OpOutputs};
use wgpu_activations::{
    Error, Gpu, GpuOptions, HostInputs, KernelLayout, KernelShape, KernelVariant, MaskWords, Op,
};

use crate::common::{bits, gpu, gpu_with_options, sample};

/// Around a vec4 (4) and a mask word (32); odd and prime lengths; either
/// side of 256; a multiple of 4 but not of 32 (1000); past 12 and 64x3
/// workgroups (384 and 6144 elements).
const LENGTHS: &[usize] = &[0, 1, 2, 3, 5, 7, 31, 33, 97, 255, 257, 1000, 2053, 6151];

/// Many workgroups in every shape (37 of the GPU default's 8192 elements,
/// 148 of the CPU default's 2048), run in the default shape only.
const LONG: usize = 300_007;

/// The shapes besides the device's default.
const SHAPES: &[KernelShape] = &[
    KernelShape {
        workgroup_size: 12,
        chunks_per_invocation: 1,
    },
    KernelShape {
        workgroup_size: 64,
        chunks_per_invocation: 3,
    },
];

/// One `Gpu` per variant the device offers and shape (`None`: the default),
/// the chunked ones first; opened once per test binary.
#[allow(clippy::type_complexity)]
fn layout_gpus() -> Option<&'static [(KernelVariant, Option<KernelShape>, Gpu)]> {
    let default = gpu()?;
    static GPUS: OnceLock<Vec<(KernelVariant, Option<KernelShape>, Gpu)>> = OnceLock::new();
    let gpus = GPUS.get_or_init(|| {
        let has_subgroups = default
            .device()
            .features()
            .contains(wgpu::Features::SUBGROUP);
        let mut gpus = Vec::new();
        for variant in KernelVariant::all() {
            if variant.uses_subgroups() && !has_subgroups {
                eprintln!(
                    "{variant}: skipped, {} has no SUBGROUP",
                    default.info().name
                );
                continue;
            }
            for shape in std::iter::once(None).chain(SHAPES.iter().copied().map(Some)) {
                let gpu = gpu_with_options(GpuOptions {
                    kernel_shape: shape,
                    kernel_layout: Some(variant.layout),
                    mask_words: Some(variant.mask_words),
                    ..GpuOptions::from_env().unwrap()
                })
                .expect("the default adapter opened");
                assert_eq!(
                    gpu.info().kernel_variant,
                    variant,
                    "the variant the Gpu reports"
                );
                gpus.push((variant, shape, gpu));
            }
        }
        gpus
    });
    Some(gpus)
}

/// Runs `op` on `inputs` and reads back what it wrote.
fn run(gpu: &Gpu, op: Op, inputs: &HostInputs) -> OpOutputs {
    let operands = OpOperands::upload(gpu, op, inputs).unwrap();
    operands.submit(gpu, op).unwrap();
    operands.download(op).unwrap()
}

/// Asserts `outputs` have the same bits as `first`'s.
fn assert_same_bits(what: &str, first: &OpOutputs, outputs: &OpOutputs) {
    let same = |name: &str, a: &[u32], b: &[u32]| {
        assert_eq!(a.len(), b.len(), "{what}: {name} length");
        if let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) {
            panic!(
                "{what}: {name}[{i}] is {:#010x}, the chunked layout's {:#010x}",
                b[i], a[i]
            );
        }
    };
    same("values", &bits(&first.values), &bits(&outputs.values));
    same(
        "mask",
        first.mask.as_deref().unwrap_or_default(),
        outputs.mask.as_deref().unwrap_or_default(),
    );
    same(
        "db",
        &bits(first.db.as_deref().unwrap_or_default()),
        &bits(outputs.db.as_deref().unwrap_or_default()),
    );
}

/// Every op at `len` on every Gpu of `gpus` that `include` takes: each
/// agrees with the reference, and all have the first's bits.
fn check_every_op(
    len: usize,
    gpus: &[(KernelVariant, Option<KernelShape>, Gpu)],
    include: impl Fn(Option<KernelShape>) -> bool,
) {
    let inputs = sample::inputs(len, 0x1a70 + len as u64);
    for op in Op::all() {
        let mut first: Option<OpOutputs> = None;
        for (variant, shape, gpu) in gpus.iter().filter(|(_, shape, _)| include(*shape)) {
            let shape = shape.unwrap_or(gpu.info().kernel_shape);
            let what = format!("{op} len {len} ({variant}, shape {shape})");
            let outputs = run(gpu, op, &inputs);
            let comparison = verify::compare(op, &inputs, &outputs).unwrap();
            assert!(
                comparison.passed(),
                "{what}: {}",
                comparison.first_mismatch.unwrap()
            );
            match &first {
                None => first = Some(outputs),
                Some(first) => assert_same_bits(&what, first, &outputs),
            }
        }
    }
}

#[test]
fn every_op_is_the_same_bits_in_every_layout() {
    let Some(gpus) = layout_gpus() else { return };
    for &len in LENGTHS {
        check_every_op(len, gpus, |_| true);
    }
}

#[test]
fn every_op_is_the_same_bits_in_every_layout_across_many_workgroups() {
    let Some(gpus) = layout_gpus() else { return };
    check_every_op(LONG, gpus, |shape| shape.is_none());
}

#[test]
fn the_layout_follows_the_device_type_unless_set() {
    let Some(gpu) = gpu() else { return };
    let info = gpu.info();
    let expected = GpuOptions::from_env()
        .unwrap()
        .kernel_layout
        .unwrap_or(KernelLayout::for_device_type(info.device_type));
    assert_eq!(info.kernel_variant.layout, expected);
    assert_eq!(
        KernelLayout::for_device_type(wgpu::DeviceType::Cpu),
        KernelLayout::Chunked
    );
    for device_type in [
        wgpu::DeviceType::DiscreteGpu,
        wgpu::DeviceType::IntegratedGpu,
        wgpu::DeviceType::VirtualGpu,
        wgpu::DeviceType::Other,
    ] {
        assert_eq!(
            KernelLayout::for_device_type(device_type),
            KernelLayout::Coalesced
        );
    }
    assert!(
        info.to_string()
            .contains(&format!("{} layout", info.kernel_variant)),
        "{info}"
    );
}

#[test]
fn layout_names_parse() {
    for (name, layout) in [
        ("chunked", KernelLayout::Chunked),
        ("coalesced", KernelLayout::Coalesced),
        (" Coalesced ", KernelLayout::Coalesced),
        ("CHUNKED", KernelLayout::Chunked),
    ] {
        assert_eq!(KernelLayout::from_name(name), Some(layout), "{name:?}");
        assert_eq!(KernelLayout::from_name(&layout.to_string()), Some(layout));
    }
    for name in ["", "chunk", "coalesce", "gpu", "chunked,coalesced"] {
        assert_eq!(KernelLayout::from_name(name), None, "{name:?}");
    }
}

#[test]
fn coalesced_mask_words_follow_the_subgroup_feature() {
    let Some(default) = gpu() else { return };
    let has_subgroups = default
        .device()
        .features()
        .contains(wgpu::Features::SUBGROUP);
    let coalesced = GpuOptions {
        kernel_layout: Some(KernelLayout::Coalesced),
        ..GpuOptions::from_env().unwrap()
    };
    let chosen = gpu_with_options(coalesced.clone()).unwrap();
    let subgroup_lanes = default.device().adapter_info().subgroup_min_size;
    let expected = if has_subgroups && subgroup_lanes >= 8 {
        MaskWords::Subgroup
    } else {
        MaskWords::Workgroup
    };
    assert_eq!(chosen.info().kernel_variant.mask_words, expected);

    let forced = GpuOptions {
        mask_words: Some(MaskWords::Subgroup),
        ..coalesced
    };
    match Gpu::with_options(&forced) {
        Ok(gpu) => {
            assert!(has_subgroups, "subgroup mask words without SUBGROUP");
            assert_eq!(gpu.info().kernel_variant.mask_words, MaskWords::Subgroup);
        }
        Err(error) => {
            assert!(!has_subgroups, "{error}");
            assert!(
                matches!(
                    &error,
                    Error::InvalidOption {
                        name: "GpuOptions::mask_words",
                        ..
                    }
                ),
                "{error:?}"
            );
        }
    }
}
