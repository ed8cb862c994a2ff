//! Waiting for submissions, and pending downloads.

use super::*;

#[test]
fn gpu_wait_for_submission() {
    let Some(_) = gpu() else { return };
    // A submission index of another device that this one never reached.
    let this = Gpu::new().unwrap();
    let other = Gpu::new().unwrap();
    let mut last = other.batch().submit().unwrap();
    for _ in 0..4 {
        last = other.batch().submit().unwrap();
    }
    let error = err(this.wait_for_submission(last));
    assert!(
        matches!(&error, Error::Wgpu { context, message }
            if context == "waiting for the GPU" && message.contains("submission index")),
        "{error:?}"
    );
}

#[test]
fn pending_download() {
    let Some(gpu) = gpu() else { return };
    let x = input(&gpu, &[5]);
    let mut encoder = gpu.device().create_command_encoder(&Default::default());
    let mut pending = x.record_download(&mut encoder).unwrap();
    gpu.queue().submit([encoder.finish()]);
    gpu.wait_idle().unwrap();
    assert_eq!(pending.try_take().unwrap().unwrap(), values(5));
    // Taken once: nothing more, and no panic.
    assert!(pending.try_take().is_none());
    assert!(pending.try_take().is_none());
}
