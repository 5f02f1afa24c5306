//! diffusers folders (issue 14): network outputs, schedules, timesteps and scheduler steps
//! against the PyTorch/diffusers fixtures of `scripts/make_diffusers_fixtures.py`
//! (`tests/data/diffusers/`, see its README), and one test per refusal.
//!
//! Tolerances: network outputs are f32 computed in another order than PyTorch's (fused
//! kernels, another GEMM), so they agree to f32 rounding accumulated over ~30 layers: the bound
//! is 1e-4 relative to the largest output. Schedules and timesteps are compared exactly.
//! Scheduler steps: 1e-4 relative to the largest value, f64 steps on f32 network outputs.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use diffusion::analytic::Gamma;
use diffusion::{EpsPredictor, Sampler, plan};
use diffusion_nn::data::DataShape;
use diffusion_nn::diffusers::{
    self, ClassLabels, EpsView, Layout, PredictionType, SchedulerConfig, UNet2DConfig,
    learned_range_variance,
};

use super::scratch;

fn data(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/diffusers")
        .join(rel)
}

fn expected(model: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(data(model).join("expected.safetensors"), &Device::Cpu).unwrap()
}

fn f32s(t: &Tensor) -> Vec<f32> {
    t.to_dtype(DType::F32)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

fn ints(t: &Tensor) -> Vec<i64> {
    t.to_dtype(DType::I64)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap()
}

/// max |a − b| / max |b|.
fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = b.iter().fold(0f64, |m, v| m.max(v.abs()));
    let err = a.iter().zip(b).fold(0f64, |m, (x, y)| m.max((x - y).abs()));
    err / scale
}

fn to_f64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&x| x as f64).collect()
}

/// The network outputs of `folder` for the fixture's inputs, fused and composed.
fn check_outputs(folder: &str) {
    let pre = diffusers::load(&data(folder), &Device::Cpu).unwrap();
    let exp = expected(folder);
    let labels: Option<Vec<u32>> = exp
        .get("labels")
        .map(|t| ints(t).iter().map(|&l| l as u32).collect());
    for fused in [true, false] {
        for k in 0..2 {
            let t: Vec<f64> = ints(&exp[&format!("t{k}")])
                .iter()
                .map(|&v| v as f64)
                .collect();
            let y = fused_ops::with_enabled(fused, || {
                pre.unet.forward(&exp["x"], &t, labels.as_deref()).unwrap()
            });
            let want = &exp[&format!("y{k}")];
            assert_eq!(y.dims(), want.dims());
            let err = rel_err(&to_f64(&f32s(&y)), &to_f64(&f32s(want)));
            assert!(
                err < 1e-4,
                "{folder} t{k} fused={fused}: relative error {err:e}"
            );
        }
    }
}

#[test]
fn ddpm_style_outputs_match_pytorch() {
    check_outputs("ddpm");
}

#[test]
fn iddpm_style_outputs_match_pytorch() {
    check_outputs("iddpm");
}

#[test]
fn vpred_pipeline_outputs_match_pytorch() {
    check_outputs("vpred");
}

#[test]
fn folders_are_detected_with_their_scheduler() {
    assert_eq!(diffusers::detect(&data("ddpm")), Some(Layout::Model));
    assert_eq!(diffusers::detect(&data("vpred")), Some(Layout::Pipeline));
    assert_eq!(diffusers::detect(&data("")), None);
    let v = diffusers::load(&data("vpred"), &Device::Cpu).unwrap();
    assert_eq!(v.layout, Layout::Pipeline);
    assert_eq!(v.scheduler.prediction_type, PredictionType::VPrediction);
    assert_eq!(v.scheduler.class_name, "DDIMScheduler");
    assert_eq!(v.unet.n_params(), 40_489); // as PyTorch counts them (script output)
    let d = diffusers::load(&data("ddpm"), &Device::Cpu).unwrap();
    assert_eq!(d.unet.n_params(), 103_875);
    let i = diffusers::load(&data("iddpm"), &Device::Cpu).unwrap();
    assert_eq!(i.unet.n_params(), 53_622);
    assert!(i.unet.config().learned_variance());
}

