//! GroupNorm (+ SiLU) as one candle op with a hand-written backward pass.
//!
//! For `x` `[N, C, *]` split into G groups of C/G channels, each (sample, group) slice of
//! M = (C/G)·∏* values is normalised with its own mean μ and biased variance σ²:
//! `x̂ = (x − μ)·r` with `r = 1/√(σ² + eps)`, then `y = γ_c x̂ + β_c` and optionally
//! `out = SiLU(y)`. One pass computes the statistics, a second writes the output.
//!
//! Backward (the statistics are recomputed from `x`, which is cheaper than storing them): with
//! `g_y = ∂L/∂out ⊙ SiLU'(y)` (or `∂L/∂out`), `∂L/∂β_c = Σ g_y`, `∂L/∂γ_c = Σ g_y x̂` (sums over
//! the batch and the spatial positions), and per slice
//! `∂L/∂x = r·(γ_c g_y − mean(γ g_y) − x̂·mean(γ g_y x̂))`. Slices run in parallel; the
//! per-sample partial sums of ∂γ, ∂β are added at the end.
//!
//! The fused kernel runs on contiguous f32 CPU tensors of rank ≥ 3; anything else (or
//! [`crate::enabled`] false) runs [`group_norm_composed`], candle-nn's `GroupNorm` and `silu`.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::linear::Activation;
use crate::{Kernel, PAR_MIN_WORK, cpu_f32, host_f32, run_kernel, sigmoid_f32, threads, with_f32};

/// Group normalisation with a per-channel affine map and an optional SiLU, a drop-in
/// replacement for [`candle_nn::GroupNorm`] (variables `weight` = γ and `bias` = β, `[C]`).
#[derive(Debug, Clone)]
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    num_groups: usize,
    eps: f64,
    activation: Activation,
}

impl GroupNorm {
    /// A layer from γ `[C]`, β `[C]`, the number of groups and eps.
    ///
    /// # Errors
    /// When `num_groups` is 0 or does not divide C, or γ and β are not both `[C]`.
    pub fn new(weight: Tensor, bias: Tensor, num_groups: usize, eps: f64) -> Result<Self> {
        let c = weight.dims1()?;
        if bias.dims1()? != c {
            candle_core::bail!("GroupNorm: weight has {c} channels, bias {:?}", bias.dims());
        }
        if num_groups == 0 || !c.is_multiple_of(num_groups) {
            candle_core::bail!("GroupNorm: num_groups ({num_groups}) must divide {c} channels");
        }
        Ok(GroupNorm {
            weight,
            bias,
            num_groups,
            eps,
            activation: Activation::Identity,
        })
    }

    /// The same layer followed by `activation`.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// γ, `[C]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// β, `[C]`.
    pub fn bias(&self) -> &Tensor {
        &self.bias
    }

    /// The number of groups.
    pub fn num_groups(&self) -> usize {
        self.num_groups
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        group_norm_op(
            x,
            &self.weight,
            &self.bias,
            self.num_groups,
            self.eps,
            self.activation,
        )
    }
}

/// Creates a GroupNorm layer as [`candle_nn::group_norm()`] does (γ = 1, β = 0 when new).
///
/// # Errors
/// From the var builder, or when `num_groups` does not divide `num_channels`.
pub fn group_norm(
    num_groups: usize,
    num_channels: usize,
    eps: f64,
    vb: VarBuilder,
) -> Result<GroupNorm> {
    let weight = vb.get_with_hints(num_channels, "weight", candle_nn::Init::Const(1.))?;
    let bias = vb.get_with_hints(num_channels, "bias", candle_nn::Init::Const(0.))?;
    GroupNorm::new(weight, bias, num_groups, eps)
}

/// GroupNorm followed by SiLU in one op: [`group_norm`] `.with_activation(Silu)`.
///
/// # Errors
/// As [`group_norm`].
pub fn group_norm_silu(
    num_groups: usize,
    num_channels: usize,
    eps: f64,
    vb: VarBuilder,
) -> Result<GroupNorm> {
    Ok(group_norm(num_groups, num_channels, eps, vb)?.with_activation(Activation::Silu))
}

