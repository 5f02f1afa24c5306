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
    let path = dir.join(checkpoint::MODEL_FILE);
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("corrupt or truncated"), "{err}");
}

#[test]
fn wrong_shapes_are_reported_by_name() {
    let dir = trained("ckpt-shapes");
    let meta_path = dir.join(checkpoint::META_FILE);
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
    let meta_path = dir.join(checkpoint::META_FILE);
    let text = std::fs::read_to_string(&meta_path).unwrap();
    std::fs::write(&meta_path, text.replace("\"step\": 2", "\"step\": 7")).unwrap();
    let err = load_err(&dir);
    assert!(err.contains("interrupted write"), "{err}");
    std::fs::write(&meta_path, "{ not json").unwrap();
    assert!(load_err(&dir).contains("malformed JSON"));
}

#[test]
fn ema_and_raw_weights_both_load() {
    let dir = trained("ckpt-weights");
    let (m1, a) = checkpoint::load_model(&dir, Weights::Ema, &Device::Cpu).unwrap();
    let (m2, b) = checkpoint::load_model(&dir, Weights::Raw, &Device::Cpu).unwrap();
    assert_eq!(m1, m2);
    assert_eq!(a.n_params(), b.n_params());
}
