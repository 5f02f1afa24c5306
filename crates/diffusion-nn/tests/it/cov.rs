//! Covariance heads (SN-/NPR-DPM): a trained head approaches the closed-form targets of spec
//! §10.3 on Gaussian data, resume is bit-identical, a non-finite loss stops training, and a head
//! that does not match its ε-network is refused.

use std::path::{Path, PathBuf};

use candle_core::Device;
use diffusion::covariance::{CovKind, CovPredictor};
use diffusion::exact::{Gaussian, sample_law};
use diffusion::{EpsPredictor, NoiseLevel, Schedule};
use diffusion_nn::cov::{self, CovHeadMeta, NetCovPredictor, train_cov};
use diffusion_nn::data::{DataShape, DataSpec, Dataset, Toy};
use diffusion_nn::train::{Start, TrainConfig, TrainReport};
use diffusion_nn::{NetPredictor, Result};
use rand::SeedableRng;
use rand::rngs::StdRng;

use super::support::{
    assert_no_temp_files, assert_same_tensors, explode, fit, last_good_after_nan, load_ema,
    tensor_bits, trained,
};
use super::tiny_setup;

/// 2-D N(m, s² I) rows as a data set (the spec is only a label here).
fn gaussian_data(law: &Gaussian, rows: usize, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let train: Vec<f32> = sample_law(law, &mut rng, rows)
        .iter()
        .map(|&v| v as f32)
        .collect();
    Dataset {
        spec: DataSpec::Toy(Toy::Moons),
        shape: DataShape::Vector { dim: 2 },
        levels: None,
        test: train[..200].to_vec(),
        train,
    }
}

/// An ε-checkpoint (tiny MLP, N = 100) trained for `steps` on `data` in a fresh folder.
fn eps_ckpt(name: &str, data: &Dataset, steps: u64) -> PathBuf {
    trained(name, &tiny_setup(steps, steps), data)
}

fn head_cfg(steps: u64, every: u64) -> TrainConfig {
    TrainConfig {
        steps,
        batch_size: 64,
        checkpoint_every: every,
        warmup_steps: 10,
        lr: 3e-3,
        ..TrainConfig::default()
    }
}

/// Trains (or resumes) the head of `kind` for the checkpoint in `dir` on the CPU, without
/// progress reports.
fn fit_head(
    kind: CovKind,
    cfg: &TrainConfig,
    dir: &Path,
    data: &Dataset,
    start: Start,
) -> Result<TrainReport> {
    train_cov(kind, cfg, dir, data, start, &Device::Cpu, &mut |_| {})
}

/// x_t = √ᾱ x_0 + √(1 − ᾱ) ε for fresh ε ~ N(0, I) from `rng`: (ε, x_t).
fn noised(x0: &[f64], ab: f64, rng: &mut StdRng) -> (Vec<f64>, Vec<f64>) {
    let mut noise = vec![0.0; x0.len()];
    diffusion::standard_normal(rng, &mut noise);
    let x_t = x0
        .iter()
        .zip(&noise)
        .map(|(x, n)| ab.sqrt() * x + (1.0 - ab).sqrt() * n)
        .collect();
    (noise, x_t)
}

