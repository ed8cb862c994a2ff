//! Downloads of views through `record_download` (polled and awaited) and
//! `download`.

use super::*;

#[test]
fn record_download_of_views_polled_and_awaited() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: 0.01 };
    for (case, len) in [1001usize, 4, 0].into_iter().enumerate() {
        let what = format!("{len} elements");
        let inputs = ElementwiseInputs::new(&gpu, &[activation], len, 600 + case as u64, FULL, 0);
        let mut layout = ArenaLayout::new(&gpu);
        let y_region = layout.add_output(len);
        let mask_region = layout.add_output(cpu::mask_words(len));
        let outputs = layout.build(&gpu, FULL, 32);
        let x = inputs.x(&gpu);
        let y = outputs.tensor(&gpu, y_region, &[len]);
        let mask = outputs.mask(&gpu, mask_region, &[len]);
        let (expected_y, expected_mask) = cpu::forward_with_mask(activation, &inputs.x);
        let flushed = forward_refs(activation, &inputs.x).1;

        // Polled, as a render loop does: never blocks.
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_activation(&mut encoder, activation, &x, &y, Some(&mask))
            .unwrap();
        let mut pending = y.record_download(&mut encoder).unwrap();
        let mut pending_mask = mask.record_download(&mut encoder).unwrap();
        // Not submitted yet: nothing to take, however often the device is
        // polled.
        gpu.device().poll(wgpu::PollType::Poll).unwrap();
        assert!(
            pending.try_take().is_none(),
            "{what}: data before the submit"
        );
        gpu.queue().submit([encoder.finish()]);
        let started = Instant::now();
        let (mut got, mut got_mask) = (None, None);
        let mut polls = 0;
        while got.is_none() || got_mask.is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{what}: no data after {polls} polls"
            );
            gpu.device().poll(wgpu::PollType::Poll).unwrap();
            polls += 1;
            if got.is_none() {
                got = pending.try_take().map(Result::unwrap);
            }
            if got_mask.is_none() {
                got_mask = pending_mask.try_take().map(Result::unwrap);
            }
            std::thread::yield_now();
        }
        let got = got.unwrap();
        assert_agrees(
            &format!("{what}: polled y"),
            &inputs.x,
            &got,
            &expected_y,
            &flushed,
        );
        assert_mask_exact(
            &format!("{what}: polled mask"),
            &got_mask.unwrap(),
            &expected_mask,
        );
        // Taken once: the data is not there twice.
        assert!(pending.try_take().is_none(), "{what}: taken twice");

        // Awaited, after the caller's own wait.
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        let pending = y.record_download(&mut encoder).unwrap();
        let pending_mask = mask.record_download(&mut encoder).unwrap();
        gpu.queue().submit([encoder.finish()]);
        gpu.device()
            .poll(wgpu::PollType::Wait {
                submission_index: None,
                timeout: None,
            })
            .unwrap();
        let awaited = pollster::block_on(pending.into_future()).unwrap();
        assert_eq!(bits(&awaited), bits(&got), "{what}: awaited y");
        let awaited_mask = pollster::block_on(pending_mask.into_future()).unwrap();
        assert_eq!(awaited_mask, expected_mask, "{what}: awaited mask");

        // And the blocking and async forms, at the view's offset.
        assert_eq!(bits(&y.download().unwrap()), bits(&got), "{what}: download");
        let async_y = pollster::block_on(y.download_async()).unwrap();
        assert_eq!(bits(&async_y), bits(&got), "{what}: download_async");
        if len == 0 {
            assert!(got.is_empty() && y.download().unwrap().is_empty());
            assert!(mask.download().unwrap().is_empty());
        }

        let got = read_words(&gpu, &outputs.buffer);
        outputs.assert_unchanged_outside(&what, &got, &[y_region, mask_region]);
    }
}
