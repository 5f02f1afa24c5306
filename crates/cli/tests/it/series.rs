//! CLI tests for `kexue series`.

use crate::kexue;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn counterexample_of_the_note_converges() {
    let out = kexue(&["series", "1/(n*ln(n)^2)", "--from", "2"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let first = text.lines().next().unwrap_or_default();
    assert!(first.starts_with("converges"), "{text}");
    assert!(text.contains("test: Bertrand test"), "{text}");
    assert!(text.contains("a_n ~ n^-1 (ln n)^-2"), "{text}");
}

#[test]
fn json_has_the_contract_fields() {
    let out = kexue(&["series", "n!/n^n", "--json"], "");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "converges");
    assert_eq!(v["test"], "ratio test");
    assert!(v["equivalent"].as_str().unwrap().starts_with("a_n ~ "));
    assert!(v["justification"].as_str().unwrap().contains("e^(-1) < 1"));
}

#[test]
fn divergent_and_unknown_first_lines() {
    let out = kexue(&["series", "1/(n*ln(n))", "--from", "2"], "");
    assert!(stdout(&out).starts_with("diverges"));
    let out = kexue(&["series", "1/(n^3*sin(n)^2)"], "");
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.starts_with("unknown"), "{text}");
    assert!(text.contains("reason: oscillation"), "{text}");
}

#[test]
fn bad_input_is_a_one_line_error() {
    for (args, needle) in [
        (vec!["series", "(n + 1))"], "unexpected ')' at column 8"),
        (
            vec!["series", "foo(n)"],
            "unknown function 'foo' at column 1",
        ),
        (vec!["series", "1/ln(n)"], "undefined at n = 1"),
        (vec!["series", "ln(-n)"], "undefined for all large n"),
    ] {
        let out = kexue(&args, "");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.starts_with("error: ") && err.contains(needle),
            "{args:?}: {err}"
        );
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    }
}

#[test]
fn file_mode_gives_one_line_per_case() {
    let input = "# comment\n1/n^2\n\n1/(n*ln(n)) ; 2\n(2*n)!/(4^n*n!^2)\n";
    let out = kexue(&["series", "--file", "-"], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = stdout(&out);
    let verdicts: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default())
        .collect();
    assert_eq!(verdicts, ["converges", "diverges", "diverges"], "{text}");
    let out = kexue(&["series", "--file", "-", "--json"], "1/n^2\n1/(n\n");
    assert_eq!(out.status.code(), Some(2));
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["verdict"], "converges");
    assert!(lines[1]["error"].as_str().unwrap().contains("column"));
}

#[test]
fn help_explains_the_language() {
    let out = kexue(&["series", "--help"], "");
    assert!(out.status.success());
    let text = stdout(&out);
    for needle in [
        "--from",
        "--json",
        "--file",
        "arctan",
        "No implicit multiplication",
    ] {
        assert!(text.contains(needle), "{needle}: {text}");
    }
}

