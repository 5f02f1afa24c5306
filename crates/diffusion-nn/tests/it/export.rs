//! Issue 15: diffusers U-Nets trained by kexue — trainable (gradients reach every weight, live
//! weights), exported to diffusers, matched against diffusers' own forward (fixture written by
//! `scripts/make_export_fixture.py`), and re-imported bit for bit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use diffusion_nn::checkpoint::{self, Weights};
use diffusion_nn::diffusers::{self, export};
use diffusion_nn::model::{DiffusersUnetConfig, EpsNetConfig};
use diffusion_nn::{Model, NetKind};

use super::scratch;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/export")
}

fn expected() -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture().join("expected.safetensors"), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
    (a - b)
        .unwrap()
        .abs()
        .unwrap()
        .flatten_all()
        .unwrap()
        .max(0)
        .unwrap()
        .to_scalar::<f32>()
        .unwrap()
}

fn tiny_config() -> EpsNetConfig {
    let path = fixture().join("tiny_unet.json");
    let text = std::fs::read_to_string(&path).unwrap();
    EpsNetConfig::DiffusersUnet(DiffusersUnetConfig::from_json(&text, &path, 1, 8, 8).unwrap())
}

/// kexue's forward of the fixture checkpoint (EMA weights) on the fixture inputs, `[3, 64]`.
fn kexue_forward(model: &Model) -> Tensor {
    let e = expected();
    let x = e["x"].reshape((3, 64)).unwrap();
    let t: Vec<f64> = e["timesteps"]
        .to_vec1::<i64>()
        .unwrap()
        .iter()
        .map(|&tau| tau as f64 + 1.0)
        .collect();
    model.forward_untracked(&x, &t).unwrap()
}

#[test]
fn kexue_forward_matches_diffusers_on_the_exported_unet() {
    let (meta, model) =
        checkpoint::load_model(&fixture().join("ckpt"), Weights::Ema, &Device::Cpu).unwrap();
    assert!(matches!(meta.model, EpsNetConfig::DiffusersUnet(_)));
    let ours = kexue_forward(&model);
    let theirs = expected()["out"].reshape((3, 64)).unwrap();
    let diff = max_abs_diff(&ours, &theirs);
    assert!(diff <= 1e-4, "max |kexue − diffusers| = {diff}");
    // The outputs are not trivially small (the comparison can fail).
    let scale = theirs.abs().unwrap().max_keepdim(1).unwrap();
    assert!(
        scale
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .all(|&s| s > 0.1),
        "{scale}"
    );
    // The checkpoint's schedule is diffusers' alphas_cumprod (through the exported
    // trained_betas), to f32 rounding.
    let schedule = meta.schedule.build().unwrap();
    let ac = expected()["alphas_cumprod"].to_vec1::<f32>().unwrap();
    assert_eq!(ac.len(), schedule.n_steps());
    for (tau, &a) in ac.iter().enumerate() {
        let ours = schedule.alpha_bar(tau + 1);
        assert!(
            (ours - a as f64).abs() <= 1e-6 * ours.max(1e-3),
            "τ = {tau}: {ours} vs {a}"
        );
    }
}

#[test]
fn export_then_reimport_gives_identical_outputs() {
    let dir = scratch("export-roundtrip");
    let out = dir.join("pipeline");
    let report = export::export(&fixture().join("ckpt"), &out).unwrap();
    assert_eq!(report.step, 3);
    for f in &report.files {
        assert!(out.join(f).is_file(), "{f}");
    }
    // A second export refuses to overwrite.
    let err = export::export(&fixture().join("ckpt"), &out).unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");

    let (_, model) =
        checkpoint::load_model(&fixture().join("ckpt"), Weights::Ema, &Device::Cpu).unwrap();
    let ours = kexue_forward(&model);
    let pre = diffusers::load(&out, &Device::Cpu).unwrap();
    assert_eq!(pre.layout, diffusers::Layout::Pipeline);
    assert_eq!(pre.unet.n_params(), model.n_params());
    let e = expected();
    let tau: Vec<f64> = e["timesteps"]
        .to_vec1::<i64>()
        .unwrap()
        .iter()
        .map(|&t| t as f64)
        .collect();
    let theirs = pre
        .unet
        .forward(&e["x"], &tau, None)
        .unwrap()
        .reshape((3, 64))
        .unwrap();
    assert_eq!(
        ours.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        theirs.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
        "re-imported outputs differ"
    );
    // The exported scheduler is the checkpoint's schedule.
    let (meta, _) =
        checkpoint::load_model(&fixture().join("ckpt"), Weights::Ema, &Device::Cpu).unwrap();
    let a = meta.schedule.build().unwrap();
    let b = pre.scheduler.schedule().unwrap();
    for n in [1, 10, 500, 1000] {
        assert!((a.alpha_bar(n) - b.alpha_bar(n)).abs() < 1e-6, "n = {n}");
    }
}