/// `act(GroupNorm(x))`, fused when possible (see the module docs), else
/// [`group_norm_composed`].
///
/// # Errors
/// Shape mismatches (rank < 3, channel count, groups), as candle-nn reports them.
pub fn group_norm_op(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    num_groups: usize,
    eps: f64,
    act: Activation,
) -> Result<Tensor> {
    if fusable(x, weight, bias, num_groups) {
        x.apply_op3(
            weight,
            bias,
            GroupNormOp {
                groups: num_groups,
                eps,
                act,
            },
        )
    } else {
        group_norm_composed(x, weight, bias, num_groups, eps, act)
    }
}

/// The reference: candle-nn's `GroupNorm` (about ten primitive ops) and `silu`.
///
/// # Errors
/// Shape mismatches.
pub fn group_norm_composed(
    x: &Tensor,
    weight: &Tensor,
    bias: &Tensor,
    num_groups: usize,
    eps: f64,
    act: Activation,
) -> Result<Tensor> {
    let c = weight.dims1()?;
    let y =
        candle_nn::GroupNorm::new(weight.clone(), bias.clone(), c, num_groups, eps)?.forward(x)?;
    match act {
        Activation::Identity => Ok(y),
        Activation::Silu => y.silu(),
    }
}

fn fusable(x: &Tensor, w: &Tensor, b: &Tensor, groups: usize) -> bool {
    let dims = x.dims();
    let ok_dims = dims.len() >= 3
        && w.dims() == [dims[1]]
        && b.dims() == [dims[1]]
        && groups > 0
        && dims[1].is_multiple_of(groups)
        && x.elem_count() > 0;
    crate::enabled()
        && ok_dims
        && [x, w, b]
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
}

/// One (sample, group) slice of the backward pass: its index, (∂x, ∂γ partial, ∂β partial)
/// outputs and (x, ∂L/∂out) inputs.
type BwdItem<'a> = (
    usize,
    (
        ((&'a mut [f32], &'a mut [f32]), &'a mut [f32]),
        (&'a [f32], &'a [f32]),
    ),
);

/// [`GroupNormOp::fwd_slice`] as a [`Kernel`].
struct FwdSlice<'a> {
    op: &'a GroupNormOp,
    k: usize,
    x: &'a [f32],
    y: &'a mut [f32],
    gam: &'a [f32],
    bet: &'a [f32],
    s: usize,
}

impl Kernel for FwdSlice<'_> {
    #[inline(always)]
    fn run(self) {
        self.op
            .fwd_slice(self.k, self.x, self.y, self.gam, self.bet, self.s)
    }
}

/// [`GroupNormOp::bwd_slice`] as a [`Kernel`].
struct BwdSlice<'a> {
    op: &'a GroupNormOp,
    k: usize,
    x: &'a [f32],
    gout: &'a [f32],
    dx: &'a mut [f32],
    pg: &'a mut [f32],
    pb: &'a mut [f32],
    gam: &'a [f32],
    bet: &'a [f32],
    s: usize,
}

impl Kernel for BwdSlice<'_> {
    #[inline(always)]
    fn run(self) {
        self.op.bwd_slice(
            self.k, self.x, self.gout, self.dx, self.pg, self.pb, self.gam, self.bet, self.s,
        )
    }
}

struct GroupNormOp {
    groups: usize,
    eps: f64,
    act: Activation,
}

/// Mean and 1/√(var + eps) of one slice: two passes, each summed in 16 independent f32 lanes
/// (so the loop vectorises; a single running sum is a serial dependency chain), the lanes then
/// added in f64.
#[inline(always)]
fn stats(x: &[f32], eps: f64) -> (f32, f32) {
    let n = x.len() as f64;
    let mean = lane_sum(x, |v| v) / n;
    let m = mean as f32;
    let var = lane_sum(x, |v| (v - m) * (v - m)) / n;
    (m, (1.0 / (var + eps).sqrt()) as f32)
}

/// Σ f(x_i) with 16 f32 lane accumulators, combined in f64.
#[inline(always)]
fn lane_sum(x: &[f32], f: impl Fn(f32) -> f32) -> f64 {
    lane_sum2(x, x, |v, _| f(v))
}

