//! `kexue diffusion sample --sampler NAME` for the menu of issue 16 (euler … lms).

use crate::{kexue, ok};

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
