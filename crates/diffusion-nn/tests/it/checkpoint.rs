//! Checkpoint loading errors: missing, truncated, wrong shapes, interrupted writes.

use candle_core::Device;
use diffusion_nn::checkpoint::{self, Weights};
use diffusion_nn::data::{self, DataSpec, Toy};

use super::support;
use super::{scratch, tiny_setup};

/// A fresh folder `name` with a 2-step checkpoint on moons.
fn trained(name: &str) -> std::path::PathBuf {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    support::trained(name, &tiny_setup(2, 1), &data)
}

fn load_err(dir: &std::path::Path) -> String {
    checkpoint::load_model(dir, Weights::Ema, &Device::Cpu)
        .unwrap_err()
        .to_string()
}

#[test]
fn truncated_safetensors_is_a_clear_error() {
    let dir = trained("ckpt-truncated");
    let path = checkpoint::resolve(&dir).join(checkpoint::MODEL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("corrupt or truncated"), "{err}");
}

#[test]
fn wrong_shapes_are_reported_by_name() {
    let dir = trained("ckpt-shapes");
    let meta_path = checkpoint::resolve(&dir).join(checkpoint::META_FILE);
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, text.replace("\"hidden\": 16", "\"hidden\": 24")).unwrap();
    let err = load_err(&dir);
    assert!(
        err.contains("has shape") && err.contains("expects"),
        "{err}"
    );
}

#[test]
fn missing_and_mismatched_files() {
    let empty = scratch("ckpt-empty");
    assert!(load_err(&empty).contains("not a checkpoint folder"));
    let dir = trained("ckpt-step-mismatch");
    let meta_path = checkpoint::resolve(&dir).join(checkpoint::META_FILE);
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, text.replace("\"step\": 2", "\"step\": 7")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("interrupted write"), "{err}");
    std::fs::write(&meta_path, "{ not json").unwrap();
    assert!(load_err(&dir).contains("malformed JSON"));
}

/// Issue 20 item 1: the states a kill can leave (a half-written generation, a complete one the
/// pointer does not name yet, no pointer, a dangling pointer) all load the last complete
/// generation, and training resumes from it.
#[test]
fn every_interrupted_write_leaves_a_resumable_checkpoint() {
    use diffusion_nn::train::Start;
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dir = support::trained("ckpt-kill-states", &tiny_setup(3, 1), &data);
    let current = checkpoint::resolve(&dir);
    assert!(current.ends_with("gen-00000003"), "{}", current.display());
    // Generations 2 and 3 are kept, older ones removed.
    assert!(dir.join("gen-00000002").is_dir() && !dir.join("gen-00000001").exists());
    let step = |d: &std::path::Path| {
        checkpoint::load_model(d, Weights::Raw, &Device::Cpu)
            .unwrap()
            .0
            .step
    };
    // Killed while writing generation 4: its partial folder holds a truncated file.
    let partial = dir.join("gen-00000004.partial");
    std::fs::create_dir_all(&partial).unwrap();
    std::fs::write(partial.join(checkpoint::MODEL_FILE), b"trunc").unwrap();
    assert_eq!(step(&dir), 3);
    // Killed after the rename of generation 5 but before CURRENT moved: CURRENT still wins.
    let g5 = dir.join("gen-00000005");
    std::fs::create_dir_all(&g5).unwrap();
    for f in [checkpoint::META_FILE, checkpoint::MODEL_FILE] {
        std::fs::copy(current.join(f), g5.join(f)).unwrap();
    }
    std::fs::write(
        g5.join(checkpoint::META_FILE),
        std::fs::read_to_string(current.join(checkpoint::META_FILE))
            .unwrap()
            .replace("\"step\": 3", "\"step\": 5"),
    )
    .unwrap();
    assert_eq!(step(&dir), 3);
    std::fs::remove_dir_all(&g5).unwrap();
    // No pointer (killed before the first switch) or a dangling one: newest complete generation.
    std::fs::write(dir.join(checkpoint::CURRENT), "gen-00000009\n").unwrap();
    assert_eq!(step(&dir), 3);
    std::fs::remove_file(dir.join(checkpoint::CURRENT)).unwrap();
    assert_eq!(step(&dir), 3);
    assert!(checkpoint::exists(&dir));
    // Resume continues from step 3 and cleans the partial folder up.
    support::fit(&tiny_setup(5, 1), &data, &dir, Start::Resume).unwrap();
    assert_eq!(step(&dir), 5);
    assert!(!partial.exists());
}

/// Checkpoints written before generations (flat files, like the shipped `models/digits`) load.
#[test]
fn flat_layout_still_loads() {
    let shipped = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    assert_eq!(checkpoint::resolve(&shipped), shipped);
    assert!(checkpoint::exists(&shipped));
    let (meta, _) = checkpoint::load_model(&shipped, Weights::Ema, &Device::Cpu).unwrap();
    assert!(meta.step > 0);
    // A trained generation copied flat into a folder loads the same.
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dir = trained("ckpt-flat-src");
    let flat = scratch("ckpt-flat");
    for f in [
        checkpoint::META_FILE,
        checkpoint::MODEL_FILE,
        checkpoint::OPTIM_FILE,
    ] {
        std::fs::copy(checkpoint::resolve(&dir).join(f), flat.join(f)).unwrap();
    }
    assert_eq!(checkpoint::read_meta(&flat).unwrap().step, 2);
    // Resuming a flat checkpoint writes a generation beside it, which then wins.
    support::fit(
        &tiny_setup(3, 1),
        &data,
        &flat,
        diffusion_nn::train::Start::Resume,
    )
    .unwrap();
    assert_eq!(checkpoint::read_meta(&flat).unwrap().step, 3);
    assert!(checkpoint::resolve(&flat).ends_with("gen-00000003"));
}

/// Issue 20 item 16: checkpoint files get the umask's mode (0644 under umask 022), as any new
/// file does, not the 0600 of a temporary file.
#[cfg(unix)]
#[test]
fn checkpoint_files_respect_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let dir = trained("ckpt-mode");
    let probe = dir.join("probe");
    std::fs::write(&probe, b"").unwrap();
    let want = std::fs::metadata(&probe).unwrap().permissions().mode() & 0o777;
    let gen_dir = checkpoint::resolve(&dir);
    for f in [
        checkpoint::META_FILE,
        checkpoint::MODEL_FILE,
        checkpoint::OPTIM_FILE,
    ] {
        let mode = std::fs::metadata(gen_dir.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, want, "{f}: {mode:o}, want {want:o}");
    }
}

#[test]
fn ema_and_raw_weights_both_load() {
    let dir = trained("ckpt-weights");
    let (m1, a) = checkpoint::load_model(&dir, Weights::Ema, &Device::Cpu).unwrap();
    let (m2, b) = checkpoint::load_model(&dir, Weights::Raw, &Device::Cpu).unwrap();
    assert_eq!(m1, m2);
    assert_eq!(a.n_params(), b.n_params());
}