#[test]
fn only_diffusers_unets_export() {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let out = scratch("export-mlp").join("x");
    let err = export::export(&shipped, &out).unwrap_err().to_string();
    assert!(err.contains("only U-Nets trained with"), "{err}");
    assert!(err.contains("an MLP"), "{err}");
    assert!(!out.exists());
}

#[test]
fn diffusers_unet_is_trainable_and_follows_weight_updates() {
    let config = tiny_config();
    let dev = Device::Cpu;
    let a = Model::new(&config, 1, &dev).unwrap();
    let b = Model::new(&config, 2, &dev).unwrap();
    assert_eq!(a.n_params(), config.count_params().unwrap());
    let x = Tensor::randn(0f32, 1.0, (2, 64), &dev).unwrap();
    let t = [1.0, 700.0];
    // Gradients reach every weight (attention q, k, v included).
    let loss = a.forward(&x, &t).unwrap().sqr().unwrap().sum_all().unwrap();
    let grads = loss.backward().unwrap();
    let mut missing = Vec::new();
    for (name, var) in a.named_vars() {
        let g = grads.get(var.as_tensor());
        let norm = g.map_or(0.0, |g| {
            g.sqr()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
        });
        if norm == 0.0 {
            missing.push(name);
        }
    }
    assert!(missing.is_empty(), "no gradient for {missing:?}");
    assert!(
        a.named_vars()
            .iter()
            .any(|(n, _)| n.ends_with("to_q.weight"))
    );
    // Weights set after construction (as a checkpoint load does) are used: a takes b's weights.
    let before = a.forward_untracked(&x, &t).unwrap();
    let want = b.forward_untracked(&x, &t).unwrap();
    assert!(max_abs_diff(&before, &want) > 1e-3);
    for ((na, va), (nb, vb)) in a.named_vars().iter().zip(b.named_vars()) {
        assert_eq!(na, &nb);
        va.set(&vb.as_tensor().to_dtype(DType::F32).unwrap())
            .unwrap();
    }
    // The tracked pass differs only by the softmax's rounding.
    assert!(max_abs_diff(&a.forward(&x, &t).unwrap(), &want) < 1e-5);
    assert_eq!(
        a.forward_untracked(&x, &t)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap(),
        want.to_vec2::<f32>().unwrap()
    );
}

#[test]
fn default_diffusers_configs_for_the_three_image_sizes() {
    use diffusion_nn::data::DataShape;
    for (c, h, w) in [(1, 8, 8), (1, 28, 28), (3, 32, 32)] {
        let shape = DataShape::Image {
            channels: c,
            height: h,
            width: w,
        };
        let config = EpsNetConfig::for_data(NetKind::DiffusersUnet, shape, 0, 0, 0).unwrap();
        config.validate().unwrap();
        assert_eq!(config.dim(), c * h * w);
        let model = Model::new(&config, 0, &Device::Cpu).unwrap();
        let x = Tensor::zeros((1, c * h * w), DType::F32, &Device::Cpu).unwrap();
        let y = model.forward_untracked(&x, &[500.0]).unwrap();
        assert_eq!(y.dims(), &[1, c * h * w]);
    }
    let err = EpsNetConfig::for_data(
        NetKind::DiffusersUnet,
        DataShape::Vector { dim: 2 },
        0,
        0,
        0,
    )
    .unwrap_err();
    assert!(err.to_string().contains("image data"), "{err}");
}

