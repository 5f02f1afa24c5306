//! `kexue diffusion sample --sampler NAME` for the menu of issue 16 (euler … lms).

use crate::{fails, kexue, ok};

const MENU: [&str; 12] = [
    "euler",
    "euler-ancestral",
    "heun",
    "dpm2",
    "dpm2-ancestral",
    "dpm-solver++-2s",
    "dpm-solver++-3m",
    "dpm-solver++-sde",
    "unipc",
    "deis",
    "pndm",
    "lms",
];

fn json(args: &[&str]) -> serde_json::Value {
    serde_json::from_str(&ok(args)).expect("sample --json prints one JSON object")
}

#[test]
fn every_menu_sampler_runs_on_exact_scores_and_reports_its_nfe() {
    // 1-D Gaussian N(0.5, 0.09) with its exact ε*: at K = 50 every sampler of the menu must
    // land near the data law (mean within 0.03, variance within 0.03 with 4000 samples).
    for name in MENU {
        let v = json(&[
            "diffusion",
            "sample",
            "--data",
            "gauss",
            "--sampler",
            name,
            "--steps",
            "50",
            "--samples",
            "4000",
            "--seed",
            "3",
            "--json",
        ]);
        assert_eq!(v["sampler"], name, "{v}");
        let nfe = v["nfe"].as_u64().unwrap();
        assert!((50..=110).contains(&nfe), "{name}: nfe {nfe}");
        let mean = v["mean"][0].as_f64().unwrap();
        let var = v["var"][0].as_f64().unwrap();
        assert!((mean - 0.5).abs() < 0.03, "{name}: mean {mean}");
        assert!((var - 0.09).abs() < 0.03, "{name}: var {var}");
    }
}

