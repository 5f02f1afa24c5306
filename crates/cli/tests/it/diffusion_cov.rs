//! CLI tests for `kexue diffusion train-cov` and the SN-/NPR-DPM samplers on checkpoints
//! (`sample`, `eval`). Tiny MLPs with N = 100 keep each test to a few seconds.

use std::path::{Path, PathBuf};

use super::{fails, kexue, ok, resume_training, s, train_tiny};

fn scratch(name: &str) -> PathBuf {
    super::scratch("cli-diffusion-cov", name)
}

fn train_eps(dir: &Path, steps: &str) {
    train_tiny(dir, "moons", steps);
}

/// `kexue diffusion train-cov --ckpt DIR --kind KIND` followed by `extra`.
fn train_cov_args<'a>(dir: &'a Path, kind: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["diffusion", "train-cov", "--ckpt", s(dir), "--kind", kind];
    args.extend_from_slice(extra);
    args
}

fn train_cov(dir: &Path, kind: &str, steps: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = train_cov_args(dir, kind, &["--steps", steps, "--json"]);
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).expect("train-cov --json prints one JSON object")
}

fn sample<'a>(dir: &'a Path, sampler: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "diffusion",
        "sample",
        "--ckpt",
        s(dir),
        "--sampler",
        sampler,
        "--n",
        "50",
    ];
    args.extend_from_slice(extra);
    args
}

/// `kexue diffusion eval --ckpt DIR --samplers SAMPLERS --steps STEPS` followed by `extra`.
fn eval_args<'a>(
    dir: &'a Path,
    samplers: &'a str,
    steps: &'a str,
    extra: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec![
        "diffusion",
        "eval",
        "--ckpt",
        s(dir),
        "--samplers",
        samplers,
        "--steps",
        steps,
    ];
    args.extend_from_slice(extra);
    args
}

#[test]
fn train_cov_then_every_covariance_sampler_and_eval() {
    let dir = scratch("pipeline");
    train_eps(&dir, "20");

    // Before train-cov: the samplers name the command that makes the head.
    for (sampler, kind) in [("sn-ddpm", "sn"), ("npr-ddim", "npr")] {
        let args = sample(&dir, sampler, &["--steps", "10"]);
        let err = fails(&args);
        let want = format!(
            "no {} covariance head here: run `kexue diffusion train-cov --ckpt {} --kind {kind}`",
            kind.to_uppercase(),
            dir.display()
        );
        assert!(err.contains(&want), "{err}");
    }
    let err = fails(&eval_args(&dir, "npr-ddpm", "5", &["--m", "10"]));
    assert!(err.contains("train-cov --ckpt"), "{err}");

    // Train, refuse a second fresh run, resume to a higher step.
    let r = train_cov(
        &dir,
        "sn",
        "10",
        &["--batch", "32", "--checkpoint-every", "5"],
    );
    assert_eq!(
        (r["first_step"].as_u64(), r["last_step"].as_u64()),
        (Some(1), Some(10))
    );
    assert!(r["smoothed_loss"].as_f64().is_some_and(f64::is_finite));
    for f in r["files"].as_array().unwrap() {
        assert!(Path::new(f.as_str().unwrap()).is_file(), "{f}");
    }
    let err = fails(&train_cov_args(&dir, "sn", &["--steps", "10"]));
    assert!(err.contains("already holds an SN head"), "{err}");
    let r = train_cov(&dir, "sn", "16", &["--resume"]);
    assert_eq!(
        (r["first_step"].as_u64(), r["last_step"].as_u64()),
        (Some(11), Some(16))
    );
    let err = fails(&train_cov_args(&dir, "sn", &["--steps", "12", "--resume"]));
    assert!(err.contains("already at step 16"), "{err}");
    train_cov(&dir, "npr", "10", &["--batch", "32"]);

    for sampler in ["sn-ddpm", "sn-ddim", "npr-ddpm", "npr-ddim"] {
        let npy = dir.join(format!("{sampler}.npy"));
        let args = sample(
            &dir,
            sampler,
            &["--steps", "10", "--npy", s(&npy), "--energy"],
        );
        let line = ok(&args);
        assert!(
            line.contains(&format!("50 samples with {sampler} on the even trajectory")),
            "{line}"
        );
        assert!(
            line.contains("energy distance to the held-out split"),
            "{line}"
        );
        assert!(!line.contains("NaN"), "{line}");
        assert_eq!(std::fs::metadata(&npy).unwrap().len(), 128 + 50 * 2 * 4);
    }
    // The optimal trajectory (needs Γ) works with the covariance samplers too.
    let args = sample(
        &dir,
        "npr-ddpm",
        &["--steps", "5", "--trajectory", "optimal", "--m", "10"],
    );
    assert!(ok(&args).contains("npr-ddpm on the optimal trajectory of 5 steps"));

    // eval: SN/NPR-DDPM rows beside the scalar samplers, same K.
    let out = dir.join("eval.json");
    let v: serde_json::Value = serde_json::from_str(&ok(&eval_args(
        &dir,
        "analytic-ddpm,sn-ddpm,npr-ddpm",
        "5,20",
        &["--m", "10", "--json", "--out", s(&out)],
    )))
    .unwrap();
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6);
    for name in ["analytic-ddpm", "sn-ddpm", "npr-ddpm"] {
        for k in [5, 20] {
            let row = rows
                .iter()
                .find(|r| r["sampler"] == name && r["steps"] == k)
                .unwrap_or_else(|| panic!("no row {name} K={k}"));
            assert!(row["bpd"].as_f64().is_some_and(f64::is_finite), "{row}");
        }
    }
    // The two heads give different NELBOs (the rows really use the heads).
    let bpd = |name: &str| {
        rows.iter()
            .find(|r| r["sampler"] == name && r["steps"] == 5)
            .unwrap()["bpd"]
            .as_f64()
            .unwrap()
    };
    assert!((bpd("sn-ddpm") - bpd("npr-ddpm")).abs() > 1e-6);
    // DDIM variants have no finite NELBO.
    let err = fails(&eval_args(&dir, "sn-ddim", "5", &[]));
    assert!(err.contains("no finite NELBO"), "{err}");
    // K > N.
    let args = sample(&dir, "sn-ddpm", &["--steps", "101"]);
    let err = fails(&args);
    assert!(err.contains("out of range"), "{err}");
}

