//! conv2d 3×3 / 1×1 (padding k/2, stride 1 or 2; 3×3 stride 2 also unpadded) as one candle op with hand-written
//! forward, input-gradient, kernel-gradient and bias-gradient kernels.
//!
//! # Layout
//! The batch is cut into chunks of whole images (`2^17/K` output pixels, 128 to 1024, so the
//! chunk's buffers stay in L2). im2col of a chunk (`cols[K][n]` for `n` output pixels and
//! `K = cin·k·k`): for 3×3 stride 1 on 4- or 8-wide images straight from the NCHW input (each
//! row a shifted copy of an input row, fixed-size moves in an AVX2 build); otherwise from a
//! channel-major copy of the chunk with a zero border (`[c][nb][(H+2p)·(W+2p)]`, no bounds
//! logic). The input gradient at stride 1 uses the older channel-major im2col (one long shifted
//! copy per row plus zeroed padding taps).
//!
//! | pass | work per chunk |
//! |---|---|
//! | forward | im2col `cols[K][n]`; `Yᵀ[cout][n] = W·cols` (gemm); to NCHW with the bias (and, at inference, a per-image channel bias and a residual) added |
//! | kernel gradient | `dYᵀ[cout][n]` (bias gradient summed on the way); `dWᵀ[K][cout] += cols·dY` (gemm; transposed once at the end) |
//! | input gradient, stride 1 | im2col of `dYᵀ`; `dXᵀ = W̃·cols(dY)` with `W̃` the kernel transposed and mirrored (a stride-1 convolution, one gemm) |
//! | input gradient, stride 2 | `dcols = Wᵀ·dYᵀ` (gemm), col2im |
//!
//! 1×1 stride-1 convolutions skip im2col (the channel-major chunk is the matrix). The forward
//! 3×3 stride-1 convolution of images 16 or 32 (any multiple of 16) wide skips it too, on
//! AVX2 + FMA machines: [`crate::direct`] reads the padded channel-major chunk in place with a
//! kernel packed once per call (chunks of about 1024 output pixels there; issue 14's DDPM
//! CIFAR10 U-Net, where im2col + gemm ran its 32×32 level at ~27 multiply-adds per ns and the
//! direct kernel at ~37). Chunks run in
//! parallel on rayon's pool with one single-threaded gemm each (per-thread kernel-gradient
//! sums, reduced at the end); scratch buffers are per thread and reused across calls. The
//! input gradient never goes through a transposed convolution, and gradients of untracked
//! arguments (the network's input) are not computed. The gemms are the `gemm` crate's (the one
//! candle uses), built with its `x86-v4` feature so AVX-512 machines get its AVX-512
//! micro-kernels (chosen at run time).
//!
//! The forward output is written once: on one thread each chunk's NCHW output is appended to
//! the output vector while the chunk's product is in cache (no zero fill first); on several,
//! the output is zero-filled by all threads and each chunk writes its part.
//!
//! # Inference
//! [`conv2d_add_op`] / [`Conv2d::forward_add`] add a per-(image, channel) bias `[B, cout]` and
//! a residual `[B, cout, H', W']` in the output pass (a ResBlock's time bias and skip add) when
//! nothing is tracked for backpropagation; with tracked arguments they are the convolution
//! followed by candle's `broadcast_add` and `add`.
//!
//! # Fallback
//! [`conv2d_op`] (and so [`Conv2d`]) runs candle's composed `conv2d` + `broadcast_add` unless
//! [`crate::enabled`] and: CPU device, f32 everywhere, contiguous `x`, `w`, `b`, kernel 1×1 or
//! 3×3 with padding `k/2` (or 3×3 stride 2 without padding), stride 1 or 2, a non-empty batch,
//! matching channel counts.
//! [`Conv2d`] also falls back for dilation ≠ 1 or groups ≠ 1.

use candle_core::{
    CpuStorage, CustomOp3, DType, Device, Layout, Module, Result, Shape, Tensor, bail,
};
use candle_nn::{Conv2dConfig, VarBuilder};
use rayon::prelude::*;
use std::cell::RefCell;

/// A 2-D convolution layer, a drop-in replacement for [`candle_nn::Conv2d`]: same constructor
/// arguments, same variable names (`weight` `[cout, cin, k, k]`, `bias` `[cout]`).
#[derive(Debug, Clone)]
pub struct Conv2d {
    weight: Tensor,
    bias: Option<Tensor>,
    config: Conv2dConfig,
}

impl Conv2d {
    /// A layer from its kernel `[cout, cin/groups, k, k]`, optional bias `[cout]` and config.
    pub fn new(weight: Tensor, bias: Option<Tensor>, config: Conv2dConfig) -> Self {
        Conv2d {
            weight,
            bias,
            config,
        }
    }

    /// The kernel, `[cout, cin/groups, k, k]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[cout]`.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The convolution's padding, stride, dilation and groups.
    pub fn config(&self) -> &Conv2dConfig {
        &self.config
    }
}

impl Conv2d {
    /// `forward(x)` plus a per-(image, channel) bias `[B, cout]` and a residual
    /// `[B, cout, H', W']` when given, fused into the output pass at inference (see
    /// [`conv2d_add_op`]).
    ///
    /// # Errors
    /// Candle shape errors when the shapes do not fit together.
    pub fn forward_add(
        &self,
        x: &Tensor,
        chan_bias: Option<&Tensor>,
        residual: Option<&Tensor>,
    ) -> Result<Tensor> {
        let c = &self.config;
        if c.dilation == 1 && c.groups == 1 && c.cudnn_fwd_algo.is_none() {
            let (w, b) = (&self.weight, self.bias.as_ref());
            conv2d_add_op(x, w, b, c.stride, c.padding, chan_bias, residual)
        } else {
            let mut y = self.forward(x)?;
            if let Some(t) = chan_bias {
                y = y.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?;
            }
            if let Some(r) = residual {
                y = (r + y)?;
            }
            Ok(y)
        }
    }
}

impl Module for Conv2d {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let c = &self.config;
        if c.dilation == 1 && c.groups == 1 && c.cudnn_fwd_algo.is_none() {
            conv2d_op(x, &self.weight, self.bias.as_ref(), c.stride, c.padding)
        } else {
            candle_nn::Conv2d::new(self.weight.clone(), self.bias.clone(), *c).forward(x)
        }
    }
}

/// Creates a [`Conv2d`] with variables `weight` `[cout, cin/groups, k, k]` and `bias` `[cout]`
/// through `vb`, with the same initialisation hints as [`candle_nn::conv2d`].
///
/// # Errors
/// Candle errors from the var builder (e.g. a stored tensor of another shape).
pub fn conv2d(
    in_channels: usize,
    out_channels: usize,
    kernel_size: usize,
    cfg: Conv2dConfig,
    vb: VarBuilder,
) -> Result<Conv2d> {
    let inner = candle_nn::conv2d(in_channels, out_channels, kernel_size, cfg, vb)?;
    Ok(Conv2d::new(
        inner.weight().clone(),
        inner.bias().cloned(),
        cfg,
    ))
}

