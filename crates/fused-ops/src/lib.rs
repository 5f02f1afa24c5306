//! Fused CPU kernels for candle, written as custom ops (`CustomOp1/2/3` with `bwd`).
//!
//! Candle composes layers such as GroupNorm or Linear+bias+SiLU out of many primitive ops, each
//! an allocation and an autograd node; on a small CPU that overhead dominates a training step
//! (issue 8 measured 7–86× against PyTorch per op). This crate provides the hot layers as single
//! ops with hand-written forward and backward kernels on contiguous f32 CPU tensors, wrapped in
//! `Module`s that are drop-in replacements for candle-nn's layers (same parameter names, so
//! checkpoints stay compatible).
//!
//! Every fused op falls back to candle's composed ops when it cannot run: a non-CPU device, a
//! dtype other than f32, a shape the kernel does not cover, or fusion switched off with
//! [`set_enabled`]. The fallback gives the same numbers up to rounding, never a panic.
//!
//! | module | what |
//! |---|---|
//! | [`linear`] | Linear + bias (+ SiLU) forward/backward, bias gradient by a fast batch reduction |
//! | [`norm`] | GroupNorm (+ SiLU) as one op with a hand-written backward |
//! | [`shape`] | nearest ×2 up-sampling with a direct backward pass |
//! | [`conv`] | conv2d 3×3 / 1×1, stride 1 and 2: forward, input gradient, kernel gradient |
//! | `direct` (private) | the forward 3×3 stride-1 convolution of 16·n-wide images without im2col (AVX2) |
//!
//! Tests (`cargo test --release -p fused-ops`, about a second) compare every op with its composed
//! version (forward and all gradients, 1e-5 relative) and with central differences in f64.
//! Speed: `cargo run --release -p fused-ops --example op_profile` (per op, composed vs fused),
//! `bench/diffusion/ops.sh` (the same against PyTorch), `cargo bench -p fused-ops`.
#![warn(missing_docs)]

pub mod conv;
mod direct;
pub mod linear;
pub mod norm;
pub mod shape;

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(true);

thread_local! {
    static OVERRIDE: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Whether fused kernels are used on this thread: the innermost [`with_enabled`] scope if
/// any, else the process-wide switch (default `true`). When `false`, every layer of this crate
/// runs candle's composed ops instead: the reference for tests and the "before" of benchmarks.
pub fn enabled() -> bool {
    OVERRIDE
        .with(|o| o.get())
        .unwrap_or_else(|| ENABLED.load(Ordering::Relaxed))
}

/// Switches the fused kernels on or off for the whole process (see [`enabled`]).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// Runs `f` with the fused kernels switched on or off for the calling thread only, whatever the
/// process-wide switch says (so tests running in parallel do not disturb each other). The
/// decision is taken when an op is applied, which happens on the calling thread; the backward
/// pass of an op follows the path its forward took.
pub fn with_enabled<R>(on: bool, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<bool>);
    impl Drop for Restore {
        fn drop(&mut self) {
            OVERRIDE.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OVERRIDE.with(|o| o.replace(Some(on))));
    f()
}

thread_local! {
    static FUSED_CALLS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many fused forward kernels of this crate ran on the calling thread so far (a custom op's
/// forward runs on the thread that applies it). A diagnostic for tests and profiles: it tells
/// whether a call took the fused path or fell back to candle's composed ops.
pub fn fused_calls_on_this_thread() -> u64 {
    FUSED_CALLS.with(|c| c.get())
}

/// Counts one fused forward kernel (see [`fused_calls_on_this_thread`]).
pub(crate) fn count_fused_call() {
    FUSED_CALLS.with(|c| c.set(c.get() + 1));
}

/// e^x in f32 with plain arithmetic (no libm call), so that loops over slices vectorise:
/// Cody–Waite range reduction x = k·ln 2 + r, |r| ≤ ln2/2, and Cephes' degree-6 polynomial for
/// e^r; about 2 ulp over the clamped range x ∈ [−87, 88] (outside it the result saturates at
/// e^−87 ≈ 1.6e−38 or e^88 ≈ 1.7e38, which leaves the sigmoid and SiLU unchanged in f32).
#[inline(always)]
pub(crate) fn exp_f32(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5·2^23: adding it rounds to an integer and leaves that integer in the low mantissa bits.
    const MAGIC: f32 = 12_582_912.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + MAGIC;
    let k = t.to_bits() as i32 - 0x4B40_0000;
    let kf = t - MAGIC;
    let r = x - kf * LN2_HI - kf * LN2_LO;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let er = p * r2 + r + 1.0;
    er * f32::from_bits(((k + 127) << 23) as u32)
}

/// A kernel body run through [`run_kernel`]: `run` is `#[inline(always)]` in every impl, so it
/// is compiled into each code path [`run_kernel`] selects.
pub(crate) trait Kernel {
    /// The work.
    fn run(self);
}

/// Runs `k` compiled for AVX2 + FMA when the CPU has them (runtime detection, a cached atomic
/// load), else for the baseline (SSE2). The elementwise kernels of this crate (SiLU, sigmoid,
/// the GroupNorm passes) are plain loops over slices; with AVX2 LLVM vectorises them 8 lanes
/// wide with fused multiply-adds instead of 4, which is what bounds them (exp and a divide
/// per value).
#[inline(always)]
pub(crate) fn run_kernel<K: Kernel>(k: K) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            run_avx2(k);
            return;
        }
    }
    k.run()
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
fn run_avx2<K: Kernel>(k: K) {
    #[target_feature(enable = "avx2,fma")]
    fn avx2<K: Kernel>(k: K) {
        k.run()
    }
    // SAFETY: `run_kernel` calls this only after `is_x86_feature_detected!` confirmed AVX2 and
    // FMA on the running CPU, the one condition for calling a `#[target_feature]` function.
    unsafe { avx2(k) }
}

/// σ(z) = 1/(1 + e^−z) with [`exp_f32`].
#[inline(always)]
pub(crate) fn sigmoid_f32(z: f32) -> f32 {
    1.0 / (1.0 + exp_f32(-z))
}

/// Reads one contiguous f32 CPU storage as a slice (the part its layout covers).
pub(crate) fn cpu_f32<'a>(
    s: &'a candle_core::CpuStorage,
    l: &candle_core::Layout,
) -> candle_core::Result<&'a [f32]> {
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&s.as_slice::<f32>()?[a..b]),
        None => candle_core::bail!("fused-ops: kernel input is not contiguous"),
    }
}

