//! Criterion benches of the reference networks: one training step (forward + L_simple +
//! backward) and one sampling pass (forward only) for the MLP (batch 1024, d = 2) and the
//! U-Net (batch 128, 8×8×1), with the fused CPU ops of `fused-ops` (the default) and on
//! candle's composed ops (`…_composed`, `fused_ops::with_enabled(false, …)`).

use std::hint::black_box;

use candle_core::{Device, Tensor};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use diffusion_nn::{EpsNetConfig, MlpConfig, Model, UnetConfig};

fn bench_net(c: &mut Criterion, name: &str, config: EpsNetConfig, batch: usize) {
    let device = Device::Cpu;
    let model = Model::new(&config, 0, &device).expect("reference network builds");
    let d = config.dim();
    let x = Tensor::randn(0f32, 1.0, (batch, d), &device).expect("input");
    let eps = Tensor::randn(0f32, 1.0, (batch, d), &device).expect("noise");
    let t: Vec<f64> = (0..batch).map(|i| (1 + i % 1000) as f64).collect();
    let mut group = c.benchmark_group(format!("net/{name}"));
    group.throughput(Throughput::Elements(batch as u64));
    group.sample_size(10);
    for (suffix, fused) in [("", true), ("_composed", false)] {
        group.bench_function(format!("forward{suffix}"), |b| {
            b.iter(|| {
                fused_ops::with_enabled(fused, || {
                    black_box(model.forward(black_box(&x), &t).expect("forward"))
                })
            })
        });
        group.bench_function(format!("forward_backward{suffix}"), |b| {
            b.iter(|| {
                fused_ops::with_enabled(fused, || {
                    let out = model.forward(black_box(&x), &t).expect("forward");
                    let loss = (out - &eps)
                        .and_then(|e| e.sqr()?.sum(1)?.mean(0))
                        .expect("loss");
                    black_box(loss.backward().expect("backward"))
                })
            })
        });
    }
    group.finish();
}

fn benches(c: &mut Criterion) {
    bench_net(c, "mlp", EpsNetConfig::Mlp(MlpConfig::reference(2)), 1024);
    bench_net(
        c,
        "unet",
        EpsNetConfig::Unet(UnetConfig::reference(1, 8, 8)),
        128,
    );
}

criterion_group!(nets, benches);
criterion_main!(nets);
