//! Per-op timings of the fused conv2d against candle's composed conv2d at the reference U-Net's
//! shapes (8×8×1 images, batch 128 for training, 256 for sampling).
//!
//! ```text
//! cargo run --release -p fused-ops --example conv_profile [-- REPS]
//! ```
//!
//! Rows: candle's forward (`conv2d` + bias `broadcast_add`), its input gradient
//! (`conv_transpose2d`, as candle's backprop computes it), kernel gradient (the transposed
//! `conv2d` of candle's backprop), bias gradient (sum over batch and pixels); the fused forward
//! and the fused backward (input, kernel and bias gradients in one op); "bwd" columns are
//! `y.backward()` (output gradient 1, as candle seeds it) minus the forward, so they include
//! candle's gradient bookkeeping (a zero tensor plus an add per gradient) on both sides. Each time is the median of REPS (default 30)
//! runs, candle and fused runs interleaved. The last line sums every conv of one U-Net train
//! step (forward + backward) and one sampling pass (forward at batch 256).
use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use fused_ops::conv::conv2d_op;

/// (label, cin, cout, side, k, stride, uses per U-Net pass)
const SHAPES: [(&str, usize, usize, usize, usize, usize, usize); 12] = [
    ("conv_in", 1, 32, 8, 3, 1, 1),
    ("res 32→32 8×8", 32, 32, 8, 3, 1, 6),
    ("down 32→32 s2", 32, 32, 8, 3, 2, 1),
    ("res 32→64 4×4", 32, 64, 4, 3, 1, 1),
    ("res 64→64 4×4", 64, 64, 4, 3, 1, 5),
    ("skip 1×1 32→64", 32, 64, 4, 1, 1, 1),
    ("res 128→64 4×4", 128, 64, 4, 3, 1, 2),
    ("skip 1×1 128→64", 128, 64, 4, 1, 1, 2),
    ("up 64→64 8×8", 64, 64, 8, 3, 1, 1),
    ("res 96→32 8×8", 96, 32, 8, 3, 1, 1),
    ("res 64→32 8×8", 64, 32, 8, 3, 1, 1),
    ("conv_out 32→1", 32, 1, 8, 3, 1, 1),
];
// The two 1×1 skips at 8×8 (96→32, 64→32) are cheap; they are counted with the k=3 rows.

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn time<T>(f: &impl Fn() -> Result<T>) -> Result<f64> {
    let t = Instant::now();
    std::hint::black_box(f()?);
    Ok(t.elapsed().as_secs_f64() * 1e3)
}

fn rand(shape: &[usize]) -> Result<Tensor> {
    Tensor::rand(-1f32, 1f32, shape, &Device::Cpu)
}

fn main() -> Result<()> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(30);
    println!(
        "| op | B | candle fwd | fused fwd | × | candle dx | candle dw | candle db | candle bwd | fused bwd | × |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    let (mut tot_c, mut tot_f, mut samp_c, mut samp_f) = (0.0, 0.0, 0.0, 0.0);
    for &(label, cin, cout, side, k, stride, uses) in &SHAPES {
        for batch in [128usize, 256] {
            let pad = k / 2;
            let x = Var::from_tensor(&rand(&[batch, cin, side, side])?)?;
            let w = Var::from_tensor(&rand(&[cout, cin, k, k])?)?;
            let b = Var::from_tensor(&rand(&[cout])?)?;
            let so = (side + 2 * pad - k) / stride + 1;
            let g = rand(&[batch, cout, so, so])?;
            let out_pad = side - ((so - 1) * stride + k - 2 * pad);
            let c_fwd = || {
                x.conv2d(&w, pad, stride, 1, 1)?
                    .broadcast_add(&b.reshape((1, cout, 1, 1))?)
            };
            let f_fwd = || conv2d_op(&x, &w, Some(&b), stride, pad);
            let c_dx = || g.conv_transpose2d(&w, pad, out_pad, stride, 1);
            let c_dw = || {
                x.transpose(0, 1)?
                    .conv2d(&g.transpose(0, 1)?, pad, 1, stride, 1)?
                    .transpose(0, 1)
            };
            let c_db = || g.sum((0, 2, 3));
            let c_step = || c_fwd()?.backward();
            let f_step = || f_fwd()?.backward();
            let mut t: Vec<Vec<f64>> = (0..7).map(|_| Vec::with_capacity(reps)).collect();
            for r in 0..reps + 2 {
                let row = [
                    time(&c_fwd)?,
                    time(&f_fwd)?,
                    time(&c_dx)?,
                    time(&c_dw)?,
                    time(&c_db)?,
                    time(&c_step)?,
                    time(&f_step)?,
                ];
                if r >= 2 {
                    for (v, x) in t.iter_mut().zip(row) {
                        v.push(x);
                    }
                }
            }
            let m: Vec<f64> = t.into_iter().map(median_ms).collect();
            let (cf, ff, cdx, cdw, cdb) = (m[0], m[1], m[2], m[3], m[4]);
            let cbwd = (m[5] - cf).max(0.0);
            let fbwd = (m[6] - ff).max(0.0);
            println!(
                "| {label} | {batch} | {cf:.3} | {ff:.3} | {:.1} | {cdx:.3} | {cdw:.3} | {cdb:.3} | {cbwd:.3} | {fbwd:.3} | {:.1} |",
                cf / ff,
                cbwd / fbwd,
            );
            if batch == 128 {
                tot_c += uses as f64 * m[5];
                tot_f += uses as f64 * m[6];
            } else {
                samp_c += uses as f64 * cf;
                samp_f += uses as f64 * ff;
            }
        }
    }
    println!(
        "\nU-Net convs per train step (fwd+bwd, B=128): candle {tot_c:.1} ms, fused {tot_f:.1} ms ({:.1}×)",
        tot_c / tot_f
    );
    println!(
        "U-Net convs per sampling pass (fwd, B=256): candle {samp_c:.1} ms, fused {samp_f:.1} ms ({:.1}×)",
        samp_c / samp_f
    );
    Ok(())
}