#[test]
fn alphas_cumprod_and_timesteps_match_diffusers_exactly() {
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("schedules.json")).unwrap()).unwrap();
    let fixture =
        candle_core::safetensors::load(data("schedules.safetensors"), &Device::Cpu).unwrap();
    let mut n_compared = 0;
    for (name, cfg) in index.as_object().unwrap() {
        let mut cfg = cfg.clone();
        let sched = SchedulerConfig::from_json(&cfg.to_string(), Path::new(name)).unwrap();
        let want = f32s(&fixture[&format!("{name}_alphas_cumprod")]);
        let got = sched.alphas_cumprod().unwrap();
        let bad: Vec<usize> = (0..want.len()).filter(|&i| want[i] != got[i]).collect();
        assert!(bad.is_empty(), "{name}: alphas_cumprod differs at {bad:?}");
        let n = sched.num_train_timesteps;
        for (spacing, offset) in [
            ("leading", 0),
            ("leading", 1),
            ("trailing", 0),
            ("linspace", 0),
        ] {
            cfg["timestep_spacing"] = spacing.into();
            cfg["steps_offset"] = offset.into();
            let s = SchedulerConfig::from_json(&cfg.to_string(), Path::new(name)).unwrap();
            for k in [1, 3, 7, 10, n / 3] {
                let want: Vec<usize> = ints(&fixture[&format!("{name}_{spacing}{offset}_{k}")])
                    .iter()
                    .map(|&t| t as usize)
                    .collect();
                assert_eq!(
                    s.timesteps(k).unwrap(),
                    want,
                    "{name} {spacing}{offset} K={k}"
                );
                n_compared += 1;
                if want[0] >= n {
                    // diffusers lists τ = N (leading spacing pushed by steps_offset) and fails
                    // when it steps there; kexue has no such trajectory.
                    assert!(s.trajectory(k).is_err());
                    continue;
                }
                let traj = s.trajectory(k).unwrap();
                let mut back: Vec<usize> = traj.steps().iter().map(|t| t - 1).collect();
                back.reverse();
                assert_eq!(back, want);
            }
        }
    }
    assert_eq!(n_compared, 5 * 4 * 5);
}

/// Runs kexue's `sampler` steps one at a time on the fixture's x_T and compares every state
/// with diffusers' (`noise` gives the fixed z of each step; none for deterministic steps).
fn check_steps(
    folder: &str,
    prefix: &str,
    sched: &SchedulerConfig,
    sampler: Sampler,
    labels: ClassLabels,
    learned: bool,
) {
    let pre = diffusers::load(&data(folder), &Device::Cpu).unwrap();
    let exp = expected(folder);
    let timesteps: Vec<usize> = ints(&exp[&format!("{prefix}_timesteps")])
        .iter()
        .map(|&t| t as usize)
        .collect();
    let k = timesteps.len();
    assert_eq!(sched.timesteps(k).unwrap(), timesteps);
    let schedule = sched.schedule().unwrap();
    let trajectory = sched.trajectory(k).unwrap();
    let steps = plan(
        &schedule,
        &trajectory,
        &sched.plan_config(sampler),
        &Gamma::unknown(schedule.n_steps()),
    )
    .unwrap();
    let view = EpsView::new(&pre.unet, sched.prediction_type, labels, 8).unwrap();
    let mut x = to_f64(&f32s(&exp[&format!("{prefix}_x")]));
    let mut eps = vec![0.0; x.len()];
    let mut v = vec![0.0; x.len()];
    for (i, step) in steps.iter().enumerate() {
        assert_eq!(step.t, timesteps[i] + 1);
        if learned {
            view.predict_eps_and_variance(&x, step.level(), &mut eps, &mut v)
                .unwrap();
        } else {
            view.predict_eps(&x, step.level(), &mut eps).unwrap();
        }
        let noise = exp
            .get(&format!("{prefix}_noise{i}"))
            .map(|t| to_f64(&f32s(t)));
        for j in 0..x.len() {
            let mean = step.mean(x[j], eps[j]);
            let var = if learned {
                learned_range_variance(&schedule, step.s, step.t, v[j])
            } else {
                step.variance
            };
            let z = match (&noise, step.s) {
                (Some(n), s) if s > 0 => n[j],
                _ => 0.0,
            };
            x[j] = mean + var.sqrt() * z;
        }
        let want = to_f64(&f32s(&exp[&format!("{prefix}_{i}")]));
        let err = rel_err(&x, &want);
        assert!(
            err < 1e-4,
            "{folder} {prefix} step {i} (t = {}): relative error {err:e}",
            step.t
        );
    }
}

