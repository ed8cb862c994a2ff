//! Uploads and downloads larger than one transfer chunk (4 MiB): they go
//! in chunks, each staged and submitted on its own, so these check that
//! every chunk lands at its place, in order, within the view and nowhere
//! else, through every way in and out, and that repeating them allocates
//! nothing once the staging pools are warm.

use wgpu_activations::{Mask, Tensor};

use crate::common::counters::{live_objects, own_gpu};
use crate::common::{assert_bit_exact, bits, gpu, write_relu_download};

/// Five whole 4 MiB chunks and a last chunk of 12 bytes.
const LARGE: usize = (5 << 20) + 3;
/// Fills the words around a view.
const GUARD: f32 = -7.25;

/// Values whose bits are all different, so a chunk landing at another
/// chunk's place (or twice) cannot compare equal.
fn distinct(len: usize, seed: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| f32::from_bits(0x3f80_0000 + (i ^ seed)))
        .collect()
}

#[test]
fn a_large_view_is_written_and_downloaded_chunk_by_chunk_in_place() {
    let Some(gpu) = gpu() else { return };
    // The view starts at the first offset the device can bind past zero,
    // so every chunk's offset is shifted from the buffer's.
    let align = gpu.limits().min_storage_buffer_offset_alignment as usize / 4;
    let arena = Tensor::from_slice(&gpu, &vec![GUARD; align + LARGE + align]).unwrap();
    let view = Tensor::from_buffer(&gpu, arena.buffer(), (align * 4) as u64, &[LARGE]).unwrap();
    let data = distinct(LARGE, 0x1234);
    view.write(&data).unwrap();

    let whole = arena.download().unwrap();
    assert!(
        whole[..align]
            .iter()
            .all(|v| v.to_bits() == GUARD.to_bits()),
        "the write reached the words before the view"
    );
    assert!(
        whole[align + LARGE..]
            .iter()
            .all(|v| v.to_bits() == GUARD.to_bits()),
        "the write reached the words after the view"
    );
    assert_eq!(bits(&whole[align..align + LARGE]), bits(&data), "written");

    assert_eq!(bits(&view.download().unwrap()), bits(&data), "download");
    let mut host = vec![0.0f32; LARGE];
    view.download_into(&mut host).unwrap();
    assert_eq!(bits(&host), bits(&data), "download_into");
    let awaited = pollster::block_on(view.download_async()).unwrap();
    assert_eq!(bits(&awaited), bits(&data), "download_async");
}

#[test]
fn a_download_sees_the_data_as_of_its_call_in_every_chunk() {
    let Some(gpu) = gpu() else { return };
    let first = distinct(LARGE, 0x77);
    let x = Tensor::from_slice(&gpu, &first).unwrap();
    // Every chunk's copy is submitted when the future is made, so the
    // write submitted after it cannot reach a chunk that is copied late.
    let pending = x.download_async();
    x.write(&distinct(LARGE, 0x99)).unwrap();
    assert_eq!(bits(&pollster::block_on(pending).unwrap()), bits(&first));
}

#[test]
fn a_large_mask_is_written_and_downloaded_chunk_by_chunk() {
    let Some(gpu) = gpu() else { return };
    // Over 4 MiB of words: a whole chunk and a partial one.
    let len = (33 << 20) + 5;
    let mask = Mask::uninit(&gpu, len).unwrap();
    let words: Vec<u32> = (0..mask.words() as u32)
        .map(|i| i.wrapping_mul(0x9e37_79b9))
        .collect();
    mask.write(&words).unwrap();
    assert_eq!(mask.download().unwrap(), words, "download");
    let mut host = vec![0u32; words.len()];
    mask.download_into(&mut host).unwrap();
    assert_eq!(host, words, "download_into");
}

#[test]
fn repeated_large_round_trips_create_no_buffers() {
    let Some(gpu) = own_gpu() else { return };
    let inputs = [distinct(LARGE, 0x5a5a), distinct(LARGE, 0xa5a5)];
    let x = Tensor::from_slice(&gpu, &inputs[0]).unwrap();
    let y = Tensor::uninit(&gpu, &[LARGE]).unwrap();
    let mut host = vec![0.0f32; LARGE];
    // The first rounds fill the pools.
    for data in &inputs {
        write_relu_download(&gpu, &x, data, &y, &mut host);
    }
    let start = live_objects(&gpu).0;
    for round in 0..6 {
        let data = &inputs[round % 2];
        // Every earlier submission finished and its callbacks run, so that
        // the staging buffers mapped on submit are back in the pool and
        // nothing freed later shows in the count (a download waits for its
        // own submission only: measured once in a CI run, a count one
        // buffer off).
        gpu.wait_idle().unwrap();
        // Counted after the write, before anything polls the device: a
        // staging buffer made for a chunk would still be alive.
        let quiescent = live_objects(&gpu).0;
        x.write(data).unwrap();
        assert_eq!(
            live_objects(&gpu).0,
            quiescent,
            "round {round}: the write made a buffer"
        );
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_relu(&mut encoder, &x, &y).unwrap();
        gpu.submit("relu", encoder).unwrap();
        y.download_into(&mut host).unwrap();
        let expected = wgpu_activations::cpu::relu_forward(data);
        assert_bit_exact("relu of the written data", data, &host, &expected);
    }
    assert_eq!(live_objects(&gpu).0, start, "buffers were created");
}
