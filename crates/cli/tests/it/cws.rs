//! CLI tests for `kexue cws`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::kexue;

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).expect("stdout is UTF-8")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A fresh temporary directory for one test.
fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kexue-cws-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create temp dir");
    d
}

const TOY: &str = "结婚 100\n的 1000\n和 500\n和尚 50\n尚未 80\n未 100\n尚 10\n结 5\n婚 5\n";

#[test]
fn seg_note_example_with_shipped_model() {
    for mode in ["neural", "dict", "hybrid"] {
        let out = kexue(&["cws", "seg", "--mode", mode], "扫描二维码，关注微信号\n");
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1, "{text}");
        let words: Vec<&str> = text.trim_end().split(' ').collect();
        assert_eq!(words.concat(), "扫描二维码，关注微信号");
        assert!(
            words.contains(&"，") && words.contains(&"关注"),
            "{mode}: {text}"
        );
    }
    // The default (hybrid) mode, with no flag at all.
    let out = kexue(
        &["cws", "seg"],
        "扫描二维码，关注微信号\n结婚的和尚未结婚的\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("扫描 二维码 ， 关注"), "{text}");
    assert_eq!(lines[1], "结婚 的 和 尚未 结婚 的");
}

#[test]
fn seg_keeps_one_line_per_line() {
    let input = "今天天气不错\n\n\r\n  \nABC123，好的！\n最后一行没有换行";
    let out = kexue(&["cws", "seg", "--mode", "dict"], input);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.lines().count(), 6, "{text:?}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "");
    assert_eq!(lines[3], "");
    assert_eq!(lines[4].replace(' ', ""), "ABC123，好的！");
}

#[test]
fn seg_json_is_lossless() {
    let input =
        "我爱 北京 🇨🇳👨\u{200d}👩\u{200d}👧\t天安门\u{7}，3.14%！e\u{301}\n结婚的和尚未结婚的";
    for mode in ["neural", "dict", "hybrid"] {
        let out = kexue(&["cws", "seg", "--json", "--mode", mode], input);
        assert!(out.status.success(), "{}", stderr(&out));
        let lines: Vec<Vec<String>> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON array per line"))
            .collect();
        let inputs: Vec<&str> = input.split('\n').collect();
        assert_eq!(lines.len(), inputs.len());
        for (tokens, line) in lines.iter().zip(inputs) {
            assert_eq!(tokens.concat(), line);
            assert!(tokens.iter().all(|t| !t.is_empty()));
        }
    }
}

