//! Views of buffers with `STORAGE` usage alone, as an engine may make them:
//! whole 16-byte vectors need no copy usage; partial vectors are
//! `Error::MissingUsage`.

use super::*;

/// Buffers with `STORAGE` usage alone, as an engine may make them, read
/// back without copies: a view of the whole buffer (a multiple of 16
/// bytes, so no copy is needed) through relu backward from an all-positive
/// input, which passes `dy`'s bits through unchanged.
fn read_storage_only(gpu: &Gpu, buffer: &wgpu::Buffer) -> Vec<u32> {
    let len = (buffer.size() / 4) as usize;
    assert!(len.is_multiple_of(4));
    let whole = Tensor::from_buffer(gpu, buffer, 0, &[len]).unwrap();
    let ones = Tensor::from_slice(gpu, &vec![1.0; len]).unwrap();
    let copy = gpu
        .activation_backward_from_input(Activation::Relu, &whole, &ones)
        .unwrap();
    bits(&copy.download().unwrap())
}

/// Trailing bytes that make an arena's buffer a multiple of 16 bytes long,
/// with at least one alignment of guard after its last view.
fn to_whole_vectors(layout: &ArenaLayout, gpu: &Gpu) -> u64 {
    let end = layout.end() + u64::from(gpu.info().min_storage_buffer_offset_alignment);
    end.next_multiple_of(16) - layout.end()
}