#[test]
fn trained_heads_approach_the_closed_form_targets() {
    // Data N(m, s² I), m = (0.5, −0.5), s² = 0.25. Given x_t, ε ~ N(ε*(x_t), ᾱ s²/v) with
    // v = ᾱ s² + β̄ (spec §10.3), so the SN target is E[ε²|x_t] = ε*² + ᾱ s²/v and the NPR target
    // around the frozen ε̂ is ᾱ s²/v + (ε* − ε̂)². Both heads (tiny MLPs, 4000 steps, ~1.5 s each)
    // are compared with these at 500 draws x_t ~ q(x_t) for several t: the mean absolute error
    // must be below 0.1, and where the target varies with x_t (the best constant head, the mean
    // target, is off by > 0.3 on average) below a fifth of that constant head's error, i.e. the
    // head learned the dependence on x_t. (Measured: SN 0.04–0.08 vs constant 0.09–1.04; NPR
    // 0.01–0.05.)
    let law = Gaussian::new(vec![0.5, -0.5], vec![0.25, 0.25]).unwrap();
    let data = gaussian_data(&law, 4000, 1);
    let dir = eps_ckpt("cov-closed-form", &data, 300);
    let (meta, eps) = load_ema(&dir);
    let sched = Schedule::linear(100).unwrap();
    let eps_pred = NetPredictor::new(&eps, 256);
    for kind in [CovKind::Sn, CovKind::Npr] {
        let report = fit_head(kind, &head_cfg(4000, 4000), &dir, &data, Start::Fresh).unwrap();
        assert_eq!(report.last_step, 4000);
        let (_, head) = cov::load_head(&dir, kind, &meta, &eps, &Device::Cpu).unwrap();
        let pred = NetCovPredictor::new(&head, 256);
        let mut rng = StdRng::seed_from_u64(9);
        for t in [5usize, 30, 60, 95] {
            let ab = sched.alpha_bar(t);
            let level = NoiseLevel {
                t: t as f64,
                alpha_bar: ab,
            };
            let x0 = sample_law(&law, &mut rng, 500);
            let (_, x_t) = noised(&x0, ab, &mut rng);
            let (mut h, mut star, mut hat) = (
                vec![0.0; x_t.len()],
                vec![0.0; x_t.len()],
                vec![0.0; x_t.len()],
            );
            pred.predict_cov(kind, &x_t, level, &mut h).unwrap();
            law.predict_eps(&x_t, level, &mut star).unwrap();
            eps_pred.predict_eps(&x_t, level, &mut hat).unwrap();
            let post = ab * 0.25 / (ab * 0.25 + 1.0 - ab);
            let target: Vec<f64> = (0..x_t.len())
                .map(|j| match kind {
                    CovKind::Sn => star[j] * star[j] + post,
                    CovKind::Npr => post + (star[j] - hat[j]).powi(2),
                })
                .collect();
            let n = target.len() as f64;
            let mean_target = target.iter().sum::<f64>() / n;
            let err = h
                .iter()
                .zip(&target)
                .map(|(a, b)| (a - b).abs())
                .sum::<f64>()
                / n;
            let const_err = target.iter().map(|b| (mean_target - b).abs()).sum::<f64>() / n;
            assert!(h.iter().all(|v| *v >= 0.0), "{kind:?} t={t}: negative head");
            assert!(
                err < 0.1 && (const_err < 0.3 || err < const_err / 5.0),
                "{kind:?} t={t}: mean |head − closed form| = {err:.4}, constant head {const_err:.4}"
            );
        }
    }
}

#[test]
fn resume_is_bit_identical() {
    let law = Gaussian::new(vec![0.0, 1.0], vec![1.0, 0.5]).unwrap();
    let data = gaussian_data(&law, 500, 2);
    let whole = eps_ckpt("cov-resume-whole", &data, 5);
    let split = eps_ckpt("cov-resume-split", &data, 5);
    for kind in [CovKind::Sn, CovKind::Npr] {
        fit_head(kind, &head_cfg(8, 4), &whole, &data, Start::Fresh).unwrap();
        fit_head(kind, &head_cfg(4, 4), &split, &data, Start::Fresh).unwrap();
        let mut seen = Vec::new();
        let report = train_cov(
            kind,
            &head_cfg(8, 4),
            &split,
            &data,
            Start::Resume,
            &Device::Cpu,
            &mut |p| seen.push(p.step),
        )
        .unwrap();
        assert_eq!(seen, vec![5, 6, 7, 8]);
        assert_eq!(report.first_step, 5);
        let (json, weights, train_file) = cov::head_files(kind);
        for file in [&weights, &train_file] {
            assert_same_tensors(
                &cov::head_dir(&whole, kind).unwrap().join(file),
                &cov::head_dir(&split, kind).unwrap().join(file),
            );
        }
        let read = |d: &Path| -> CovHeadMeta {
            let at = cov::head_dir(d, kind).unwrap();
            serde_json::from_str(&std::fs::read_to_string(at.join(&json)).unwrap()).unwrap()
        };
        assert_eq!(read(&whole), read(&split));
        assert_eq!(read(&whole).step, 8);
    }
    // The two kinds really differ (the comparison above can fail).
    let (sn, npr) = (
        tensor_bits(
            &cov::head_dir(&whole, CovKind::Sn)
                .unwrap()
                .join(cov::head_files(CovKind::Sn).1),
        ),
        tensor_bits(
            &cov::head_dir(&whole, CovKind::Npr)
                .unwrap()
                .join(cov::head_files(CovKind::Npr).1),
        ),
    );
    assert!(sn.iter().any(|(k, v)| k != "kexue.step" && npr[k] != *v));
}

