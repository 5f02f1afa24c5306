//! Criterion benches of the fused ops (forward and forward + backward) against candle's
//! composed ops, at the reference networks' shapes: `linear_silu/{composed,fused}/…` (the MLP's
//! 256→256 hidden layer, batch 1024) and `group_norm_silu/{composed,fused}/…` (the U-Net's
//! GroupNorm(8)+SiLU on `[128, 32, 8, 8]`), `conv*/{composed,fused}/…` (the U-Net's conv2d
//! shapes at batch 128). `cargo bench -p fused-ops`.
use std::hint::black_box;

use candle_core::{Device, Result, Tensor, Var};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use fused_ops::conv::conv2d_op;
use fused_ops::linear::{Activation, linear_op};
use fused_ops::norm::group_norm_op;

type OpFn = fn(&[Tensor]) -> Result<Tensor>;

fn bench_op(c: &mut Criterion, name: &str, shapes: &[&[usize]], f: OpFn) {
    let vars: Vec<Var> = shapes
        .iter()
        .map(|s| Var::randn(0f32, 1.0, *s, &Device::Cpu).expect("input"))
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let r = Tensor::randn(0f32, 1.0, f(&ts).expect("op").shape(), &Device::Cpu).expect("r");
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(r.elem_count() as u64));
    group.sample_size(20);
    for (label, fused) in [("composed", false), ("fused", true)] {
        group.bench_function(format!("{label}/forward"), |b| {
            b.iter(|| fused_ops::with_enabled(fused, || black_box(f(&ts).expect("forward"))))
        });
        group.bench_function(format!("{label}/forward_backward"), |b| {
            b.iter(|| {
                fused_ops::with_enabled(fused, || {
                    let y = f(&ts).expect("forward");
                    let loss = (&y * &r).and_then(|p| p.sum_all()).expect("loss");
                    black_box(loss.backward().expect("backward"))
                })
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_op(
        c,
        "linear_silu",
        &[&[1024, 256], &[256, 256], &[256]],
        |t| linear_op(&t[0], &t[1], Some(&t[2]), Activation::Silu),
    );
    bench_op(
        c,
        "group_norm_silu",
        &[&[128, 32, 8, 8], &[32], &[32]],
        |t| group_norm_op(&t[0], &t[1], &t[2], 8, 1e-5, Activation::Silu),
    );
    // conv2d at the U-Net's shapes (batch 128): 3×3 at 8×8 and 4×4, 3×3 stride 2, 1×1 skip.
    bench_op(
        c,
        "conv3x3_32_8x8",
        &[&[128, 32, 8, 8], &[32, 32, 3, 3], &[32]],
        |t| conv2d_op(&t[0], &t[1], Some(&t[2]), 1, 1),
    );
    bench_op(
        c,
        "conv3x3_128_4x4",
        &[&[128, 128, 4, 4], &[64, 128, 3, 3], &[64]],
        |t| conv2d_op(&t[0], &t[1], Some(&t[2]), 1, 1),
    );
    bench_op(
        c,
        "conv3x3_s2_32_8x8",
        &[&[128, 32, 8, 8], &[32, 32, 3, 3], &[32]],
        |t| conv2d_op(&t[0], &t[1], Some(&t[2]), 2, 1),
    );
    bench_op(
        c,
        "conv1x1_96_8x8",
        &[&[128, 96, 8, 8], &[32, 96, 1, 1], &[32]],
        |t| conv2d_op(&t[0], &t[1], Some(&t[2]), 1, 0),
    );
}

criterion_group!(group, benches);
criterion_main!(group);
