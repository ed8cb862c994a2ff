//! The one place that turns a kernel and its operands into a dispatch.

use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::kernels::prelude::CHUNK_ELEMENTS;
use crate::kernels::{ElementTypes, Kernel, Kind};
use crate::ops::plan::{Plan, Step};

/// A byte range of a storage buffer that a kernel binds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Binding<'a> {
    pub buffer: &'a wgpu::Buffer,
    pub offset: u64,
    pub bytes: u64,
}

impl<'a> Binding<'a> {
    /// All of `buffer`.
    pub fn whole(buffer: &'a wgpu::Buffer) -> Self {
        Self {
            buffer,
            offset: 0,
            bytes: buffer.size(),
        }
    }
}

/// How many workgroups a dispatch needs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Grid {
    /// A chunked element-wise kernel over this many elements: the workgroup
    /// count follows from the pipeline's [`KernelShape`](crate::KernelShape).
    Chunks(usize),
    /// This many invocations, in workgroups of the pipeline's size (the
    /// bias-gradient kernels); the kernel skips those past its work.
    Invocations(u64),
}

/// Adds `kernel`, compiled for `kind` and `types`, over `grid` to `plan`: the pipeline
/// compiled if need be and the bind group created, inside error scopes.
///
/// `bindings` are the kernel's operands in the order of its spec's
/// [`bindings`](crate::kernels::KernelSpec::bindings), each exactly as long
/// as the kernel expects: the data itself for the kernels that read
/// `arrayLength`, whole vectors for the chunked ones. An empty grid adds
/// nothing (wgpu cannot bind an empty range).
pub(crate) fn record(
    gpu: &Gpu,
    plan: &mut Plan,
    kernel: Kernel,
    kind: Kind,
    types: ElementTypes,
    bindings: &[Binding<'_>],
    grid: Grid,
) -> Result<()> {
    debug_assert_eq!(bindings.len(), kernel.bindings.len(), "{}", kernel.name);
    let compiled = gpu.pipelines().get(kernel, kind, types)?;
    let workgroups = match grid {
        Grid::Chunks(elements) => {
            let chunks = (elements as u64).div_ceil(CHUNK_ELEMENTS);
            chunks.div_ceil(compiled.shape.chunks_per_workgroup())
        }
        Grid::Invocations(invocations) => {
            invocations.div_ceil(u64::from(compiled.shape.workgroup_size))
        }
    };
    if workgroups == 0 {
        return Ok(());
    }
    let limit = gpu.limits().max_storage_buffer_binding_size;
    for binding in bindings {
        if binding.bytes > limit {
            return Err(Error::TooLarge {
                what: "a storage binding",
                bytes: binding.bytes,
                limit_name: "max_storage_buffer_binding_size",
                limit,
            });
        }
    }
    let (x, y) = spread(
        workgroups,
        gpu.limits().max_compute_workgroups_per_dimension,
    )?;
    let bind_group = gpu.capture(kernel.name, || {
        let entries: Vec<wgpu::BindGroupEntry> = bindings
            .iter()
            .zip(kernel.bindings)
            .map(|(binding, &(index, _))| wgpu::BindGroupEntry {
                binding: index,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: binding.buffer,
                    offset: binding.offset,
                    size: wgpu::BufferSize::new(binding.bytes),
                }),
            })
            .collect();
        gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.name),
            layout: &compiled.layout,
            entries: &entries,
        })
    })?;
    plan.push(Step::Dispatch {
        label: kernel.name,
        kernel: compiled,
        bind_group,
        workgroups: (x, y),
    });
    Ok(())
}

/// Spreads `workgroups` over a 2-D grid whose x dimension stays within the
/// device's per-dimension limit; the kernels rebuild the linear index as
/// `y * num_workgroups.x + x` and skip the few indices past the end.
pub(crate) fn spread(workgroups: u64, max_per_dimension: u32) -> Result<(u32, u32)> {
    let max = u64::from(max_per_dimension.max(1));
    let x = workgroups.min(max);
    let y = workgroups.div_ceil(x.max(1));
    if y > max {
        return Err(Error::TooManyWorkgroups {
            workgroups,
            limit: max * max,
        });
    }
    // Both fit in u32: each is at most `max_per_dimension`.
    Ok((x as u32, y as u32))
}

#[cfg(test)]
mod tests {
    use super::spread;

    #[test]
    fn grid_stays_within_one_dimension_until_it_must_grow() {
        assert_eq!(spread(1, 65535).unwrap(), (1, 1));
        assert_eq!(spread(65535, 65535).unwrap(), (65535, 1));
        assert_eq!(spread(65536, 65535).unwrap(), (65535, 2));
        assert_eq!(spread(65535 * 3 + 1, 65535).unwrap(), (65535, 4));
    }

    #[test]
    fn grid_covers_every_workgroup() {
        for workgroups in [1u64, 7, 65535, 65536, 131_071, 4_000_000] {
            let (x, y) = spread(workgroups, 65535).unwrap();
            let covered = u64::from(x) * u64::from(y);
            assert!(covered >= workgroups, "{workgroups}: {x}x{y}");
            assert!(covered - workgroups < u64::from(x), "{workgroups}: {x}x{y}");
        }
    }

    #[test]
    fn grid_refuses_what_two_dimensions_cannot_hold() {
        assert!(spread(65535u64 * 65535 + 1, 65535).is_err());
    }
}
