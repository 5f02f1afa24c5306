//! CLI integration tests: spawn the built `kexue` binary. One module per domain.

mod cws;
mod diffusion_cov;
mod diffusion_lab;
mod diffusion_likelihood;
mod diffusion_nn;
mod diffusion_trajectory;
mod probmap;
mod series;

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
