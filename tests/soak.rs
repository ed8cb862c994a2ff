//! Soak: 10,000 random ops on one `Gpu`, watching the process's memory; and
//! 60,000 frames of prepared ops recorded into an engine's encoder, watching
//! its GPU object counts and memory against a control run without the crate.
//!
//! Ignored by a plain `cargo test`; .ci/run runs it per backend with
//! `cargo test --test soak -- --ignored --nocapture --test-threads=1` (one
//! test at a time: each reads the process's memory; a debug build, the one
//! `cargo test` made: about a minute per software adapter on 2 cores).
//!
//! Every op of `Op::all()` (each activation's parameter now and then
//! varied) and batches of 2 to 5 ops (tests/integration/common/stress.rs)
//! run on sizes log-uniform in
//! 1..=300,000 elements. Their results are read back (one read-back in four
//! through `download_async`), one op in five takes its input from a kept
//! tensor rewritten with `Tensor::write`, and one unverified op in ten drops
//! its outputs unread. Every 50th op is compared in full with the CPU
//! reference (the same rules as the other tests).
//!
//! Every 500 ops the resident set size is recorded. On a software adapter
//! (lavapipe, llvmpipe) the device's buffers live in this process, so a
//! leaked buffer, readback or staging allocation shows up there. The test
//! asserts that memory has levelled off: the peak over the last third of the
//! run exceeds the peak over the middle third by less than [`SLACK_BYTES`].

// The helpers this binary shares with tests/integration, by path: each
// refers to the others as `super::`, siblings here as there.
#[path = "integration/common/adapter.rs"]
mod adapter;
#[path = "integration/common/counters.rs"]
mod counters;
// The soak draws no whole `HostInputs` (`sample::inputs`).
#[allow(dead_code)]
#[path = "../harness/src/sample.rs"]
mod sample;
#[path = "integration/common/stress.rs"]
mod stress;

use std::time::Instant;

use rand::Rng;

use adapter::gpu;
use counters::{live_objects, own_gpu};
use stress::{Stress, StressConfig};

const OPS: usize = 10_000;
/// Ops between two memory samples.
const SAMPLE_EVERY: usize = 500;
/// Every this many ops is compared with the reference.
const VERIFY_EVERY: usize = 50;
/// How far the last third's peak RSS may exceed the middle third's.
///
/// The samples are taken between ops, after `wait_idle`, so they hold no
/// op's own buffers; what moves them is the allocators' caching after the
/// largest ops of each stretch. On 2-core lavapipe and llvmpipe runs the
/// samples of one third spread over up to ~5 MiB and the two peaks differed
/// by 0.2 (Vulkan) and 2.9 MiB (GL) (the test prints the series). 16 MiB is
/// three times the widest spread seen. An op's input tensor averages ~95 KB
/// (log-uniform sizes up to 1.2 MB), so leaking one per op grows the RSS by
/// ~300 MiB per third; the slack lets through at most ~4.7 KB per op
/// (16 MiB over the ~3,500 ops between the two thirds' samples).
const SLACK_BYTES: u64 = 16 << 20;
const MIB: f64 = (1u64 << 20) as f64;

/// The page size, from the auxiliary vector's `AT_PAGESZ` entry (pairs of
/// native words in /proc/self/auxv).
fn page_size() -> Option<u64> {
    const AT_PAGESZ: usize = 6;
    const WORD: usize = std::mem::size_of::<usize>();
    let auxv = std::fs::read("/proc/self/auxv").ok()?;
    let word = |bytes: &[u8]| usize::from_ne_bytes(bytes.try_into().unwrap());
    auxv.chunks_exact(2 * WORD)
        .map(|pair| (word(&pair[..WORD]), word(&pair[WORD..])))
        .find(|&(key, _)| key == AT_PAGESZ)
        .map(|(_, value)| value as u64)
}

/// Resident pages (the second field of /proc/self/statm) times the page size.
fn statm_rss() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size()?)
}

/// `VmRSS` of /proc/self/status, in bytes.
fn status_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The process's resident set size in bytes.
fn rss_bytes() -> u64 {
    statm_rss()
        .or_else(status_rss)
        .expect("neither /proc/self/statm nor /proc/self/status gives the resident set size")
}

