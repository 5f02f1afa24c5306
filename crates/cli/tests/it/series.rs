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