#[test]
fn heads_that_do_not_match_are_refused() {
    let dir = scratch("mismatch");
    train_eps(&dir, "10");
    // Not a checkpoint folder; resume without a head.
    let empty = scratch("empty");
    let err = fails(&train_cov_args(&empty, "sn", &[]));
    assert!(err.contains("not a checkpoint folder"), "{err}");
    let err = fails(&train_cov_args(&dir, "npr", &["--resume"]));
    assert!(err.contains("no NPR covariance head"), "{err}");
    // An unknown kind is clap's usage error (exit 2) naming the value.
    let out = kexue(&train_cov_args(&dir, "both", &[]), "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'both'"));

    // A non-finite loss stops with an error (exit 2) and keeps the last good head.
    let out = kexue(
        &train_cov_args(
            &dir,
            "npr",
            &["--steps", "50", "--lr", "1e30", "--checkpoint-every", "1"],
        ),
        "",
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("non-finite")
            && err.contains("last good checkpoint")
            && !err.contains("panicked"),
        "{err}"
    );
    let head: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(head_file(&dir, "npr")).unwrap()).unwrap();
    assert!(
        head["step"].as_u64().is_some_and(|k| (1..50).contains(&k)),
        "{head}"
    );

    train_cov(&dir, "sn", "4", &[]);
    let args = sample(&dir, "sn-ddpm", &["--steps", "5"]);
    ok(&args);

    // Mismatched shapes: the head's JSON claims a wider network than its tensors hold.
    let json = head_file(&dir, "sn");
    let text = std::fs::read_to_string(&json).unwrap();
    std::fs::write(&json, text.replace("\"hidden\": 32", "\"hidden\": 48")).unwrap();
    let err = fails(&args);
    assert!(err.contains("has shape"), "{err}");
    std::fs::write(&json, &text).unwrap();
    ok(&args);

    // Other ε-weights: training the ε-network further orphans the head.
    resume_training(&dir, "20");
    let err = fails(&args);
    assert!(
        err.contains("trained against other ε-weights") && err.contains("train-cov"),
        "{err}"
    );
}

/// The JSON file of the current `kind` head of the checkpoint `dir`.
fn head_file(dir: &std::path::Path, kind: &str) -> std::path::PathBuf {
    let k = if kind == "sn" {
        diffusion::CovKind::Sn
    } else {
        diffusion::CovKind::Npr
    };
    diffusion_nn::cov::head_dir(dir, k)
        .expect("a head")
        .join(format!("cov-{kind}.json"))
}