/// One memory sample: ops done, RSS, seconds since the start.
struct Sample {
    ops: usize,
    rss: u64,
    seconds: f64,
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// The peak RSS of the samples taken after `from` (exclusive) up to `to`
/// (inclusive) ops.
fn peak(samples: &[Sample], from: usize, to: usize) -> u64 {
    samples
        .iter()
        .filter(|s| s.ops > from && s.ops <= to)
        .map(|s| s.rss)
        .max()
        .expect("no sample in the range")
}

#[test]
#[ignore = "soak: run by .ci/run"]
fn ten_thousand_random_ops_stay_correct_and_memory_levels_off() {
    let Some(gpu) = gpu() else { return };
    let config = StressConfig {
        small_max: 300_000,
        large_max: 300_000,
        large_one_in: 0,
        empty_one_in: 200,
        async_one_in: 4,
        reuse_one_in: 5,
        reuse_slots: 6,
        skip_read_back_one_in: 10,
    };
    let start = Instant::now();
    let mut samples = vec![Sample {
        ops: 0,
        rss: rss_bytes(),
        seconds: 0.0,
    }];
    let mut stress = Stress::new(&gpu, "soak", 0x50a4_0001, config);
    for op in 1..=OPS {
        let steps = stress.steps();
        let step = stress.rng().random_range(0..steps);
        stress.run(step, op % VERIFY_EVERY == 0);
        if op % SAMPLE_EVERY == 0 {
            gpu.wait_idle().unwrap();
            samples.push(Sample {
                ops: op,
                rss: rss_bytes(),
                seconds: start.elapsed().as_secs_f64(),
            });
        }
    }
    // The kept tensors are the test's own; release them and look once more.
    let stats = std::mem::take(&mut stress.stats);
    drop(stress);
    gpu.wait_idle().unwrap();
    let released = rss_bytes();

    eprintln!(
        "soak on {} ({:?}): {} ops in {:.1} s, {} verified, {} more in batches, {} elements in \
         (largest {}), {} read-backs ({} async), {} reused-tensor writes, {} values or bits \
         within the flush allowance",
        gpu.info().name,
        gpu.info().backend,
        stats.ops,
        start.elapsed().as_secs_f64(),
        stats.verified,
        stats.batched_ops,
        stats.elements,
        stats.largest,
        stats.downloads,
        stats.async_downloads,
        stats.reused_writes,
        stats.flushed,
    );
    eprintln!("{:>6} {:>9} {:>8}", "ops", "RSS MiB", "seconds");
    for s in &samples {
        eprintln!("{:>6} {:>9.1} {:>8.1}", s.ops, mib(s.rss), s.seconds);
    }
    let first = samples[0].rss;
    // Warmed up: the first sample of the middle third.
    let warm = samples.iter().find(|s| s.ops > OPS / 3).unwrap();
    let last = samples.last().unwrap().rss;
    let max = samples.iter().map(|s| s.rss).max().unwrap();
    let middle = peak(&samples, OPS / 3, 2 * OPS / 3);
    let end = peak(&samples, 2 * OPS / 3, OPS);
    eprintln!(
        "RSS MiB: first {:.1}, after warm-up ({} ops) {warm_mib:.1}, final {:.1}, peak {:.1}; \
         peak of the middle third {:.1}, of the last third {:.1} (slack {:.0}); \
         after releasing the kept tensors {:.1}",
        mib(first),
        warm.ops,
        mib(last),
        mib(max),
        mib(middle),
        mib(end),
        mib(SLACK_BYTES),
        mib(released),
        warm_mib = mib(warm.rss),
    );
    stats.assert_every_step_ran();
    assert!(
        end <= middle + SLACK_BYTES,
        "memory keeps growing: the last third's peak RSS {:.1} MiB exceeds the middle third's \
         {:.1} MiB by more than {:.0} MiB",
        mib(end),
        mib(middle),
        mib(SLACK_BYTES)
    );
}

/// Frames of the prepared-ops soak, and frames between two samples.
const FRAMES: usize = 60_000;
const FRAME_SAMPLE_EVERY: usize = 5_000;
/// How far the crate's frame loop may grow the RSS beyond the control loop's
/// growth (the same loop with the engine's own dispatch alone), from the end
/// of the first sample's frames to the last. A leak of one small buffer or
/// bind group per frame (hundreds of bytes in wgpu's bookkeeping alone)
/// would grow it by tens of MiB over 55,000 frames.
const FRAME_MARGIN_BYTES: u64 = 4 << 20;

/// Runs `frames` frames of `frame` (each recording into a fresh encoder that
/// it then submits), polling without blocking after each; returns the RSS
/// and the device's live objects after the first sample and at the end.
fn frame_loop(
    gpu: &wgpu_activations::Gpu,
    frames: usize,
    frame: &mut dyn FnMut(&mut wgpu::CommandEncoder, usize),
) -> [(u64, (isize, isize)); 2] {
    let mut warm = None;
    for index in 1..=frames {
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        frame(&mut encoder, index);
        gpu.queue().submit([encoder.finish()]);
        gpu.device().poll(wgpu::PollType::Poll).unwrap();
        if index % FRAME_SAMPLE_EVERY == 0 {
            gpu.wait_idle().unwrap();
            let sample = (rss_bytes(), live_objects(gpu));
            warm.get_or_insert(sample);
        }
    }
    gpu.wait_idle().unwrap();
    [warm.unwrap(), (rss_bytes(), live_objects(gpu))]
}

#[test]
#[ignore = "soak: run by .ci/run"]
fn sixty_thousand_prepared_frames_create_nothing_and_memory_levels_off() {
    use wgpu_activations::{Activation, Mask, Op, OpTensors, Tensor};
    // A device of its own: its object counters move with this test alone.
    let Some(gpu) = own_gpu() else { return };
    let device = gpu.device();
    // The engine's own work of a frame: examples/embed.wgsl's compute step.
    let module = device.create_shader_module(wgpu::include_wgsl!("../examples/embed.wgsl"));
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("engine step"),
        layout: None,
        module: &module,
        entry_point: Some("engine_step"),
        compilation_options: Default::default(),
        cache: None,
    });
    let engine_data = Tensor::uninit(&gpu, &[1024]).unwrap();
    let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("engine step"),
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[wgpu::BindGroupEntry {
            binding: 0,
            resource: engine_data.buffer().as_entire_binding(),
        }],
    });
    let engine_step = |encoder: &mut wgpu::CommandEncoder| {
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(16, 1, 1);
    };

    // The control: the engine's frames without the crate.
    let control = frame_loop(&gpu, FRAMES, &mut |encoder, _| engine_step(encoder));

    // An MLP layer's activation steps, prepared once.
    let (rows, cols) = (64, 256);
    let x =
        Tensor::from_slice_with_shape(&gpu, &sample::activations(rows * cols, 1), &[rows, cols])
            .unwrap();
    let b = Tensor::from_slice(&gpu, &sample::activations(cols, 2)).unwrap();
    let dy =
        Tensor::from_slice_with_shape(&gpu, &sample::activations(rows * cols, 3), &[rows, cols])
            .unwrap();
    let (y, dx) = (
        Tensor::uninit(&gpu, &[rows, cols]).unwrap(),
        Tensor::uninit(&gpu, &[rows, cols]).unwrap(),
    );
    let db = Tensor::uninit(&gpu, &[cols]).unwrap();
    let mask = Mask::uninit(&gpu, rows * cols)
        .unwrap()
        .with_row_length(cols)
        .unwrap();
    let leaky = Activation::LeakyRelu { slope: 0.01 };
    let prepared = gpu
        .prepare_batch(&[
            (
                Op::BiasForwardWithMask(leaky),
                OpTensors {
                    x: Some(&x),
                    bias: Some(&b),
                    y: Some(&y),
                    mask: Some(&mask),
                    ..Default::default()
                },
            ),
            (
                Op::BiasBackward(leaky),
                OpTensors {
                    dy: Some(&dy),
                    mask: Some(&mask),
                    dx: Some(&dx),
                    db: Some(&db),
                    ..Default::default()
                },
            ),
        ])
        .unwrap();
    let start = Instant::now();
    let mut pending = std::collections::VecDeque::new();
    let mut downloads = 0;
    let with_crate = frame_loop(&gpu, FRAMES, &mut |encoder, index| {
        engine_step(encoder);
        prepared.record(encoder);
        // A download of db every 10th frame, taken when it has arrived.
        if index % 10 == 0 {
            pending.push_back(db.record_download(encoder).unwrap());
        }
        while let Some(data) = pending.front_mut().and_then(|p| p.try_take()) {
            assert_eq!(data.unwrap().len(), cols);
            downloads += 1;
            pending.pop_front();
        }
    });
    let growth = |[warm, end]: [(u64, (isize, isize)); 2]| end.0.saturating_sub(warm.0);
    eprintln!(
        "prepared frames on {} ({:?}): {FRAMES} frames in {:.1} s, {downloads} downloads taken; \
         live (buffers, bind groups) after {FRAME_SAMPLE_EVERY} frames {:?}, at the end {:?}; \
         RSS growth over the frames: control {:.2} MiB, with the crate {:.2} MiB (margin {:.0})",
        gpu.info().name,
        gpu.info().backend,
        start.elapsed().as_secs_f64(),
        with_crate[0].1,
        with_crate[1].1,
        mib(growth(control)),
        mib(growth(with_crate)),
        mib(FRAME_MARGIN_BYTES),
    );
    assert!(
        with_crate[1].1 <= with_crate[0].1,
        "GPU objects keep growing: {:?} after warm-up, {:?} at the end",
        with_crate[0].1,
        with_crate[1].1
    );
    assert!(
        growth(with_crate) <= growth(control) + FRAME_MARGIN_BYTES,
        "memory keeps growing: {:.2} MiB over the frames, the control grew {:.2} MiB",
        mib(growth(with_crate)),
        mib(growth(control))
    );
}