/// `conv2d(x, w) + b` with dilation 1 and one group: `x` `[B, cin, H, W]`, `w` `[cout, cin, k, k]`,
/// `b` `[cout]` → `[B, cout, H', W']` with `H' = (H + 2·padding − k)/stride + 1`.
///
/// Runs the fused kernels (with their backward pass) on contiguous f32 CPU tensors with
/// `k ∈ {1, 3}`, `padding = k/2`, `stride ∈ {1, 2}` while [`crate::enabled`]; anything else runs
/// candle's composed `conv2d` + `broadcast_add`, which gives the same numbers up to rounding.
///
/// # Errors
/// Candle shape errors when the shapes do not fit together.
pub fn conv2d_op(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    match fused_geometry(x, w, b, stride, padding) {
        Some(g) => {
            let zero;
            let b = match b {
                Some(b) => b,
                None => {
                    zero = Tensor::zeros(g.cout, DType::F32, x.device())?;
                    &zero
                }
            };
            x.apply_op3(
                w,
                b,
                ConvOp {
                    g,
                    chan_bias: None,
                    residual: None,
                },
            )
        }
        None => composed(x, w, b, stride, padding),
    }
}

/// `conv2d(x, w) + b`, plus a per-(image, channel) bias `chan_bias` `[B, cout]` (broadcast over
/// the pixels) and a residual `[B, cout, H', W']`, each when given: a ResBlock's
/// "conv, + time bias" and "conv, + skip" in one pass over the output.
///
/// The extra terms are fused into the convolution's output pass only for inference: when none
/// of the arguments is tracked for backpropagation and the fused kernels run (see
/// [`conv2d_op`]) and the extra terms are contiguous f32 CPU tensors of the output's shapes.
/// Otherwise the convolution is followed by candle's `broadcast_add` and `add` (so gradients
/// flow as through the composed ops).
///
/// # Errors
/// Candle shape errors when the shapes do not fit together.
pub fn conv2d_add_op(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
    chan_bias: Option<&Tensor>,
    residual: Option<&Tensor>,
) -> Result<Tensor> {
    let g = fused_geometry(x, w, b, stride, padding);
    let extra_ok = |t: Option<&Tensor>, dims: &[usize]| {
        t.is_none_or(|t| {
            !t.track_op()
                && t.dtype() == DType::F32
                && t.is_contiguous()
                && matches!(t.device(), Device::Cpu)
                && t.dims() == dims
        })
    };
    if let Some(g) = g
        && !x.track_op()
        && !w.track_op()
        && b.is_none_or(|b| !b.track_op())
        && extra_ok(chan_bias, &[g.batch, g.cout])
        && extra_ok(residual, &[g.batch, g.cout, g.ho, g.wo])
    {
        let zero;
        let b = match b {
            Some(b) => b,
            None => {
                zero = Tensor::zeros(g.cout, DType::F32, x.device())?;
                &zero
            }
        };
        return x.apply_op3_no_bwd(
            w,
            b,
            &ConvOp {
                g,
                chan_bias: chan_bias.cloned(),
                residual: residual.cloned(),
            },
        );
    }
    let mut y = conv2d_op(x, w, b, stride, padding)?;
    if let Some(t) = chan_bias {
        y = y.broadcast_add(&t.unsqueeze(2)?.unsqueeze(3)?)?;
    }
    if let Some(r) = residual {
        y = (r + y)?;
    }
    Ok(y)
}

/// candle's composed convolution: the fallback.
fn composed(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Result<Tensor> {
    let y = x.conv2d(w, padding, stride, 1, 1)?;
    match b {
        None => Ok(y),
        Some(b) => {
            let n = b.dims1()?;
            y.broadcast_add(&b.reshape((1, n, 1, 1))?)
        }
    }
}

/// Shapes of one convolution the fused kernels cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Geom {
    batch: usize,
    cin: usize,
    h: usize,
    w: usize,
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
    ho: usize,
    wo: usize,
}

impl Geom {
    /// The geometry of the input gradient as a stride-1 convolution of the output gradient
    /// (channels swapped; only meaningful for stride 1, where the image size is kept).
    fn transposed(&self) -> Geom {
        Geom {
            cin: self.cout,
            cout: self.cin,
            ..*self
        }
    }
    /// Pixels of one input image with its zero border, `(h + 2p)·(w + 2p)`.
    fn padded_hw(&self) -> usize {
        (self.h + 2 * self.pad) * (self.w + 2 * self.pad)
    }
    /// Rows of the im2col matrix, `cin·k·k`.
    fn kk(&self) -> usize {
        self.cin * self.k * self.k
    }
    fn in_img(&self) -> usize {
        self.cin * self.h * self.w
    }
    fn out_pix(&self) -> usize {
        self.ho * self.wo
    }
    fn out_img(&self) -> usize {
        self.cout * self.out_pix()
    }
    fn w_len(&self) -> usize {
        self.cout * self.kk()
    }
    /// Images per chunk: about `2^17 / K` output pixels (a ~512 KiB im2col buffer), clamped
    /// to 128–1024 pixels (measured best on the U-Net's shapes); at least one image, at most
    /// half the batch so that both cores get work.
    fn chunk(&self) -> usize {
        self.chunk_of((131_072 / self.kk()).clamp(128, 1024))
    }
    /// Images per chunk of the forward pass: [`Geom::chunk`], or 1024 pixels on the direct 3×3
    /// path (no im2col buffer there; more pixels per chunk reuse each block of the
    /// pre-broadcast kernel more often: 16×16 images 4 at a time ran about 1.2× faster than
    /// one at a time).
    fn forward_chunk(&self, direct: bool) -> usize {
        match direct {
            true => self.chunk_of(1024),
            false => self.chunk(),
        }
    }
    fn chunk_of(&self, target_pixels: usize) -> usize {
        let by_size = (target_pixels / self.out_pix()).max(1);
        by_size.min(self.batch.div_ceil(2)).max(1)
    }
}

