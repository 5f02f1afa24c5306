//! Times the benchmark's reference networks in kexue: training ms/step (the real training loop:
//! forward, L_simple, backward, clipping, AdamW, EMA) and sampling ms/pass (one network
//! evaluation plus the DDPM update of the `diffusion` core on the whole batch).
//!
//! `cargo run --release -p diffusion-nn --example bench_nets -- mlp|unet [train_steps] [passes]
//! [--composed]` prints one JSON object; `bench/diffusion/run.sh` calls it interleaved with
//! PyTorch. `--composed` (or `KEXUE_FUSED=0`) switches the fused CPU kernels of `fused-ops` off,
//! so the networks run on candle's composed ops (the "before" of issue 8); the JSON's `impl` is
//! then `kexue-composed`.

use std::time::Instant;

// The same allocator as the `kexue` binary, so the bench times what ships.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use diffusion::analytic::Gamma;
use diffusion::{PlanConfig, Sampler, Schedule, Trajectory};
use diffusion_nn::data::{DataShape, DataSpec, Toy};
use diffusion_nn::train::{ScheduleConfig, Start, TrainConfig, TrainSetup, train};
use diffusion_nn::{Device, EpsNetConfig, MlpConfig, Model, NetPredictor, UnetConfig};
use rand::SeedableRng;

/// The median, NaN for no values (e.g. `train_steps` 1: the only step also writes the
/// checkpoint and is left out).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().collect();
    let composed = args.iter().any(|a| a == "--composed")
        || std::env::var("KEXUE_FUSED").is_ok_and(|v| v == "0");
    args.retain(|a| a != "--composed");
    fused_ops::set_enabled(!composed);
    let impl_name = if composed { "kexue-composed" } else { "kexue" };
    let net = args.get(1).map(String::as_str).unwrap_or("mlp");
    let train_steps: u64 = args.get(2).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let passes: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(30);
    let warmup = 5u64;
    let (config, batch, data) = match net {
        "mlp" => (
            EpsNetConfig::Mlp(MlpConfig::reference(2)),
            1024,
            diffusion_nn::data::load(&DataSpec::Toy(Toy::Moons))?,
        ),
        "unet" => (
            EpsNetConfig::Unet(UnetConfig::reference(1, 8, 8)),
            128,
            diffusion_nn::data::load(&DataSpec::Digits)?,
        ),
        other => return Err(format!("unknown network `{other}` (mlp or unet)").into()),
    };
    let device = Device::Cpu;

    // Training: per-step wall times from the progress callback, after `warmup` steps.
    let dir = std::env::temp_dir().join(format!("kexue-bench-{net}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let setup = TrainSetup {
        model: config.clone(),
        schedule: ScheduleConfig::LINEAR_1000,
        train: TrainConfig {
            steps: warmup + train_steps,
            batch_size: batch,
            checkpoint_every: u64::MAX,
            ..TrainConfig::default()
        },
    };
    let mut stamps = Vec::new();
    let mut last = Instant::now();
    train(&setup, &data, &dir, Start::Fresh, &device, &mut |p| {
        let now = Instant::now();
        // The last step also writes the checkpoint: leave it out.
        if p.step > warmup && p.step < p.total {
            stamps.push((now - last).as_secs_f64() * 1e3);
        }
        last = now;
    })?;
    let _ = std::fs::remove_dir_all(&dir);

    // Sampling: DDPM steps of the core over one batch from N(0, I).
    let model = Model::new(&config, 0, &device)?;
    let schedule = Schedule::linear(1000)?;
    let trajectory = Trajectory::even(1000, passes + 1)?;
    let steps = diffusion::plan(
        &schedule,
        &trajectory,
        &PlanConfig::exact(Sampler::DdpmBeta),
        &Gamma::unknown(1000),
    )?;
    let predictor = NetPredictor::new(&model, batch);
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let mut x = vec![0.0; batch * config.dim()];
    diffusion::standard_normal(&mut rng, &mut x);
    let mut pass_ms = Vec::new();
    let mut t0 = Instant::now();
    diffusion::sample(&predictor, &steps, &mut x, &mut rng, &mut |_| {
        let now = Instant::now();
        pass_ms.push((now - t0).as_secs_f64() * 1e3);
        t0 = now;
    })?;
    let pass_ms: Vec<f64> = pass_ms.into_iter().skip(2).collect();
    let shape = match data.shape {
        DataShape::Vector { dim } => format!("[{batch}, {dim}]"),
        DataShape::Image {
            channels,
            height,
            width,
        } => {
            format!("[{batch}, {channels}, {height}, {width}]")
        }
    };
    println!(
        "{{\"impl\": \"{impl_name}\", \"net\": \"{net}\", \"params\": {}, \"batch\": {batch}, \
         \"shape\": \"{shape}\", \"train_ms_per_step\": {:.3}, \"sample_ms_per_pass\": {:.3}, \
         \"train_steps\": {}, \"passes\": {}}}",
        model.n_params(),
        median(stamps.clone()),
        median(pass_ms.clone()),
        stamps.len(),
        pass_ms.len()
    );
    Ok(())
}
