//! Issue 14: every diffusion command on the diffusers fixture folders of
//! `crates/diffusion-nn/tests/data/diffusers` (a model folder `ddpm/`, a class-conditional
//! learned-variance model folder `iddpm/`, a v-prediction pipeline folder `vpred/`), the
//! refusals, and issue 20 items 7 (sizes checked against memory), 16 (PNG-only image paths)
//! and 18 (no cache written into a model folder).
//!
//! The commands run in a scratch working directory (caches of imported folders go to
//! `artifacts/cache/` under it). Copies of the fixtures get `num_train_timesteps` = 40 so that
//! Γ (one network call per timestep) takes a fraction of a second; the untouched fixtures are
//! sampled too.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::{s, scratch};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../diffusion-nn/tests/data/diffusers")
}

/// Runs `kexue` in `cwd`.
fn run_in(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kexue"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("spawn kexue")
}

fn ok_in(cwd: &Path, args: &[&str]) -> String {
    let out = run_in(cwd, args);
    assert!(
        out.status.success(),
        "kexue {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A clean failure (exit 2, one `error:` line, no panic) whose message contains `needle`.
fn fails_in(cwd: &Path, args: &[&str], needle: &str) -> String {
    let out = run_in(cwd, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "kexue {args:?}: {err}");
    assert!(!err.contains("panicked"), "kexue {args:?} panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got {err}");
    assert!(
        err.contains(needle),
        "kexue {args:?}: expected `{needle}` in {err}"
    );
    err
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every file under `dir` with its length, sorted (to check a folder is left as it was).
fn listing(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                stack.push(entry.path());
            } else {
                out.push((entry.path(), entry.metadata().unwrap().len()));
            }
        }
    }
    out.sort();
    out
}

/// A copy of fixture `name` in `root` with N = 40 training timesteps.
fn short_fixture(root: &Path, name: &str) -> PathBuf {
    let dir = root.join(name);
    copy_tree(&fixtures().join(name), &dir);
    let sched = if dir.join("scheduler").is_dir() {
        dir.join("scheduler/scheduler_config.json")
    } else {
        dir.join("scheduler_config.json")
    };
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&sched).unwrap()).unwrap();
    v["num_train_timesteps"] = Value::from(40);
    std::fs::write(&sched, v.to_string()).unwrap();
    dir
}

/// Writes `n` pseudo-random 8-bit images of shape (c, h, w) as a uint8 `.npy` file.
fn write_images(path: &Path, n: usize, c: usize, h: usize, w: usize) {
    let mut header =
        format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({n}, {c}, {h}, {w}), }}");
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    let mut state: u32 = 12345;
    for i in 0..n * c * h * w {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        // Smooth-ish images: a ramp plus noise, all levels 0..255 used.
        let ramp = (i % (h * w)) as u32 * 200 / (h * w) as u32;
        bytes.push(((ramp + (state >> 16) % 56) % 256) as u8);
    }
    std::fs::write(path, bytes).unwrap();
}

fn refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn model_folder_runs_every_command() {
    let root = scratch("imported", "ddpm");
    let model = short_fixture(&root, "ddpm");
    let data = root.join("rgb.npy");
    write_images(&data, 40, 3, 8, 8);
    let before = listing(&model);
    let (m, d) = (s(&model), format!("npy:{}", s(&data)));

    // Γ needs data; without any it says how to give them.
    fails_in(
        &root,
        &["diffusion", "gamma", "--ckpt", m, "--m", "4"],
        "--data",
    );
    let g = json(&ok_in(
        &root,
        &[
            "diffusion",
            "gamma",
            "--ckpt",
            m,
            "--m",
            "4",
            "--data",
            &d,
            "--json",
        ],
    ));
    assert_eq!(g["gamma"].as_array().unwrap().len(), 40);
    assert_eq!(g["data"].as_str(), Some(d.as_str()));
    let cache: Vec<_> = std::fs::read_dir(root.join("artifacts/cache"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(cache.len(), 1, "{cache:?}");
    assert!(cache[0].join("gamma.json").is_file());
    // The second run reads the cache (and the data it remembers) instead of estimating.
    let again = ok_in(&root, &["diffusion", "gamma", "--ckpt", m, "--m", "4"]);
    assert!(again.starts_with("cached"), "{again}");

    // Discrete (Γ from the cache, data remembered for --energy), menu and continuous samplers.
    let png = root.join("grid.png");
    for sampler in ["analytic-ddpm", "ddim", "dpm-solver++", "ode-heun"] {
        let out = json(&ok_in(
            &root,
            &[
                "diffusion",
                "sample",
                "--ckpt",
                m,
                "--sampler",
                sampler,
                "--steps",
                "4",
                "--samples",
                "6",
                "--energy",
                "--png",
                s(&png),
                "--json",
            ],
        ));
        assert_eq!(out["sampler"], sampler);
        assert_eq!(out["samples"], 6);
        assert!(out["energy_distance"].as_f64().unwrap().is_finite());
    }
    assert!(png.is_file());
    // A covariance sampler needs a head, and says how to get one.
    fails_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--ckpt",
            m,
            "--sampler",
            "sn-ddpm",
            "--steps",
            "4",
        ],
        "train-cov",
    );
    // learned-ddpm needs a learned variance, which this model has not.
    fails_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--ckpt",
            m,
            "--sampler",
            "learned-ddpm",
            "--steps",
            "4",
        ],
        "learned variance",
    );

    let eval = json(&ok_in(
        &root,
        &[
            "diffusion",
            "eval",
            "--ckpt",
            m,
            "--steps",
            "2,5",
            "--samplers",
            "ddpm-tilde,analytic-ddpm",
            "--json",
        ],
    ));
    let rows = eval["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(eval["n_test"], 4); // every 10th of 40 images is held out
    assert_eq!(eval["data"].as_str(), Some(d.as_str()));
    for r in rows {
        assert!(r["bpd"].as_f64().unwrap().is_finite(), "{r}");
    }

    let traj = json(&ok_in(
        &root,
        &[
            "diffusion",
            "trajectory",
            "--ckpt",
            m,
            "--steps",
            "3",
            "--samples",
            "4",
            "--json",
        ],
    ));
    assert_eq!(traj["total_steps"], 40);
    assert_eq!(traj["trajectory"].as_array().unwrap().len(), 3, "{traj}");
    assert_eq!(traj["even"]["trajectory"], serde_json::json!([1, 20, 40]));
    assert!(traj["nelbo"].as_f64().unwrap().is_finite());

    let ll = json(&ok_in(
        &root,
        &[
            "diffusion",
            "likelihood",
            "--ckpt",
            m,
            "--samples",
            "1",
            "--hutchinson",
            "1",
            "--rtol",
            "1e-2",
            "--atol",
            "1e-2",
            "--json",
        ],
    ));
    assert!(ll.to_string().contains("bits"), "{ll}");

    // Nothing was written into the model folder.
    assert_eq!(listing(&model), before);
}