/// The geometry when the fused kernels can run, `None` for the fallback.
fn fused_geometry(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    stride: usize,
    padding: usize,
) -> Option<Geom> {
    if !crate::enabled() || !matches!(x.device(), Device::Cpu) {
        return None;
    }
    if x.dtype() != DType::F32 || w.dtype() != DType::F32 {
        return None;
    }
    if !x.is_contiguous() || !w.is_contiguous() {
        return None;
    }
    let (batch, cin, h, wd) = x.dims4().ok()?;
    let (cout, wcin, k, k2) = w.dims4().ok()?;
    if let Some(b) = b {
        if b.dtype() != DType::F32 || !b.is_contiguous() || !matches!(b.device(), Device::Cpu) {
            return None;
        }
        if b.dims1().ok()? != cout {
            return None;
        }
    }
    if !matches!(w.device(), Device::Cpu) || wcin != cin || k != k2 {
        return None;
    }
    if !(k == 1 || k == 3) || !(stride == 1 || stride == 2) {
        return None;
    }
    // Padding k/2, or none for a 3×3 stride-2 kernel (diffusers' `downsample_padding = 0`,
    // after a bottom/right zero pad): the stride-2 paths take any padding, the stride-1 ones
    // assume an output of the input's size.
    if padding != k / 2 && !(k == 3 && padding == 0 && stride == 2) {
        return None;
    }
    if batch == 0 || cin == 0 || cout == 0 || h == 0 || wd == 0 {
        return None;
    }
    let ho = (h + 2 * padding - k) / stride + 1;
    let wo = (wd + 2 * padding - k) / stride + 1;
    Some(Geom {
        batch,
        cin,
        h,
        w: wd,
        cout,
        k,
        stride,
        pad: padding,
        ho,
        wo,
    })
}

/// The contiguous f32 slice behind a storage ([`crate::cpu_f32`]) checked to hold `len` values.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, len: usize, what: &str) -> Result<&'a [f32]> {
    let v = crate::cpu_f32(s, l)
        .map_err(|e| candle_core::Error::Msg(format!("fused conv2d: {what}: {e}")))?;
    if v.len() != len {
        bail!(
            "fused conv2d: {what} has {} elements, expected {len}",
            v.len()
        );
    }
    Ok(v)
}

/// Forward op: `(x, w, b) → conv2d(x, w) + b`.
struct ConvOp {
    g: Geom,
    /// Inference only (no argument tracked, so `bwd` is never asked for): a per-(image,
    /// channel) bias `[B, cout]` added to the output.
    chan_bias: Option<Tensor>,
    /// Inference only: a residual `[B, cout, ho, wo]` added last.
    residual: Option<Tensor>,
}

/// Runs `f` on the contiguous f32 values of `t` when given (see [`crate::with_f32`]).
fn with_opt_f32<R>(t: Option<&Tensor>, f: impl FnOnce(Option<&[f32]>) -> Result<R>) -> Result<R> {
    match t {
        None => f(None),
        Some(t) => crate::with_f32(t, |v| f(Some(v)))?,
    }
}

impl CustomOp3 for ConvOp {
    fn name(&self) -> &'static str {
        "fused-conv2d"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let x = f32_slice(s1, l1, g.batch * g.in_img(), "input")?;
        let w = f32_slice(s2, l2, g.w_len(), "kernel")?;
        let b = f32_slice(s3, l3, g.cout, "bias")?;
        crate::count_fused_call();
        let y = with_opt_f32(self.chan_bias.as_ref(), |chan_bias| {
            with_opt_f32(self.residual.as_ref(), |residual| {
                forward(
                    g,
                    x,
                    w,
                    b,
                    Terms {
                        chan_bias,
                        residual,
                    },
                )
            })
        })?;
        Ok((
            CpuStorage::F32(y),
            Shape::from((g.batch, g.cout, g.ho, g.wo)),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = self.g;
        if self.chan_bias.is_some() || self.residual.is_some() {
            bail!("fused conv2d: the inference-only terms have no backward pass");
        }
        // Gradients nobody asks for are not computed (e.g. the input of the first layer).
        let need = Need {
            dx: x.track_op(),
            dw: w.track_op(),
        };
        let grad = grad.contiguous()?;
        let flat = x.apply_op3_no_bwd(w, &grad, &ConvBwdOp { g, need })?;
        let nx = if need.dx { g.batch * g.in_img() } else { 0 };
        let nw = if need.dw { g.w_len() } else { 0 };
        let dx = match need.dx {
            true => Some(flat.narrow(0, 0, nx)?.reshape((g.batch, g.cin, g.h, g.w))?),
            false => None,
        };
        let dw = match need.dw {
            true => Some(flat.narrow(0, nx, nw)?.reshape((g.cout, g.cin, g.k, g.k))?),
            false => None,
        };
        let db = match b.track_op() {
            true => Some(flat.narrow(0, nx + nw, g.cout)?),
            false => None,
        };
        Ok((dx, dw, db))
    }
}

/// Which of the input and kernel gradients the backward pass computes.
#[derive(Debug, Clone, Copy)]
struct Need {
    dx: bool,
    dw: bool,
}

/// Backward op: `(x, w, dy) → [dx | dw | db]` flattened into one buffer (`dx`, `dw` empty
/// when not needed).
struct ConvBwdOp {
    g: Geom,
    need: Need,
}

impl CustomOp3 for ConvBwdOp {
    fn name(&self) -> &'static str {
        "fused-conv2d-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let g = &self.g;
        let x = f32_slice(s1, l1, g.batch * g.in_img(), "input")?;
        let w = f32_slice(s2, l2, g.w_len(), "kernel")?;
        let dy = f32_slice(s3, l3, g.batch * g.out_img(), "output gradient")?;
        let out = backward(g, self.need, x, w, dy)?;
        let n = out.len();
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }
}

/// Per-thread scratch buffers, grown on demand and reused across calls. They are never zeroed:
/// every kernel writes each element it later reads.
#[derive(Default)]
struct Scratch {
    /// `[cin][nb·h·w]`: the chunk's input (forward) or input gradient (backward), channel-major.
    xt: Vec<f32>,
    /// `[K][n]`: im2col of the chunk.
    cols: Vec<f32>,
    /// `[cout][n]`: the chunk's output or output gradient, channel-major.
    yt: Vec<f32>,
    /// `[K][n]`: `Wᵀ·dYᵀ` before col2im.
    dcols: Vec<f32>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// The first `n` elements of `v`, growing it when shorter.
fn grow(v: &mut Vec<f32>, n: usize) -> &mut [f32] {
    if v.len() < n {
        v.resize(n, 0.0);
    }
    &mut v[..n]
}

/// `[nb][c][hw]` → `[c][nb·hw]`.
fn to_channel_major(x: &[f32], nb: usize, c: usize, hw: usize, xt: &mut [f32]) {
    for bl in 0..nb {
        for ci in 0..c {
            xt[(ci * nb + bl) * hw..][..hw].copy_from_slice(&x[(bl * c + ci) * hw..][..hw]);
        }
    }
}

/// `[c][nb·hw]` → `[nb][c][hw]`, adding `bias[ci]` when given.
fn from_channel_major(
    xt: &[f32],
    nb: usize,
    c: usize,
    hw: usize,
    bias: Option<&[f32]>,
    x: &mut [f32],
) {
    for bl in 0..nb {
        for ci in 0..c {
            let src = &xt[(ci * nb + bl) * hw..][..hw];
            let dst = &mut x[(bl * c + ci) * hw..][..hw];
            match bias {
                Some(b) => {
                    let bc = b[ci];
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d = *v + bc;
                    }
                }
                None => dst.copy_from_slice(src),
            }
        }
    }
}

