//! Per-op profile at the reference networks' shapes: candle's composed ops vs the fused ops of
//! this crate, forward and forward+backward, in milliseconds (median over repetitions).
//!
//! `cargo run --release -p fused-ops --example op_profile [--json] [reps] [filter]`
//!
//! `filter`: only the ops whose name contains it.
//!
//! The forward runs on tracked inputs (as in a training step, so the fused ops also store what
//! their backward needs); forward+backward adds `L = Σ y ⊙ r` and `L.backward()` (that harness
//! alone is the "residual add" row, minus the add). Rows without a fused kernel (cat, the
//! time-bias add, the residual add, the loss) time the same candle ops twice: they show where the rest of
//! a step goes. `--json` prints one JSON object per op (read by
//! `bench/diffusion/ops.sh`, which joins them with `ops_torch.py`); without it, a Markdown
//! table. Threads: `RAYON_NUM_THREADS` (default: all cores).

use std::time::Instant;

use candle_core::{Device, Result, Tensor, Var};
use fused_ops::conv::conv2d_op;
use fused_ops::linear::{Activation, linear_op};
use fused_ops::norm::group_norm_op;
use fused_ops::shape::upsample_nearest2x;

type OpFn = Box<dyn Fn(&[Tensor]) -> Result<Tensor>>;

/// One profiled op: a name shared with `ops_torch.py`, its input shapes and the computation.
struct Case {
    op: String,
    shape: String,
    inputs: Vec<Vec<usize>>,
    f: OpFn,
}

fn case(op: &str, shape: &str, inputs: &[&[usize]], f: OpFn) -> Case {
    Case {
        op: op.to_string(),
        shape: shape.to_string(),
        inputs: inputs.iter().map(|s| s.to_vec()).collect(),
        f,
    }
}

fn linear_case(net: &str, b: usize, i: usize, o: usize, act: Activation) -> Case {
    let name = match act {
        Activation::Identity => format!("{net} linear {i}→{o}"),
        Activation::Silu => format!("{net} linear+silu {i}→{o}"),
    };
    case(
        &name,
        &format!("[{b},{i}]"),
        &[&[b, i], &[o, i], &[o]],
        Box::new(move |t| linear_op(&t[0], &t[1], Some(&t[2]), act)),
    )
}

fn norm_case(b: usize, c: usize, hw: usize) -> Case {
    case(
        &format!("unet groupnorm+silu {c}ch {hw}×{hw}"),
        &format!("[{b},{c},{hw},{hw}]"),
        &[&[b, c, hw, hw], &[c], &[c]],
        Box::new(move |t| group_norm_op(&t[0], &t[1], &t[2], 8, 1e-5, Activation::Silu)),
    )
}

fn conv_case(b: usize, cin: usize, cout: usize, hw: usize, k: usize, stride: usize) -> Case {
    let s = if stride == 2 { " s2" } else { "" };
    case(
        &format!("unet conv{k}×{k}{s} {cin}→{cout} {hw}×{hw}"),
        &format!("[{b},{cin},{hw},{hw}]"),
        &[&[b, cin, hw, hw], &[cout, cin, k, k], &[cout]],
        Box::new(move |t| conv2d_op(&t[0], &t[1], Some(&t[2]), stride, k / 2)),
    )
}

