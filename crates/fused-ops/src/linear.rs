//! Linear + bias (+ SiLU) as one candle op with a hand-written backward pass.
//!
//! Forward `y = act(x·Wᵀ + b)` for `x` `[…, in]`, `W` `[out, in]`, `b` `[out]`, with `act` the
//! identity or SiLU `z·σ(z)`. The bias is written into the output before the matrix product,
//! which then accumulates onto it (one pass over the output), and SiLU is applied in one more
//! pass that also keeps a copy of `z` when a gradient may be needed (the backward pass turns it
//! into SiLU's derivative `σ(z)(1 + z(1 − σ(z)))`; keeping `z` rather than the derivative keeps
//! inference with tracked weights, e.g. sampling, from paying for a derivative it never uses).
//!
//! Backward with `g' = ∂L/∂y ⊙ act'(z)`: `∂L/∂x = g'·W`, `∂L/∂W = g'ᵀ·x`, `∂L/∂b` = column sums
//! of `g'` (computed in the same pass as `g'`, rows split across threads). Inputs that do not
//! track gradients get none computed.
//!
//! The fused kernel runs on contiguous f32 CPU tensors of rank ≥ 2 with a bias; anything else
//! (or [`crate::enabled`] false) runs [`linear_composed`], candle's own ops.

use std::sync::OnceLock;

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Module, Result, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

use crate::{
    Kernel, PAR_MIN_WORK, Strides, cpu_f32, gemm_f32, run_kernel, sigmoid_f32, threads, with_f32,
};

/// The activation applied after the affine map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `y = z`.
    Identity,
    /// `y = z·σ(z)` (SiLU, a.k.a. swish).
    Silu,
}

/// A linear layer `y = act(x·Wᵀ + b)`, a drop-in replacement for [`candle_nn::Linear`] (same
/// variable names `weight` `[out, in]` and `bias` `[out]`, so checkpoints load unchanged).
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Tensor,
    bias: Option<Tensor>,
    activation: Activation,
}

impl Linear {
    /// A layer from its weight `[out, in]` and optional bias `[out]`, without activation.
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Self {
        Linear {
            weight,
            bias,
            activation: Activation::Identity,
        }
    }

    /// The same layer followed by `activation`.
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// The weight, `[out, in]`.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// The bias, `[out]`.
    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The activation after the affine map.
    pub fn activation(&self) -> Activation {
        self.activation
    }
}

impl Module for Linear {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear_op(x, &self.weight, self.bias.as_ref(), self.activation)
    }
}

/// Creates a linear layer as [`candle_nn::linear()`] does (same variable names and initialisers).
///
/// # Errors
/// From the var builder (e.g. a stored tensor of another shape).
pub fn linear(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    let l = candle_nn::linear(in_dim, out_dim, vb)?;
    Ok(Linear::new(l.weight().clone(), l.bias().cloned()))
}

/// A linear layer followed by SiLU, fused into one op: [`linear`] `.with_activation(Silu)`.
///
/// # Errors
/// From the var builder.
pub fn linear_silu(in_dim: usize, out_dim: usize, vb: VarBuilder) -> Result<Linear> {
    Ok(linear(in_dim, out_dim, vb)?.with_activation(Activation::Silu))
}

/// `act(x·Wᵀ + b)`, fused when possible (see the module docs), else [`linear_composed`].
///
/// # Errors
/// Shape mismatches, as candle's own ops report them.
pub fn linear_op(x: &Tensor, w: &Tensor, b: Option<&Tensor>, act: Activation) -> Result<Tensor> {
    match b {
        Some(b) if fusable(x, w, b) => {
            let save = act == Activation::Silu && (x.track_op() || w.track_op() || b.track_op());
            x.apply_op3(
                w,
                b,
                LinearOp {
                    act,
                    save,
                    z: OnceLock::new(),
                },
            )
        }
        _ => linear_composed(x, w, b, act),
    }
}

/// The reference: candle's `Linear` (matmul + broadcast add) and `silu`, any device and dtype.
///
/// # Errors
/// Shape mismatches.
pub fn linear_composed(
    x: &Tensor,
    w: &Tensor,
    b: Option<&Tensor>,
    act: Activation,
) -> Result<Tensor> {
    let y = candle_nn::Linear::new(w.clone(), b.cloned()).forward(x)?;
    match act {
        Activation::Identity => Ok(y),
        Activation::Silu => y.silu(),
    }
}

