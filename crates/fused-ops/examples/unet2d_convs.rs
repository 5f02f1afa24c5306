//! Fused conv2d forward at the convolution shapes of the DDPM CIFAR10 `UNet2DModel` (issue 14's
//! benchmark network), one JSON line per shape: wall and on-CPU time of the calling thread
//! (median of REPS calls) and the multiply-add rate. `bench/diffusion/unet2d_convs_torch.py`
//! prints the same lines for PyTorch's `F.conv2d`; `bench/diffusion/unet2d_convs.sh` runs both,
//! one after the other, and prints the per-shape ratios.
//!
//! `cargo run --release -p fused-ops --example unet2d_convs -- [batch] [reps] [filter]`
//!
//! Run it at one thread (`RAYON_NUM_THREADS=1`): the on-CPU time is that of the calling thread
//! (`/proc/thread-self/schedstat`), which is where the kernels run then, and it hardly moves with
//! the machine's load.
use std::time::Instant;

use candle_core::{Device, Result, Tensor};
use fused_ops::conv::conv2d_op;

/// (cin, cout, side, k, stride, uses per forward pass)
pub const SHAPES: [(usize, usize, usize, usize, usize, usize); 16] = [
    (128, 128, 32, 3, 1, 7),
    (256, 128, 32, 3, 1, 2),
    (384, 128, 32, 3, 1, 1),
    (256, 256, 32, 3, 1, 1),
    (128, 128, 32, 3, 2, 1),
    (128, 256, 16, 3, 1, 1),
    (256, 256, 16, 3, 1, 7),
    (512, 256, 16, 3, 1, 2),
    (384, 256, 16, 3, 1, 1),
    (256, 256, 16, 3, 2, 1),
    (256, 256, 8, 3, 1, 5),
    (512, 256, 8, 3, 1, 3),
    (256, 768, 16, 1, 1, 5),
    (256, 256, 16, 1, 1, 5),
    (384, 128, 32, 1, 1, 1),
    (256, 128, 32, 1, 1, 2),
];

/// On-CPU time of the calling thread in ms (`NaN` where the file does not exist).
fn thread_cpu_ms() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(f64::NAN, |ns| ns / 1e6)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let batch: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(16);
    let reps: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    let filter = args.get(3).cloned().unwrap_or_default();
    let dev = Device::Cpu;
    for (cin, cout, side, k, stride, uses) in SHAPES {
        let name = format!("{cin}->{cout} {side}x{side} k{k} s{stride}");
        if !name.contains(&filter) {
            continue;
        }
        let x = Tensor::randn(0f32, 1.0, (batch, cin, side, side), &dev)?;
        let w = (Tensor::randn(0f32, 1.0, (cout, cin, k, k), &dev)? * 0.02)?;
        let b = Tensor::randn(0f32, 1.0, cout, &dev)?;
        let y = conv2d_op(&x, &w, Some(&b), stride, k / 2)?; // warm-up
        let (ho, wo) = (y.dim(2)?, y.dim(3)?);
        let mut wall = Vec::with_capacity(reps);
        let mut cpu = Vec::with_capacity(reps);
        for _ in 0..reps {
            let (t0, c0) = (Instant::now(), thread_cpu_ms());
            std::hint::black_box(conv2d_op(&x, &w, Some(&b), stride, k / 2)?);
            wall.push(t0.elapsed().as_secs_f64() * 1e3);
            cpu.push(thread_cpu_ms() - c0);
        }
        let macs = (batch * cout * ho * wo * cin * k * k) as f64;
        let cpu_ms = median(cpu);
        println!(
            "{{\"shape\": \"{name}\", \"uses\": {uses}, \"wall_ms\": {:.2}, \"cpu_ms\": {cpu_ms:.2}, \"gmacs\": {:.1}}}",
            median(wall),
            macs / cpu_ms / 1e6
        );
    }
    Ok(())
}