#[test]
fn ddim_steps_match_diffusers_with_clipping() {
    // DDIMScheduler, leading spacing with steps_offset 1, clip_sample: kexue's DDIM with the
    // clipped x̂₀ and the network's ε̂ in the direction term (diffusers' default).
    let sched = SchedulerConfig::from_file(&data("ddpm/scheduler_config.json")).unwrap();
    assert!(sched.clip_sample && sched.steps_offset == 1);
    check_steps(
        "ddpm",
        "ddim",
        &sched,
        Sampler::Ddim { eta: 0.0 },
        ClassLabels::None,
        false,
    );
}

#[test]
fn ddim_steps_match_diffusers_on_v_prediction() {
    let sched = SchedulerConfig::from_file(&data("vpred/scheduler/scheduler_config.json")).unwrap();
    check_steps(
        "vpred",
        "ddim",
        &sched,
        Sampler::Ddim { eta: 0.0 },
        ClassLabels::None,
        false,
    );
}

#[test]
fn ddpm_beta_steps_match_diffusers_fixed_large_with_fixed_noise() {
    // DDPMScheduler(variance_type="fixed_large", clip_sample=True) on the same betas.
    let mut sched = SchedulerConfig::from_file(&data("ddpm/scheduler_config.json")).unwrap();
    sched.steps_offset = 0;
    check_steps(
        "ddpm",
        "ddpm",
        &sched,
        Sampler::DdpmBeta,
        ClassLabels::None,
        false,
    );
}

#[test]
fn learned_range_steps_match_diffusers_on_class_conditional_model() {
    let sched = SchedulerConfig::from_file(&data("iddpm/scheduler_config.json")).unwrap();
    let labels = ClassLabels::PerRow(vec![1, 3]);
    check_steps("iddpm", "learned", &sched, Sampler::DdpmTilde, labels, true);
}

#[test]
fn sample_prediction_is_converted_to_eps_exactly() {
    // The same network read as an x₀-predictor: ε̂ = (x_t − √ᾱ ŷ)/√(1−ᾱ) with ŷ the raw output.
    let pre = diffusers::load(&data("ddpm"), &Device::Cpu).unwrap();
    let raw = EpsView::new(&pre.unet, PredictionType::Epsilon, ClassLabels::None, 4).unwrap();
    let x0 = EpsView::new(&pre.unet, PredictionType::Sample, ClassLabels::None, 4).unwrap();
    let x: Vec<f64> = (0..2 * raw.dim())
        .map(|i| ((i * 37 % 101) as f64 / 50.0) - 1.0)
        .collect();
    let level = diffusion::NoiseLevel {
        t: 300.0,
        alpha_bar: 0.4,
    };
    let (mut y, mut e) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    raw.predict_eps(&x, level, &mut y).unwrap();
    x0.predict_eps(&x, level, &mut e).unwrap();
    for j in 0..x.len() {
        let want = (x[j] - 0.4f64.sqrt() * y[j]) / 0.6f64.sqrt();
        assert!(
            (e[j] - want).abs() <= 1e-12 * (1.0 + want.abs()),
            "{} vs {want}",
            e[j]
        );
    }
}