/// Copies a tensor's values out as a contiguous f32 vector on the host (used by backward
/// kernels, which receive tensors rather than storages).
pub(crate) fn host_f32(t: &candle_core::Tensor) -> candle_core::Result<Vec<f32>> {
    t.flatten_all()?.to_vec1::<f32>()
}

/// Runs `f` on the contiguous f32 values of a CPU tensor without copying them when possible.
pub(crate) fn with_f32<R>(
    t: &candle_core::Tensor,
    f: impl FnOnce(&[f32]) -> R,
) -> candle_core::Result<R> {
    {
        let (storage, layout) = t.storage_and_layout();
        if let (candle_core::Storage::Cpu(cpu), Some((a, b))) =
            (&*storage, layout.contiguous_offsets())
            && let Ok(all) = cpu.as_slice::<f32>()
        {
            return Ok(f(&all[a..b]));
        }
    }
    let v = host_f32(t)?;
    Ok(f(&v))
}

/// `n` zeros, written by rayon's threads in parallel (a large `vec![0.0; n]` is one thread's
/// memset, which the other threads of a parallel kernel would wait for).
pub(crate) fn zeros_par(n: usize) -> Vec<f32> {
    use rayon::prelude::*;
    (0..n)
        .into_par_iter()
        .with_min_len(PAR_MIN_WORK)
        .map(|_| 0f32)
        .collect()
}

/// Number of worker threads for the kernels (candle's rule: `RAYON_NUM_THREADS`, else the
/// available parallelism).
pub(crate) fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

/// Work (multiply-adds, or elements × a cost) below which a kernel stays on one thread: the
/// hand-off to rayon costs a few microseconds, which small layers do not repay.
pub(crate) const PAR_MIN_WORK: usize = 1 << 15;

/// Multiply-adds below which [`gemm_f32`] stays on one thread: at 2^20 (the U-Net's time-embedding
/// layers, 128×64×128) two threads were slower than one here (`op_profile`, 0.013 vs 0.022 ms).
const GEMM_PAR_MIN_MACS: usize = 1 << 21;

/// A matrix view for [`gemm_f32`]: row stride and column stride in elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Strides {
    pub(crate) row: usize,
    pub(crate) col: usize,
}