#[test]
fn storage_only_views_of_whole_vectors_need_no_copy_usage() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::LeakyRelu { slope: -1.5 };
    // Element counts that are whole vectors; 7x4 and 3x12 fused shapes
    // start a chunk mid-row.
    for (case, (len, cols)) in [(4, 1), (8, 4), (28, 4), (36, 12), (1000, 10), (4100, 41)]
        .into_iter()
        .enumerate()
    {
        let rows = len / cols;
        let what = format!("storage only, {len} elements ({rows}x{cols})");
        let x = sample::activations(len, 300 + case as u64);
        let dy = sample::activations(len, 400 + case as u64);
        let b = bias_values(cols, 500 + case as u64);
        let mask = cpu::forward_with_mask(activation, &x).1;
        let refs = BiasRefs::new(activation, &x, &b);
        let mut layout = ArenaLayout::new(&gpu);
        let regions = [
            layout.add_f32(&x),
            layout.add_f32(&dy),
            layout.add_f32(&b),
            layout.add(mask.clone()),
            layout.add(refs.mask.clone()),
        ];
        let trailing = to_whole_vectors(&layout, &gpu);
        let inputs = layout.build(&gpu, Usages::STORAGE, trailing);
        let mut layout = ArenaLayout::new(&gpu);
        let words = cpu::mask_words(len);
        let out = [
            layout.add_output(len),   // relu
            layout.add_f32(&x),       // relu in place
            layout.add_output(len),   // activation
            layout.add_output(words), // its mask
            layout.add_output(len),   // dx from mask
            layout.add_output(len),   // dx from input
            layout.add_output(len),   // bias add
            layout.add_output(len),   // bias activation
            layout.add_output(words), // its mask
            layout.add_output(len),   // fused dx
        ];
        let trailing = to_whole_vectors(&layout, &gpu);
        let outputs = layout.build(&gpu, Usages::STORAGE, trailing);
        let mut layout = ArenaLayout::new(&gpu);
        let db_region = layout.add_output(cols);
        let trailing = to_whole_vectors(&layout, &gpu);
        let gradients = layout.build(&gpu, Usages::STORAGE, trailing);

        let input = |r: usize, shape: &[usize]| inputs.tensor(&gpu, regions[r], shape);
        let output = |r: usize, shape: &[usize]| outputs.tensor(&gpu, out[r], shape);
        let (xv, dyv) = (input(0, &[rows, cols]), input(1, &[rows, cols]));
        let bv = input(2, &[cols]);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        gpu.record_relu(&mut encoder, &xv, &output(0, &[len]))
            .unwrap();
        gpu.record_relu_in_place(&mut encoder, &mut output(1, &[len]))
            .unwrap();
        let mask_out = outputs.mask(&gpu, out[3], &[len]);
        gpu.record_activation(
            &mut encoder,
            activation,
            &xv,
            &output(2, &[len]),
            Some(&mask_out),
        )
        .unwrap();
        let mask_in = inputs.mask(&gpu, regions[3], &[len]);
        gpu.record_activation_backward(
            &mut encoder,
            activation,
            &dyv,
            &mask_in,
            &output(4, &[len]),
        )
        .unwrap();
        gpu.record_activation_backward_from_input(
            &mut encoder,
            activation,
            &dyv,
            &xv,
            &output(5, &[len]),
        )
        .unwrap();
        gpu.record_bias_add(&mut encoder, &xv, &bv, &output(6, &[rows, cols]))
            .unwrap();
        // A bias without COPY_SRC cannot be staged into a uniform buffer:
        // the kernel reads it from storage.
        let bias_mask = outputs.mask(&gpu, out[8], &[rows, cols]);
        gpu.record_bias_activation(
            &mut encoder,
            activation,
            &xv,
            &bv,
            &output(7, &[rows, cols]),
            Some(&bias_mask),
        )
        .unwrap();
        let fused_mask = inputs.mask(&gpu, regions[4], &[rows, cols]);
        let db = gradients.tensor(&gpu, db_region, &[cols]);
        gpu.record_bias_activation_backward(
            &mut encoder,
            activation,
            &dyv,
            &fused_mask,
            &output(9, &[rows, cols]),
            &db,
        )
        .unwrap();
        gpu.queue().submit([encoder.finish()]);

        let got = read_storage_only(&gpu, &inputs.buffer);
        inputs.assert_unchanged_outside(&format!("{what}: inputs' buffer"), &got, &[]);
        let got = read_storage_only(&gpu, &outputs.buffer);
        outputs.assert_unchanged_outside(&format!("{what}: outputs' buffer"), &got, &out);
        let got_db = read_storage_only(&gpu, &gradients.buffer);
        gradients.assert_unchanged_outside(&format!("{what}: db buffer"), &got_db, &[db_region]);

        let relu = cpu::relu_forward(&x);
        assert_bit_exact(
            &format!("{what}: relu"),
            &x,
            &outputs.floats(&got, out[0]),
            &relu,
        );
        assert_bit_exact(
            &format!("{what}: relu in place"),
            &x,
            &outputs.floats(&got, out[1]),
            &relu,
        );
        let (exact, flushed) = forward_refs(activation, &x);
        assert_agrees(
            &format!("{what}: activation"),
            &x,
            &outputs.floats(&got, out[2]),
            &exact,
            &flushed,
        );
        assert_mask_exact(&format!("{what}: mask"), outputs.words(&got, out[3]), &mask);
        let (exact, flushed) = backward_refs(activation, &dy, &mask);
        assert_agrees(
            &format!("{what}: dx"),
            &dy,
            &outputs.floats(&got, out[4]),
            &exact,
            &flushed,
        );
        assert_agrees(
            &format!("{what}: dx from input"),
            &dy,
            &outputs.floats(&got, out[5]),
            &exact,
            &flushed,
        );
        let (exact, flushed) = (
            cpu::bias_add(&x, &b, Subnormals::Preserve),
            cpu::bias_add(&x, &b, Subnormals::FlushToZero),
        );
        assert_agrees(
            &format!("{what}: bias add"),
            &x,
            &outputs.floats(&got, out[6]),
            &exact,
            &flushed,
        );
        assert_agrees(
            &format!("{what}: bias activation"),
            &x,
            &outputs.floats(&got, out[7]),
            &refs.y,
            &refs.y_flushed,
        );
        assert_mask_within_flush(
            &format!("{what}: bias mask"),
            len,
            outputs.words(&got, out[8]),
            &refs.mask,
            &refs.mask_flushed,
        );
        let (exact, flushed) = backward_refs(activation, &dy, &refs.mask);
        assert_agrees(
            &format!("{what}: fused dx"),
            &dy,
            &outputs.floats(&got, out[9]),
            &exact,
            &flushed,
        );
        assert_db_within_bound(
            &format!("{what}: db"),
            &gradients.floats(&got_db, db_region),
            &exact,
            rows,
        );

        // Reading a view back needs COPY_SRC, writing one COPY_DST.
        let missing = |error: Error, usage: Usages| {
            assert!(
                matches!(error, Error::MissingUsage { missing, .. } if missing == usage),
                "{what}: {error:?}"
            );
        };
        missing(xv.download().unwrap_err(), Usages::COPY_SRC);
        missing(mask_in.download().unwrap_err(), Usages::COPY_SRC);
        missing(xv.write(&x).unwrap_err(), Usages::COPY_DST);
        let mut encoder = gpu.device().create_command_encoder(&Default::default());
        missing(
            xv.record_download(&mut encoder).err().unwrap(),
            Usages::COPY_SRC,
        );
        missing(
            mask_in.record_download(&mut encoder).err().unwrap(),
            Usages::COPY_SRC,
        );
    }
}