#[test]
fn class_conditional_learned_variance_model() {
    let root = scratch("imported", "iddpm");
    let model = short_fixture(&root, "iddpm");
    let data = root.join("rgb.npy");
    write_images(&data, 30, 3, 8, 8);
    let (m, d) = (s(&model), format!("npy:{}", s(&data)));
    let sample = |extra: &[&str]| {
        let mut a = vec![
            "diffusion",
            "sample",
            "--ckpt",
            m,
            "--steps",
            "4",
            "--samples",
            "3",
        ];
        a.extend_from_slice(extra);
        a.push("--json");
        a.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    fails_in(&root, &refs(&sample(&["--sampler", "ddim"])), "--class N");
    fails_in(
        &root,
        &refs(&sample(&["--sampler", "ddim", "--class", "5"])),
        "outside 0..5",
    );
    let a = json(&ok_in(
        &root,
        &refs(&sample(&["--sampler", "learned-ddpm", "--class", "1"])),
    ));
    assert_eq!(a["sampler"], "learned-ddpm");
    assert_eq!(a["samples"], 3);
    // Another class is another model: the samples differ.
    let b = json(&ok_in(
        &root,
        &refs(&sample(&["--sampler", "learned-ddpm", "--class", "2"])),
    ));
    assert_ne!(a["mean"], b["mean"]);
    fails_in(
        &root,
        &refs(&sample(&[
            "--sampler",
            "learned-ddpm",
            "--class",
            "1",
            "--eta",
            "0.5",
        ])),
        "learned-ddpm",
    );

    // eval: learned-ddpm's NELBO next to Analytic-DDPM's (Γ per class, cached per class).
    let eval = json(&ok_in(
        &root,
        &[
            "diffusion",
            "eval",
            "--ckpt",
            m,
            "--class",
            "1",
            "--data",
            &d,
            "--m",
            "3",
            "--steps",
            "3",
            "--samplers",
            "analytic-ddpm,learned-ddpm",
            "--json",
        ],
    ));
    let rows = eval["rows"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r["sampler"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["analytic-ddpm", "learned-ddpm"]);
    for r in rows {
        let bpd = r["bpd"].as_f64().unwrap();
        assert!(bpd.is_finite() && bpd > 0.0, "{r}");
    }
    // The other commands take --class too, and a kexue checkpoint refuses it.
    ok_in(
        &root,
        &[
            "diffusion",
            "trajectory",
            "--ckpt",
            m,
            "--class",
            "1",
            "--steps",
            "3",
            "--samples",
            "3",
        ],
    );
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    fails_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--ckpt",
            s(&digits),
            "--class",
            "1",
            "--sampler",
            "ddim",
            "--steps",
            "3",
        ],
        "not class-conditional",
    );
}