/// The SN/NPR heads copy the ε-network's architecture, so a diffusers U-Net checkpoint gets
/// diffusers U-Net heads; `export` writes each as a second `UNet2DModel` folder whose output,
/// through a softplus, is the head's.
#[test]
fn covariance_heads_of_a_diffusers_unet_train_and_export() {
    use diffusion::CovKind;
    use diffusion_nn::cov;
    use diffusion_nn::train::{Start, TrainConfig};
    let dir = scratch("export-heads").join("ckpt");
    let gen_dir = checkpoint::resolve(&fixture().join("ckpt"));
    let dst = dir.join("gen-00000003");
    std::fs::create_dir_all(&dst).unwrap();
    for f in [checkpoint::META_FILE, checkpoint::MODEL_FILE] {
        std::fs::copy(gen_dir.join(f), dst.join(f)).unwrap();
    }
    std::fs::write(dir.join(checkpoint::CURRENT), "gen-00000003\n").unwrap();
    let data = diffusion_nn::data::load(&diffusion_nn::data::DataSpec::Digits).unwrap();
    let cfg = TrainConfig {
        steps: 2,
        batch_size: 4,
        checkpoint_every: 2,
        ..TrainConfig::default()
    };
    for kind in [CovKind::Sn, CovKind::Npr] {
        cov::train_cov(
            kind,
            &cfg,
            &dir,
            &data,
            Start::Fresh,
            &Device::Cpu,
            &mut |_| {},
        )
        .unwrap();
    }
    let out = dir.parent().unwrap().join("pipeline");
    let report = export::export(&dir, &out).unwrap();
    assert_eq!(report.heads, ["sn", "npr"]);
    let (meta, eps) = checkpoint::load_model(&dir, Weights::Ema, &Device::Cpu).unwrap();
    let e = expected();
    let x = e["x"].reshape((3, 64)).unwrap();
    let t = [1.0, 500.0, 1000.0];
    for kind in [CovKind::Sn, CovKind::Npr] {
        let (_, head) = cov::load_head(&dir, kind, &meta, &eps, &Device::Cpu).unwrap();
        assert!(matches!(
            head.model().config(),
            EpsNetConfig::DiffusersUnet(_)
        ));
        let ours = head.forward(&x, &t).unwrap();
        let folder = out.join(format!("cov-{}", kind.name()));
        let config = diffusers::UNet2DConfig::from_file(&folder.join("config.json")).unwrap();
        let unet =
            diffusers::load_unet(&config, &folder.join(diffusers::WEIGHTS_FILE), &Device::Cpu)
                .unwrap();
        let raw = unet
            .forward(&e["x"], &[0.0, 499.0, 999.0], None)
            .unwrap()
            .reshape((3, 64))
            .unwrap();
        let theirs = cov::softplus(&raw).unwrap();
        assert!(max_abs_diff(&ours, &theirs) < 1e-5, "{kind:?}");
    }
}

/// Issue 14 leftover, library level: a covariance head copies an imported diffusers U-Net's
/// architecture (the three diffusers fixtures: attention at one level; scale-shift, ResNet
/// resampling, learned variance and class labels; a centred 16×16 pipeline folder). The head
/// has the ε-network's layers minus the class table, one output per channel, and runs.
#[test]
fn covariance_heads_copy_imported_diffusers_unets() {
    use diffusion::CovKind;
    use diffusion_nn::cov::{self, CovNet};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/diffusers");
    for (name, unet_dir) in [("ddpm", ""), ("iddpm", ""), ("vpred", "unet")] {
        let folder = root.join(name);
        let pre = diffusers::load(&folder, &Device::Cpu).unwrap();
        let path = folder.join(unet_dir).join("config.json");
        let text = std::fs::read_to_string(&path).unwrap();
        let config = cov::head_config_for_diffusers(&text, &path).unwrap();
        let c = pre.unet.config();
        assert_eq!(config.dim(), c.dim(), "{name}");
        let head = CovNet::new(CovKind::Npr, &config, 0, &Device::Cpu).unwrap();
        // Same layers as the imported network, less the class table and the variance half of
        // conv_out.
        let (hh, ww) = c.sample_size;
        let mut want = pre.unet.n_params();
        if let Some(n) = c.num_class_embeds {
            want -= n * c.time_embed_dim();
        }
        let extra_out = c.out_channels - c.in_channels;
        want -= extra_out * (c.block_out_channels[0] * 9 + 1);
        assert_eq!(head.model().n_params(), want, "{name}");
        let x = Tensor::randn(0f32, 1.0, (2, c.in_channels * hh * ww), &Device::Cpu).unwrap();
        let g = head.forward(&x, &[1.0, 500.0]).unwrap();
        assert_eq!(g.dims(), &[2, c.in_channels * hh * ww]);
        assert!(
            g.min_all().unwrap().to_scalar::<f32>().unwrap() >= 0.0,
            "softplus ≥ 0"
        );
    }
}