#[test]
fn a_leading_minus_is_the_term_not_a_flag() {
    // Issue 19 item 5: "-ln(cos(1/n))" was read as an unknown flag.
    for args in [
        vec!["series", "-ln(cos(1/n))"],
        vec!["series", "-1/n^2", "--from", "2"],
        vec!["series", "--json", "-1/n^2"],
        vec!["series", "--from", "3", "-ln(cos(1/n))"],
    ] {
        let out = kexue(&args, "");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = stdout(&out);
        assert!(
            text.starts_with("converges") || text.contains("\"verdict\":\"converges\""),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn poles_beyond_the_first_terms_are_errors() {
    // Issue 20 item 2: these said "converges" although a_5000 (a_4999) is undefined.
    for (src, needle) in [
        ("1/(n-5000)^2", "undefined at n = 5000"),
        ("1/(n^2-4999^2)", "undefined at n = 4999"),
    ] {
        let out = kexue(&["series", src], "");
        assert_eq!(out.status.code(), Some(2), "{src}: {}", stdout(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{src}: {err}");
    }
    let out = kexue(&["series", "1/(n-10^20)^2"], "");
    let text = stdout(&out);
    assert!(text.starts_with("unknown"), "{text}");
    assert!(
        text.contains("undefined at n = 100000000000000000000"),
        "{text}"
    );
}

#[test]
fn json_reports_absolute_or_conditional_convergence() {
    for (src, test, mode) in [
        ("sin(n)/n", "Dirichlet test", "conditional"),
        ("(-1)^n/n", "Leibniz test", "conditional"),
        ("(-1)^n/n^2", "p-series", "absolute"),
        ("cos(1/n) - 1", "p-series", "absolute"),
    ] {
        let out = kexue(&["series", src, "--json"], "");
        assert!(out.status.success(), "{src}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["verdict"], "converges", "{src}: {v}");
        assert_eq!(v["test"], test, "{src}: {v}");
        assert_eq!(v["convergence"], mode, "{src}: {v}");
    }
    let out = kexue(&["series", "abs(sin(n))/n", "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "diverges", "{v}");
    assert!(v["convergence"].is_null(), "{v}");
}

#[test]
fn param_gives_the_pieces_of_the_parameter_line() {
    let out = kexue(&["series", "1/n^p", "--param", "p", "--json"], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["param"], "p");
    let pieces: Vec<(String, String)> = v["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["interval"].as_str().unwrap().to_string(),
                p["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        pieces,
        [
            ("(-inf, 1]".to_string(), "diverges".to_string()),
            ("(1, inf)".to_string(), "converges".to_string())
        ],
        "{v}"
    );
    assert_eq!(v["pieces"][1]["test"], "p-series", "{v}");
    // Power series: the interval of convergence with both endpoints decided.
    let out = kexue(&["series", "x^n/n^2", "--param", "x", "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let conv: Vec<&str> = v["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["verdict"] == "converges")
        .map(|p| p["interval"].as_str().unwrap())
        .collect();
    assert_eq!(conv, ["[-1, 1]"], "{v}");
    // x^n/n: conditional at x = -1 (Leibniz), absolute inside, divergent at x = 1.
    let out = kexue(&["series", "x^n/n", "--param", "x", "--json"], "");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pieces: Vec<(String, String, serde_json::Value)> = v["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["interval"].as_str().unwrap().to_string(),
                p["verdict"].as_str().unwrap().to_string(),
                p["convergence"].clone(),
            )
        })
        .collect();
    let conv: Vec<&(String, String, serde_json::Value)> =
        pieces.iter().filter(|p| p.1 == "converges").collect();
    assert_eq!(conv.len(), 2, "{v}");
    assert_eq!(
        (conv[0].0.as_str(), conv[0].2.as_str()),
        ("{-1}", Some("conditional")),
        "{v}"
    );
    assert_eq!(
        (conv[1].0.as_str(), conv[1].2.as_str()),
        ("(-1, 1)", Some("absolute")),
        "{v}"
    );
    let text = stdout(&kexue(&["series", "x^n/n", "--param", "x"], ""));
    assert!(text.contains("diverges for x in [1, inf)"), "{text}");
}

#[test]
fn sum_prints_a_proved_enclosure() {
    let out = kexue(
        &["series", "1/(n*ln(n)^2)", "--from", "2", "--sum", "--json"],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (lo, hi) = (
        v["sum"]["lo"].as_f64().unwrap(),
        v["sum"]["hi"].as_f64().unwrap(),
    );
    // mpmath, 30 digits: 2.10974280123689197447925719762.
    let reference = 2.109_742_801_236_892;
    assert!(lo <= reference && reference <= hi, "{v}");
    assert!(v["sum"]["digits"].as_u64().unwrap() >= 10, "{v}");
    let out = kexue(&["series", "1/n", "--sum"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn two_parameters_give_nested_pieces() {
    let out = kexue(
        &[
            "series",
            "1/(n^p*ln(n)^q)",
            "--from",
            "2",
            "--param",
            "p,q",
            "--json",
        ],
        "",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["param"], "p", "{v}");
    assert_eq!(v["params"], serde_json::json!(["p", "q"]), "{v}");
    let top: Vec<(&str, &str)> = v["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["interval"].as_str().unwrap(),
                p["verdict"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        top,
        [
            ("(-inf, 1)", "diverges"),
            ("{1}", "depends on q"),
            ("(1, inf)", "converges")
        ],
        "{v}"
    );
    // The boundary p = 1 carries its own pieces in q, with the same field names.
    let at1 = &v["pieces"][1];
    assert_eq!(at1["param"], "q", "{v}");
    let sub: Vec<(&str, &str, &str)> = at1["pieces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["interval"].as_str().unwrap(),
                p["verdict"].as_str().unwrap(),
                p["test"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sub,
        [
            ("(-inf, 1]", "diverges", "Bertrand test"),
            ("(1, inf)", "converges", "Bertrand test")
        ],
        "{v}"
    );
    let text = stdout(&kexue(
        &["series", "1/(n^p*ln(n)^q)", "--from", "2", "--param", "p,q"],
        "",
    ));
    assert!(text.contains("p in {1}: depends on q"), "{text}");
    assert!(text.contains("  q in (1, inf): converges"), "{text}");
    // Three names are refused with a clear error.
    let out = kexue(&["series", "1/n^p", "--param", "p,q,r"], "");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sum_uses_the_deciding_tail_bound() {
    // (expr, from, reference value from mpmath, tail test)
    for (src, from, reference, test) in [
        (
            "(-1)^n/n",
            "1",
            -std::f64::consts::LN_2,
            "alternating series",
        ),
        ("1/n!", "0", std::f64::consts::E, "ratio test"),
        ("n/2^n", "1", 2.0, "ratio test"),
        ("1/n^3", "1", 1.202_056_903_159_594_3, "integral test"),
    ] {
        let out = kexue(&["series", src, "--from", from, "--sum", "--json"], "");
        assert!(
            out.status.success(),
            "{src}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let s = &v["sum"];
        let (lo, hi) = (s["lo"].as_f64().unwrap(), s["hi"].as_f64().unwrap());
        assert!(lo <= reference && reference <= hi, "{src}: {v}");
        assert_eq!(s["test"], test, "{src}: {v}");
        assert!(s["digits"].as_u64().unwrap() >= 10, "{src}: {v}");
        assert!(s["tail"][0].as_f64().unwrap() <= s["tail"][1].as_f64().unwrap());
    }
    // A convergent series without a rigorous tail bound: the decision, then an error; in JSON
    // "sum": null with the reason.
    let out = kexue(&["series", "1/(n^2 + 1)", "--sum", "--json"], "");
    assert_eq!(out.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["verdict"], "converges", "{v}");
    assert!(v["sum"].is_null(), "{v}");
    assert!(
        v["sum_error"]
            .as_str()
            .unwrap()
            .contains("no rigorous tail bound"),
        "{v}"
    );
    // Honestly wide: the power bounds on the tail of ln(n)/n^2 leave ~6 digits; the text says so.
    let text = stdout(&kexue(
        &["series", "ln(n)/n^2", "--sum", "--digits", "12"],
        "",
    ));
    assert!(
        text.contains("requested: the tail bound allows no more"),
        "{text}"
    );
}

#[test]
fn products_of_oscillating_factors_are_decided() {
    for (src, verdict) in [
        ("sin(n)^2*cos(n)^2/n", "diverges"),
        ("(2+sin(n))*(2+cos(n))/n^2", "converges"),
        ("abs(sin(n))*abs(cos(n))/n", "diverges"),
        ("sin(n)*cos(n)/n", "converges"),
    ] {
        let text = stdout(&kexue(&["series", src], ""));
        assert_eq!(text.lines().next(), Some(verdict), "{src}: {text}");
    }
}
