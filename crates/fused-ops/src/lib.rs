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
//! | [`conv`] | conv2d 3×3 / 1×1, stride 1 and 2: forward, input gradient, kernel gradient |
#![warn(missing_docs)]

pub mod conv;
pub mod linear;
pub mod norm;

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

/// Number of worker threads for the kernels (candle's rule: `RAYON_NUM_THREADS`, else the
/// available parallelism).
pub(crate) fn threads() -> usize {
    candle_core::utils::get_num_threads().max(1)
}

/// Work (multiply-adds, or elements × a cost) below which a kernel stays on one thread: the
/// hand-off to rayon costs a few microseconds, which small layers do not repay.
pub(crate) const PAR_MIN_WORK: usize = 1 << 15;

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
    let nt = threads();
    let par = if nt > 1 && m * n * k >= 8 * PAR_MIN_WORK {
        gemm::Parallelism::Rayon(nt)
    } else {
        gemm::Parallelism::None
    };
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
    // SAFETY: `gemm_f32` checked that the last element of every strided view
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