#[test]
fn menu_options_reach_the_sampler_and_bad_ones_are_one_line_errors() {
    let base = [
        "diffusion",
        "sample",
        "--data",
        "gmm",
        "--steps",
        "10",
        "--samples",
        "200",
    ];
    let run = |extra: &[&str]| {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        json(&[args.as_slice(), &["--json"]].concat())
    };
    let default = run(&["--sampler", "unipc"]);
    let karras = run(&["--sampler", "unipc", "--sigmas", "karras", "--order", "3"]);
    assert_ne!(
        default["mean"], karras["mean"],
        "--sigmas/--order must change the run"
    );
    let trailing = run(&["--sampler", "euler", "--spacing", "trailing"]);
    assert_ne!(run(&["--sampler", "euler"])["mean"], trailing["mean"]);
    for (extra, needle) in [
        (
            &["--sampler", "unipc", "--order", "7"][..],
            "order 7 is out of range",
        ),
        (
            &["--sampler", "ddim", "--order", "2"][..],
            "apply to the menu samplers",
        ),
        (&["--sampler", "heun", "--eta", "0.5"][..], "has no η"),
        (
            &["--sampler", "euler-ancestral", "--eta", "-1"][..],
            "must be in [0, 1]",
        ),
        (
            &["--sampler", "euler", "--spacing", "sideways"][..],
            "sideways",
        ),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let out = kexue(&args, "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(needle), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

fn lab(extra: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = [
        "diffusion",
        "lab",
        "--steps",
        "10",
        "--samples",
        "1000",
        "--json",
    ]
    .iter()
    .chain(extra)
    .copied()
    .collect();
    serde_json::from_str(&ok(&args)).expect("lab --json prints one JSON object")
}

#[test]
fn every_menu_sampler_runs_in_the_lab_with_the_lab_fields() {
    // One row per listed sampler, the fields of the discrete rows plus the NFE; on Gaussian
    // data final_var/final_mean are propagated exactly through the plan (an affine map). At
    // K = 10 on diffusers' default grids the samplers are far apart (heun/dpm2 overshoot),
    // so each exact variance is checked against the empirical variance of 8000 samples of
    // `sample --data gauss` with the same sampler and K (within 5 standard errors; the two
    // starts differ only by ᾱ ≈ 4e-5 at the first node).
    let list = MENU.join(",");
    let v = lab(&["--data", "gauss", "--samplers", &list]);
    let rows = v["rows"].as_array().unwrap();
    assert_eq!(rows.len(), MENU.len(), "{v}");
    let keys = |r: &serde_json::Value| {
        let mut k: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let ddim = lab(&["--data", "gauss", "--samplers", "ddim"]);
    let mut want = keys(&ddim["rows"][0]);
    want.push("nfe".into());
    want.sort();
    for (row, name) in rows.iter().zip(MENU) {
        assert_eq!(row["sampler"], name);
        assert_eq!(keys(row), want, "{row}");
        assert!(row["nelbo"].is_null());
        let nfe = row["nfe"].as_u64().unwrap();
        assert!((10..=30).contains(&nfe), "{name}: nfe {nfe}");
        assert!(row["energy_distance"].as_f64().unwrap().is_finite());
        let exact = row["final_var"].as_f64().unwrap();
        let mean = row["final_mean"].as_f64().unwrap();
        let s = json(&[
            "diffusion",
            "sample",
            "--data",
            "gauss",
            "--sampler",
            name,
            "--steps",
            "10",
            "--samples",
            "8000",
            "--seed",
            "4",
            "--json",
        ]);
        assert_eq!(s["nfe"].as_u64().unwrap(), nfe, "{name}");
        let (var, m) = (
            s["var"][0].as_f64().unwrap(),
            s["mean"][0].as_f64().unwrap(),
        );
        let se = exact * (2.0 / 8000f64).sqrt();
        assert!(
            (var - exact).abs() < 5.0 * se,
            "{name}: exact {exact} vs sampled {var}"
        );
        let se_m = (exact / 8000.0).sqrt();
        assert!(
            (m - mean).abs() < 5.0 * se_m,
            "{name}: exact mean {mean} vs {m}"
        );
    }
}

#[test]
fn the_hybrids_make_the_ancestral_chain_exact_on_gaussian_data() {
    // Analytic-DPM's optimal variance (and the exact SN/NPR heads, whose posterior variance
    // is Γ's on Gaussian data) turn euler-ancestral's 10-step chain into an exact sampler of
    // N(0.5, 0.09): the propagated variance is 0.09 to rounding; the handcrafted noise (the
    // lower bound of the optimal variance) under-disperses (0.027).
    let hand = lab(&["--data", "gauss", "--samplers", "euler-ancestral"]);
    let hv = hand["rows"][0]["final_var"].as_f64().unwrap();
    assert!(hv < 0.05, "handcrafted: {hv}");
    for variance in ["analytic", "sn", "npr"] {
        let v = lab(&[
            "--data",
            "gauss",
            "--samplers",
            "euler-ancestral,dpm-solver++-sde",
            "--variance",
            variance,
        ]);
        let row = &v["rows"][0];
        assert_eq!(row["sampler"], format!("euler-ancestral+{variance}"));
        let var = row["final_var"].as_f64().unwrap();
        assert!((var - 0.09).abs() < 1e-9, "{variance}: {var}");
        let mean = row["final_mean"].as_f64().unwrap();
        assert!((mean - 0.5).abs() < 1e-9, "{variance}: {mean}");
        assert_eq!(
            v["rows"][1]["sampler"],
            format!("dpm-solver++-sde+{variance}")
        );
    }
    // On the ring the per-coordinate NPR variance changes the samples.
    let ring = |variance: &str| {
        lab(&[
            "--data",
            "gmm",
            "--samplers",
            "euler-ancestral",
            "--variance",
            variance,
        ])["rows"][0]["energy_distance"]
            .as_f64()
            .unwrap()
    };
    assert_ne!(ring("analytic"), ring("npr"));
}

#[test]
fn lab_defaults_are_unchanged_and_bad_menu_requests_are_one_line_errors() {
    let default = lab(&["--data", "gauss"]);
    let names: Vec<&str> = default["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["sampler"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "ddpm-tilde",
            "ddpm-beta",
            "analytic-ddpm",
            "ddim",
            "analytic-ddim"
        ]
    );
    assert!(default["rows"][0].get("nfe").is_none());
    let base = ["diffusion", "lab", "--data", "gauss", "--steps", "5"];
    for (extra, needle) in [
        (&["--sigmas", "karras"][..], "none is in the list"),
        (
            &["--samplers", "unipc", "--variance", "analytic"][..],
            "--variance: only for euler-ancestral",
        ),
        (&["--samplers", "unipc", "--order", "9"][..], "order 9"),
        (
            &[
                "--samplers",
                "euler-ancestral",
                "--eta",
                "0",
                "--variance",
                "sn",
            ][..],
            "η > 0",
        ),
        (&["--samplers", "euler", "--eta", "0.5"][..], "--eta"),
    ] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let err = fails(&args);
        assert!(err.contains(needle), "{extra:?}: {err}");
    }
    // Continuous and covariance samplers are not lab rows: clap lists the accepted names.
    for name in ["em", "sn-ddpm", "dpm9"] {
        let out = kexue(&["diffusion", "lab", "--samplers", name], "");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(&format!("invalid value '{name}'")) && err.contains("unipc"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
    let err = fails(&[
        "diffusion",
        "lab",
        "--data",
        "rademacher",
        "--samplers",
        "euler-ancestral",
        "--variance",
        "sn",
    ]);
    assert!(err.contains("no exact covariance head"), "{err}");
}

#[test]
fn sample_takes_the_hybrid_variances() {
    // `sample --variance`: the analytic and SN hybrids of euler-ancestral on Gaussian data
    // reach the data variance 0.09 at 10 steps where the handcrafted noise gives ≈ 0.027.
    let run = |extra: &[&str]| {
        let args: Vec<&str> = [
            "diffusion",
            "sample",
            "--data",
            "gauss",
            "--sampler",
            "euler-ancestral",
            "--steps",
            "10",
            "--samples",
            "8000",
            "--json",
        ]
        .iter()
        .chain(extra)
        .copied()
        .collect();
        json(&args)
    };
    let hand = run(&[])["var"][0].as_f64().unwrap();
    assert!(hand < 0.05, "{hand}");
    for variance in ["analytic", "sn", "npr"] {
        let v = run(&["--variance", variance]);
        assert_eq!(v["sampler"], format!("euler-ancestral+{variance}"));
        let var = v["var"][0].as_f64().unwrap();
        assert!((var - 0.09).abs() < 0.006, "{variance}: {var}");
    }
    let err = fails(&[
        "diffusion",
        "sample",
        "--data",
        "gauss",
        "--sampler",
        "ddim",
        "--steps",
        "5",
        "--variance",
        "sn",
    ]);
    assert!(
        err.contains("--variance apply to the menu samplers"),
        "{err}"
    );
}