#[test]
fn a_diffusers_model_samples_through_the_core_loop() {
    // The module's front-door example on the fixture: 10 DDIM steps, finite output.
    let pre = diffusers::load(&data("vpred"), &Device::Cpu).unwrap();
    let schedule = pre.scheduler.schedule().unwrap();
    let trajectory = pre.scheduler.trajectory(10).unwrap();
    let config = pre.scheduler.plan_config(Sampler::Ddim { eta: 0.0 });
    let steps = plan(&schedule, &trajectory, &config, &Gamma::unknown(1000)).unwrap();
    let eps = EpsView::new(
        &pre.unet,
        pre.scheduler.prediction_type,
        ClassLabels::None,
        3,
    )
    .unwrap();
    let mut x = vec![0.5; 5 * eps.dim()];
    let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(0);
    diffusion::sample(&eps, &steps, &mut x, &mut rng, &mut |_| {}).unwrap();
    assert!(x.iter().all(|v| v.is_finite()));
}

#[test]
fn deprecated_attention_names_load_to_the_same_network() {
    // Older diffusers files name the attention tensors query/key/value/proj_attn.
    let dir = scratch("diffusers-old-names");
    let src = data("ddpm");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let map =
        candle_core::safetensors::load(src.join(diffusers::WEIGHTS_FILE), &Device::Cpu).unwrap();
    let renamed: HashMap<String, Tensor> = map
        .into_iter()
        .map(|(k, v)| {
            let k = k
                .replace(".to_q.", ".query.")
                .replace(".to_k.", ".key.")
                .replace(".to_v.", ".value.")
                .replace(".to_out.0.", ".proj_attn.");
            (k, v)
        })
        .collect();
    assert!(renamed.keys().any(|k| k.contains(".proj_attn.")));
    candle_core::safetensors::save(&renamed, dir.join(diffusers::WEIGHTS_FILE)).unwrap();
    let old = diffusers::load(&dir, &Device::Cpu).unwrap();
    let new = diffusers::load(&src, &Device::Cpu).unwrap();
    let exp = expected("ddpm");
    let t = [3.0, 400.0, 900.0];
    let a = f32s(&old.unet.forward(&exp["x"], &t, None).unwrap());
    let b = f32s(&new.unet.forward(&exp["x"], &t, None).unwrap());
    assert_eq!(a, b);
}

// ---------------------------------------------------------------- refusals

fn config_text(folder: &str) -> String {
    std::fs::read_to_string(data(folder).join("config.json")).unwrap()
}

/// `config.json` of `folder` with `edit` applied, parsed: must fail, naming `field` and `value`.
fn refused_config(folder: &str, edit: impl Fn(&mut serde_json::Value), field: &str, value: &str) {
    let mut v: serde_json::Value = serde_json::from_str(&config_text(folder)).unwrap();
    edit(&mut v);
    let err = UNet2DConfig::from_json(&v.to_string(), Path::new("config.json"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&format!("`{field}`")) && err.contains(value),
        "error should name {field} and {value}: {err}"
    );
}

#[test]
fn unsupported_block_type_is_refused_by_name() {
    refused_config(
        "ddpm",
        |v| v["down_block_types"][1] = "SkipDownBlock2D".into(),
        "down_block_types",
        "SkipDownBlock2D",
    );
    refused_config(
        "ddpm",
        |v| v["up_block_types"][0] = "AttnSkipUpBlock2D".into(),
        "up_block_types",
        "AttnSkipUpBlock2D",
    );
}

