//! The CPU reference over tensors of 160 MiB, in parallel (rayon): the
//! `cpu` functions themselves on chunks that split nothing they compute
//! over (whole mask words; whole rows for the bias ops), so every element
//! is the reference's own.

use rayon::prelude::*;
use wgpu_activations::Activation;
use wgpu_activations::cpu;

/// Elements per chunk: whole mask words.
const CHUNK: usize = 1 << 20;

/// Elements per chunk of row-major data with `cols` columns: whole rows and
/// whole mask words.
fn row_chunk(cols: usize) -> usize {
    let quantum = cols / gcd(cols, 32) * 32;
    (CHUNK / quantum).max(1) * quantum
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// [`cpu::relu_forward`].
pub fn relu_forward(x: &[f32]) -> Vec<f32> {
    x.par_chunks(CHUNK)
        .map(cpu::relu_forward)
        .collect::<Vec<_>>()
        .concat()
}

/// [`cpu::forward_with_mask`].
pub fn forward_with_mask(activation: Activation, x: &[f32]) -> (Vec<f32>, Vec<u32>) {
    let parts: Vec<(Vec<f32>, Vec<u32>)> = x
        .par_chunks(CHUNK)
        .map(|x| cpu::forward_with_mask(activation, x))
        .collect();
    unzip_concat(parts)
}

/// [`cpu::backward`].
pub fn backward(activation: Activation, dy: &[f32], mask: &[u32]) -> Vec<f32> {
    dy.par_chunks(CHUNK)
        .zip(mask.par_chunks(CHUNK / 32))
        .map(|(dy, mask)| cpu::backward(activation, dy, mask))
        .collect::<Vec<_>>()
        .concat()
}

/// [`cpu::bias_forward_with_mask`] of `[x.len() / b.len(), b.len()]`.
pub fn bias_forward_with_mask(
    activation: Activation,
    x: &[f32],
    b: &[f32],
) -> (Vec<f32>, Vec<u32>) {
    let parts: Vec<(Vec<f32>, Vec<u32>)> = x
        .par_chunks(row_chunk(b.len()))
        .map(|x| cpu::bias_forward_with_mask(activation, x, b))
        .collect();
    unzip_concat(parts)
}

/// [`cpu::column_sums`], each chunk of rows summed in f64 and the chunks'
/// sums added: the sequential sums exactly where every partial sum is an
/// integer below 2^53 (the test's data), not in general.
pub fn column_sums(data: &[f32], cols: usize) -> Vec<f64> {
    data.par_chunks(row_chunk(cols))
        .map(|rows| cpu::column_sums(rows, cols))
        .reduce(
            || vec![0.0; cols],
            |a, b| a.iter().zip(&b).map(|(x, y)| x + y).collect(),
        )
}

fn unzip_concat(parts: Vec<(Vec<f32>, Vec<u32>)>) -> (Vec<f32>, Vec<u32>) {
    let (values, words): (Vec<Vec<f32>>, Vec<Vec<u32>>) = parts.into_iter().unzip();
    (values.concat(), words.concat())
}
