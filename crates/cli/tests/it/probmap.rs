//! CLI tests for `kexue probmap`.
#![allow(clippy::excessive_precision)] // reference values quoted at full mpmath precision

use crate::kexue;

fn json(args: &[&str]) -> serde_json::Value {
    let out = kexue(args, "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number"))
        .collect()
}

#[test]
fn gumbel_is_softmax_in_json() {
    let v = json(&["probmap", "--noise", "gumbel", "--mu", "1,2,3", "--json"]);
    assert_eq!(v["noise"], "gumbel");
    let p = floats(&v["p"]);
    let want = [
        0.090030573170380458,
        0.24472847105479765,
        0.66524095577482189,
    ];
    for (a, b) in p.iter().zip(want) {
        assert!((a - b).abs() < 1e-15, "{p:?}");
    }
    assert!(v.get("jacobian").is_none(), "jacobian only on request");
}

#[test]
fn gauss_with_jacobian() {
    let v = json(&[
        "probmap",
        "--noise",
        "gauss",
        "--mu",
        "1,2,3",
        "--jacobian",
        "--json",
    ]);
    let p = floats(&v["p"]);
    // mpmath, 30 digits
    let want = [
        0.047150679919088443,
        0.22409830478044241,
        0.72875101530046915,
    ];
    for (a, b) in p.iter().zip(want) {
        assert!((a - b).abs() < 1e-12, "{p:?}");
    }
    let jac: Vec<Vec<f64>> = v["jacobian"]
        .as_array()
        .unwrap()
        .iter()
        .map(floats)
        .collect();
    assert_eq!(jac.len(), 3);
    // spec §10, 10 digits
    assert!((jac[0][0] - 0.0761287057).abs() < 1e-9);
    assert!((jac[1][2] - (-0.1954553762)).abs() < 1e-9);
}

#[test]
fn scale_samples_and_negative_scores() {
    let v = json(&[
        "probmap",
        "--noise",
        "uniform",
        "--scale",
        "2",
        "--mu=-2,0,1",
        "--samples",
        "20000",
        "--seed",
        "3",
        "--json",
    ]);
    // uniform on [0, 2]: the class at −2 can never win (it is 2 = one support width below)
    let p = floats(&v["p"]);
    assert_eq!(p[0], 0.0);
    let counts: Vec<u64> = v["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), 20000);
    assert_eq!(counts[0], 0);
    // mu/2 = (0, 0.5): p = (0.125, 0.875) for the last two
    assert!((p[2] - 0.875).abs() < 1e-12, "{p:?}");
    let freq = counts[2] as f64 / 20000.0;
    assert!((freq - 0.875).abs() < 0.01, "{counts:?}");
}

#[test]
fn student_via_nu_flag() {
    let a = json(&[
        "probmap", "--noise", "student", "--nu", "1", "--mu", "0,2", "--json",
    ]);
    let b = json(&["probmap", "--noise", "t:1", "--mu", "0,2", "--json"]);
    assert_eq!(a["p"], b["p"]);
    // Cauchy pair: p_1 = 1/2 + atan(1)/π = 3/4
    let p = floats(&a["p"]);
    assert!((p[1] - 0.75).abs() < 1e-12, "{p:?}");
}

#[test]
fn human_output_lists_p_and_error() {
    let out = kexue(
        &["probmap", "--noise", "laplace", "--mu", "0,1", "--jacobian"],
        "",
    );
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("p "), "{text}");
    assert!(text.contains("error"), "{text}");
    assert!(text.contains("jacobian"), "{text}");
}

#[test]
fn bad_input_is_a_one_line_error() {
    for args in [
        vec!["probmap", "--noise", "nosuch", "--mu", "1,2"],
        vec!["probmap", "--noise", "gauss", "--mu", ""],
        vec!["probmap", "--noise", "gauss", "--mu", "1,abc"],
        vec!["probmap", "--noise", "gauss", "--mu", "1,inf"],
        vec!["probmap", "--noise", "gauss", "--mu", "1,2", "--scale", "0"],
        vec![
            "probmap", "--noise", "gauss", "--mu", "1,2", "--scale", "-3",
        ],
        vec!["probmap", "--noise", "student", "--mu", "1,2"],
        vec!["probmap", "--noise", "student", "--nu", "0", "--mu", "1,2"],
        vec!["probmap", "--noise", "gauss", "--nu", "3", "--mu", "1,2"],
    ] {
        let out = kexue(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}
