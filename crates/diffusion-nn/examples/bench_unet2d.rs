//! Times a diffusers `UNet2DModel` folder in kexue: one forward pass at batch B (ms, median of
//! `passes`) and a 10-step Analytic-DDPM sampling run of B images through the `diffusion` core
//! (Γ fixed at 1: the timing does not depend on its value).
//!
//! `cargo run --release -p diffusion-nn --example bench_unet2d -- DIR [batch] [passes]
//! [--composed]` prints one JSON object; `bench/diffusion/unet2d.sh` calls it interleaved with
//! diffusers/PyTorch on the same folder. `--composed` switches the fused CPU kernels off.

use std::time::Instant;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use candle_core::{DType, Tensor};
use diffusion::analytic::Gamma;
use diffusion::{Sampler, plan};
use diffusion_nn::Device;
use diffusion_nn::diffusers::{self, ClassLabels, EpsView};
use rand::SeedableRng;

/// CPU time (user + system, all threads) of this process in ms, from `/proc/self/stat`
/// (clock ticks of 10 ms); NaN where that file does not exist. Unlike wall time it barely
/// moves with the machine's load, so it is the steadier measure on a shared machine.
fn cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which may hold spaces) start at the last ')'.
    let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
        return f64::NAN;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): utime and stime are fields 14 and 15.
    match (
        f.get(11).map(|s| s.parse::<f64>()),
        f.get(12).map(|s| s.parse::<f64>()),
    ) {
        (Some(Ok(u)), Some(Ok(s))) => (u + s) * 10.0,
        _ => f64::NAN,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().collect();
    let composed = args.iter().any(|a| a == "--composed");
    args.retain(|a| a != "--composed");
    fused_ops::set_enabled(!composed);
    let dir = std::path::PathBuf::from(
        args.get(1)
            .ok_or("usage: bench_unet2d DIR [batch] [passes]")?,
    );
    let batch: usize = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(16);
    let passes: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(5);
    let sample_steps: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(10);
    let dev = Device::Cpu;
    let pre = diffusers::load(&dir, &dev)?;
    let c = pre.unet.config().clone();
    let (h, w) = c.sample_size;
    let x = Tensor::randn(0f32, 1.0, (batch, c.in_channels, h, w), &dev)?.to_dtype(DType::F32)?;
    let t = vec![500.0; batch];
    pre.unet.forward(&x, &t, None)?; // warm-up
    let mut fwd = Vec::with_capacity(passes);
    let mut fwd_cpu = Vec::with_capacity(passes);
    for _ in 0..passes {
        let (start, cpu0) = (Instant::now(), cpu_ms());
        let y = pre.unet.forward(&x, &t, None)?;
        std::hint::black_box(y);
        fwd.push(start.elapsed().as_secs_f64() * 1e3);
        fwd_cpu.push(cpu_ms() - cpu0);
    }
    let sample_ms = if sample_steps > 0 {
        let schedule = pre.scheduler.schedule()?;
        let trajectory = pre.scheduler.trajectory(sample_steps)?;
        let gamma = Gamma::from_fn(&schedule, |_| 1.0)?;
        let steps = plan(
            &schedule,
            &trajectory,
            &pre.scheduler.plan_config(Sampler::AnalyticDdpm),
            &gamma,
        )?;
        let eps = EpsView::new(
            &pre.unet,
            pre.scheduler.prediction_type,
            ClassLabels::None,
            batch,
        )?;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0);
        let mut xs = vec![0.0; batch * c.dim()];
        diffusion::standard_normal(&mut rng, &mut xs);
        let start = Instant::now();
        diffusion::sample(&eps, &steps, &mut xs, &mut rng, &mut |_| {})?;
        start.elapsed().as_secs_f64() * 1e3
    } else {
        f64::NAN
    };
    println!(
        "{{\"impl\": \"{}\", \"threads\": {}, \"params\": {}, \"batch\": {batch}, \"forward_ms\": {:.2}, \"forward_min_ms\": {:.2}, \"forward_cpu_ms\": {:.0}, \"sample_steps\": {sample_steps}, \"sample_ms\": {:.1}}}",
        if composed { "kexue-composed" } else { "kexue" },
        candle_core::utils::get_num_threads(),
        pre.unet.n_params(),
        median(fwd.clone()),
        fwd.iter().copied().fold(f64::INFINITY, f64::min),
        median(fwd_cpu),
        sample_ms
    );
    Ok(())
}