fn fusable(x: &Tensor, w: &Tensor, b: &Tensor) -> bool {
    let ok_dims = x.rank() >= 2
        && w.rank() == 2
        && b.rank() == 1
        && x.dims().last() == Some(&w.dims()[1])
        && b.dims()[0] == w.dims()[0]
        && x.elem_count() > 0
        && w.elem_count() > 0;
    crate::enabled()
        && ok_dims
        && [x, w, b]
            .iter()
            .all(|t| t.device().is_cpu() && t.dtype() == DType::F32 && t.is_contiguous())
}

struct LinearOp {
    act: Activation,
    /// Keep the pre-activation z for the backward pass.
    save: bool,
    z: OnceLock<Vec<f32>>,
}

/// Rows per task so that each task has at least `PAR_MIN_WORK` elements (all rows when small).
pub(crate) fn rows_per_task(rows: usize, row_len: usize) -> usize {
    let nt = threads();
    if nt <= 1 || rows * row_len < PAR_MIN_WORK {
        return rows.max(1);
    }
    let min_rows = PAR_MIN_WORK.div_ceil(row_len.max(1));
    rows.div_ceil(nt).max(min_rows).max(1)
}

impl CustomOp3 for LinearOp {
    fn name(&self) -> &'static str {
        match self.act {
            Activation::Identity => "fused-linear",
            Activation::Silu => "fused-linear-silu",
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
        let (x, w, b) = (cpu_f32(s1, l1)?, cpu_f32(s2, l2)?, cpu_f32(s3, l3)?);
        crate::count_fused_call();
        let (out, inp) = l2.shape().dims2()?;
        if b.len() != out || x.len() % inp != 0 {
            candle_core::bail!("fused-linear: shape mismatch");
        }
        let rows = x.len() / inp;
        let mut y = Vec::with_capacity(rows * out);
        for _ in 0..rows {
            y.extend_from_slice(b);
        }
        gemm_f32(
            (rows, out, inp),
            &mut y,
            Strides::row_major(out),
            true,
            x,
            Strides::row_major(inp),
            w,
            Strides::transposed(inp),
        );
        if self.act == Activation::Silu {
            let chunk = rows_per_task(rows, out) * out;
            if self.save {
                let mut zs = vec![0f32; y.len()];
                y.par_chunks_mut(chunk)
                    .zip(zs.par_chunks_mut(chunk))
                    .for_each(|(ys, zs)| run_kernel(SiluKeepZ { ys, zs }));
                let _ = self.z.set(zs);
            } else {
                y.par_chunks_mut(chunk)
                    .for_each(|ys| run_kernel(Silu { ys }));
            }
        }
        let mut dims = l1.dims().to_vec();
        *dims.last_mut().expect("rank ≥ 2") = out;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        b: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let (out, inp) = w.dims2()?;
        let rows = x.elem_count() / inp;
        let mut g = grad.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if g.len() != rows * out {
            candle_core::bail!(
                "fused-linear: gradient of {} values for {rows}×{out}",
                g.len()
            );
        }
        if self.act == Activation::Silu {
            let z = match self.z.get() {
                Some(z) => z,
                None => candle_core::bail!("fused-linear-silu: backward without saved forward"),
            };
            let chunk = rows_per_task(rows, out) * out;
            g.par_chunks_mut(chunk)
                .zip(z.par_chunks(chunk))
                .for_each(|(gs, zs)| run_kernel(SiluGrad { gs, zs }));
        }
        let dev = x.device();
        let grad_b = if b.track_op() {
            Some(Tensor::from_vec(column_sums(&g, rows, out), out, dev)?)
        } else {
            None
        };
        let grad_x = if x.track_op() {
            let mut gx = vec![0f32; rows * inp];
            with_f32(w, |w| {
                gemm_f32(
                    (rows, inp, out),
                    &mut gx,
                    Strides::row_major(inp),
                    false,
                    &g,
                    Strides::row_major(out),
                    w,
                    Strides::row_major(inp),
                )
            })?;
            Some(Tensor::from_vec(gx, x.shape(), dev)?)
        } else {
            None
        };
        let grad_w = if w.track_op() {
            let mut gw = vec![0f32; out * inp];
            with_f32(x, |x| {
                gemm_f32(
                    (out, inp, rows),
                    &mut gw,
                    Strides::row_major(inp),
                    false,
                    &g,
                    Strides::transposed(out),
                    x,
                    Strides::row_major(inp),
                )
            })?;
            Some(Tensor::from_vec(gw, (out, inp), dev)?)
        } else {
            None
        };
        Ok((grad_x, grad_w, grad_b))
    }
}