/// Sum of a slice with 16 independent partial sums (vectorises; rounding differs from a
/// sequential sum by a few ulps).
fn sum_f32(v: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let mut it = v.chunks_exact(16);
    for c in &mut it {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += *x;
        }
    }
    acc.iter().sum::<f32>() + it.remainder().iter().sum::<f32>()
}

/// Range of output columns `o` whose input column `o·s + kx − p` lies in `0..n`.
fn valid_range(n: usize, no: usize, s: usize, kx: usize, p: usize) -> (usize, usize) {
    // o·s + kx ≥ p  ⇔  o ≥ ceil((p − kx)/s)
    let lo = if p > kx { (p - kx).div_ceil(s) } else { 0 };
    // o·s + kx − p ≤ n − 1  ⇔  o ≤ (n − 1 + p − kx)/s
    let hi = if n + p > kx {
        ((n - 1 + p - kx) / s + 1).min(no)
    } else {
        0
    };
    (lo.min(hi), hi)
}

/// Stride 1 (so `ho = h`, `wo = w`): kernel tap `(ky, kx)` reads output pixel `q`'s input at
/// `q + shift` within the same image. Returns `shift` and the range `a..b` of chunk positions
/// `n` with `n + shift` inside the chunk.
fn s1_shift(g: &Geom, ky: usize, kx: usize, len: usize) -> (isize, usize, usize) {
    let shift = (ky as isize - g.pad as isize) * g.w as isize + kx as isize - g.pad as isize;
    if shift >= 0 {
        (shift, 0, len.saturating_sub(shift as usize))
    } else {
        (shift, len.min(shift.unsigned_abs()), len)
    }
}

/// Stride 1: for each kernel tap `ky·k + kx`, the pixels `q` of an `h×w` output image whose
/// tap falls in the padding (their im2col entries are zero).
fn s1_padding_taps(g: &Geom) -> Vec<Vec<usize>> {
    let mut taps = Vec::with_capacity(g.k * g.k);
    for ky in 0..g.k {
        for kx in 0..g.k {
            let (r0, r1) = valid_range(g.h, g.h, 1, ky, g.pad);
            let (c0, c1) = valid_range(g.w, g.w, 1, kx, g.pad);
            let mut qs = Vec::new();
            for oy in 0..g.h {
                for ox in 0..g.w {
                    if !((r0..r1).contains(&oy) && (c0..c1).contains(&ox)) {
                        qs.push(oy * g.w + ox);
                    }
                }
            }
            taps.push(qs);
        }
    }
    taps
}

/// Zeroes the pixels `qs` of every `hw`-long image in `row`.
fn zero_taps(row: &mut [f32], hw: usize, qs: &[usize]) {
    if qs.is_empty() {
        return;
    }
    for img in row.chunks_exact_mut(hw) {
        for &q in qs {
            img[q] = 0.0;
        }
    }
}

/// im2col of a chunk: `xt` `[cin][nb·h·w]` → `cols` `[cin·k·k][nb·ho·wo]`.
fn im2col(g: &Geom, pad_taps: &[Vec<usize>], xt: &[f32], nb: usize, cols: &mut [f32]) {
    let n = nb * g.out_pix();
    let nin = nb * g.h * g.w;
    let (k, s, p) = (g.k, g.stride, g.pad);
    for (r, row) in cols[..g.kk() * n].chunks_exact_mut(n).enumerate() {
        let ci = r / (k * k);
        let ky = (r / k) % k;
        let kx = r % k;
        let src = &xt[ci * nin..][..nin];
        if s == 1 {
            // one long shifted copy, then the padding taps set to zero
            let (shift, a, b) = s1_shift(g, ky, kx, n);
            row[..a].fill(0.0);
            row[b..].fill(0.0);
            if a < b {
                let sa = (a as isize + shift) as usize;
                row[a..b].copy_from_slice(&src[sa..sa + (b - a)]);
            }
            zero_taps(row, g.h * g.w, &pad_taps[ky * k + kx]);
            continue;
        }
        let (xlo, xhi) = valid_range(g.w, g.wo, s, kx, p);
        for bl in 0..nb {
            let plane = &src[bl * g.h * g.w..][..g.h * g.w];
            for oy in 0..g.ho {
                let dst = &mut row[(bl * g.ho + oy) * g.wo..][..g.wo];
                let iy = (oy * s + ky) as isize - p as isize;
                if iy < 0 || iy >= g.h as isize || xlo >= xhi {
                    dst.fill(0.0);
                    continue;
                }
                let line = &plane[iy as usize * g.w..][..g.w];
                dst[..xlo].fill(0.0);
                dst[xhi..].fill(0.0);
                let x0 = xlo * s + kx - p;
                for (d, v) in dst[xlo..xhi].iter_mut().zip(line[x0..].iter().step_by(s)) {
                    *d = *v;
                }
            }
        }
    }
}

/// `[nb][c][h·w]` → `[c][nb][(h+2p)·(w+2p)]`: channel-major with a zero border of width
/// `p = g.pad` around every image, so that im2col needs no bounds logic.
fn to_channel_major_padded(g: &Geom, x: &[f32], nb: usize, xp: &mut [f32]) {
    match g.w {
        8 => crate::run_kernel(PadKernel::<8> { g, x, nb, xp }),
        4 => crate::run_kernel(PadKernel::<4> { g, x, nb, xp }),
        _ => crate::run_kernel(PadKernel::<0> { g, x, nb, xp }),
    }
}

/// [`to_channel_major_padded`] for images `W` wide (`W = 0`: any width, slower row copies).
struct PadKernel<'a, const W: usize> {
    g: &'a Geom,
    x: &'a [f32],
    nb: usize,
    xp: &'a mut [f32],
}

impl<const W: usize> crate::Kernel for PadKernel<'_, W> {
    #[inline(always)]
    fn run(self) {
        let PadKernel { g, x, nb, xp } = self;
        let (p, h, w) = (g.pad, g.h, g.w);
        let (hp, wp) = (h + 2 * p, w + 2 * p);
        let plane = hp * wp;
        for ci in 0..g.cin {
            for bl in 0..nb {
                let dst = &mut xp[(ci * nb + bl) * plane..][..plane];
                let src = &x[(bl * g.cin + ci) * h * w..][..h * w];
                if p == 0 {
                    dst.copy_from_slice(src);
                    continue;
                }
                dst[..p * wp].fill(0.0);
                dst[(p + h) * wp..].fill(0.0);
                for (y, line) in src.chunks_exact(w).enumerate() {
                    let row = &mut dst[(p + y) * wp..][..wp];
                    row[..p].fill(0.0);
                    row[p + w..].fill(0.0);
                    copy_row::<W>(&mut row[p..p + w], line);
                }
            }
        }
    }
}