#[test]
fn seg_dict_mode_with_own_dictionary_and_user_words() {
    let dir = tmp("dict");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let d = dict.to_str().unwrap();
    let out = kexue(
        &["cws", "seg", "--mode", "dict", "--dict", d],
        "结婚的和尚未结婚的\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "结婚 的 和 尚未 结婚 的\n");
    let user = dir.join("user.txt");
    std::fs::write(&user, "苏剑林 nr\n").unwrap();
    let u = user.to_str().unwrap();
    let out = kexue(
        &[
            "cws",
            "seg",
            "--mode",
            "dict",
            "--dict",
            d,
            "--user-dict",
            u,
        ],
        "苏剑林的和尚\n",
    );
    assert_eq!(stdout(&out), "苏剑林 的 和尚\n", "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn malformed_dictionary_names_the_line() {
    let dir = tmp("baddict");
    let dict = dir.join("bad.txt");
    std::fs::write(&dict, "好 1\n坏 many\n").unwrap();
    let out = kexue(
        &[
            "cws",
            "seg",
            "--mode",
            "dict",
            "--dict",
            dict.to_str().unwrap(),
        ],
        "好\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 2") && !err.contains("panicked"), "{err}");
    let out = kexue(
        &["cws", "seg", "--mode", "dict", "--dict", "/no/such/file"],
        "好\n",
    );
    assert_eq!(out.status.code(), Some(2));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn invalid_utf8_is_a_clear_error() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args(["cws", "seg", "--mode", "dict"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kexue");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"\xe4\xbd\xa0\xe5\xa5\xbd\n\xff\xfe\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("line 2") && err.contains("UTF-8"), "{err}");
    assert_eq!(stdout(&out), "你好\n");
}

#[test]
fn very_long_line_is_not_truncated() {
    let line = "结婚的和尚未结婚的，".repeat(100_000); // 1,000,000 characters, 3 MB
    for mode in ["dict", "neural"] {
        let out = kexue(&["cws", "seg", "--mode", mode], &line);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        assert_eq!(text.lines().count(), 1);
        assert_eq!(text.trim_end().replace(' ', ""), line);
    }
}

#[test]
fn score_closed_form_json() {
    let dir = tmp("score");
    let (g, p) = (dir.join("gold.txt"), dir.join("pred.txt"));
    std::fs::write(&g, "扫描 二维码 ， 关注 微信号\n结婚 的 和 尚未 结婚 的\n").unwrap();
    std::fs::write(
        &p,
        "扫描 二 维码 ， 关注 微信 号\n结婚 的 和尚 未 结婚 的\n",
    )
    .unwrap();
    let out = kexue(
        &[
            "cws",
            "score",
            g.to_str().unwrap(),
            p.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    // c = 3 + 4, |gold| = 5 + 6, |pred| = 7 + 6: P = 7/13, R = 7/11, F1 = 14/24.
    let close = |k: &str, want: f64| (v[k].as_f64().unwrap() - want).abs() < 1e-12;
    assert!(
        close("precision", 7.0 / 13.0) && close("recall", 7.0 / 11.0),
        "{v}"
    );
    assert!(close("f1", 14.0 / 24.0), "{v}");
    assert!(v["oov_recall"].is_null());
    let words = dir.join("words.txt");
    std::fs::write(&words, "扫描 3 v\n关注 2\n，\n结婚 1\n的 1\n和 1\n尚未 1\n").unwrap();
    let out = kexue(
        &[
            "cws",
            "score",
            g.to_str().unwrap(),
            p.to_str().unwrap(),
            "--words",
            words.to_str().unwrap(),
            "--json",
        ],
        "",
    );
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    // OOV gold words: 二维码, 微信号 (both missed); IV: 9, of which 7 found.
    assert_eq!(v["oov_recall"].as_f64(), Some(0.0));
    assert!(
        (v["iv_recall"].as_f64().unwrap() - 7.0 / 9.0).abs() < 1e-12,
        "{v}"
    );
    std::fs::write(&p, "扫描 二维码\n结婚\n").unwrap();
    let out = kexue(
        &["cws", "score", g.to_str().unwrap(), p.to_str().unwrap()],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn train_then_seg_with_the_trained_model() {
    let dir = tmp("train");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let model = dir.join("model");
    let args = |steps: &'static str| {
        vec![
            "cws".to_string(),
            "train".into(),
            "--dict".into(),
            dict.to_str().unwrap().into(),
            "--out".into(),
            model.to_str().unwrap().into(),
            "--steps".into(),
            steps.into(),
            "--batch".into(),
            "8".into(),
            "--emb-dim".into(),
            "4".into(),
            "--hidden".into(),
            "8".into(),
            "--window".into(),
            "3".into(),
            "--checkpoint-every".into(),
            "2".into(),
            "--max-chars".into(),
            "16".into(),
        ]
    };
    let a = args("4");
    let out = kexue(&a.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("trained 4 steps"), "{}", stdout(&out));
    for f in [
        "config.json",
        "vocab.txt",
        "model.safetensors",
        "state.json",
    ] {
        assert!(model.join(f).exists(), "{f}");
    }
    let out = kexue(
        &[
            "cws",
            "seg",
            "--mode",
            "neural",
            "--model",
            model.to_str().unwrap(),
        ],
        "结婚的和尚未结婚的\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        stdout(&out).trim_end().replace(' ', ""),
        "结婚的和尚未结婚的"
    );
    // Training again with other settings refuses to resume into the same directory.
    let out = kexue(
        &args("6").iter().map(String::as_str).collect::<Vec<_>>(),
        "",
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}