/// Σ f(a_i, b_i) with 16 f32 lane accumulators, combined in f64.
#[inline(always)]
fn lane_sum2(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f64 {
    const L: usize = 16;
    let mut acc = [0f32; L];
    let (mut ca, mut cb) = (a.chunks_exact(L), b.chunks_exact(L));
    for (ua, ub) in (&mut ca).zip(&mut cb) {
        for ((s, &u), &v) in acc.iter_mut().zip(ua).zip(ub) {
            *s += f(u, v);
        }
    }
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(&u, &v)| f(u, v) as f64)
        .sum();
    acc.iter().map(|&s| s as f64).sum::<f64>() + tail
}

/// Minimum number of slices per rayon task, so that each task has `PAR_MIN_WORK` elements;
/// `None` when the whole tensor is too small to split at all.
fn min_slices(total: usize, slice: usize) -> Option<usize> {
    (threads() > 1 && total >= PAR_MIN_WORK).then(|| PAR_MIN_WORK.div_ceil(slice).max(1))
}

impl GroupNormOp {
    /// Dimensions: (channels, groups, spatial size S, slice length M = (C/G)·S).
    fn dims(&self, x_dims: &[usize]) -> (usize, usize, usize) {
        let c = x_dims[1];
        let s: usize = x_dims[2..].iter().product();
        (c / self.groups, s, c / self.groups * s)
    }

    /// Forward of one (sample, group) slice `k`.
    #[inline(always)]
    fn fwd_slice(&self, k: usize, x: &[f32], y: &mut [f32], gam: &[f32], bet: &[f32], s: usize) {
        let cpg = gam.len() / self.groups;
        let g = k % self.groups;
        let (mean, r) = stats(x, self.eps);
        for (c, (xs, ys)) in x.chunks_exact(s).zip(y.chunks_exact_mut(s)).enumerate() {
            let ch = g * cpg + c;
            let (a, b) = (gam[ch] * r, bet[ch]);
            match self.act {
                Activation::Identity => {
                    for (o, &v) in ys.iter_mut().zip(xs) {
                        *o = a * (v - mean) + b;
                    }
                }
                Activation::Silu => {
                    for (o, &v) in ys.iter_mut().zip(xs) {
                        let z = a * (v - mean) + b;
                        *o = z * sigmoid_f32(z);
                    }
                }
            }
        }
    }

    /// Backward of one slice: writes ∂L/∂x into `dx`, the slice's partial ∂γ, ∂β (one value
    /// per channel of the group) into `pg`, `pb`.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn bwd_slice(
        &self,
        k: usize,
        x: &[f32],
        gout: &[f32],
        dx: &mut [f32],
        pg: &mut [f32],
        pb: &mut [f32],
        gam: &[f32],
        bet: &[f32],
        s: usize,
    ) {
        let cpg = pg.len();
        let g = k % self.groups;
        let (mean, r) = stats(x, self.eps);
        let (mut sum_gy, mut sum_gyx) = (0f64, 0f64);
        for c in 0..cpg {
            let ch = g * cpg + c;
            let (gm, bt) = (gam[ch], bet[ch]);
            let range = c * s..(c + 1) * s;
            let (xs, gs, ds) = (&x[range.clone()], &gout[range.clone()], &mut dx[range]);
            for ((d, &v), &go) in ds.iter_mut().zip(xs).zip(gs) {
                *d = match self.act {
                    Activation::Identity => go,
                    Activation::Silu => {
                        let y = gm * ((v - mean) * r) + bt;
                        let sig = sigmoid_f32(y);
                        go * sig * (1.0 + y * (1.0 - sig))
                    }
                };
            }
            let sb = lane_sum(ds, |gy| gy);
            let sg = lane_sum2(ds, xs, |gy, v| gy * ((v - mean) * r));
            pb[c] = sb as f32;
            pg[c] = sg as f32;
            sum_gy += gm as f64 * sb;
            sum_gyx += gm as f64 * sg;
        }
        let m = x.len() as f64;
        let (m1, m2) = ((sum_gy / m) as f32, (sum_gyx / m) as f32);
        for c in 0..cpg {
            let gm = gam[g * cpg + c];
            let range = c * s..(c + 1) * s;
            for (d, &v) in dx[range.clone()].iter_mut().zip(&x[range]) {
                let xh = (v - mean) * r;
                *d = r * (gm * *d - m1 - xh * m2);
            }
        }
    }
}

