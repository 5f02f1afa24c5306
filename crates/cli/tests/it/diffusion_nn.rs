//! CLI tests for `kexue diffusion {train,gamma,sample,eval,demo}`.
//!
//! Tiny networks with N = 100 timesteps keep every test to a few seconds; the demo on the shipped
//! checkpoint (the README's main job) takes about 20 s in release.

use std::path::{Path, PathBuf};

use super::kexue;

fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-diffusion-nn")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn ok(args: &[&str]) -> String {
    let out = kexue(args, "");
    assert!(
        out.status.success(),
        "kexue {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail cleanly: exit code 2, one `error:` line, no panic.
fn fails(args: &[&str]) -> String {
    let out = kexue(args, "");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "kexue {args:?}: {err}");
    assert!(!err.contains("panicked"), "kexue {args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    err
}

fn train_tiny(dir: &Path, data: &str, steps: &str) {
    ok(&[
        "diffusion",
        "train",
        "--data",
        data,
        "--out",
        s(dir),
        "--steps",
        steps,
        "--net",
        "mlp",
        "--hidden",
        "32",
        "--depth",
        "2",
        "--n-timesteps",
        "100",
        "--checkpoint-every",
        "10",
        "--batch-size",
        "64",
    ]);
}

fn eval_json(dir: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "diffusion",
        "eval",
        "--ckpt",
        s(dir),
        "--steps",
        "5,20",
        "--json",
        "--m",
        "10",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(&ok(&args)).expect("eval --json prints one JSON object")
}

#[test]
fn toy_pipeline_train_gamma_sample_eval() {
    let dir = scratch("moons");
    train_tiny(&dir, "moons", "20");
    assert!(dir.join("model.safetensors").is_file() && dir.join("checkpoint.json").is_file());

    let text = ok(&["diffusion", "gamma", "--ckpt", s(&dir), "--m", "10"]);
    assert!(
        text.contains("estimated Γ for N = 100 with M = 10"),
        "{text}"
    );
    let text = ok(&["diffusion", "gamma", "--ckpt", s(&dir), "--m", "10"]);
    assert!(
        text.starts_with("cached"),
        "second call must reuse the cache: {text}"
    );
    let g: serde_json::Value = serde_json::from_str(&ok(&[
        "diffusion",
        "gamma",
        "--ckpt",
        s(&dir),
        "--m",
        "10",
        "--json",
    ]))
    .unwrap();
    assert_eq!(g["gamma"].as_array().map(Vec::len), Some(100));

    for sampler in [
        "ddpm-beta",
        "ddpm-tilde",
        "analytic-ddpm",
        "ddim",
        "analytic-ddim",
    ] {
        let png = dir.join(format!("{sampler}.png"));
        let npy = dir.join(format!("{sampler}.npy"));
        ok(&[
            "diffusion",
            "sample",
            "--ckpt",
            s(&dir),
            "--sampler",
            sampler,
            "--steps",
            "10",
            "--n",
            "50",
            "--png",
            s(&png),
            "--npy",
            s(&npy),
        ]);
        assert!(std::fs::metadata(&png).unwrap().len() > 100);
        // 128-byte-aligned npy header + 50×2 f32.
        assert_eq!(std::fs::metadata(&npy).unwrap().len(), 128 + 50 * 2 * 4);
    }

    let report = eval_json(&dir, &["--limit", "200"]);
    assert_eq!(report["n_test"], 200);
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 6, "3 samplers × 2 K");
    for row in rows {
        assert!(row["bpd"].as_f64().unwrap().is_finite(), "{row}");
        assert!(row["sampler"].is_string() && row["steps"].is_u64());
    }
    assert!(dir.join("eval.json").is_file());
}