/// `dst = src` for rows of `W` values (`W = 0`: any equal lengths) as one fixed-size move
/// instead of a `memcpy` call.
#[inline(always)]
fn copy_row<const W: usize>(dst: &mut [f32], src: &[f32]) {
    if W > 0
        && let (Some(d), Some(s)) = (dst.first_chunk_mut::<W>(), src.first_chunk::<W>())
    {
        *d = *s;
    } else {
        dst.copy_from_slice(src);
    }
}

/// im2col of a padded chunk: `xp` `[cin][nb][(h+2p)·(w+2p)]` (from
/// [`to_channel_major_padded`]) → `cols` `[cin·k·k][nb·ho·wo]`. Every entry is a plain read
/// of the padded image (its border supplies the zeros).
fn im2col_padded(g: &Geom, xp: &[f32], nb: usize, cols: &mut [f32]) {
    match (g.stride, g.wo) {
        (1, 8) => crate::run_kernel(Im2colKernel::<8, 1> { g, xp, nb, cols }),
        (1, 4) => crate::run_kernel(Im2colKernel::<4, 1> { g, xp, nb, cols }),
        (2, 4) => crate::run_kernel(Im2colKernel::<4, 2> { g, xp, nb, cols }),
        (2, 2) => crate::run_kernel(Im2colKernel::<2, 2> { g, xp, nb, cols }),
        _ => crate::run_kernel(Im2colKernel::<0, 0> { g, xp, nb, cols }),
    }
}

/// [`im2col_padded`] for outputs `W` wide at stride `S` (`W = S = 0`: any, from the geometry).
struct Im2colKernel<'a, const W: usize, const S: usize> {
    g: &'a Geom,
    xp: &'a [f32],
    nb: usize,
    cols: &'a mut [f32],
}