fn cases() -> Vec<Case> {
    let (bm, bu) = (1024, 128);
    vec![
        linear_case("mlp", bm, 66, 256, Activation::Silu),
        linear_case("mlp", bm, 256, 256, Activation::Silu),
        linear_case("mlp", bm, 256, 2, Activation::Identity),
        linear_case("unet", bu, 64, 128, Activation::Silu),
        linear_case("unet", bu, 128, 64, Activation::Identity),
        norm_case(bu, 32, 8),
        norm_case(bu, 96, 8),
        norm_case(bu, 64, 4),
        norm_case(bu, 128, 4),
        conv_case(bu, 32, 32, 8, 3, 1),
        conv_case(bu, 96, 32, 8, 3, 1),
        conv_case(bu, 96, 32, 8, 1, 1),
        conv_case(bu, 64, 64, 4, 3, 1),
        conv_case(bu, 128, 64, 4, 3, 1),
        conv_case(bu, 32, 32, 8, 3, 2),
        case(
            "unet upsample nearest×2",
            "[128,64,4,4]",
            &[&[bu, 64, 4, 4]],
            Box::new(|t| upsample_nearest2x(&t[0])),
        ),
        case(
            "unet cat channels",
            "[128,64,8,8]+[128,32,8,8]",
            &[&[bu, 64, 8, 8], &[bu, 32, 8, 8]],
            Box::new(|t| Tensor::cat(&[&t[0], &t[1]], 1)),
        ),
        case(
            "unet time-bias add",
            "[128,32,8,8]+[128,32]",
            &[&[bu, 32, 8, 8], &[bu, 32]],
            Box::new(|t| t[0].broadcast_add(&t[1].unsqueeze(2)?.unsqueeze(3)?)),
        ),
        case(
            "unet residual add",
            "[128,32,8,8]",
            &[&[bu, 32, 8, 8], &[bu, 32, 8, 8]],
            Box::new(|t| &t[0] + &t[1]),
        ),
        case(
            "unet loss mse",
            "[128,64]",
            &[&[bu, 64], &[bu, 64]],
            Box::new(|t| (&t[0] - &t[1])?.sqr()?.sum(1)?.mean(0)),
        ),
    ]
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Median ms of the forward and of forward + backward.
fn time(c: &Case, fused: bool, reps: usize) -> Result<(f64, f64)> {
    fused_ops::set_enabled(fused);
    let vars: Vec<Var> = c
        .inputs
        .iter()
        .map(|s| Var::randn(0f32, 1.0, s.as_slice(), &Device::Cpu))
        .collect::<Result<_>>()?;
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y0 = (c.f)(&ts)?;
    let r = Tensor::randn(0f32, 1.0, y0.shape(), &Device::Cpu)?;
    let (mut fwd, mut both) = (Vec::new(), Vec::new());
    for k in 0..reps + 3 {
        let t0 = Instant::now();
        let y = (c.f)(&ts)?;
        let t1 = Instant::now();
        let loss = (&y * &r)?.sum_all()?;
        let grads = loss.backward()?;
        let t2 = Instant::now();
        std::hint::black_box(grads);
        if k >= 3 {
            fwd.push((t1 - t0).as_secs_f64() * 1e3);
            both.push((t2 - t0).as_secs_f64() * 1e3);
        }
    }
    Ok((median(fwd), median(both)))
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let reps: usize = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(20)
        .max(1);
    let filter = args
        .iter()
        .find(|a| *a != "--json" && a.parse::<usize>().is_err())
        .cloned()
        .unwrap_or_default();
    let threads = candle_core::utils::get_num_threads();
    if !json {
        println!("threads: {threads}, median of {reps} repetitions, ms");
        println!();
        println!(
            "| op | input | composed fwd | fused fwd | speed-up | composed fwd+bwd | fused fwd+bwd | speed-up |"
        );
        println!("|---|---|---|---|---|---|---|---|");
    }
    for c in cases().into_iter().filter(|c| c.op.contains(&filter)) {
        // Interleave: composed, fused, composed, fused; keep the better of each pair.
        let (cf1, cb1) = time(&c, false, reps)?;
        let (ff1, fb1) = time(&c, true, reps)?;
        let (cf2, cb2) = time(&c, false, reps)?;
        let (ff2, fb2) = time(&c, true, reps)?;
        let (cf, cb, ff, fb) = (cf1.min(cf2), cb1.min(cb2), ff1.min(ff2), fb1.min(fb2));
        if json {
            println!(
                "{{\"impl\": \"kexue\", \"op\": \"{}\", \"shape\": \"{}\", \"threads\": {threads}, \
                 \"composed_fwd_ms\": {cf:.4}, \"fused_fwd_ms\": {ff:.4}, \
                 \"composed_fwdbwd_ms\": {cb:.4}, \"fused_fwdbwd_ms\": {fb:.4}}}",
                c.op, c.shape
            );
        } else {
            println!(
                "| {} | {} | {cf:.3} | {ff:.3} | {:.1}× | {cb:.3} | {fb:.3} | {:.1}× |",
                c.op,
                c.shape,
                cf / ff,
                cb / fb
            );
        }
    }
    fused_ops::set_enabled(true);
    Ok(())
}