impl Strides {
    /// Row-major `[rows, cols]`.
    pub(crate) fn row_major(cols: usize) -> Self {
        Strides { row: cols, col: 1 }
    }
    /// The transpose of a stored row-major matrix whose rows have `stored_row_len` elements.
    pub(crate) fn transposed(stored_row_len: usize) -> Self {
        Strides {
            row: 1,
            col: stored_row_len,
        }
    }
    fn last(self, m: usize, n: usize) -> usize {
        (m - 1) * self.row + (n - 1) * self.col
    }
}

/// `dst[m×n] = lhs[m×k] · rhs[k×n]` (or `dst += …` with `accumulate`), every matrix a strided
/// view into a slice; multi-threaded through rayon when the product is large enough.
///
/// # Panics
/// When a view reaches past its slice (a bug in the calling kernel, never outside input: the
/// callers derive the sizes from checked tensor shapes).
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f32(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    ds: Strides,
    accumulate: bool,
    lhs: &[f32],
    ls: Strides,
    rhs: &[f32],
    rs: Strides,
) {
    let nt = threads();
    let par = if nt > 1 && m * n * k >= GEMM_PAR_MIN_MACS {
        gemm::Parallelism::Rayon(nt)
    } else {
        gemm::Parallelism::None
    };
    gemm_f32_par((m, n, k), dst, ds, accumulate, lhs, ls, rhs, rs, par);
}

/// [`gemm_f32`] with the threading chosen by the caller (kernels that already run one chunk per
/// thread pass [`gemm::Parallelism::None`]).
///
/// # Panics
/// As [`gemm_f32`].
#[allow(clippy::too_many_arguments)]
pub(crate) fn gemm_f32_par(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    ds: Strides,
    accumulate: bool,
    lhs: &[f32],
    ls: Strides,
    rhs: &[f32],
    rs: Strides,
    par: gemm::Parallelism,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                for j in 0..n {
                    dst[i * ds.row + j * ds.col] = 0.0;
                }
            }
        }
        return;
    }
    assert!(
        ds.last(m, n) < dst.len(),
        "gemm_f32: dst view out of bounds"
    );
    assert!(
        ls.last(m, k) < lhs.len(),
        "gemm_f32: lhs view out of bounds"
    );
    assert!(
        rs.last(k, n) < rhs.len(),
        "gemm_f32: rhs view out of bounds"
    );
    gemm_raw((m, n, k), dst, ds, accumulate, lhs, ls, rhs, rs, par);
}

#[allow(unsafe_code, clippy::too_many_arguments)]
fn gemm_raw(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    ds: Strides,
    accumulate: bool,
    lhs: &[f32],
    ls: Strides,
    rhs: &[f32],
    rs: Strides,
    par: gemm::Parallelism,
) {
    // SAFETY: `gemm_f32_par` checked that the last element of every strided view
    // ((m−1)·row + (n−1)·col, all strides non-negative) lies inside its slice, so gemm reads
    // and writes only inside `lhs`, `rhs` and `dst`; `dst` is borrowed mutably, so it cannot
    // alias the inputs. The strides fit in isize because the slices exist.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            ds.col as isize,
            ds.row as isize,
            accumulate,
            lhs.as_ptr(),
            ls.col as isize,
            ls.row as isize,
            rhs.as_ptr(),
            rs.col as isize,
            rs.row as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            par,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_f32_is_accurate_to_a_few_ulp() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x <= 88.0 {
            let want = (x as f64).exp();
            let rel = ((exp_f32(x) as f64 - want) / want).abs();
            worst = worst.max(rel);
            x += 0.0137;
        }
        assert!(
            worst < 4.0 * f32::EPSILON as f64,
            "worst relative error {worst:e}"
        );
        assert_eq!(exp_f32(0.0), 1.0);
        assert!(exp_f32(-1000.0) > 0.0 && exp_f32(-1000.0) < 1e-37);
        assert!(exp_f32(1000.0).is_finite());
        // SiLU's tails: z·σ(z) → 0 for z → −∞, → z for z → +∞.
        let (lo, hi) = (-1000.0 * sigmoid_f32(-1000.0), 1000.0 * sigmoid_f32(1000.0));
        assert!(lo <= 0.0 && lo > -1e-30, "{lo}");
        assert_eq!(hi, 1000.0);
    }
}