#[test]
fn cross_attention_is_refused_by_name() {
    refused_config(
        "ddpm",
        |v| v["down_block_types"][1] = "CrossAttnDownBlock2D".into(),
        "down_block_types",
        "CrossAttnDownBlock2D",
    );
    refused_config(
        "ddpm",
        |v| v["cross_attention_dim"] = 32.into(),
        "cross_attention_dim",
        "32",
    );
    refused_config(
        "ddpm",
        |v| v["_class_name"] = "UNet2DConditionModel".into(),
        "_class_name",
        "UNet2DConditionModel",
    );
    // A pipeline whose unet is a UNet2DConditionModel.
    let dir = scratch("diffusers-cond-pipeline");
    std::fs::write(
        dir.join("model_index.json"),
        r#"{"_class_name": "StableDiffusionPipeline", "unet": ["diffusers", "UNet2DConditionModel"]}"#,
    )
    .unwrap();
    let err = diffusers::load(&dir, &Device::Cpu).unwrap_err().to_string();
    assert!(
        err.contains("`unet`") && err.contains("UNet2DConditionModel"),
        "{err}"
    );
}

#[test]
fn latent_pipelines_are_refused() {
    let dir = scratch("diffusers-latent-pipeline");
    std::fs::write(
        dir.join("model_index.json"),
        r#"{"_class_name": "LDMPipeline", "unet": ["diffusers", "UNet2DModel"], "vqvae": ["diffusers", "VQModel"]}"#,
    )
    .unwrap();
    let err = diffusers::load(&dir, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("`vqvae`") && err.contains("latent"), "{err}");
}

#[test]
fn fourier_time_embedding_and_other_fields_are_refused_by_name() {
    refused_config(
        "ddpm",
        |v| v["time_embedding_type"] = "fourier".into(),
        "time_embedding_type",
        "fourier",
    );
    refused_config("ddpm", |v| v["act_fn"] = "gelu".into(), "act_fn", "gelu");
    refused_config(
        "ddpm",
        |v| v["class_embed_type"] = "timestep".into(),
        "class_embed_type",
        "timestep",
    );
    refused_config(
        "ddpm",
        |v| v["resnet_time_scale_shift"] = "ada_group".into(),
        "resnet_time_scale_shift",
        "ada_group",
    );
    refused_config(
        "ddpm",
        |v| v["out_channels"] = 5.into(),
        "out_channels",
        "5",
    );
    refused_config(
        "ddpm",
        |v| v["sample_size"] = 10.into(),
        "sample_size",
        "10",
    );
    refused_config(
        "ddpm",
        |v| v["norm_num_groups"] = 3.into(),
        "norm_num_groups",
        "3",
    );
}

#[test]
fn bin_only_folder_is_refused_with_the_conversion_command() {
    let dir = scratch("diffusers-bin-only");
    std::fs::write(dir.join("config.json"), config_text("ddpm")).unwrap();
    std::fs::write(dir.join("diffusion_pytorch_model.bin"), b"not read").unwrap();
    let err = diffusers::load(&dir, &Device::Cpu).unwrap_err().to_string();
    assert!(
        err.contains("diffusion_pytorch_model.bin") && err.contains("safe_serialization=True"),
        "{err}"
    );
}

