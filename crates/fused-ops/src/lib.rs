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

/// Whether fused kernels are used (default `true`). When `false`, every layer of this crate runs
/// candle's composed ops instead: the reference for tests and the "before" of benchmarks.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Switches the fused kernels on or off for the whole process (see [`enabled`]).
pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}
