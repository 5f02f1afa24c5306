//! Issue 20 items 7, 12 and 16 from the command line: impossible sizes and a negative
//! `--grad-clip` are refused up front, a NaN before the first checkpoint says nothing was written.

use super::{kexue, s, scratch};

fn train(out: &std::path::Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec![
        "diffusion",
        "train",
        "--data",
        "moons",
        "--out",
        s(out),
        "--net",
        "mlp",
        "--hidden",
        "32",
        "--depth",
        "2",
        "--n-timesteps",
        "100",
    ];
    args.extend_from_slice(extra);
    let out = kexue(&args, "");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn impossible_batch_and_bad_grad_clip_are_clear_errors() {
    let dir = scratch("train-checks", "sizes");
    let out = dir.join("ckpt");
    let (code, err) = train(&out, &["--batch-size", "1000000000", "--steps", "2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("use at most --batch-size") && !err.contains("panicked"),
        "{err}"
    );
    for clip in ["--grad-clip=-1", "--grad-clip=NaN"] {
        let (code, err) = train(&out, &[clip, "--steps", "2"]);
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("grad_clip"), "{clip}: {err}");
    }
    // A schedule of 10¹² steps would need terabytes of tables.
    let res = kexue(
        &[
            "diffusion",
            "train",
            "--data",
            "moons",
            "--out",
            s(&out),
            "--steps",
            "2",
            "--n-timesteps",
            "1000000000000",
        ],
        "",
    );
    let (code, err) = (
        res.status.code(),
        String::from_utf8_lossy(&res.stderr).into_owned(),
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("GiB"), "{err}");
    assert!(!out.exists(), "nothing is written for a refused run");
}

#[test]
fn nan_before_the_first_checkpoint_says_nothing_was_written() {
    let dir = scratch("train-checks", "nan");
    let out = dir.join("ckpt");
    let (code, err) = train(&out, &["--lr", "1e30", "--steps", "50", "--grad-clip", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("non-finite") && err.contains("no checkpoint was written"),
        "{err}"
    );
    assert!(!err.contains("(step 0)"), "{err}");
    assert!(!diffusion_nn::checkpoint::exists(&out));
}

#[test]
fn train_cov_checks_sizes_up_front() {
    let dir = scratch("train-checks", "cov");
    let out = dir.join("ckpt");
    let (code, err) = train(&out, &["--steps", "1", "--batch-size", "8"]);
    assert_eq!(code, Some(0), "{err}");
    let res = kexue(
        &[
            "diffusion",
            "train-cov",
            "--ckpt",
            s(&out),
            "--kind",
            "sn",
            "--batch-size",
            "1000000000",
        ],
        "",
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("use at most --batch-size"), "{err}");
    let res = kexue(
        &[
            "diffusion",
            "train-cov",
            "--ckpt",
            s(&out),
            "--kind",
            "npr",
            "--grad-clip=-1",
        ],
        "",
    );
    let err = String::from_utf8_lossy(&res.stderr);
    assert_eq!(res.status.code(), Some(2), "{err}");
    assert!(err.contains("grad_clip"), "{err}");
    assert!(!diffusion_nn::cov::has_head(&out, diffusion::CovKind::Sn));
}