#[test]
fn missing_unexpected_and_misshaped_tensors_are_all_named() {
    let dir = scratch("diffusers-bad-tensors");
    let src = data("ddpm");
    std::fs::copy(src.join("config.json"), dir.join("config.json")).unwrap();
    let mut map =
        candle_core::safetensors::load(src.join(diffusers::WEIGHTS_FILE), &Device::Cpu).unwrap();
    map.remove("mid_block.attentions.0.to_k.bias").unwrap();
    map.remove("conv_out.weight").unwrap();
    map.insert(
        "extra.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    let t = map["down_blocks.0.resnets.1.conv1.weight"].clone();
    map.insert(
        "down_blocks.0.resnets.1.conv1.weight".into(),
        t.narrow(0, 0, 4).unwrap(),
    );
    candle_core::safetensors::save(&map, dir.join(diffusers::WEIGHTS_FILE)).unwrap();
    let err = diffusers::load(&dir, &Device::Cpu).unwrap_err().to_string();
    for name in [
        "missing `mid_block.attentions.0.to_k.bias`",
        "missing `conv_out.weight`",
        "unexpected `extra.weight`",
        "`down_blocks.0.resnets.1.conv1.weight` has shape [4, 8, 3, 3], expected [8, 8, 3, 3]",
        "4 problems",
    ] {
        assert!(err.contains(name), "error should contain {name}: {err}");
    }
}

#[test]
fn bad_scheduler_fields_are_refused_by_name() {
    let base: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data("ddpm/scheduler_config.json")).unwrap())
            .unwrap();
    let cases: [(&str, serde_json::Value); 9] = [
        ("beta_schedule", "sigmoid".into()),
        ("prediction_type", "mu".into()),
        ("timestep_spacing", "quadratic".into()),
        ("thresholding", true.into()),
        ("rescale_betas_zero_snr", true.into()),
        ("_class_name", "ScoreSdeVeScheduler".into()),
        ("num_train_timesteps", 0.into()),
        ("beta_end", 1.5.into()),
        ("trained_betas", serde_json::json!([0.1, 0.2])),
    ];
    for (field, value) in cases {
        let mut v = base.clone();
        v[field] = value.clone();
        let err = SchedulerConfig::from_json(&v.to_string(), Path::new("scheduler_config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("`{field}`")) && err.contains(&value.to_string()),
            "error should name {field} = {value}: {err}"
        );
    }
    let sched = SchedulerConfig::from_json(&base.to_string(), Path::new("s")).unwrap();
    assert!(sched.timesteps(0).is_err() && sched.timesteps(1001).is_err());
}

#[test]
fn image_size_and_channel_mismatch_are_refused() {
    let pre = diffusers::load(&data("ddpm"), &Device::Cpu).unwrap();
    let c = pre.unet.config();
    let img = |channels, height, width| DataShape::Image {
        channels,
        height,
        width,
    };
    diffusers::check_images(c, &img(3, 8, 8)).unwrap();
    let err = diffusers::check_images(c, &img(1, 8, 8))
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 channel") && err.contains("3×8×8"), "{err}");
    let err = diffusers::check_images(c, &img(3, 32, 32))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("32×32") && err.contains("sample_size is 8×8"),
        "{err}"
    );
    let err = diffusers::check_images(c, &DataShape::Vector { dim: 2 })
        .unwrap_err()
        .to_string();
    assert!(err.contains("vectors"), "{err}");
    // The network itself refuses wrong image tensors.
    let x = Tensor::zeros((1, 1, 8, 8), DType::F32, &Device::Cpu).unwrap();
    assert!(pre.unet.forward(&x, &[1.0], None).is_err());
}

#[test]
fn class_labels_are_checked() {
    let i = diffusers::load(&data("iddpm"), &Device::Cpu).unwrap();
    let d = diffusers::load(&data("ddpm"), &Device::Cpu).unwrap();
    let p = PredictionType::Epsilon;
    assert!(EpsView::new(&i.unet, p, ClassLabels::None, 4).is_err());
    assert!(EpsView::new(&i.unet, p, ClassLabels::All(5), 4).is_err());
    assert!(EpsView::new(&i.unet, p, ClassLabels::All(4), 4).is_ok());
    assert!(EpsView::new(&d.unet, p, ClassLabels::All(0), 4).is_err());
    let view = EpsView::new(&i.unet, p, ClassLabels::PerRow(vec![0, 1]), 4).unwrap();
    let x = vec![0.0; 3 * view.dim()];
    let mut e = vec![0.0; x.len()];
    let level = diffusion::NoiseLevel {
        t: 10.0,
        alpha_bar: 0.9,
    };
    assert!(
        view.predict_eps(&x, level, &mut e).is_err(),
        "3 rows, 2 labels"
    );
}
