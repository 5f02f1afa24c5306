//! CLI integration tests: spawn the built `kexue` binary. One module per domain.

mod cws;
mod diffusion_cov;
mod diffusion_export;
mod diffusion_flags;
mod diffusion_gamma;
mod diffusion_golden;
mod diffusion_imported;
mod diffusion_kill;
mod diffusion_lab;
mod diffusion_library;
mod diffusion_likelihood;
mod diffusion_menu;
mod diffusion_nn;
mod diffusion_train_checks;
mod diffusion_trajectory;
mod gpu_flags;
mod probmap;
mod series;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `kexue` with `args` and `stdin`, returning its output.
pub fn kexue(args: &[&str], stdin: &str) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kexue");
    let mut pipe = child.stdin.take().expect("stdin piped");
    let input = stdin.as_bytes().to_vec();
    let writer = std::thread::spawn(move || {
        let _ = pipe.write_all(&input);
    });
    let out = child.wait_with_output().expect("wait for kexue");
    writer.join().expect("stdin writer");
    out
}

/// A fresh empty folder `<tmp>/<group>/<name>` (removed first if it exists).
pub fn scratch(group: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(group)
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Runs a command (empty stdin) that must succeed; returns its stdout.
pub fn ok(args: &[&str]) -> String {
    let out = kexue(args, "");
    assert!(
        out.status.success(),
        "kexue {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a command that must fail cleanly: exit code 2, one `error:` line, no panic.
pub fn fails(args: &[&str]) -> String {
    let out = kexue(args, "");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "kexue {args:?}: {err}");
    assert!(!err.contains("panicked"), "kexue {args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    err
}

/// Runs a command that clap must reject (a value outside a typed flag's list): exit 2, the
/// offending value named, no panic. Returns stderr.
pub fn usage_error(args: &[&str], needle: &str) -> String {
    let out = kexue(args, "");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "kexue {args:?}: {err}");
    assert!(!err.contains("panicked"), "kexue {args:?} panicked: {err}");
    assert!(err.contains(needle), "kexue {args:?}: {err}");
    err
}

/// Trains a tiny ε-network (MLP 32×2, N = 100, batch 64, a checkpoint every 10 steps) on
/// `data` into `dir`: a few seconds in release.
pub fn train_tiny(dir: &Path, data: &str, steps: &str) {
    ok(&[
        "diffusion",
        "train",
        "--data",
        data,
        "--out",
        s(dir),
        "--steps",
        steps,
        "--net",
        "mlp",
        "--hidden",
        "32",
        "--depth",
        "2",
        "--n-timesteps",
        "100",
        "--checkpoint-every",
        "10",
        "--batch-size",
        "64",
    ]);
}

/// Resumes the checkpoint in `dir` up to step `steps`; returns stdout.
pub fn resume_training(dir: &Path, steps: &str) -> String {
    ok(&[
        "diffusion",
        "train",
        "--out",
        s(dir),
        "--resume",
        "--steps",
        steps,
    ])
}

#[test]
fn help_lists_every_domain() {
    let out = kexue(&["--help"], "");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for domain in ["diffusion", "cws", "probmap", "series"] {
        assert!(text.contains(domain), "--help misses {domain}: {text}");
    }
}

#[test]
fn unknown_subcommand_is_a_clean_error() {
    let out = kexue(&["no-such-thing"], "");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("error"));
}

#[test]
fn closed_stdout_is_not_a_panic() {
    // The pipe's reader is gone before kexue starts, so its first write fails with EPIPE:
    // exit 0, nothing on stderr. `likelihood` prints with `println!`, which panics on a closed
    // stdout unless main treats that as success.
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let out = Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args([
            "diffusion",
            "likelihood",
            "--data",
            "gauss",
            "--samples",
            "20",
        ])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("run kexue");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{:?}: {err}", out.status);
}
