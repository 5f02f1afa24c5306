//! CLI tests for `kexue diffusion lab`.

use crate::kexue;

fn json(args: &[&str]) -> serde_json::Value {
    let out = kexue(args, "");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8 stdout");
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one JSON line: {text}"
    );
    serde_json::from_str(&text).expect("valid JSON")
}

fn row<'a>(report: &'a serde_json::Value, sampler: &str) -> &'a serde_json::Value {
    report["rows"]
        .as_array()
        .expect("rows array")
        .iter()
        .find(|r| r["sampler"] == sampler)
        .unwrap_or_else(|| panic!("no row {sampler}"))
}

/// Fails unless the command exits non-zero with exactly one line on stderr naming `needle`.
fn one_line_error(args: &[&str], needle: &str) {
    let out = kexue(args, "");
    assert!(!out.status.success(), "{args:?} should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

#[test]
fn gauss_reproduces_the_spec_table() {
    // Spec §10.3, K = 10, printed to 6 decimals: tolerance 6e-7.
    let r = json(&[
        "diffusion",
        "lab",
        "--data",
        "gauss",
        "--steps",
        "10",
        "--samples",
        "200",
        "--json",
    ]);
    assert_eq!(r["data"], "gauss");
    assert_eq!(r["steps"], 10);
    for (sampler, want) in [
        ("ddpm-tilde", 0.026768),
        ("ddpm-beta", 0.194571),
        ("analytic-ddpm", 0.090000),
        ("ddim", 0.032647),
        ("analytic-ddim", 0.090000),
    ] {
        let row = row(&r, sampler);
        let v = row["final_var"].as_f64().expect("final_var is a number");
        assert!((v - want).abs() < 6e-7, "{sampler}: {v}");
        assert!(row["energy_distance"].as_f64().is_some());
        assert!(row["seconds"].as_f64().is_some_and(|s| s >= 0.0));
    }
    assert!(row(&r, "ddim")["nelbo"].is_null());
    assert!(row(&r, "analytic-ddim")["nelbo"].is_null());
    assert!(row(&r, "analytic-ddpm")["nelbo"].as_f64().is_some());
}

#[test]
fn gauss_final_mean_matches_official_convention() {
    let r = json(&[
        "diffusion",
        "lab",
        "--data",
        "gauss",
        "--steps",
        "10",
        "--samples",
        "100",
        "--json",
        "--final-mean",
    ]);
    for (sampler, want) in [("ddpm-beta", 0.194471), ("analytic-ddpm", 0.089900)] {
        let v = row(&r, sampler)["final_var"].as_f64().unwrap();
        assert!((v - want).abs() < 6e-7, "{sampler}: {v}");
    }
}

#[test]
fn gmm_analytic_ddpm_has_the_lowest_nelbo() {
    // Theorem (spec §6.2): at K = 10 Analytic-DDPM's NELBO is below both DDPM variances.
    let r = json(&[
        "diffusion",
        "lab",
        "--data",
        "gmm",
        "--steps",
        "10",
        "--json",
    ]);
    let n = |s| row(&r, s)["nelbo"].as_f64().unwrap();
    assert!(n("analytic-ddpm") < n("ddpm-beta"), "{r}");
    assert!(n("analytic-ddpm") < n("ddpm-tilde"), "{r}");
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);
    for s in [
        "ddpm-beta",
        "ddpm-tilde",
        "analytic-ddpm",
        "ddim",
        "analytic-ddim",
    ] {
        assert!(row(&r, s)["final_var"].is_null());
    }
}

#[test]
fn rademacher_and_table_output_work() {
    let out = kexue(
        &[
            "diffusion",
            "lab",
            "--data",
            "rademacher",
            "--steps",
            "5",
            "--samples",
            "300",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for s in [
        "ddpm-beta",
        "ddpm-tilde",
        "analytic-ddpm",
        "ddim",
        "analytic-ddim",
    ] {
        assert!(text.contains(s), "{text}");
    }
    let r = json(&[
        "diffusion",
        "lab",
        "--data",
        "rademacher",
        "--steps",
        "5",
        "--samples",
        "300",
        "--schedule",
        "cosine",
        "--trajectory",
        "quad",
        "--seed",
        "3",
        "--json",
    ]);
    assert!(
        row(&r, "analytic-ddpm")["nelbo"]
            .as_f64()
            .is_some_and(f64::is_finite)
    );
}

#[test]
fn gmm_file_is_read_and_validated() {
    let dir = std::env::temp_dir().join(format!("kexue-lab-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.json");
    std::fs::write(
        &good,
        r#"{"weights":[1,3],"means":[[-1,0,0],[1,2,0]],"stds":[[0.2,0.2,0.2],[0.5,0.1,1]]}"#,
    )
    .unwrap();
    let r = json(&[
        "diffusion",
        "lab",
        "--data",
        "gmm",
        "--steps",
        "4",
        "--samples",
        "100",
        "--json",
        "--gmm-file",
        good.to_str().unwrap(),
    ]);
    assert_eq!(r["rows"].as_array().unwrap().len(), 5);

    let bad_json = dir.join("bad.json");
    std::fs::write(&bad_json, r#"{"weights":[1],"means":[[0]]"#).unwrap();
    one_line_error(
        &["diffusion", "lab", "--gmm-file", bad_json.to_str().unwrap()],
        "gmm-file",
    );
    let bad_std = dir.join("bad_std.json");
    std::fs::write(&bad_std, r#"{"weights":[1],"means":[[0]],"stds":[[-1]]}"#).unwrap();
    one_line_error(
        &["diffusion", "lab", "--gmm-file", bad_std.to_str().unwrap()],
        "std",
    );
    let huge = dir.join("huge.json");
    std::fs::write(&huge, r#"{"weights":[1],"means":[[1e999]],"stds":[[1]]}"#).unwrap();
    one_line_error(
        &["diffusion", "lab", "--gmm-file", huge.to_str().unwrap()],
        "gmm-file",
    );
    one_line_error(
        &["diffusion", "lab", "--gmm-file", "/no/such/file.json"],
        "reading",
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_input_is_one_line_and_non_zero() {
    // Values outside a typed flag's list or type: clap's usage error names the value and
    // lists the accepted names.
    for (flag, value) in [
        ("--data", "cauchy"),
        ("--schedule", "sigmoid"),
        ("--trajectory", "zigzag"),
        ("--steps", "ten"),
        ("--steps", "NaN"),
    ] {
        let err = super::usage_error(&["diffusion", "lab", flag, value], value);
        assert!(err.contains(flag), "{err}");
    }
    super::usage_error(&["diffusion", "lab", "--seed", "-1"], "'-1'");
    let err = super::usage_error(&["diffusion", "lab", "--data", "cauchy"], "gauss");
    assert!(err.contains("rademacher"), "{err}");
    one_line_error(
        &["diffusion", "lab", "--trajectory", "optimal"],
        "even or quad",
    );
    one_line_error(&["diffusion", "lab", "--steps", "0"], "K = 0");
    one_line_error(&["diffusion", "lab", "--steps", "1001"], "K = 1001");
    one_line_error(&["diffusion", "lab", "--samples", "1"], "--samples");
    one_line_error(
        &["diffusion", "lab", "--samples", "99999999999"],
        "--samples",
    );
    one_line_error(
        &["diffusion", "lab", "--trajectory", "quad", "--steps", "900"],
        "repeats node",
    );
    one_line_error(&["diffusion", "lab", "--total-steps", "0"], "N ≥ 1");
    one_line_error(
        &[
            "diffusion",
            "lab",
            "--data",
            "gauss",
            "--gmm-file",
            "x.json",
        ],
        "--gmm-file",
    );
}