impl CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        match self.act {
            Activation::Identity => "fused-group-norm",
            Activation::Silu => "fused-group-norm-silu",
        }
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
        let (x, gam, bet) = (cpu_f32(s1, l1)?, cpu_f32(s2, l2)?, cpu_f32(s3, l3)?);
        crate::count_fused_call();
        let (_, s, m) = self.dims(l1.dims());
        let y = match min_slices(x.len(), m) {
            Some(min) => {
                let mut y = crate::zeros_par(x.len());
                y.par_chunks_mut(m)
                    .zip(x.par_chunks(m))
                    .enumerate()
                    .with_min_len(min)
                    .for_each(|(k, (ys, xs))| {
                        run_kernel(FwdSlice {
                            op: self,
                            k,
                            x: xs,
                            y: ys,
                            gam,
                            bet,
                            s,
                        })
                    });
                y
            }
            None => {
                // One thread: the output grows slice by slice, each slice zeroed and written
                // while it is in cache (no separate fill of the whole buffer first).
                let mut y = Vec::with_capacity(x.len());
                for (k, xs) in x.chunks(m).enumerate() {
                    let start = y.len();
                    y.resize(start + xs.len(), 0.0);
                    run_kernel(FwdSlice {
                        op: self,
                        k,
                        x: xs,
                        y: &mut y[start..],
                        gam,
                        bet,
                        s,
                    });
                }
                y
            }
        };
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = x.dims();
        let (n, c) = (dims[0], dims[1]);
        let (cpg, s, m) = self.dims(dims);
        let (gam, bet) = (host_f32(w)?, host_f32(b)?);
        let mut dx = vec![0f32; x.elem_count()];
        let mut pg = vec![0f32; n * c];
        let mut pb = vec![0f32; n * c];
        let grad = grad.to_dtype(DType::F32)?;
        with_f32(x, |x| {
            with_f32(&grad, |go| {
                let run = |(k, (((dxs, pgs), pbs), (xs, gs))): BwdItem<'_>| {
                    run_kernel(BwdSlice {
                        op: self,
                        k,
                        x: xs,
                        gout: gs,
                        dx: dxs,
                        pg: pgs,
                        pb: pbs,
                        gam: &gam,
                        bet: &bet,
                        s,
                    })
                };
                match min_slices(x.len(), m) {
                    Some(min) => dx
                        .par_chunks_mut(m)
                        .zip(pg.par_chunks_mut(cpg))
                        .zip(pb.par_chunks_mut(cpg))
                        .zip(x.par_chunks(m).zip(go.par_chunks(m)))
                        .enumerate()
                        .with_min_len(min)
                        .for_each(run),
                    None => dx
                        .chunks_mut(m)
                        .zip(pg.chunks_mut(cpg))
                        .zip(pb.chunks_mut(cpg))
                        .zip(x.chunks(m).zip(go.chunks(m)))
                        .enumerate()
                        .for_each(run),
                }
            })
        })??;
        let dev = x.device();
        let sum_over_batch = |p: &[f32]| {
            let mut acc = vec![0f32; c];
            for row in p.chunks_exact(c) {
                for (a, v) in acc.iter_mut().zip(row) {
                    *a += v;
                }
            }
            acc
        };
        let gx = if x.track_op() {
            Some(Tensor::from_vec(dx, x.shape(), dev)?)
        } else {
            None
        };
        let gw = if w.track_op() {
            Some(Tensor::from_vec(sum_over_batch(&pg), c, dev)?)
        } else {
            None
        };
        let gb = if b.track_op() {
            Some(Tensor::from_vec(sum_over_batch(&pb), c, dev)?)
        } else {
            None
        };
        Ok((gx, gw, gb))
    }
}
