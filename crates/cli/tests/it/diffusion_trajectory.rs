//! CLI tests for `kexue diffusion trajectory`.

use crate::kexue;

fn json(args: &[&str]) -> serde_json::Value {
    let out = kexue(args, "");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    serde_json::from_str(&text).expect("valid JSON")
}

fn nodes(v: &serde_json::Value) -> Vec<u64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("integer node"))
        .collect()
}

#[test]
fn rademacher_optimum_lowers_the_nelbo() {
    // Spec §10.3: Γ of ±1 data is non-monotone, so the DP finds a path that beats ET; the NELBO
    // gain (common random numbers) matches ½ ΔΣJ within 4 standard errors of either NELBO.
    let v = json(&[
        "diffusion",
        "trajectory",
        "--data",
        "rademacher",
        "--steps",
        "10",
        "--samples",
        "20000",
        "--json",
    ]);
    assert_eq!(v["steps"], 10);
    assert_eq!(v["total_steps"], 1000);
    let opt = nodes(&v["trajectory"]);
    let even = nodes(&v["even"]["trajectory"]);
    assert_eq!(opt.len(), 10);
    assert_eq!((opt[0], opt[9]), (1, 1000));
    assert!(opt.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(even, [1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]);
    assert_ne!(opt, even);
    assert!(v["guard"].is_null());
    let cost = v["cost"].as_f64().unwrap();
    let even_cost = v["even"]["cost"].as_f64().unwrap();
    assert!(cost < even_cost - 0.1, "{cost} vs {even_cost}");
    assert!((v["dp_cost"].as_f64().unwrap() - cost).abs() < 1e-9);
    let gain = v["even"]["nelbo"].as_f64().unwrap() - v["nelbo"].as_f64().unwrap();
    let want = v["predicted_gain"].as_f64().unwrap();
    let se = v["nelbo_std_err"].as_f64().unwrap() + v["even"]["nelbo_std_err"].as_f64().unwrap();
    assert!(gain > 0.0, "optimal path must lower the NELBO: {gain}");
    assert!(
        (gain - want).abs() < 4.0 * se,
        "gain {gain} vs ½ΔJ {want} (se {se})"
    );
}

#[test]
fn gaussian_data_ties_every_path() {
    // Spec §10.3: for Gaussian data every trajectory has the same Σ J, so both costs agree and
    // the expected gain is 0.
    let v = json(&[
        "diffusion",
        "trajectory",
        "--data",
        "gauss",
        "--steps",
        "25",
        "--samples",
        "2000",
        "--json",
    ]);
    let (c, e) = (
        v["cost"].as_f64().unwrap(),
        v["even"]["cost"].as_f64().unwrap(),
    );
    assert!((c - e).abs() < 1e-9, "{c} vs {e}");
    assert!(v["predicted_gain"].as_f64().unwrap().abs() < 1e-9);
    assert_eq!(nodes(&v["trajectory"]).len(), 25);
}

#[test]
fn gmm_table_prints_path_and_nelbo() {
    let out = kexue(
        &[
            "diffusion",
            "trajectory",
            "--data",
            "gmm",
            "--steps",
            "5",
            "--samples",
            "2000",
            "--total-steps",
            "200",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for needle in ["optimal", "even", "NELBO", "N=200"] {
        assert!(text.contains(needle), "missing {needle}: {text}");
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("optimal:"))
        .expect("path line");
    let path: Vec<usize> = line["optimal:".len()..]
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    assert_eq!(path.len(), 5);
    assert_eq!((path[0], path[4]), (1, 200));
}

#[test]
fn bad_input_is_a_clean_error() {
    for (args, needle) in [
        (
            &[
                "diffusion",
                "trajectory",
                "--data",
                "gauss",
                "--steps",
                "1001",
            ][..],
            "K = 1001",
        ),
        (
            &["diffusion", "trajectory", "--data", "gauss", "--steps", "0"][..],
            "K = 0",
        ),
        (
            &["diffusion", "trajectory", "--data", "nope", "--steps", "10"][..],
            "nope",
        ),
        (
            &[
                "diffusion",
                "trajectory",
                "--ckpt",
                "no/such/dir",
                "--steps",
                "10",
            ][..],
            "no/such/dir",
        ),
        (
            &[
                "diffusion",
                "trajectory",
                "--data",
                "gauss",
                "--steps",
                "10",
                "--schedule",
                "weird",
            ][..],
            "weird",
        ),
        (
            &[
                "diffusion",
                "trajectory",
                "--data",
                "gauss",
                "--steps",
                "ten",
            ][..],
            "ten",
        ),
    ] {
        let out = kexue(args, "");
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// A copy of the shipped digits checkpoint with a Γ cache `gamma` (Γ_1..Γ_N) beside it.
fn digits_with_gamma(name: &str, gamma: &[f64]) -> std::path::PathBuf {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let dir = std::env::temp_dir().join(format!("kexue-traj-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["checkpoint.json", "model.safetensors"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
            .unwrap();
    let cache = serde_json::json!({
        "checkpoint_step": meta["step"],
        "m": 10,
        "seed": 0,
        "n_timesteps": gamma.len(),
        "seconds": 0.0,
        "gamma": gamma,
    });
    std::fs::write(dir.join("gamma.json"), cache.to_string()).unwrap();
    dir
}

#[test]
fn checkpoint_uses_its_gamma_cache() {
    // A smooth Γ ≤ 1 rising from 0.03 to ~1, like the digits network's (no Γ estimate, so the
    // test stays fast); NELBO on 40 held-out rows.
    let gamma: Vec<f64> = (1..=1000)
        .map(|t| 1.0 - 0.97 * (-(t as f64) / 150.0).exp())
        .collect();
    let dir = digits_with_gamma("ok", &gamma);
    let d = dir.to_str().unwrap();
    let v = json(&[
        "diffusion",
        "trajectory",
        "--ckpt",
        d,
        "--steps",
        "5",
        "--samples",
        "40",
        "--json",
    ]);
    assert_eq!(v["samples"], 40);
    assert_eq!(v["dim"], 64);
    assert!(v["guard"].is_null());
    let opt = nodes(&v["trajectory"]);
    assert_eq!(opt.len(), 5);
    assert_eq!((opt[0], opt[4]), (1, 1000));
    assert_eq!(nodes(&v["even"]["trajectory"]), [1, 251, 500, 750, 1000]);
    assert!(v["cost"].as_f64().unwrap() <= v["even"]["cost"].as_f64().unwrap() + 1e-12);
    for bpd in [&v["bits_per_dim"], &v["even"]["bits_per_dim"]] {
        let bpd = bpd.as_f64().unwrap();
        assert!(bpd.is_finite() && bpd > 0.0, "{bpd}");
    }

    // Γ̂ > 1 from n = 101 on: the dp_seg guard has no room; the error says what to run.
    let bad: Vec<f64> = (1..=1000)
        .map(|t| if t > 100 { 1.2 } else { 0.5 })
        .collect();
    let dir_bad = digits_with_gamma("bad", &bad);
    let out = kexue(
        &[
            "diffusion",
            "trajectory",
            "--ckpt",
            dir_bad.to_str().unwrap(),
            "--steps",
            "10",
        ],
        "",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kexue diffusion gamma") && err.contains("n = 101"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");

    // --data and --ckpt are exclusive.
    let out = kexue(
        &[
            "diffusion",
            "trajectory",
            "--ckpt",
            d,
            "--data",
            "gmm",
            "--steps",
            "5",
        ],
        "",
    );
    assert!(!out.status.success());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir_bad);
}
