//! CLI tests for `kexue diffusion likelihood`: the PF-ODE likelihood on exact scores against
//! the closed-form density, on a tiny trained checkpoint, and its one-line errors.

use super::{ok, s, scratch, train_tiny};

/// Splits a command line on whitespace (no argument here contains spaces).
fn words(cmd: &str) -> Vec<&str> {
    cmd.split_whitespace().collect()
}

fn json(cmd: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&words(cmd))).expect("--json prints one JSON object")
}

/// Runs a command that must fail cleanly: exit code 2, one `error:` line, no panic.
fn fails(cmd: &str) -> String {
    super::fails(&words(cmd))
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing: {v}"))
}

#[test]
fn gauss_matches_closed_form() {
    // 100 points of N(0.5, 0.09): the ODE NLL is within 3e-4 nats/dim of the closed form at
    // the default tolerances (the residual, ~1e-4, is the N(0, 1) prior standing in for p_1;
    // the library test with the exact p_1 checks 1e-4 per point).
    for sde in ["vp", "subvp"] {
        let v = json(&format!(
            "diffusion likelihood --data gauss --sde {sde} --json"
        ));
        assert_eq!(v["data"], "gauss");
        assert_eq!(v["exact"], true);
        assert_eq!(v["divergence"], "exact-trace");
        let nll = num(&v, "nll_nats_per_dim");
        let closed = num(&v, "closed_form_nll_nats_per_dim");
        assert!((nll - closed).abs() < 3e-4, "{sde}: {nll} vs {closed}");
        assert!((num(&v, "abs_error_nats_per_dim") - (nll - closed).abs()).abs() < 1e-12);
        let bpd = num(&v, "bits_per_dim");
        assert!((bpd - nll / std::f64::consts::LN_2).abs() < 1e-9);
        assert!(num(&v, "nfe") >= 8.0);
    }
}

#[test]
fn gmm_exact_and_hutchinson() {
    let exact = json("diffusion likelihood --data gmm --samples 40 --json");
    let e = num(&exact, "abs_error_nats_per_dim");
    assert!(e < 1e-3, "exact trace error {e}");
    // Unbiased but noisy: over seeds 0..3, 8 Rademacher probes land within ±0.05 nats/dim
    // of the exact value (Gaussian probes ±0.45: their variance adds 2 Σ J_ii²); 32 probes
    // halve that, so 0.1 and 0.5 are about five standard deviations.
    let h = json("diffusion likelihood --data gmm --samples 40 --hutchinson 32 --json");
    assert_eq!(h["exact"], false);
    assert_eq!(h["divergence"], "hutchinson");
    assert_eq!(h["probes"], 32);
    let diff = (num(&h, "nll_nats_per_dim") - num(&exact, "nll_nats_per_dim")).abs();
    assert!(diff < 0.1, "hutchinson vs exact: {diff}");
    let g = json(
        "diffusion likelihood --data gmm --samples 40 --hutchinson 32 --probe gaussian --json",
    );
    let diff = (num(&g, "nll_nats_per_dim") - num(&exact, "nll_nats_per_dim")).abs();
    assert!(diff < 0.5, "gaussian-probe hutchinson vs exact: {diff}");
    // Plain text mentions both numbers.
    let text = ok(&words("diffusion likelihood --data gmm --samples 10"));
    assert!(
        text.contains("nats/dim") && text.contains("closed form"),
        "{text}"
    );
}

#[test]
fn checkpoint_likelihood_runs() {
    let dir = scratch("cli-diffusion-likelihood", "ckpt");
    train_tiny(&dir, "moons", "20");
    let d = s(&dir);
    assert!(!d.contains(' '), "commands are split on spaces: {d}");
    let v = json(&format!(
        "diffusion likelihood --ckpt {d} --samples 10 --hutchinson 2 --json"
    ));
    assert_eq!(v["derivative"], "finite-difference");
    assert_eq!(v["exact"], false);
    assert_eq!(v["samples"], 10);
    assert_eq!(v["dim"], 2);
    assert!(num(&v, "nll_nats_per_dim").is_finite());
    assert!(v["closed_form_nll_nats_per_dim"].is_null());
    fails(&format!("diffusion likelihood --ckpt {d} --data gmm"));
    // Another SDE re-times the network; the checkpoint's own process is `discrete-vp`.
    assert_eq!(v["sde"], "discrete-vp");
    let ve = json(&format!(
        "diffusion likelihood --ckpt {d} --sde ve --samples 5 --hutchinson 1 --json"
    ));
    assert_eq!(ve["sde"], "ve");
    assert!(num(&ve, "nll_nats_per_dim").is_finite());
}

#[test]
fn bad_input_is_one_line_error() {
    let e = fails("diffusion likelihood --data gmm --rtol 0");
    assert!(e.contains("rtol"), "{e}");
    let e = fails("diffusion likelihood --data gmm --atol -1e-5");
    assert!(e.contains("atol"), "{e}");
    let e = fails("diffusion likelihood --data gmm --max-nfe 30");
    assert!(
        e.contains("NFE budget of 30") && e.contains("at t = "),
        "{e}"
    );
    let e = fails("diffusion likelihood --data gmm --sde vx");
    assert!(e.contains("unknown SDE"), "{e}");
    let out = super::kexue(&["diffusion", "likelihood", "--data", "digits"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("'digits'"));
    let e = fails("diffusion likelihood --data rademacher");
    assert!(e.contains("no density"), "{e}");
    fails("diffusion likelihood");
    fails("diffusion likelihood --data gmm --hutchinson 0");
    fails("diffusion likelihood --data gmm --t-start 1.5");
    fails("diffusion likelihood --ckpt /no/such/checkpoint");
}