#[test]
fn pipeline_folder_and_untouched_fixtures() {
    let root = scratch("imported", "vpred");
    let model = short_fixture(&root, "vpred");
    let data = root.join("grey.npy");
    write_images(&data, 30, 1, 16, 16);
    let (m, d) = (s(&model), format!("npy:{}", s(&data)));
    let out = json(&ok_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--ckpt",
            m,
            "--data",
            &d,
            "--m",
            "3",
            "--sampler",
            "analytic-ddim",
            "--steps",
            "4",
            "--samples",
            "2",
            "--json",
        ],
    ));
    assert_eq!(out["mean"].as_array().unwrap().len(), 256);
    // Images of the wrong shape are refused with both shapes named.
    let rgb = root.join("rgb.npy");
    write_images(&rgb, 20, 3, 8, 8);
    fails_in(
        &root,
        &[
            "diffusion",
            "gamma",
            "--ckpt",
            m,
            "--data",
            &format!("npy:{}", s(&rgb)),
        ],
        "the model takes 1",
    );
    // The committed fixtures themselves (N = 1000), without Γ: ddim runs, nothing is written.
    for name in ["ddpm", "vpred"] {
        let dir = fixtures().join(name);
        let before = listing(&dir);
        ok_in(
            &root,
            &[
                "diffusion",
                "sample",
                "--ckpt",
                s(&dir),
                "--sampler",
                "ddim",
                "--steps",
                "3",
                "--samples",
                "2",
            ],
        );
        assert_eq!(listing(&dir), before);
    }
    fails_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--ckpt",
            m,
            "--raw-weights",
            "--sampler",
            "ddim",
            "--steps",
            "3",
        ],
        "--raw-weights",
    );
}

/// Issue 20 item 7: a sample count that cannot fit in memory is refused up front (it used
/// to allocate until the kernel killed the process).
#[test]
fn huge_sizes_are_refused_up_front() {
    let root = scratch("imported", "sizes");
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    for (flag, value) in [
        ("--samples", "1000000000000000"),
        ("--m", "1000000000000000"),
    ] {
        fails_in(
            &root,
            &[
                "diffusion",
                "sample",
                "--ckpt",
                s(&digits),
                "--sampler",
                "ddim",
                "--steps",
                "3",
                flag,
                value,
            ],
            "use at most",
        );
    }
    fails_in(
        &root,
        &[
            "diffusion",
            "sample",
            "--data",
            "gmm",
            "--sampler",
            "ddim",
            "--steps",
            "3",
            "--samples",
            "1000000000000000",
        ],
        "use at most",
    );
    fails_in(
        &root,
        &[
            "diffusion",
            "gamma",
            "--ckpt",
            s(&digits),
            "--m",
            "1000000000000000",
        ],
        "use at most",
    );
}

/// Issue 20 item 7, the exact-law commands: a huge `--samples` on `lab`, `trajectory` and
/// `likelihood` (law and checkpoint) is one clear error before anything is allocated.
#[test]
fn law_commands_refuse_samples_that_do_not_fit() {
    let root = scratch("imported", "law-sizes");
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let huge = "1000000000000000";
    let cases: [&[&str]; 5] = [
        &["diffusion", "lab", "--data", "gmm", "--samples", huge],
        &[
            "diffusion",
            "trajectory",
            "--data",
            "gmm",
            "--steps",
            "3",
            "--samples",
            huge,
        ],
        &[
            "diffusion",
            "trajectory",
            "--ckpt",
            s(&digits),
            "--steps",
            "3",
            "--samples",
            huge,
        ],
        &[
            "diffusion",
            "likelihood",
            "--data",
            "gauss",
            "--samples",
            huge,
        ],
        &[
            "diffusion",
            "likelihood",
            "--ckpt",
            s(&digits),
            "--samples",
            huge,
        ],
    ];
    for args in cases {
        fails_in(&root, args, "use at most");
    }
}

/// Issue 20 item 16: `--png x.jpg` used to write PNG bytes under a JPEG name.
#[test]
fn image_paths_must_be_png() {
    let root = scratch("imported", "jpg");
    for name in ["grid.jpg", "grid"] {
        fails_in(
            &root,
            &[
                "diffusion",
                "sample",
                "--data",
                "gmm",
                "--sampler",
                "ddim",
                "--steps",
                "3",
                "--samples",
                "4",
                "--png",
                name,
            ],
            ".png",
        );
        assert!(!root.join(name).exists());
    }
}

/// Issue 20 item 18: commands on the shipped `models/digits` cache into
/// `artifacts/cache/digits` under the working directory and never write the shipped folder.
#[test]
fn shipped_models_are_never_written() {
    let root = scratch("imported", "shipped");
    let digits = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let before = listing(&digits);
    ok_in(
        &root,
        &["diffusion", "gamma", "--ckpt", s(&digits), "--m", "2"],
    );
    ok_in(
        &root,
        &[
            "diffusion",
            "eval",
            "--ckpt",
            s(&digits),
            "--steps",
            "2",
            "--samplers",
            "ddpm-tilde",
            "--limit",
            "4",
        ],
    );
    assert_eq!(listing(&digits), before);
    assert!(root.join("artifacts/cache/digits/gamma.json").is_file());
    assert!(root.join("artifacts/cache/digits/eval.json").is_file());
}