#[test]
fn non_finite_loss_stops_and_keeps_last_good_head() {
    let law = Gaussian::new(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap();
    let data = gaussian_data(&law, 300, 3);
    let dir = eps_ckpt("cov-nan", &data, 3);
    let mut cfg = head_cfg(50, 1);
    explode(&mut cfg);
    let err = fit_head(CovKind::Sn, &cfg, &dir, &data, Start::Fresh).unwrap_err();
    let last_good = last_good_after_nan(&err);
    let (meta, eps) = load_ema(&dir);
    let (head_meta, _) = cov::load_head(&dir, CovKind::Sn, &meta, &eps, &Device::Cpu).unwrap();
    assert_eq!(head_meta.step, last_good);
    assert_no_temp_files(&dir);
    assert_no_temp_files(&cov::head_root(&dir, CovKind::Sn));
}

#[test]
fn mismatched_heads_are_refused_with_clear_errors() {
    let law = Gaussian::new(vec![0.0, 0.0], vec![1.0, 1.0]).unwrap();
    let data = gaussian_data(&law, 300, 4);
    let dir = eps_ckpt("cov-mismatch", &data, 4);
    let dev = Device::Cpu;
    let load = |dir: &Path, kind| {
        let (meta, eps) = load_ema(dir);
        cov::load_head(dir, kind, &meta, &eps, &dev).map(|(m, _)| m)
    };
    // Missing head.
    let err = load(&dir, CovKind::Sn).unwrap_err();
    assert!(err.to_string().contains("no SN covariance head"), "{err}");
    fit_head(CovKind::Sn, &head_cfg(3, 3), &dir, &data, Start::Fresh).unwrap();
    assert_eq!(load(&dir, CovKind::Sn).unwrap().step, 3);
    // A second fresh run refuses to overwrite it.
    let err = fit_head(CovKind::Sn, &head_cfg(3, 3), &dir, &data, Start::Fresh).unwrap_err();
    assert!(
        err.to_string().contains("already holds an SN head"),
        "{err}"
    );
    // The head of one kind cannot answer for the other.
    let (meta, eps) = load_ema(&dir);
    let (_, head) = cov::load_head(&dir, CovKind::Sn, &meta, &eps, &dev).unwrap();
    let level = NoiseLevel {
        t: 10.0,
        alpha_bar: 0.5,
    };
    let err = NetCovPredictor::new(&head, 8)
        .predict_cov(CovKind::Npr, &[0.0, 0.0], level, &mut [0.0, 0.0])
        .unwrap_err();
    assert!(
        err.to_string().contains("SN head cannot answer for NPR"),
        "{err}"
    );

    // Other ε-weights: train the ε-network further; the head now belongs to an old step.
    fit(&tiny_setup(6, 6), &data, &dir, Start::Resume).unwrap();
    let err = load(&dir, CovKind::Sn).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("other ε-weights") && msg.contains("train-cov --kind sn"),
        "{msg}"
    );
    let err = fit_head(CovKind::Sn, &head_cfg(6, 3), &dir, &data, Start::Resume).unwrap_err();
    assert!(err.to_string().contains("other ε-weights"), "{err}");

    // Wrong shapes: a head JSON that claims a wider network than its tensors.
    let dir = eps_ckpt("cov-shapes", &data, 2);
    fit_head(CovKind::Npr, &head_cfg(2, 2), &dir, &data, Start::Fresh).unwrap();
    let npr_dir = cov::head_dir(&dir, CovKind::Npr).unwrap();
    let json_path = npr_dir.join(cov::head_files(CovKind::Npr).0);
    let text = std::fs::read_to_string(&json_path).unwrap();
    std::fs::write(&json_path, text.replace("\"hidden\": 16", "\"hidden\": 24")).unwrap();
    let err = load(&dir, CovKind::Npr).unwrap_err();
    assert!(err.to_string().contains("has shape"), "{err}");
    std::fs::write(&json_path, &text).unwrap();
    assert_eq!(load(&dir, CovKind::Npr).unwrap().step, 2);

    // A shipped head (EMA weights only) samples but cannot be resumed.
    std::fs::remove_file(npr_dir.join(cov::head_files(CovKind::Npr).2)).unwrap();
    assert!(load(&dir, CovKind::Npr).is_ok());
    let err = fit_head(CovKind::Npr, &head_cfg(4, 2), &dir, &data, Start::Resume).unwrap_err();
    assert!(err.to_string().contains("cannot be resumed"), "{err}");

    // Step stamps that disagree (an interrupted write) are detected.
    let meta_path = npr_dir.join(cov::head_files(CovKind::Npr).0);
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, text.replacen("\"step\": 2", "\"step\": 7", 1)).unwrap();
    let err = load(&dir, CovKind::Npr).unwrap_err();
    assert!(err.to_string().contains("interrupted write"), "{err}");
}