/// `y ← SiLU(y)`.
struct Silu<'a> {
    ys: &'a mut [f32],
}

impl Kernel for Silu<'_> {
    #[inline(always)]
    fn run(self) {
        for v in self.ys.iter_mut() {
            *v *= sigmoid_f32(*v);
        }
    }
}

/// `z ← y`, `y ← SiLU(y)`.
struct SiluKeepZ<'a> {
    ys: &'a mut [f32],
    zs: &'a mut [f32],
}

impl Kernel for SiluKeepZ<'_> {
    #[inline(always)]
    fn run(self) {
        for (v, zv) in self.ys.iter_mut().zip(self.zs.iter_mut()) {
            let z = *v;
            *zv = z;
            *v = z * sigmoid_f32(z);
        }
    }
}

/// `g ← g · SiLU'(z)` with SiLU'(z) = σ(z)(1 + z(1 − σ(z))).
struct SiluGrad<'a> {
    gs: &'a mut [f32],
    zs: &'a [f32],
}

impl Kernel for SiluGrad<'_> {
    #[inline(always)]
    fn run(self) {
        for (gv, &z) in self.gs.iter_mut().zip(self.zs) {
            let s = sigmoid_f32(z);
            *gv *= s * (1.0 + z * (1.0 - s));
        }
    }
}

/// Sums of the columns of a row-major `[rows, cols]` matrix: rows are split across threads,
/// each accumulating a private row of partial sums (a contiguous, vectorisable inner loop).
pub(crate) fn column_sums(g: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let chunk = rows_per_task(rows, cols) * cols;
    let partial = |gs: &[f32]| {
        let mut acc = vec![0f32; cols];
        for row in gs.chunks_exact(cols) {
            for (a, v) in acc.iter_mut().zip(row) {
                *a += v;
            }
        }
        acc
    };
    if chunk >= g.len() {
        return partial(g);
    }
    g.par_chunks(chunk)
        .map(partial)
        .reduce_with(|mut a, b| {
            for (x, y) in a.iter_mut().zip(&b) {
                *x += y;
            }
            a
        })
        .unwrap_or_else(|| vec![0f32; cols])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_agree_on_both_code_paths() {
        // `run_kernel` takes the AVX2 path on CPUs that have it; `run` directly is the baseline
        // path. Without fused multiply-add contraction both round identically.
        let z: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.037).collect();
        let (mut a, mut b) = (z.clone(), z.clone());
        run_kernel(Silu { ys: &mut a });
        Silu { ys: &mut b }.run();
        assert_eq!(a, b);
        let (mut ga, mut gb) = (vec![1.5f32; 1000], vec![1.5f32; 1000]);
        run_kernel(SiluGrad {
            gs: &mut ga,
            zs: &z,
        });
        SiluGrad {
            gs: &mut gb,
            zs: &z,
        }
        .run();
        assert_eq!(ga, gb);
        // And they are SiLU and its derivative (f64 reference, f32 tolerance).
        for ((&zi, &y), &g) in z.iter().zip(&a).zip(&ga) {
            let (zd, s) = (zi as f64, 1.0 / (1.0 + (-(zi as f64)).exp()));
            assert!(
                (y as f64 - zd * s).abs() <= 1e-6 * (1.0 + zd.abs()),
                "silu({zi})"
            );
            let d = 1.5 * s * (1.0 + zd * (1.0 - s));
            assert!(
                (g as f64 - d).abs() <= 1e-6 * (1.0 + d.abs()),
                "silu'({zi})"
            );
        }
    }
}
