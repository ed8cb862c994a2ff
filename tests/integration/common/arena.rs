//! A caller's buffers with views at aligned offsets between guard words,
//! read back by copies of the tests' own: shared by the views, split and
//! bad-inputs tests.

use wgpu_activations::{Gpu, Mask, Tensor};

use super::bits;

/// The word a caller's buffer holds wherever no view is: an op that writes
/// outside its views changes one.
pub const GUARD: u32 = 0xDEAD_BEEF;

/// Records a copy of all of `buffer` (which needs `COPY_SRC`) into a
/// mappable buffer of our own: reading it back involves no code of the
/// crate. Finish with [`finish_read`] after submitting `encoder`.
pub fn record_read(
    gpu: &Gpu,
    encoder: &mut wgpu::CommandEncoder,
    buffer: &wgpu::Buffer,
) -> wgpu::Buffer {
    let staging = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("test readback"),
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    staging
}

/// The words of a [`record_read`] staging buffer, waiting for the device.
///
/// Tests share one device across threads, and any thread's poll may run
/// this map's callback, maybe just after this thread's own wait returned:
/// so this waits for the callback itself, polling again meanwhile.
pub fn finish_read(gpu: &Gpu, staging: &wgpu::Buffer) -> Vec<u32> {
    let (sender, receiver) = std::sync::mpsc::channel();
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, move |result| {
            // The receiver outlives the callback unless the test panicked.
            let _ = sender.send(result);
        });
    let mapped = loop {
        gpu.device()
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
        match receiver.recv_timeout(std::time::Duration::from_millis(10)) {
            Ok(result) => break result,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(error) => panic!("map callback dropped: {error}"),
        }
    };
    mapped.expect("mapping the readback");
    let words = {
        let view = staging.slice(..).get_mapped_range().unwrap();
        bytemuck::cast_slice::<u8, u32>(&view).to_vec()
    };
    staging.unmap();
    words
}

/// Every word of `buffer` (which needs `COPY_SRC`), by a copy of our own.
pub fn read_words(gpu: &Gpu, buffer: &wgpu::Buffer) -> Vec<u32> {
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let staging = record_read(gpu, &mut encoder, buffer);
    gpu.queue().submit([encoder.finish()]);
    finish_read(gpu, &staging)
}

/// Where [`ArenaLayout`] puts the regions of an [`Arena`].
pub struct ArenaLayout {
    alignment: u64,
    regions: Vec<(u64, Vec<u32>)>,
    end: u64,
}

impl ArenaLayout {
    /// An empty layout for views on `gpu` (offsets aligned to its
    /// `min_storage_buffer_offset_alignment`).
    pub fn new(gpu: &Gpu) -> Self {
        Self {
            alignment: u64::from(gpu.info().min_storage_buffer_offset_alignment),
            regions: Vec::new(),
            end: 0,
        }
    }

    /// Places a region holding `words` at the next aligned offset past the
    /// previous region plus one to three alignments of guard words (so the
    /// first region never starts at 0); returns its index.
    pub fn add(&mut self, words: Vec<u32>) -> usize {
        let gap = self.alignment * (1 + self.regions.len() as u64 % 3);
        let offset = self.end.next_multiple_of(self.alignment) + gap;
        self.end = offset + words.len() as u64 * 4;
        self.regions.push((offset, words));
        self.regions.len() - 1
    }

    /// [`add`](Self::add) of f32 data.
    pub fn add_f32(&mut self, data: &[f32]) -> usize {
        self.add(bits(data))
    }

    /// A region of `words` [`GUARD`] words, for an op to overwrite.
    pub fn add_output(&mut self, words: usize) -> usize {
        self.add(vec![GUARD; words])
    }

    /// One past the last region's last byte.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Creates the buffer with `usage`, every word [`GUARD`] but the
    /// regions' contents, and `trailing` bytes after the last region (0: it
    /// ends at the buffer's end). Written while mapped at creation, so it
    /// needs no copy usage.
    pub fn build(self, gpu: &Gpu, usage: wgpu::BufferUsages, trailing: u64) -> Arena {
        assert!(trailing.is_multiple_of(4));
        let size = (self.end + trailing).max(4);
        let mut initial = vec![GUARD; (size / 4) as usize];
        let mut regions = Vec::new();
        for (offset, words) in &self.regions {
            let first = (*offset / 4) as usize;
            initial[first..first + words.len()].copy_from_slice(words);
            regions.push((*offset, words.len()));
        }
        let buffer = caller_buffer_of(gpu, usage, &initial);
        Arena {
            buffer,
            initial,
            regions,
        }
    }
}