impl<const W: usize, const S: usize> crate::Kernel for Im2colKernel<'_, W, S> {
    #[inline(always)]
    fn run(self) {
        let Im2colKernel { g, xp, nb, cols } = self;
        let n = nb * g.out_pix();
        let (k, s, wo, pix) = (g.k, g.stride, g.wo, g.out_pix());
        let wp = g.w + 2 * g.pad;
        let plane = (g.h + 2 * g.pad) * wp;
        // The input span one output row reads, (wo − 1)·s + 1 values, starts at
        // (oy·s + ky)·wp + kx: with (ho − 1)·s + k − 1 < h + 2p (likewise for the columns) it
        // always lies inside the padded image.
        let span = (wo - 1) * s + 1;
        let mut rows = cols[..g.kk() * n].chunks_exact_mut(n);
        for src in xp.chunks_exact(nb * plane).take(g.cin) {
            for ky in 0..k {
                for kx in 0..k {
                    let Some(row) = rows.next() else { return };
                    for (img, out) in src.chunks_exact(plane).zip(row.chunks_exact_mut(pix)) {
                        let base = ky * wp + kx;
                        if W > 0 {
                            let (out, _) = out.as_chunks_mut::<W>();
                            for (oy, dst) in out.iter_mut().enumerate() {
                                let at = base + oy * S * wp;
                                if S == 1 {
                                    if let Some(l) = img.get(at..at + W) {
                                        dst.copy_from_slice(l);
                                    }
                                } else if let Some(line) = img.get(at..at + span) {
                                    for (i, v) in dst.iter_mut().enumerate() {
                                        *v = line[i * S];
                                    }
                                }
                            }
                        } else {
                            let lines = img[base..].chunks(s * wp);
                            for (dst, line) in out.chunks_exact_mut(wo).zip(lines) {
                                for (d, v) in dst.iter_mut().zip(line.iter().step_by(s)) {
                                    *d = *v;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// im2col of a chunk for 3×3, stride 1, padding 1 and images `W` wide, read straight from the
/// NCHW input (no padded copy): each output row is the input row shifted by `kx − 1` with a
/// zero entering at one end, or zeros for the rows above and below the image.
struct DirectIm2col<'a, const W: usize> {
    g: &'a Geom,
    x: &'a [f32],
    nb: usize,
    cols: &'a mut [f32],
}

impl<const W: usize> crate::Kernel for DirectIm2col<'_, W> {
    #[inline(always)]
    fn run(self) {
        let DirectIm2col { g, x, nb, cols } = self;
        let (h, hw, pix) = (g.h, g.h * g.w, g.out_pix());
        let n = nb * pix;
        let mut rows = cols[..g.kk() * n].chunks_exact_mut(n);
        for ci in 0..g.cin {
            for ky in 0..3 {
                for kx in 0..3 {
                    let Some(row) = rows.next() else { return };
                    for (bl, out) in row.chunks_exact_mut(pix).enumerate() {
                        let plane = &x[(bl * g.cin + ci) * hw..][..hw];
                        let (out, _) = out.as_chunks_mut::<W>();
                        for (oy, dst) in out.iter_mut().enumerate() {
                            // input row oy + ky − 1
                            let line = (oy + ky)
                                .checked_sub(1)
                                .filter(|&iy| iy < h)
                                .and_then(|iy| plane.get(iy * W..(iy + 1) * W));
                            let Some(line) = line else {
                                *dst = [0.0; W];
                                continue;
                            };
                            match kx {
                                0 => {
                                    dst[0] = 0.0;
                                    dst[1..].copy_from_slice(&line[..W - 1]);
                                }
                                1 => dst.copy_from_slice(line),
                                _ => {
                                    dst[..W - 1].copy_from_slice(&line[1..]);
                                    dst[W - 1] = 0.0;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// col2im of a chunk: `dxt` (`[cin][nb·h·w]`) = Σ over taps of `dcols` (`[cin·k·k][n]`) put
/// back at the input pixels they were read from. `dcols`' padding taps are zeroed on the way.
fn col2im(g: &Geom, pad_taps: &[Vec<usize>], dcols: &mut [f32], nb: usize, dxt: &mut [f32]) {
    let n = nb * g.out_pix();
    let nin = nb * g.h * g.w;
    let (k, s, p) = (g.k, g.stride, g.pad);
    dxt[..g.cin * nin].fill(0.0);
    for (r, row) in dcols[..g.kk() * n].chunks_exact_mut(n).enumerate() {
        let ci = r / (k * k);
        let ky = (r / k) % k;
        let kx = r % k;
        let dst = &mut dxt[ci * nin..][..nin];
        if s == 1 {
            zero_taps(row, g.h * g.w, &pad_taps[ky * k + kx]);
            let (shift, a, b) = s1_shift(g, ky, kx, n);
            if a < b {
                let sa = (a as isize + shift) as usize;
                for (d, v) in dst[sa..sa + (b - a)].iter_mut().zip(&row[a..b]) {
                    *d += *v;
                }
            }
            continue;
        }
        let (xlo, xhi) = valid_range(g.w, g.wo, s, kx, p);
        if xlo >= xhi {
            continue;
        }
        for bl in 0..nb {
            let plane = &mut dst[bl * g.h * g.w..][..g.h * g.w];
            for oy in 0..g.ho {
                let iy = (oy * s + ky) as isize - p as isize;
                if iy < 0 || iy >= g.h as isize {
                    continue;
                }
                let src = &row[(bl * g.ho + oy) * g.wo..][xlo..xhi];
                let line = &mut plane[iy as usize * g.w..][..g.w];
                let x0 = xlo * s + kx - p;
                for (d, v) in line[x0..].iter_mut().step_by(s).zip(src) {
                    *d += *v;
                }
            }
        }
    }
}

/// Forward pass over the whole batch: `y[b][co][pix] = Σ w·x + bias[co]`.
fn forward(g: &Geom, x: &[f32], w: &[f32], bias: &[f32], extra: Terms<'_>) -> Result<Vec<f32>> {
    let total = g.batch * g.out_img();
    if extra.chan_bias.is_some_and(|c| c.len() != g.batch * g.cout)
        || extra.residual.is_some_and(|r| r.len() != total)
    {
        bail!("fused conv2d: extra terms do not match the output");
    }
    let packed = crate::direct::covers(g.k, g.stride, g.pad, g.w)
        .then(|| crate::direct::pack_weights(w, g.cout, g.cin));
    let sequential = crate::threads() == 1 || g.batch <= g.forward_chunk(packed.is_some());
    let kernel = Kernel {
        w,
        packed: packed.as_deref(),
    };
    forward_with(g, x, kernel, bias, extra, sequential)
}

/// The kernel of a forward pass: `[cout][cin][k][k]`, and packed for [`crate::direct`] when
/// that path covers the convolution.
#[derive(Clone, Copy)]
struct Kernel<'a> {
    w: &'a [f32],
    packed: Option<&'a [f32]>,
}

/// [`forward`] chunk by chunk on the calling thread (`sequential`) or with the chunks spread
/// over rayon's pool; the two give identical values.
fn forward_with(
    g: &Geom,
    x: &[f32],
    w: Kernel<'_>,
    bias: &[f32],
    extra: Terms<'_>,
    sequential: bool,
) -> Result<Vec<f32>> {
    let total = g.batch * g.out_img();
    let cb = g.forward_chunk(w.packed.is_some());
    if sequential {
        // One thread: chunk by chunk, each chunk's output appended while its product is in
        // cache, so the output is written once and never zero-filled first.
        let mut y = Vec::with_capacity(total);
        for (c, xchunk) in x.chunks(cb * g.in_img()).enumerate() {
            let nb = xchunk.len() / g.in_img();
            SCRATCH.with(|s| -> Result<()> {
                let s = &mut *s.borrow_mut();
                let yt = chunk_product(g, xchunk, nb, w, s)?;
                assemble(g, yt, c * cb, nb, bias, extra, Out::Append(&mut y));
                Ok(())
            })?;
        }
        return Ok(y);
    }
    let mut y = crate::zeros_par(total);
    y.par_chunks_mut(cb * g.out_img())
        .enumerate()
        .try_for_each(|(c, ychunk)| -> Result<()> {
            let nb = ychunk.len() / g.out_img();
            let xchunk = &x[c * cb * g.in_img()..][..nb * g.in_img()];
            SCRATCH.with(|s| {
                let s = &mut *s.borrow_mut();
                let yt = chunk_product(g, xchunk, nb, w, s)?;
                assemble(g, yt, c * cb, nb, bias, extra, Out::Fill(ychunk));
                Ok(())
            })
        })?;
    Ok(y)
}

/// Extra terms of an inference forward, added to `conv(x) + b` in this order (candle's
/// composed order): a per-(image, channel) bias `[B·cout]`, then a residual `[B·cout·ho·wo]`.
#[derive(Clone, Copy, Default)]
struct Terms<'a> {
    chan_bias: Option<&'a [f32]>,
    residual: Option<&'a [f32]>,
}

/// The channel-major product `yt[cout][nb·pix] = w · im2col(x_chunk)` of one chunk of `nb`
/// images, in the scratch buffers: by [`crate::direct`] from the padded chunk when the kernel
/// comes packed for it, else by im2col and one gemm.
fn chunk_product<'s>(
    g: &Geom,
    xchunk: &[f32],
    nb: usize,
    w: Kernel<'_>,
    s: &'s mut Scratch,
) -> Result<&'s [f32]> {
    let kk = g.kk();
    let n = nb * g.out_pix();
    if let Some(packed) = w.packed {
        let xp = grow(&mut s.xt, g.cin * nb * g.padded_hw());
        to_channel_major_padded(g, xchunk, nb, xp);
        let yt = grow(&mut s.yt, g.cout * n);
        crate::direct::conv3x3(packed, g.cout, g.cin, g.h, g.w, nb, xp, yt);
        return Ok(yt);
    }
    let w = w.w;
    let cols = chunk_cols(g, xchunk, nb, &mut s.xt, &mut s.cols);
    let yt = grow(&mut s.yt, g.cout * n);
    // yt[cout][n] = w[cout][kk] · cols[kk][n]
    sgemm(
        Mat::out(yt, g.cout, n, n, 1),
        false,
        Mat::new(w, g.cout, kk, kk, 1),
        Mat::new(cols, kk, n, n, 1),
    )?;
    Ok(yt)
}

/// The im2col matrix `[cin·k·k][nb·ho·wo]` of a chunk of `nb` NCHW images, in the scratch
/// buffers `xt` / `cols` (a 1×1 stride-1 convolution's is the channel-major chunk itself).
fn chunk_cols<'a>(
    g: &Geom,
    xchunk: &[f32],
    nb: usize,
    xt: &'a mut Vec<f32>,
    cols: &'a mut Vec<f32>,
) -> &'a [f32] {
    let (kk, hw) = (g.kk(), g.h * g.w);
    let n = nb * g.out_pix();
    if g.k == 1 && g.stride == 1 {
        let xt = grow(xt, g.cin * nb * hw);
        to_channel_major(xchunk, nb, g.cin, hw, xt);
        xt
    } else if g.k == 3 && g.stride == 1 && g.pad == 1 && matches!(g.w, 4 | 8) {
        let cols = grow(cols, kk * n);
        match g.w {
            8 => crate::run_kernel(DirectIm2col::<8> {
                g,
                x: xchunk,
                nb,
                cols,
            }),
            _ => crate::run_kernel(DirectIm2col::<4> {
                g,
                x: xchunk,
                nb,
                cols,
            }),
        }
        cols
    } else {
        let xp = grow(xt, g.cin * nb * g.padded_hw());
        to_channel_major_padded(g, xchunk, nb, xp);
        let cols = grow(cols, kk * n);
        im2col_padded(g, xp, nb, cols);
        cols
    }
}

/// Where [`assemble`] puts a chunk's output: appended to the output vector, or written over
/// the chunk's slice of it.
enum Out<'a> {
    Append(&'a mut Vec<f32>),
    Fill(&'a mut [f32]),
}

impl Out<'_> {
    /// Puts `len` values at offset `at` of the chunk.
    #[inline(always)]
    fn put(&mut self, at: usize, len: usize, values: impl Iterator<Item = f32>) {
        match self {
            Out::Append(v) => v.extend(values),
            Out::Fill(s) => {
                for (d, v) in s[at..at + len].iter_mut().zip(values) {
                    *d = v;
                }
            }
        }
    }
}

/// A chunk's output in NCHW order from its product `yt` (images `b0..b0 + nb`):
/// `y[b][co][p] = ((yt[co][b][p] + bias[co]) + chan_bias[b][co]) + residual[b][co][p]`.
fn assemble(
    g: &Geom,
    yt: &[f32],
    b0: usize,
    nb: usize,
    bias: &[f32],
    extra: Terms<'_>,
    mut out: Out<'_>,
) {
    let pix = g.out_pix();
    let n = nb * pix;
    for bl in 0..nb {
        let b = b0 + bl;
        for (co, &bc) in bias.iter().enumerate() {
            let src = &yt[co * n + bl * pix..][..pix];
            let at = (bl * g.cout + co) * pix;
            let cbias = extra.chan_bias.map(|v| v[b * g.cout + co]);
            let res = extra.residual.map(|r| &r[(b * g.cout + co) * pix..][..pix]);
            match (cbias, res) {
                (None, None) => out.put(at, pix, src.iter().map(|v| v + bc)),
                (Some(t), None) => out.put(at, pix, src.iter().map(|v| (v + bc) + t)),
                (None, Some(r)) => out.put(at, pix, src.iter().zip(r).map(|(v, r)| (v + bc) + r)),
                (Some(t), Some(r)) => {
                    out.put(at, pix, src.iter().zip(r).map(|(v, r)| ((v + bc) + t) + r))
                }
            }
        }
    }
}

/// Backward pass: `[dx | dw | db]` in one buffer (`dx`, `dw` empty when not needed).
///
/// Stride 1: the input gradient is a stride-1 convolution of `dy` with the mirrored kernel
/// (one im2col and one gemm, like the forward); stride 2: `Wᵀ·dY` and col2im.
fn backward(g: &Geom, need: Need, x: &[f32], w: &[f32], dy: &[f32]) -> Result<Vec<f32>> {
    let nx = if need.dx { g.batch * g.in_img() } else { 0 };
    let nw = if need.dw { g.w_len() } else { 0 };
    let mut out = vec![0f32; nx + nw + g.cout];
    let (dx, rest) = out.split_at_mut(nx);
    let cb = g.chunk();
    let n_chunks = g.batch.div_ceil(cb);
    let (kk, pix, hw) = (g.kk(), g.out_pix(), g.h * g.w);
    let direct = g.k == 1 && g.stride == 1;
    let pad_taps = if g.stride == 1 {
        s1_padding_taps(g)
    } else {
        Vec::new()
    };
    // stride 1, k = 3: wf[ci][co·k·k + t] = w[co][ci][k·k − 1 − t] (taps mirrored)
    let w_flipped = (need.dx && g.stride == 1 && g.k > 1).then(|| {
        let kk2 = g.k * g.k;
        let mut wf = vec![0f32; g.cin * g.cout * kk2];
        for co in 0..g.cout {
            for ci in 0..g.cin {
                for t in 0..kk2 {
                    wf[(ci * g.cout + co) * kk2 + t] = w[(co * g.cin + ci) * kk2 + kk2 - 1 - t];
                }
            }
        }
        wf
    });
    let dx_chunks: Vec<Option<&mut [f32]>> = if need.dx {
        dx.chunks_mut(cb * g.in_img()).map(Some).collect()
    } else {
        (0..n_chunks).map(|_| None).collect()
    };
    let zeros = || (vec![0f32; nw], vec![0f32; g.cout]);
    let (pdw, pdb) = dx_chunks
        .into_par_iter()
        .enumerate()
        .try_fold(zeros, |(mut dw, mut db), (c, dxchunk)| -> Result<_> {
            let nb = cb.min(g.batch - c * cb);
            let n = nb * pix;
            let xchunk = &x[c * cb * g.in_img()..][..nb * g.in_img()];
            let dychunk = &dy[c * cb * g.out_img()..][..nb * g.out_img()];
            SCRATCH.with(|s| -> Result<()> {
                let s = &mut *s.borrow_mut();
                // dyt[cout][n] and the bias gradient
                let dyt = grow(&mut s.yt, g.cout * n);
                to_channel_major(dychunk, nb, g.cout, pix, dyt);
                for (co, d) in db.iter_mut().enumerate() {
                    *d += sum_f32(&dyt[co * n..][..n]);
                }
                let dyt: &[f32] = dyt;
                if need.dw {
                    let cols = chunk_cols(g, xchunk, nb, &mut s.xt, &mut s.cols);
                    // dwt[kk][cout] += cols[kk][n] · dytᵀ[n][cout] (this orientation lets gemm
                    // pack the small dyt instead of cols; transposed into dw at the end)
                    sgemm(
                        Mat::out(&mut dw, kk, g.cout, g.cout, 1),
                        true,
                        Mat::new(cols, kk, n, n, 1),
                        Mat::new(dyt, n, g.cout, 1, n),
                    )?;
                }
                let Some(dxchunk) = dxchunk else {
                    return Ok(());
                };
                let xt = grow(&mut s.xt, g.cin * nb * hw);
                let wt = Mat::new(w, kk, g.cout, 1, kk);
                let dyt_m = Mat::new(dyt, g.cout, n, n, 1);
                if direct {
                    // 1×1 stride 1: dxt[cin][n] = wᵀ[cin][cout] · dyt[cout][n]
                    sgemm(Mat::out(xt, kk, n, n, 1), false, wt, dyt_m)?;
                } else if let Some(wf) = &w_flipped {
                    // stride 1: dx is the convolution of dy with the flipped, transposed kernel:
                    // dxt[cin][n] = wf[cin][cout·k·k] · im2col(dyt)[cout·k·k][n]
                    let gt = g.transposed();
                    let kt = gt.kk();
                    let cols = grow(&mut s.dcols, kt * n);
                    im2col(&gt, &pad_taps, dyt, nb, cols);
                    sgemm(
                        Mat::out(xt, g.cin, n, n, 1),
                        false,
                        Mat::new(wf, g.cin, kt, kt, 1),
                        Mat::new(cols, kt, n, n, 1),
                    )?;
                } else {
                    // stride 2: dcols[kk][n] = wᵀ[kk][cout] · dyt[cout][n], then col2im
                    let dcols = grow(&mut s.dcols, kk * n);
                    sgemm(Mat::out(dcols, kk, n, n, 1), false, wt, dyt_m)?;
                    col2im(g, &pad_taps, dcols, nb, xt);
                }
                from_channel_major(xt, nb, g.cin, hw, None, dxchunk);
                Ok(())
            })?;
            Ok((dw, db))
        })
        .try_reduce(zeros, |(mut dw, mut db), (dw2, db2)| {
            for (u, v) in dw.iter_mut().zip(&dw2) {
                *u += *v;
            }
            for (u, v) in db.iter_mut().zip(&db2) {
                *u += *v;
            }
            Ok((dw, db))
        })?;
    let (dw, db) = rest.split_at_mut(nw);
    if need.dw {
        for (co, row) in dw.chunks_exact_mut(kk).enumerate() {
            for (r, v) in row.iter_mut().enumerate() {
                *v = pdw[r * g.cout + co];
            }
        }
    }
    db.copy_from_slice(&pdb);
    Ok(out)
}

/// A strided row-major view of a matrix for [`sgemm`].
struct Mat<S> {
    data: S,
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<&'a [f32]> {
    fn new(data: &'a [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

impl<'a> Mat<&'a mut [f32]> {
    fn out(data: &'a mut [f32], rows: usize, cols: usize, rs: usize, cs: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            rs,
            cs,
        }
    }
}

/// Whether every element `(i, j)` of the view lies inside its slice.
fn in_bounds(len: usize, rows: usize, cols: usize, rs: usize, cs: usize) -> bool {
    rows == 0 || cols == 0 || (rows - 1) * rs + (cols - 1) * cs < len
}

/// `dst = lhs·rhs` (or `dst += lhs·rhs` when `accumulate`), single-threaded f32 gemm through
/// the crate's one gemm call ([`crate::gemm_f32_par`]), with shape and bounds errors instead of
/// its panics.
///
/// # Errors
/// When the shapes do not match or a view reaches outside its slice (a bug in the caller).
fn sgemm(dst: Mat<&mut [f32]>, accumulate: bool, lhs: Mat<&[f32]>, rhs: Mat<&[f32]>) -> Result<()> {
    let (m, n, k) = (dst.rows, dst.cols, lhs.cols);
    if lhs.rows != m || rhs.rows != k || rhs.cols != n {
        bail!("fused conv2d: gemm shapes do not match");
    }
    if !in_bounds(dst.data.len(), m, n, dst.rs, dst.cs)
        || !in_bounds(lhs.data.len(), m, k, lhs.rs, lhs.cs)
        || !in_bounds(rhs.data.len(), k, n, rhs.rs, rhs.cs)
    {
        bail!("fused conv2d: gemm view out of bounds");
    }
    let view = |rs, cs| crate::Strides { row: rs, col: cs };
    crate::gemm_f32_par(
        (m, n, k),
        dst.data,
        view(dst.rs, dst.cs),
        accumulate,
        lhs.data,
        view(lhs.rs, lhs.cs),
        rhs.data,
        view(rhs.rs, rhs.cs),
        gemm::Parallelism::None,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_brute_force() {
        for n in 1..9 {
            for s in 1..3 {
                for (k, p) in [(1, 0), (3, 1)] {
                    let no = (n + 2 * p - k) / s + 1;
                    for kx in 0..k {
                        let want: Vec<usize> = (0..no)
                            .filter(|&o| {
                                let i = (o * s + kx) as isize - p as isize;
                                i >= 0 && i < n as isize
                            })
                            .collect();
                        let (lo, hi) = valid_range(n, no, s, kx, p);
                        let got: Vec<usize> = (lo..hi).collect();
                        assert_eq!(got, want, "n={n} s={s} k={k} kx={kx}");
                    }
                }
            }
        }
    }

    #[test]
    fn sequential_and_parallel_forward_agree() {
        // 9 images of 8×8 in two chunks (5 + 4): both paths, every stride and extra term;
        // 16×16 at 3×3 stride 1 takes the direct kernel (on AVX2 machines): chunks of 4, 4, 1
        for (k, stride, side) in [(3, 1, 8), (3, 2, 8), (1, 1, 8), (3, 1, 16)] {
            let pad = k / 2;
            let (h, w) = (side, side);
            let (ho, wo) = (
                (h + 2 * pad - k) / stride + 1,
                (w + 2 * pad - k) / stride + 1,
            );
            let g = Geom {
                batch: 9,
                cin: 5,
                h,
                w,
                cout: 6,
                k,
                stride,
                pad,
                ho,
                wo,
            };
            let val = |i: usize| ((i * 7919) % 101) as f32 / 50.0 - 1.0;
            let x: Vec<f32> = (0..g.batch * g.in_img()).map(val).collect();
            let wt: Vec<f32> = (0..g.w_len()).map(|i| val(i + 3)).collect();
            let bias: Vec<f32> = (0..g.cout).map(|i| val(i + 5)).collect();
            let tb: Vec<f32> = (0..g.batch * g.cout).map(|i| val(i + 11)).collect();
            let res: Vec<f32> = (0..g.batch * g.out_img()).map(|i| val(i + 13)).collect();
            let packed = crate::direct::covers(k, stride, pad, w)
                .then(|| crate::direct::pack_weights(&wt, g.cout, g.cin));
            assert!(g.forward_chunk(packed.is_some()) < g.batch);
            let kernel = Kernel {
                w: &wt,
                packed: packed.as_deref(),
            };
            for extra in [
                Terms::default(),
                Terms {
                    chan_bias: Some(&tb),
                    residual: Some(&res),
                },
            ] {
                let a = forward_with(&g, &x, kernel, &bias, extra, true).unwrap();
                let b = forward_with(&g, &x, kernel, &bias, extra, false).unwrap();
                assert_eq!(a.len(), g.batch * g.out_img());
                assert_eq!(a, b, "k={k} stride={stride}");
            }
        }
    }

    #[test]
    fn sgemm_small_product_and_bounds() {
        // [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]]
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [5.0, 6.0, 7.0, 8.0];
        let mut c = [0.0f32; 4];
        sgemm(
            Mat::out(&mut c, 2, 2, 2, 1),
            false,
            Mat::new(&a, 2, 2, 2, 1),
            Mat::new(&b, 2, 2, 2, 1),
        )
        .unwrap();
        assert_eq!(c, [19.0, 22.0, 43.0, 50.0]);
        // transposed lhs view: aᵀ·b = [[26,30],[38,44]], accumulated onto c
        sgemm(
            Mat::out(&mut c, 2, 2, 2, 1),
            true,
            Mat::new(&a, 2, 2, 1, 2),
            Mat::new(&b, 2, 2, 2, 1),
        )
        .unwrap();
        assert_eq!(c, [45.0, 52.0, 81.0, 94.0]);
        let short = [1.0f32; 3];
        assert!(
            sgemm(
                Mat::out(&mut c, 2, 2, 2, 1),
                false,
                Mat::new(&short, 2, 2, 2, 1),
                Mat::new(&b, 2, 2, 2, 1),
            )
            .is_err()
        );
    }
}
