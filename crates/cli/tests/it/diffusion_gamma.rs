//! Γ of the Gaussian-mixture laws in `trajectory` and `lab` (issue 20 item 22).

use crate::ok;

#[test]
fn gmm_trajectory_has_no_spurious_guard_and_reports_gammas_error() {
    // Plain Monte-Carlo Γ̂ of the ring crossed 1 near n = N, so the dp_seg guard fired at
    // every M and the DP lost ~0.2 nats/dim. Γ now comes from the exact posterior variance
    // (never above 1): no guard, the standard error is reported, and the measured NELBO gain
    // matches ½ΔΣJ within 3 standard errors of the two NELBOs.
    let out = ok(&[
        "diffusion",
        "trajectory",
        "--data",
        "gmm",
        "--steps",
        "10",
        "--total-steps",
        "200",
        "--samples",
        "3000",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gamma"], "monte-carlo-posterior", "{v}");
    assert!(v["guard"].is_null(), "{v}");
    let se = v["gamma_std_err"].as_f64().unwrap();
    assert!(se > 0.0 && se < 0.05, "{se}");
    let gain = v["even"]["nelbo"].as_f64().unwrap() - v["nelbo"].as_f64().unwrap();
    let predicted = v["predicted_gain"].as_f64().unwrap();
    let err = (v["even"]["nelbo_std_err"].as_f64().unwrap().powi(2)
        + v["nelbo_std_err"].as_f64().unwrap().powi(2))
    .sqrt();
    assert!(gain > 0.0, "{v}");
    assert!(
        (gain - predicted).abs() < 3.0 * err,
        "gain {gain} vs ½ΔΣJ {predicted} (se {err})"
    );
    // The text output names the error and the rule.
    let text = ok(&[
        "diffusion",
        "trajectory",
        "--data",
        "gmm",
        "--steps",
        "5",
        "--total-steps",
        "100",
        "--samples",
        "500",
    ]);
    assert!(text.contains("Γ̂ standard error ≤"), "{text}");
    assert!(!text.contains("dp_seg guard"), "{text}");
}

#[test]
fn one_dimensional_mixtures_get_quadrature_gamma() {
    // A 1-D --gmm-file gets Γ by composite Gauss–Legendre (no Monte-Carlo error reported).
    let dir = std::env::temp_dir().join(format!("kexue-gamma-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("mix.json");
    std::fs::write(
        &file,
        r#"{"weights":[0.2,0.5,0.3],"means":[[-1.5],[0.3],[2.0]],"stds":[[0.2],[0.05],[0.6]]}"#,
    )
    .unwrap();
    let out = ok(&[
        "diffusion",
        "lab",
        "--data",
        "gmm",
        "--gmm-file",
        file.to_str().unwrap(),
        "--steps",
        "5",
        "--samples",
        "300",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["gamma"], "gauss-legendre", "{v}");
    assert!(v.get("gamma_std_err").is_none(), "{v}");
    let _ = std::fs::remove_dir_all(&dir);
}