/// A caller's buffer of `usage` holding `contents`, written while mapped at
/// creation (so that it needs no copy usage).
pub fn caller_buffer_of<T: bytemuck::NoUninit>(
    gpu: &Gpu,
    usage: wgpu::BufferUsages,
    contents: &[T],
) -> wgpu::Buffer {
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("caller's buffer"),
        size: std::mem::size_of_val(contents) as u64,
        usage,
        mapped_at_creation: true,
    });
    buffer
        .slice(..)
        .get_mapped_range_mut()
        .unwrap()
        .slice(..)
        .copy_from_slice(bytemuck::cast_slice(contents));
    buffer.unmap();
    buffer
}

/// A caller's buffer holding views at aligned, nonzero offsets with
/// [`GUARD`] words before, between and (unless built without) after them.
pub struct Arena {
    /// The buffer.
    pub buffer: wgpu::Buffer,
    /// Its words as created.
    pub initial: Vec<u32>,
    /// Each region's byte offset and length in words.
    regions: Vec<(u64, usize)>,
}

impl Arena {
    /// Region `region`'s byte offset.
    pub fn offset(&self, region: usize) -> u64 {
        self.regions[region].0
    }

    /// Asserts a `what` of `words` words covers region `region` exactly.
    fn assert_covers(&self, what: &str, region: usize, words: usize) {
        assert_eq!(words, self.regions[region].1, "{what} of region {region}");
    }

    /// A tensor view of region `region` with `shape`.
    pub fn tensor(&self, gpu: &Gpu, region: usize, shape: &[usize]) -> Tensor {
        let view = Tensor::from_buffer(gpu, &self.buffer, self.offset(region), shape).unwrap();
        self.assert_covers("view", region, view.len());
        view
    }

    /// A mask view of region `region`, for a forward over `shape`.
    pub fn mask(&self, gpu: &Gpu, region: usize, shape: &[usize]) -> Mask {
        let view = Mask::from_buffer(gpu, &self.buffer, self.offset(region), shape).unwrap();
        self.assert_covers("mask view", region, view.words());
        view
    }

    /// Region `region`'s words out of a read-back of the whole buffer.
    pub fn words<'a>(&self, all: &'a [u32], region: usize) -> &'a [u32] {
        let (offset, len) = self.regions[region];
        let first = (offset / 4) as usize;
        &all[first..first + len]
    }

    /// Region `region` of a read-back as f32s.
    pub fn floats(&self, all: &[u32], region: usize) -> Vec<f32> {
        self.words(all, region)
            .iter()
            .copied()
            .map(f32::from_bits)
            .collect()
    }

    /// Asserts that `all` (a read-back of the whole buffer) equals the
    /// buffer as created everywhere outside the regions in `written`,
    /// naming the first changed word and where it lies.
    pub fn assert_unchanged_outside(&self, what: &str, all: &[u32], written: &[usize]) {
        assert_eq!(all.len(), self.initial.len(), "{what}: buffer words");
        let inside = |word: usize| {
            written.iter().any(|&r| {
                let (offset, len) = self.regions[r];
                let first = (offset / 4) as usize;
                (first..first + len).contains(&word)
            })
        };
        let changed: Vec<usize> = (0..all.len())
            .filter(|&w| all[w] != self.initial[w] && !inside(w))
            .collect();
        if let Some(&w) = changed.first() {
            let byte = w as u64 * 4;
            let before = self
                .regions
                .iter()
                .enumerate()
                .rev()
                .find(|(_, r)| r.0 <= byte);
            let place = match before {
                Some((r, &(offset, len))) if byte < offset + len as u64 * 4 => {
                    format!("inside region {r}, which this op must not write")
                }
                Some((r, &(offset, len))) => {
                    let end = offset + len as u64 * 4;
                    format!(
                        "{} bytes past the end of region {r} (bytes {offset}..{end})",
                        byte - end
                    )
                }
                None => "before the first region".to_string(),
            };
            panic!(
                "{what}: {} words outside the written views changed; first at byte {byte} \
                 ({place}): {:#010x} -> {:#010x}",
                changed.len(),
                self.initial[w],
                all[w]
            );
        }
    }
}

/// What a caller's buffer usually has.
pub const FULL: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE
    .union(wgpu::BufferUsages::COPY_SRC)
    .union(wgpu::BufferUsages::COPY_DST);

/// Bytes of guard after the last view of the `case`-th buffer: none every
/// other case, so that a view ending at the buffer's end is covered too.
pub fn trailing(case: usize) -> u64 {
    if case.is_multiple_of(2) { 0 } else { 96 }
}

/// Submits `encoder` after recording a read of each arena's whole buffer
/// into it; returns the buffers' words.
pub fn submit_and_read(
    gpu: &Gpu,
    mut encoder: wgpu::CommandEncoder,
    arenas: &[&Arena],
) -> Vec<Vec<u32>> {
    let staging: Vec<wgpu::Buffer> = arenas
        .iter()
        .map(|arena| record_read(gpu, &mut encoder, &arena.buffer))
        .collect();
    gpu.queue().submit([encoder.finish()]);
    staging.iter().map(|s| finish_read(gpu, s)).collect()
}
