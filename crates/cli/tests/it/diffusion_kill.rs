//! Issue 20 item 1: `kexue diffusion train` and `train-cov` killed (SIGKILL) at random moments
//! must always leave a checkpoint that `--resume` continues (generation folders + `CURRENT`,
//! see `diffusion_nn::checkpoint`). Bounded to ~20 s in release.

use std::process::{Command, Stdio};
use std::time::Duration;

use diffusion_nn::checkpoint;
use diffusion_nn::cov;

use super::{kexue, s, scratch};

/// Spawns `kexue args`, kills it after `delay_ms` unless it finished; a run that finished on
/// its own must have succeeded. Returns whether it was killed.
fn run_or_kill(args: &[&str], delay_ms: u64) -> bool {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn kexue");
    let deadline = std::time::Instant::now() + Duration::from_millis(delay_ms);
    while std::time::Instant::now() < deadline {
        if child.try_wait().expect("poll kexue").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let finished = child.try_wait().expect("poll kexue").is_some();
    if !finished {
        let _ = child.kill(); // SIGKILL on Unix
    }
    let out = child.wait_with_output().expect("wait for kexue");
    if finished {
        assert!(
            out.status.success(),
            "kexue {args:?} failed on its own: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    !finished
}

/// Deterministic pseudo-random delays in `lo..hi` ms (an LCG).
fn delays(n: usize, lo: u64, hi: u64) -> Vec<u64> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            lo + (x >> 33) % (hi - lo)
        })
        .collect()
}

#[test]
fn train_and_train_cov_survive_kill_at_any_moment() {
    let dir = scratch("diffusion-kill", "run");
    let out = dir.join("ckpt");
    // A total no run reaches before its kill (each run lives ≤ 450 ms), whatever the machine.
    let total = "1000000";
    let fresh = [
        "diffusion",
        "train",
        "--data",
        "moons",
        "--out",
        s(&out),
        "--steps",
        total,
        "--net",
        "mlp",
        "--hidden",
        "32",
        "--depth",
        "2",
        "--n-timesteps",
        "100",
        "--checkpoint-every",
        "1",
        "--batch-size",
        "64",
    ];
    let resume = [
        "diffusion",
        "train",
        "--out",
        s(&out),
        "--resume",
        "--steps",
        total,
        "--checkpoint-every",
        "1",
    ];
    let mut steps = Vec::new();
    let mut kills = 0;
    for delay in delays(14, 40, 450) {
        let args: &[&str] = if checkpoint::exists(&out) {
            &resume
        } else {
            &fresh
        };
        kills += usize::from(run_or_kill(args, delay));
        if checkpoint::exists(&out) {
            // Whatever the moment of the kill, the current generation loads completely.
            let (meta, _) =
                checkpoint::load_model(&out, checkpoint::Weights::Raw, &diffusion_nn::Device::Cpu)
                    .expect("the checkpoint left by a kill loads");
            steps.push(meta.step);
        }
    }
    assert!(
        kills >= 3,
        "only {kills} runs were killed: make the run longer"
    );
    assert!(steps.windows(2).all(|w| w[0] <= w[1]), "{steps:?}");
    // The last kill's checkpoint resumes to a few steps further.
    let now = checkpoint::read_meta(&out).unwrap().step;
    let target = (now + 3).to_string();
    let mut finish = resume;
    finish[6] = &target;
    let done = kexue(&finish, "");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(checkpoint::read_meta(&out).unwrap().step, now + 3);
    // At most the current and the previous generation remain, no partial folder.
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("gen-"))
        .collect();
    assert!(names.len() <= 2, "{names:?}");
    assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");

    // The same for a covariance head.
    let cov_fresh = [
        "diffusion",
        "train-cov",
        "--ckpt",
        s(&out),
        "--kind",
        "sn",
        "--steps",
        "1000000",
        "--checkpoint-every",
        "1",
        "--batch-size",
        "64",
    ];
    let cov_resume = [
        "diffusion",
        "train-cov",
        "--ckpt",
        s(&out),
        "--kind",
        "sn",
        "--resume",
        "--steps",
        "1000000",
        "--checkpoint-every",
        "1",
    ];
    let mut kills = 0;
    for delay in delays(8, 40, 400) {
        let args: &[&str] = if cov::has_head(&out, diffusion::CovKind::Sn) {
            &cov_resume
        } else {
            &cov_fresh
        };
        kills += usize::from(run_or_kill(args, delay));
        if cov::has_head(&out, diffusion::CovKind::Sn) {
            cov::read_head_meta(&out, diffusion::CovKind::Sn).expect("the head left by a kill");
        }
    }
    assert!(kills >= 6, "only {kills} train-cov runs were killed");
    let now = cov::read_head_meta(&out, diffusion::CovKind::Sn)
        .expect("a head after the kills")
        .step;
    let target = (now + 2).to_string();
    let mut finish = cov_resume;
    finish[8] = &target;
    let done = kexue(&finish, "");
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    assert_eq!(
        cov::read_head_meta(&out, diffusion::CovKind::Sn)
            .unwrap()
            .step,
        now + 2
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
