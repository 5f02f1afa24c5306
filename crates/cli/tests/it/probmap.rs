//! CLI tests for `kexue probmap`.
#![allow(clippy::excessive_precision)] // reference values quoted at full mpmath precision

use crate::{kexue, scratch};

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
        // issue 20 item 15: ν given twice used to take the first silently
        vec![
            "probmap",
            "--noise",
            "student:3",
            "--nu",
            "5",
            "--mu",
            "1,2",
        ],
        vec!["probmap", "--noise", "t=3", "--nu", "3", "--mu", "1,2"],
        // issue 20 item 8: sizes are checked before any work
        vec![
            "probmap",
            "--mu",
            "1,2",
            "--samples",
            "18446744073709551615",
        ],
        vec![
            "probmap",
            "--mu",
            "1,2,3",
            "--kpoint",
            "18446744073709551615",
        ],
        vec!["probmap", "--mu", "1,2", "--max-error", "0"],
        vec!["probmap", "--mu", "1,nan"],
        vec!["probmap", "--mu", "1e400,0"],
        vec!["probmap", "--mu", "1,,2"],
        vec!["probmap", "--mu", "1,2", "--scale", "nan"],
        vec!["probmap", "--mu", "1e300,0", "--scale", "1e-10"],
        // the low class of a range beyond f64 still wins with heavy tails: not computable
        vec!["probmap", "--noise", "student:0.001", "--mu=-1e308,1e308"],
        vec!["probmap", "--mu-file", "/nonexistent/scores.txt"],
    ] {
        let out = kexue(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

/// Issue 20 item 5: Student-t with ν ≪ 1 printed p summing to 0.30 (ν = 0.001), 0.971
/// (ν = 0.01) and 0.9976 (ν = 0.1, gap 1e6) with exit 0. mpmath references from
/// `crates/probmap/scripts/reference.py heavy` (30 digits).
#[test]
fn student_with_tiny_nu_is_accurate() {
    let cases: [(&str, &str, [f64; 2]); 3] = [
        (
            "student:0.001",
            "1,2",
            [0.49999102990013814626, 0.50000897009986185374],
        ),
        (
            "student:0.01",
            "1,2",
            [0.49952684025672290481, 0.50047315974327709519],
        ),
        (
            "student:0.1",
            "0,1e6",
            [0.18756456339004192637, 0.81243543660995807363],
        ),
    ];
    for (noise, mu, want) in cases {
        let v = json(&["probmap", "--noise", noise, "--mu", mu, "--json"]);
        let p = floats(&v["p"]);
        for (a, b) in p.iter().zip(want) {
            assert!((a - b).abs() < 1e-12, "{noise} {mu}: {p:?}");
        }
        assert!(v["error"].as_f64().unwrap() <= 1e-9, "{v}");
    }
}

/// Issue 20 item 15: vectors from a file or stdin, one per line, as JSON lines labelled with
/// their line numbers; each result equals the one for the same vector given with --mu.
#[test]
fn mu_file_and_stdin_batches() {
    let dir = scratch("cli-probmap", "mu-file");
    let path = dir.join("scores.txt");
    let text = "# scores\n1,2,3\n\n0.5 -1 2\n  -3, 0 ,4  \n";
    std::fs::write(&path, text).unwrap();
    let path = path.to_str().unwrap();
    let want: Vec<serde_json::Value> = ["1,2,3", "0.5,-1,2", "-3,0,4"]
        .iter()
        .map(|mu| json(&["probmap", "--noise", "gauss", "--mu", mu, "--json"]))
        .collect();
    for (args, stdin) in [
        (vec!["--mu-file", path], ""),
        (vec!["--mu-file", "-"], text),
        (vec!["--mu", "-"], text),
    ] {
        let mut all = vec!["probmap", "--noise", "gauss", "--json"];
        all.extend(&args);
        let out = kexue(&all, stdin);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
        assert_eq!(lines.len(), 3, "{args:?}");
        for ((got, want), line) in lines.iter().zip(&want).zip([2, 4, 5]) {
            assert_eq!(got["line"], line, "{args:?}");
            assert_eq!(got["p"], want["p"], "{args:?}");
            assert_eq!(got["mu"], want["mu"], "{args:?}");
        }
    }
    // text output labels each block with its line
    let out = kexue(&["probmap", "--mu-file", path], "");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line   4 (3 scores)"), "{text}");
}

/// A vector longer than the OS limit on one argument (128 KiB on Linux): 200 000 scores,
/// 1.3 MB of text, through stdin.
#[test]
fn long_vector_through_stdin() {
    let n = 200_000;
    let mu: Vec<String> = (0..n)
        .map(|i| format!("{:.6}", (i % 977) as f64 * 0.01))
        .collect();
    let text = mu.join(",");
    assert!(text.len() > 128 * 1024);
    let out = kexue(
        &["probmap", "--noise", "gumbel", "--mu", "-", "--json"],
        &text,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = floats(&v["p"]);
    assert_eq!(p.len(), n);
    let sum: f64 = p.iter().sum();
    assert!((sum - 1.0).abs() < 1e-12, "{sum}");
    // softmax: equal scores, equal p; the top score 9.76 against 0 is a ratio e^9.76
    assert_eq!(p[0], p[977]);
    assert!((p[976] / p[0] - 9.76f64.exp()).abs() < 1e-9 * 9.76f64.exp());
}

/// Bad files name the line; an empty file is an error, not silence.
#[test]
fn bad_mu_files_are_one_line_errors() {
    let dir = scratch("cli-probmap", "bad-files");
    for (name, text, needle) in [
        ("empty.txt", "", "no score vector"),
        ("comments.txt", "# nothing\n\n", "no score vector"),
        ("word.txt", "1,2\n3,x\n", "line 2"),
        ("nan.txt", "1,2\n\n1,nan\n", "line 3"),
        ("gap.txt", "1,,2\n", "line 1"),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        let out = kexue(&["probmap", "--mu-file", path.to_str().unwrap()], "");
        assert_eq!(out.status.code(), Some(2), "{name}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("error: "), "{name}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{name}: {err}");
        assert!(err.contains(needle), "{name}: {err}");
    }
    // --mu and --mu-file together: a usage error
    let out = kexue(&["probmap", "--mu", "1,2", "--mu-file", "-"], "1,2\n");
    assert_eq!(out.status.code(), Some(2));
}

/// Issue 20 item 8: the largest allowed sampling run stops at Ctrl-C (SIGINT).
#[cfg(unix)]
#[test]
fn long_sampling_stops_on_sigint() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args(["probmap", "--mu", "1,2", "--samples", "5000000000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "finished too early");
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success());
            break;
        }
        if t.elapsed() > Duration::from_secs(5) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ignored SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