#[test]
fn digits_pipeline_and_resume() {
    let dir = scratch("digits");
    train_tiny(&dir, "digits", "10");
    let text = ok(&[
        "diffusion",
        "train",
        "--out",
        s(&dir),
        "--resume",
        "--steps",
        "20",
    ]);
    assert!(text.contains("trained steps 11..20"), "{text}");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
            .unwrap();
    assert_eq!(meta["step"], 20);

    let png = dir.join("grid.png");
    let text = ok(&[
        "diffusion",
        "sample",
        "--ckpt",
        s(&dir),
        "--sampler",
        "analytic-ddpm",
        "--steps",
        "10",
        "--n",
        "16",
        "--png",
        s(&png),
        "--m",
        "10",
    ]);
    assert!(text.contains("16 samples with analytic-ddpm"), "{text}");
    let report = eval_json(&dir, &["--limit", "40"]);
    assert_eq!(report["levels"], 17);
    let bpd = |sampler: &str, k: u64| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["sampler"] == sampler && r["steps"] == k)
            .and_then(|r| r["bpd"].as_f64())
            .unwrap()
    };
    // Discrete data: bits/dim are positive; β̃ at small K is far worse than β (spec §8.1).
    assert!(bpd("ddpm-beta", 5) > 0.0);
    assert!(bpd("ddpm-tilde", 5) > bpd("ddpm-beta", 5), "{report}");
}

#[test]
fn bad_input_is_one_clean_line() {
    let dir = scratch("bad");
    train_tiny(&dir, "moons", "10");
    let png = dir.join("x.png");
    let err = fails(&[
        "diffusion",
        "sample",
        "--ckpt",
        s(&dir),
        "--sampler",
        "euler",
        "--steps",
        "5",
        "--png",
        s(&png),
    ]);
    assert!(err.contains("unknown sampler `euler`"), "{err}");
    let err = fails(&[
        "diffusion",
        "sample",
        "--ckpt",
        s(&dir),
        "--sampler",
        "ddim",
        "--steps",
        "101",
        "--png",
        s(&png),
    ]);
    assert!(
        err.contains("out of range") && err.contains("N = 100"),
        "{err}"
    );
    let err = fails(&[
        "diffusion",
        "sample",
        "--ckpt",
        s(&dir),
        "--sampler",
        "ddim",
        "--steps",
        "5",
        "--png",
        "/nonexistent-kexue-dir/x.png",
    ]);
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(&["diffusion", "eval", "--ckpt", s(&dir), "--samplers", "ddim"]);
    assert!(err.contains("no finite NELBO"), "{err}");
    let missing = dir.join("nope");
    let err = fails(&["diffusion", "gamma", "--ckpt", s(&missing)]);
    assert!(err.contains("not a checkpoint folder"), "{err}");
    let err = fails(&[
        "diffusion",
        "train",
        "--data",
        "cifar100",
        "--out",
        s(&dir.join("o")),
    ]);
    assert!(err.contains("unknown data `cifar100`"), "{err}");
    let err = fails(&[
        "diffusion",
        "train",
        "--data",
        "mnist:/nonexistent-kexue/idx",
        "--out",
        s(&dir.join("o")),
    ]);
    assert!(err.contains("nonexistent-kexue"), "{err}");
    let err = fails(&["diffusion", "train", "--data", "moons", "--out", s(&dir)]);
    assert!(err.contains("already holds a checkpoint"), "{err}");
    if !cfg!(feature = "cuda") {
        let c = dir.join("c");
        let err = fails(&[
            "diffusion",
            "train",
            "--data",
            "moons",
            "--out",
            s(&c),
            "--device",
            "cuda",
        ]);
        assert!(err.contains("cuda"), "{err}");
    }

    // A truncated checkpoint is reported, never half-loaded.
    let model = dir.join("model.safetensors");
    let bytes = std::fs::read(&model).unwrap();
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let err = fails(&[
        "diffusion",
        "sample",
        "--ckpt",
        s(&dir),
        "--sampler",
        "ddim",
        "--steps",
        "5",
        "--png",
        s(&png),
    ]);
    assert!(err.contains("corrupt or truncated"), "{err}");
}

#[test]
fn demo_runs_on_the_shipped_checkpoint() {
    let out = scratch("demo");
    let text = ok(&["diffusion", "demo", "--out", s(&out)]);
    for sampler in [
        "ddpm-beta",
        "ddpm-tilde",
        "analytic-ddpm",
        "ddim",
        "analytic-ddim",
    ] {
        for k in [10, 100] {
            assert!(
                out.join(format!("{sampler}-k{k}.png")).is_file(),
                "{sampler} K={k}"
            );
        }
    }
    assert!(
        text.contains("analytic-ddpm") && text.contains("K=10"),
        "{text}"
    );
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("eval.json")).unwrap()).unwrap();
    assert_eq!(report["rows"].as_array().map(Vec::len), Some(12));
}
