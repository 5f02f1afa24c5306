//! `Checkpoint::open` on the diffusers fixture folders (issue 14): layouts, the ε-view behind
//! the checkpoint, class labels, data checks, caches outside the model folder, learned-ddpm.

use std::path::{Path, PathBuf};

use diffusion::analytic::Gamma;
use diffusion::{AnySampler, DrawSpec, EpsPredictor, NoiseLevel, PlanSettings, TrajectoryKind};
use diffusion_nn::data::{DataShape, DataSpec};
use diffusion_nn::diffusers::{self, ClassLabels, EpsView};
use diffusion_nn::pipeline::{self, NetSampler};
use diffusion_nn::{Checkpoint, Device, OpenOptions};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/diffusers")
        .join(name)
}

fn with_class(class: Option<u32>) -> OpenOptions {
    OpenOptions {
        class,
        ..OpenOptions::default()
    }
}

#[test]
fn checkpoint_predictor_is_the_diffusers_eps_view() {
    // The pipeline folder (v-prediction): the checkpoint's predictor must be EpsView's ε̂.
    let dir = fixture("vpred");
    let ck = Checkpoint::open(&dir).unwrap();
    assert!(ck.is_imported());
    assert_eq!(ck.step(), 0);
    assert_eq!(
        ck.shape(),
        DataShape::Image {
            channels: 1,
            height: 16,
            width: 16
        }
    );
    assert_eq!(ck.levels(), Some(256));
    let pre = diffusers::load(&dir, &Device::Cpu).unwrap();
    let view = EpsView::new(
        &pre.unet,
        pre.scheduler.prediction_type,
        ClassLabels::None,
        8,
    )
    .unwrap();
    let x: Vec<f64> = (0..2 * 256)
        .map(|i| ((i * 37) % 19) as f64 / 10.0 - 0.9)
        .collect();
    let level = NoiseLevel {
        t: 300.0,
        alpha_bar: ck.schedule().alpha_bar(300),
    };
    let (mut a, mut b) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    ck.predictor().predict_eps(&x, level, &mut a).unwrap();
    view.predict_eps(&x, level, &mut b).unwrap();
    assert_eq!(a, b);
    // Caches go under artifacts/cache, never into the model folder.
    let cache = ck.cache_dir();
    assert!(cache.starts_with("artifacts/cache"), "{cache:?}");
    assert!(!cache.starts_with(&dir));
    // No data: a clear error naming --data.
    let err = ck.held_out(4).unwrap_err().to_string();
    assert!(err.contains("--data"), "{err}");
    assert!(ck.learned_variance(4).is_none());
}

#[test]
fn class_labels_are_required_checked_and_refused() {
    let dir = fixture("iddpm");
    let err = Checkpoint::open_with(&dir, with_class(None))
        .unwrap_err()
        .to_string();
    assert!(err.contains("--class N") && err.contains("0..5"), "{err}");
    let err = Checkpoint::open_with(&dir, with_class(Some(5)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside 0..5"), "{err}");
    let err = Checkpoint::open_with(fixture("ddpm"), with_class(Some(0)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("not class-conditional"), "{err}");
    let a = Checkpoint::open_with(&dir, with_class(Some(1))).unwrap();
    let b = Checkpoint::open_with(&dir, with_class(Some(2))).unwrap();
    // Γ caches are per class.
    assert_ne!(a.cache_dir(), b.cache_dir());
    assert!(a.learned_variance(4).is_some());
    // learned-ddpm draws finite samples of the right size, reproducibly.
    let spec = DrawSpec {
        sampler: AnySampler::Discrete(diffusion::Sampler::DdpmTilde),
        steps: 3,
        trajectory: TrajectoryKind::Even,
        n: 2,
        seed: 7,
        settings: PlanSettings::EXACT,
    };
    let g = Gamma::unknown(a.schedule().n_steps());
    let d1 = pipeline::draw_net(&a, NetSampler::LearnedDdpm, &spec, &g, &mut |_| {}).unwrap();
    let d2 = pipeline::draw_net(&a, NetSampler::LearnedDdpm, &spec, &g, &mut |_| {}).unwrap();
    assert_eq!(d1.x.len(), 2 * 3 * 8 * 8);
    assert_eq!(d1.x, d2.x);
    assert!(d1.x.iter().all(|v| v.is_finite()));
    // The learned variance changes the draw (same seed, same means, other variances).
    let tilde =
        pipeline::draw_net(&a, NetSampler::Core(spec.sampler), &spec, &g, &mut |_| {}).unwrap();
    assert_ne!(d1.x, tilde.x);
    // Without a learned variance it is refused.
    let ddpm = Checkpoint::open(fixture("ddpm")).unwrap();
    let err = pipeline::draw_net(&ddpm, NetSampler::LearnedDdpm, &spec, &g, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(err.contains("learned variance"), "{err}");
}

#[test]
fn data_of_another_shape_is_refused_at_open() {
    let dir = std::env::temp_dir().join(format!("kexue-imported-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let npy = dir.join("x.npy");
    let mut header = "{'descr': '|u1', 'fortran_order': False, 'shape': (20, 8, 8), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend((0..20 * 64).map(|i| (i % 256) as u8));
    std::fs::write(&npy, bytes).unwrap();
    let options = OpenOptions {
        data: Some(DataSpec::Npy(npy.clone())),
        ..OpenOptions::default()
    };
    // 1×8×8 images for a 3×8×8 model.
    let err = Checkpoint::open_with(fixture("ddpm"), options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("1 channel(s), the model takes 3"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