#[test]
fn shipped_digits_heads_track_the_residual() {
    // The heads shipped in models/digits (trained with `kexue diffusion train-cov --ckpt DIR
    // --kind sn|npr --steps 6000`) on the 359 held-out digits, one fresh x_t per row and t.
    // By the tower rule the mean NPR target is the mean residual r = ⟨(ε − ε̂)²⟩, estimated by
    // Monte Carlo on the same draws; the NPR head must match it within 35% at every t. The SN
    // estimate h − ε̂² is a difference of two O(1) quantities for a target of size r: it is ≤ 0
    // (clipped to 0, so σ² = β̃ there) in more than 10% of the pixels at t ≥ 112. Run with
    // `-- --nocapture` for the table quoted in RESULTS.md.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let dev = Device::Cpu;
    let (meta, eps) = load_ema(&dir);
    let sched = meta.schedule.build().unwrap();
    let (_, sn) = cov::load_head(&dir, CovKind::Sn, &meta, &eps, &dev).unwrap();
    let (_, npr) = cov::load_head(&dir, CovKind::Npr, &meta, &eps, &dev).unwrap();
    let data = diffusion_nn::data::load(&DataSpec::Digits).unwrap();
    let x0: Vec<f64> = data.test.iter().map(|&v| v as f64).collect();
    let eps_pred = NetPredictor::new(&eps, 512);
    let mut rng = StdRng::seed_from_u64(0);
    eprintln!(
        "| t | share of pixels with h − ε̂² ≤ 0 | mean clip(h − ε̂²) | mean g | residual ⟨(ε − ε̂)²⟩ |"
    );
    for t in [10usize, 50, 112, 223, 500, 778, 1000] {
        let ab = sched.alpha_bar(t);
        let level = NoiseLevel {
            t: t as f64,
            alpha_bar: ab,
        };
        let (noise, x_t) = noised(&x0, ab, &mut rng);
        let n = x_t.len();
        let (mut e, mut h, mut g) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        eps_pred.predict_eps(&x_t, level, &mut e).unwrap();
        NetCovPredictor::new(&sn, 512)
            .predict_cov(CovKind::Sn, &x_t, level, &mut h)
            .unwrap();
        NetCovPredictor::new(&npr, 512)
            .predict_cov(CovKind::Npr, &x_t, level, &mut g)
            .unwrap();
        let m = n as f64;
        let clipped = (0..n).filter(|&j| h[j] - e[j] * e[j] <= 0.0).count() as f64 / m;
        let sn_mean = (0..n).map(|j| (h[j] - e[j] * e[j]).max(0.0)).sum::<f64>() / m;
        let npr_mean = g.iter().sum::<f64>() / m;
        let resid = (0..n).map(|j| (noise[j] - e[j]).powi(2)).sum::<f64>() / m;
        eprintln!(
            "| {t} | {:.1}% | {sn_mean:.4} | {npr_mean:.4} | {resid:.4} |",
            100.0 * clipped
        );
        assert!(
            (npr_mean / resid - 1.0).abs() < 0.35,
            "t={t}: NPR mean {npr_mean} vs residual {resid}"
        );
        if t >= 112 {
            assert!(clipped > 0.1, "t={t}: SN clipped share {clipped}");
        }
    }
}
