//! Shape ops of the U-Net with direct backward passes: nearest-neighbour ×2 up-sampling.
//!
//! Candle differentiates `upsample_nearest2d` through a grouped convolution with a ones kernel;
//! here the backward pass is a 2×2 block sum. The forward only copies values, so fused and
//! composed outputs agree exactly (the gradient up to the order of four additions).
//! (A fused channel concatenation was tried and dropped: candle's `cat` forward is a fast
//! 2-D copy and its backward cost is the gradient bookkeeping, which a custom op keeps.)
//!
//! The fused kernel runs on contiguous f32 rank-4 CPU tensors; anything else, or
//! [`crate::enabled`] false, runs candle's own op.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::{PAR_MIN_WORK, cpu_f32, threads, with_f32};

fn plain_f32(ts: &[&Tensor]) -> bool {
    crate::enabled()
        && ts
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// Nearest-neighbour ×2 up-sampling of `[N, C, H, W]` to `[N, C, 2H, 2W]` (candle's
/// `upsample_nearest2d(2H, 2W)`), fused when possible.
///
/// # Errors
/// When `x` is not rank 4 (as candle reports it).
pub fn upsample_nearest2x(x: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = x.dims4()?;
    if plain_f32(&[x]) && x.elem_count() > 0 {
        x.apply_op1(Upsample2x)
    } else {
        x.upsample_nearest2d(2 * h, 2 * w)
    }
}

struct Upsample2x;

/// Runs `f` on matching chunks, in parallel when the work is large enough.
fn for_chunks<F>(out: &mut [f32], out_chunk: usize, inp: &[f32], in_chunk: usize, f: F)
where
    F: Fn(&mut [f32], &[f32]) + Sync,
{
    if threads() > 1 && out.len() >= PAR_MIN_WORK {
        let min = PAR_MIN_WORK.div_ceil(out_chunk.max(1)).max(1);
        out.par_chunks_mut(out_chunk)
            .zip(inp.par_chunks(in_chunk))
            .with_min_len(min)
            .for_each(|(o, i)| f(o, i));
    } else {
        out.chunks_mut(out_chunk)
            .zip(inp.chunks(in_chunk))
            .for_each(|(o, i)| f(o, i));
    }
}

impl CustomOp1 for Upsample2x {
    fn name(&self) -> &'static str {
        "fused-upsample-nearest2x"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = cpu_f32(s, l)?;
        crate::count_fused_call();
        let (n, c, h, w) = l.shape().dims4()?;
        let mut y = vec![0f32; 4 * x.len()];
        for_chunks(&mut y, 4 * h * w, x, h * w, |o, i| {
            for (r, row) in i.chunks_exact(w).enumerate() {
                let top = &mut o[2 * r * 2 * w..(2 * r + 1) * 2 * w];
                for (j, &v) in row.iter().enumerate() {
                    top[2 * j] = v;
                    top[2 * j + 1] = v;
                }
                o.copy_within(2 * r * 2 * w..(2 * r + 1) * 2 * w, (2 * r + 1) * 2 * w);
            }
        });
        Ok((CpuStorage::F32(y), Shape::from((n, c, 2 * h, 2 * w))))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        if !arg.track_op() {
            return Ok(None);
        }
        let (_, _, h, w) = arg.dims4()?;
        let mut gx = vec![0f32; arg.elem_count()];
        with_f32(&grad.to_dtype(DType::F32)?, |g| {
            for_chunks(&mut gx, h * w, g, 4 * h * w, |o, gi| {
                for (r, orow) in o.chunks_exact_mut(w).enumerate() {
                    let top = &gi[2 * r * 2 * w..(2 * r + 1) * 2 * w];
                    let bot = &gi[(2 * r + 1) * 2 * w..(2 * r + 2) * 2 * w];
                    for (j, v) in orow.iter_mut().enumerate() {
                        *v = (top[2 * j] + top[2 * j + 1]) + (bot[2 * j] + bot[2 * j + 1]);
                    }
                }
            })
        })?;
        Ok(Some(Tensor::from_vec(gx, arg.shape(), arg.device())?))
    }
}
