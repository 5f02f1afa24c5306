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
        let lines: Vec<Vec<serde_json::Value>> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON array per line"))
            .collect();
        let inputs: Vec<&str> = input.split('\n').collect();
        assert_eq!(lines.len(), inputs.len());
        for (tokens, line) in lines.iter().zip(inputs) {
            let words: Vec<&str> = tokens.iter().map(|t| t["word"].as_str().unwrap()).collect();
            assert_eq!(words.concat(), line);
            assert!(words.iter().all(|t| !t.is_empty()));
            // Offsets slice the line back to each token.
            let chars: Vec<char> = line.chars().collect();
            for t in tokens {
                let at = |k: &str| t[k].as_u64().unwrap() as usize;
                let w = t["word"].as_str().unwrap();
                assert_eq!(&line[at("byte_start")..at("byte_end")], w);
                assert_eq!(chars[at("start")..at("end")].iter().collect::<String>(), w);
            }
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
    // OOV gold words: 二维码, 微信号 (both missed); IV (Han words only, issue 20 item 21): 8, of
    // which 6 found; the comma is neither (counted as `other`).
    assert_eq!(v["oov_recall"].as_f64(), Some(0.0));
    assert!(
        (v["iv_recall"].as_f64().unwrap() - 6.0 / 8.0).abs() < 1e-12,
        "{v}"
    );
    assert_eq!(v["counts"]["other_gold"], 1);
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
    assert!(
        stdout(&out).contains("steps 1..=4 of 4"),
        "{}",
        stdout(&out)
    );
    let current = cws::ckpt::resolve(&model).expect("a checkpoint");
    for f in [
        "config.json",
        "vocab.txt",
        "model.safetensors",
        "state.json",
    ] {
        assert!(current.join(f).exists(), "{f}");
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
    let mut other = args("6");
    other.extend(["--seed".to_string(), "7".to_string()]);
    let out = kexue(&other.iter().map(String::as_str).collect::<Vec<_>>(), "");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

fn args_of(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

// Issue 20 item 13: `--mode dict --model X` was silently ignored; an empty dictionary said
// "line 0"; a joiner before a space gave a double space; CRLF lost its `\r` in --json.
#[test]
fn seg_rejects_flags_that_do_not_apply_and_keeps_bytes() {
    let out = kexue(
        &["cws", "seg", "--mode", "dict", "--model", "models/cws"],
        "好\n",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--model"), "{}", stderr(&out));
    let out = kexue(&["cws", "seg", "--mode", "dict", "--lambda", "1"], "好\n");
    assert_eq!(out.status.code(), Some(2));
    let out = kexue(&["cws", "seg", "--threads", "0"], "好\n");
    assert_eq!(out.status.code(), Some(2));
    let dir = tmp("empty");
    let empty = dir.join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let out = kexue(
        &[
            "cws",
            "seg",
            "--mode",
            "dict",
            "--dict",
            empty.to_str().unwrap(),
        ],
        "好\n",
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        !err.contains("line 0") && err.contains("no entries"),
        "{err}"
    );
    let out = kexue(&["cws", "seg", "--mode", "dict"], "👍\u{200d} 你好\n");
    assert_eq!(stdout(&out), "👍\u{200d} 你好\n");
    let out = kexue(&["cws", "seg", "--mode", "dict", "--json"], "你好\r\n");
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim_end()).unwrap();
    assert_eq!(v[v.as_array().unwrap().len() - 1]["word"], "\r");
    std::fs::remove_dir_all(&dir).unwrap();
}

// Issue 20 item 4 through the CLI: the README's user-dictionary example in the default mode.
#[test]
fn seg_user_dictionary_applies_in_the_default_mode() {
    let dir = tmp("user");
    let user = dir.join("user.txt");
    std::fs::write(&user, "创新办 3 j\n云计算 5\n天气很好 100000\n").unwrap();
    let u = user.to_str().unwrap();
    let input = "今天天气很好，创新办主任谈云计算\n";
    for mode in ["hybrid", "dict", "search"] {
        let out = kexue(&["cws", "seg", "--mode", mode, "--user-dict", u], input);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        let words: Vec<&str> = text.split_whitespace().collect();
        for w in ["天气很好", "创新办", "云计算"] {
            assert!(words.contains(&w), "{mode}: {text}");
        }
    }
    std::fs::write(&user, "云计算 5\n云计算 6\n").unwrap();
    let out = kexue(&["cws", "seg", "--user-dict", u], input);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 2"), "{}", stderr(&out));
    std::fs::write(&user, "云计算 5 名词\n").unwrap();
    let out = kexue(&["cws", "seg", "--user-dict", u], input);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("line 1"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn seg_search_pos_and_threads() {
    let out = kexue(
        &["cws", "seg", "--mode", "search"],
        "中华人民共和国成立了\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let words: Vec<&str> = text.split_whitespace().collect();
    for w in ["中华", "人民", "共和国"] {
        assert!(words.contains(&w), "{text}");
    }
    let plain = kexue(&["cws", "seg"], "中华人民共和国成立了\n");
    assert!(
        words.len() > stdout(&plain).split_whitespace().count(),
        "{text}"
    );
    let out = kexue(
        &["cws", "seg", "--mode", "dict", "--pos"],
        "我爱北京天安门\n",
    );
    assert_eq!(
        stdout(&out),
        "我/r 爱/v 北京/ns 天安门/ns\n",
        "{}",
        stderr(&out)
    );
    let raw = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/cws-dev/raw.txt"),
    )
    .unwrap()
    .repeat(20);
    for extra in [&[][..], &["--json", "--pos"][..], &["--mode", "search"][..]] {
        let mut a = vec!["cws", "seg"];
        a.extend_from_slice(extra);
        let serial = kexue(&a, &raw);
        a.extend_from_slice(&["--threads", "2"]);
        let par = kexue(&a, &raw);
        assert!(serial.status.success() && par.status.success());
        assert!(serial.stdout == par.stdout, "{extra:?}");
    }
}

fn train_args(dict: &std::path::Path, model: &std::path::Path, steps: &str) -> Vec<String> {
    [
        "cws",
        "train",
        "--dict",
        dict.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--steps",
        steps,
        "--batch",
        "8",
        "--emb-dim",
        "4",
        "--hidden",
        "8",
        "--window",
        "3",
        "--checkpoint-every",
        "1",
        "--max-chars",
        "16",
        "--vocab-chars",
        "50",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

// Issue 20 item 11: a finished model printed "loss NaN"; --steps could not grow.
#[test]
fn train_steps_is_a_new_total_and_finished_runs_say_so() {
    let dir = tmp("total");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let model = dir.join("model");
    let out = kexue(&args_of(&train_args(&dict, &model, "3")), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = kexue(&args_of(&train_args(&dict, &model, "3")), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("nothing to do") && !text.contains("NaN"),
        "{text}"
    );
    let out = kexue(&args_of(&train_args(&dict, &model, "5")), "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("steps 4..=5 of 5"),
        "{}",
        stdout(&out)
    );
    let mut other = train_args(&dict, &model, "6");
    other.extend(["--lr".to_string(), "0.5".to_string()]);
    let out = kexue(&args_of(&other), "");
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("--lr") && err.contains("--restart"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// Issue 20 item 1 (cws train): SIGKILL at random moments, then resume, must always work.
#[test]
fn train_survives_kill_at_any_moment() {
    let dir = tmp("kill");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let model = dir.join("model");
    let total = 400;
    let args = train_args(&dict, &model, &total.to_string());
    // Deterministic pseudo-random delays (an LCG), 12 kills, each run bounded to ~0.3 s.
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    let mut resumed_steps = Vec::new();
    for _ in 0..12 {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let delay_ms = 20 + (x >> 33) % 280;
        let mut child = Command::new(env!("CARGO_BIN_EXE_kexue"))
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn kexue");
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL on Unix
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !err.contains("error"),
            "a run failed before it was killed: {err}"
        );
        if let Some(cur) = cws::ckpt::resolve(&model) {
            let state: serde_json::Value =
                serde_json::from_slice(&std::fs::read(cur.join("state.json")).unwrap()).unwrap();
            resumed_steps.push(state["step"].as_u64().unwrap());
        }
    }
    // Progress was made across kills, and the run always resumes to the end.
    assert!(
        resumed_steps.windows(2).all(|w| w[0] <= w[1]),
        "{resumed_steps:?}"
    );
    let out = kexue(&args_of(&args), "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stdout(&out).contains("NaN"), "{}", stdout(&out));
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
    std::fs::remove_dir_all(&dir).unwrap();
}

// Issue 20 item 20: one GPU spelling everywhere. `cws train` takes `--device cpu|cuda` like the
// diffusion commands (it had only `--cuda`); `--cuda` stays as a hidden alias.
#[test]
fn train_device_flag_matches_the_diffusion_commands() {
    let dir = tmp("device");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let model = dir.join("model");
    let help = kexue(&["cws", "train", "--help"], "");
    assert!(help.status.success(), "{}", stderr(&help));
    let text = stdout(&help);
    assert!(text.contains("--device <DEVICE>"), "{text}");
    assert!(!text.contains("--cuda"), "{text}");
    // --device cpu trains.
    let mut a = train_args(&dict, &model, "1");
    a.extend(["--device".to_string(), "cpu".to_string()]);
    let out = kexue(&args_of(&a), "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(cws::ckpt::resolve(&model).is_some());
    // --device cuda and the old --cuda reach the device (an error naming the build flag in a
    // CPU-only build), never "unexpected argument".
    if !cfg!(feature = "cuda") {
        for flag in [&["--device", "cuda"][..], &["--cuda"][..]] {
            let mut a = train_args(&dict, &dir.join("gpu"), "1");
            a.extend(flag.iter().map(|s| s.to_string()));
            let out = kexue(&args_of(&a), "");
            assert_eq!(out.status.code(), Some(2), "{flag:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.contains("-p cli --features cuda") && !err.contains("unexpected argument"),
                "{flag:?}: {err}"
            );
        }
    }
    // Both spellings at once are refused.
    let mut a = train_args(&dict, &model, "1");
    a.extend(["--device", "cpu", "--cuda"].iter().map(|s| s.to_string()));
    let out = kexue(&args_of(&a), "");
    assert_ne!(out.status.code(), Some(0), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

// Issue 20 item 16: model and checkpoint files follow the umask (0666 & !umask for files,
// 0777 & !umask for folders), never a fixed 0600.
#[cfg(target_os = "linux")]
#[test]
fn train_files_respect_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tmp("umask");
    let dict = dir.join("toy.txt");
    std::fs::write(&dict, TOY).unwrap();
    let model = dir.join("model");
    // The child inherits this process's umask; read it from /proc.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
        .expect("Umask line");
    let out = kexue(&args_of(&train_args(&dict, &model, "2")), "");
    assert!(out.status.success(), "{}", stderr(&out));
    let gen_dir = cws::ckpt::resolve(&model).expect("a checkpoint");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&gen_dir), 0o777 & !umask, "{}", gen_dir.display());
    let mut files = vec![model.join("CURRENT")];
    for f in [
        "config.json",
        "vocab.txt",
        "model.safetensors",
        "state.json",
    ] {
        files.push(gen_dir.join(f));
    }
    for f in files {
        assert_eq!(mode(&f), 0o666 & !umask, "{}", f.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