/// Which buffer of an op lacks which copy usage, and what the op reports.
#[derive(Clone, Copy, Debug)]
enum Missing {
    /// The inputs' buffer is `STORAGE` only: COPY_SRC is missing.
    InputCopySrc,
    /// The outputs' buffer is `STORAGE | COPY_SRC`: COPY_DST is missing.
    OutputCopyDst,
}

#[test]
fn storage_only_views_of_partial_vectors_are_missing_usage() {
    let Some(gpu) = gpu() else { return };
    let activation = Activation::relu6();
    for (len, cols) in [(1, 1), (3, 3), (5, 5), (33, 11), (1001, 7)] {
        let rows = len / cols;
        for missing in [Missing::InputCopySrc, Missing::OutputCopyDst] {
            let what = format!("{len} elements, {missing:?}");
            let (input_usage, output_usage, expected) = match missing {
                Missing::InputCopySrc => (Usages::STORAGE, FULL, Usages::COPY_SRC),
                Missing::OutputCopyDst => {
                    (FULL, Usages::STORAGE | Usages::COPY_SRC, Usages::COPY_DST)
                }
            };
            let x = sample::activations(len, len as u64);
            let dy = sample::activations(len, len as u64 + 1);
            let b = bias_values(cols, 7);
            let mask = cpu::forward_with_mask(activation, &x).1;
            let mut layout = ArenaLayout::new(&gpu);
            let regions = [
                layout.add_f32(&x),
                layout.add_f32(&dy),
                layout.add_f32(&b),
                layout.add(mask.clone()),
            ];
            let inputs = layout.build(&gpu, input_usage, 64);
            let mut layout = ArenaLayout::new(&gpu);
            let out = [
                layout.add_output(len),
                layout.add_f32(&x),
                layout.add_output(cpu::mask_words(len)),
                layout.add_output(len),
            ];
            let outputs = layout.build(&gpu, output_usage, 64);
            // db in a buffer of its own: the crate refuses db in dx's buffer.
            let mut layout = ArenaLayout::new(&gpu);
            let db_region = layout.add_output(cols);
            let gradients = layout.build(&gpu, output_usage, 0);
            let xv = inputs.tensor(&gpu, regions[0], &[rows, cols]);
            let dyv = inputs.tensor(&gpu, regions[1], &[rows, cols]);
            let bv = inputs.tensor(&gpu, regions[2], &[cols]);
            let mask_in = inputs.mask(&gpu, regions[3], &[rows, cols]);
            let y = outputs.tensor(&gpu, out[0], &[rows, cols]);
            let mask_out = outputs.mask(&gpu, out[2], &[len]);

            let mut encoder = gpu.device().create_command_encoder(&Default::default());
            let check = |name: &str, result: wgpu_activations::Result<()>| match result {
                Err(Error::MissingUsage { missing, .. }) if missing == expected => {}
                other => {
                    panic!("{what}: {name}: expected MissingUsage {expected:?}, got {other:?}")
                }
            };
            check("relu", gpu.record_relu(&mut encoder, &xv, &y));
            check(
                "activation",
                gpu.record_activation(&mut encoder, activation, &xv, &y, None),
            );
            check(
                "activation with mask",
                gpu.record_activation(&mut encoder, activation, &xv, &y, Some(&mask_out)),
            );
            check(
                "backward from mask",
                gpu.record_activation_backward(&mut encoder, activation, &dyv, &mask_in, &y),
            );
            check(
                "backward from input",
                gpu.record_activation_backward_from_input(&mut encoder, activation, &dyv, &xv, &y),
            );
            check("bias add", gpu.record_bias_add(&mut encoder, &xv, &bv, &y));
            check(
                "bias activation with mask",
                gpu.record_bias_activation(&mut encoder, activation, &xv, &bv, &y, Some(&mask_out)),
            );
            if let Missing::InputCopySrc = missing {
                // Only the mask lacks COPY_SRC: the kernel reads its last
                // word through a copy.
                let dy_full = Tensor::from_slice_with_shape(&gpu, &dy, &[rows, cols]).unwrap();
                check(
                    "backward from a storage-only mask",
                    gpu.record_activation_backward(
                        &mut encoder,
                        activation,
                        &dy_full,
                        &mask_in,
                        &y,
                    ),
                );
            }
            // In place needs both copy usages.
            let (mut in_place, in_place_missing) = match missing {
                Missing::InputCopySrc => (
                    inputs.tensor(&gpu, regions[0], &[len]),
                    Usages::COPY_SRC | Usages::COPY_DST,
                ),
                Missing::OutputCopyDst => (outputs.tensor(&gpu, out[1], &[len]), Usages::COPY_DST),
            };
            match gpu.record_relu_in_place(&mut encoder, &mut in_place) {
                Err(Error::MissingUsage { missing, .. }) if missing == in_place_missing => {}
                other => panic!("{what}: relu in place: {other:?}"),
            }
            // The fused backward reads and writes its operands exactly
            // (no whole-vector kernel, no copy): it needs no copy usage.
            let dx = outputs.tensor(&gpu, out[3], &[rows, cols]);
            let db = gradients.tensor(&gpu, db_region, &[cols]);
            gpu.record_bias_activation_backward(&mut encoder, activation, &dyv, &mask_in, &dx, &db)
                .unwrap();
            // The refused ops recorded nothing that breaks the encoder, and
            // wrote nothing.
            let read_inputs = input_usage
                .contains(Usages::COPY_SRC)
                .then(|| record_read(&gpu, &mut encoder, &inputs.buffer));
            let read_outputs = record_read(&gpu, &mut encoder, &outputs.buffer);
            let read_gradients = record_read(&gpu, &mut encoder, &gradients.buffer);
            gpu.queue().submit([encoder.finish()]);
            if let Some(staging) = read_inputs {
                inputs.assert_unchanged_outside(&what, &finish_read(&gpu, &staging), &[]);
            }
            let got = finish_read(&gpu, &read_outputs);
            outputs.assert_unchanged_outside(&what, &got, &[out[3]]);
            let got_db = finish_read(&gpu, &read_gradients);
            gradients.assert_unchanged_outside(&what, &got_db, &[db_region]);
            let (exact, flushed) = backward_refs(activation, &dy, &mask);
            let dx = outputs.floats(&got, out[3]);
            assert_agrees(&format!("{what}: fused dx"), &dy, &dx, &exact, &flushed);
            let db = gradients.floats(&got_db, db_region);
            assert_db_within_bound(&format!("{what}: db"), &db, &exact, rows);
        }
    }
    // No rows: db is cleared with a copy command, which needs COPY_DST.
    let dy = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let dx = Tensor::uninit(&gpu, &[0, 5]).unwrap();
    let mask = Mask::uninit(&gpu, 0).unwrap();
    let mut layout = ArenaLayout::new(&gpu);
    let region = layout.add_output(5);
    let storage_only = layout.build(&gpu, Usages::STORAGE, 0);
    let db = storage_only.tensor(&gpu, region, &[5]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let error = gpu
        .record_bias_activation_backward(&mut encoder, Activation::Relu, &dy, &mask, &dx, &db)
        .unwrap_err();
    let cleared_without_copy_dst = matches!(
        error,
        Error::MissingUsage { what: "bias gradient", missing, .. } if missing == Usages::COPY_DST
    );
    assert!(cleared_without_copy_dst, "{error:?}");
}
