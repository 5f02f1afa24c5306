//! Training: resume is bit-identical, a non-finite loss stops and keeps the last good checkpoint.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{Device, Tensor};
use diffusion_nn::data::{self, DataSpec, Toy};
use diffusion_nn::train::{Start, train};
use diffusion_nn::{Error, checkpoint};

use super::{scratch, tiny_setup};

fn tensors(path: &Path) -> HashMap<String, Vec<f32>> {
    let map: HashMap<String, Tensor> = candle_core::safetensors::load(path, &Device::Cpu).unwrap();
    map.into_iter()
        .filter(|(k, _)| k != "kexue.step")
        .map(|(k, t)| (k, t.flatten_all().unwrap().to_vec1::<f32>().unwrap()))
        .collect()
}

#[test]
fn resume_is_bit_identical() {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dev = Device::Cpu;
    let whole = scratch("resume-whole");
    let report = train(
        &tiny_setup(8, 4),
        &data,
        &whole,
        Start::Fresh,
        &dev,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((report.first_step, report.last_step), (1, 8));

    let split = scratch("resume-split");
    train(
        &tiny_setup(4, 4),
        &data,
        &split,
        Start::Fresh,
        &dev,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(checkpoint::read_meta(&split).unwrap().step, 4);
    let mut seen = Vec::new();
    let report = train(
        &tiny_setup(8, 4),
        &data,
        &split,
        Start::Resume,
        &dev,
        &mut |p| seen.push(p.step),
    )
    .unwrap();
    assert_eq!(seen, vec![5, 6, 7, 8]);
    assert_eq!(report.first_step, 5);

    for file in [checkpoint::MODEL_FILE, checkpoint::OPTIM_FILE] {
        let (a, b) = (tensors(&whole.join(file)), tensors(&split.join(file)));
        assert_eq!(a.len(), b.len());
        for (name, va) in &a {
            let vb = &b[name];
            // Bit identity, not closeness: compare the f32 bit patterns.
            let same = va.iter().zip(vb).all(|(x, y)| x.to_bits() == y.to_bits());
            assert!(same, "{file}: tensor {name} differs after resume");
        }
    }
    let (ma, mb) = (
        checkpoint::read_meta(&whole).unwrap(),
        checkpoint::read_meta(&split).unwrap(),
    );
    assert_eq!(ma, mb);

    // A different seed really changes the weights (the comparison above can fail).
    let other = scratch("resume-other-seed");
    let mut setup = tiny_setup(8, 4);
    setup.train.seed = 1;
    train(&setup, &data, &other, Start::Fresh, &dev, &mut |_| {}).unwrap();
    assert_ne!(
        tensors(&whole.join(checkpoint::MODEL_FILE)),
        tensors(&other.join(checkpoint::MODEL_FILE))
    );
}

#[test]
fn non_finite_loss_stops_and_keeps_last_good_checkpoint() {
    let data = data::load(&DataSpec::Toy(Toy::EightGaussians)).unwrap();
    let dir = scratch("nan-stop");
    let mut setup = tiny_setup(50, 1);
    // Adam moves every weight by about lr per step: 1e30 overflows f32 activations at once.
    setup.train.lr = 1e30;
    setup.train.warmup_steps = 0;
    setup.train.grad_clip = 0.0;
    let err = train(&setup, &data, &dir, Start::Fresh, &Device::Cpu, &mut |_| {}).unwrap_err();
    let Error::NonFiniteLoss {
        step, last_good, ..
    } = err
    else {
        panic!("unexpected error {err}")
    };
    assert!(
        step >= 2 && last_good == step - 1,
        "step {step}, last good {last_good}"
    );
    assert!(err.to_string().contains("non-finite"), "{err}");
    // The checkpoint on disk is the last good one and loads.
    let (meta, _) = checkpoint::load_model(&dir, checkpoint::Weights::Ema, &Device::Cpu).unwrap();
    assert_eq!(meta.step, last_good);
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn fresh_refuses_existing_checkpoint_and_resume_checks_config() {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dir = scratch("refuse");
    train(
        &tiny_setup(2, 2),
        &data,
        &dir,
        Start::Fresh,
        &Device::Cpu,
        &mut |_| {},
    )
    .unwrap();
    let err = train(
        &tiny_setup(2, 2),
        &data,
        &dir,
        Start::Fresh,
        &Device::Cpu,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("already holds a checkpoint"),
        "{err}"
    );
    let mut other = tiny_setup(4, 2);
    other.schedule.n_timesteps = 50;
    let err = train(
        &other,
        &data,
        &dir,
        Start::Resume,
        &Device::Cpu,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("another network or schedule"),
        "{err}"
    );
    let empty = scratch("resume-empty");
    let err = train(
        &tiny_setup(2, 2),
        &data,
        &empty,
        Start::Resume,
        &Device::Cpu,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(err.to_string().contains("not a checkpoint folder"), "{err}");
}

#[test]
fn training_lowers_the_loss() {
    let data = data::load(&DataSpec::Toy(Toy::EightGaussians)).unwrap();
    let dir = scratch("lowers");
    let mut setup = tiny_setup(300, 300);
    setup.train.lr = 3e-3;
    let mut losses = Vec::new();
    train(&setup, &data, &dir, Start::Fresh, &Device::Cpu, &mut |p| {
        losses.push(p.loss)
    })
    .unwrap();
    let head: f64 = losses[..20].iter().sum::<f64>() / 20.0;
    let tail: f64 = losses[losses.len() - 50..].iter().sum::<f64>() / 50.0;
    // L_simple of ε̂ = 0 is E‖ε‖² = d = 2; a network that learned anything is well below it.
    assert!(tail < 0.8 * head && tail < 1.6, "loss {head} → {tail}");
}
