//! Training: resume is bit-identical, a non-finite loss stops and keeps the last good checkpoint.

use diffusion_nn::checkpoint;
use diffusion_nn::data::{self, DataSpec, Toy};
use diffusion_nn::train::{Start, train};

use super::support::{
    assert_no_temp_files, assert_same_tensors, explode, fit, last_good_after_nan, load_ema,
    tensor_bits, trained,
};
use super::{scratch, tiny_setup};

#[test]
fn resume_is_bit_identical() {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let whole = scratch("resume-whole");
    let report = fit(&tiny_setup(8, 4), &data, &whole, Start::Fresh).unwrap();
    assert_eq!((report.first_step, report.last_step), (1, 8));

    let split = trained("resume-split", &tiny_setup(4, 4), &data);
    assert_eq!(checkpoint::read_meta(&split).unwrap().step, 4);
    let mut seen = Vec::new();
    let report = train(
        &tiny_setup(8, 4),
        &data,
        &split,
        Start::Resume,
        &candle_core::Device::Cpu,
        &mut |p| seen.push(p.step),
    )
    .unwrap();
    assert_eq!(seen, vec![5, 6, 7, 8]);
    assert_eq!(report.first_step, 5);

    // Bit identity, not closeness: the f32 bit patterns are compared.
    for file in [checkpoint::MODEL_FILE, checkpoint::OPTIM_FILE] {
        assert_same_tensors(
            &checkpoint::resolve(&whole).join(file),
            &checkpoint::resolve(&split).join(file),
        );
    }
    let (ma, mb) = (
        checkpoint::read_meta(&whole).unwrap(),
        checkpoint::read_meta(&split).unwrap(),
    );
    assert_eq!(ma, mb);

    // A different seed really changes the weights (the comparison above can fail).
    let mut setup = tiny_setup(8, 4);
    setup.train.seed = 1;
    let other = trained("resume-other-seed", &setup, &data);
    assert_ne!(
        tensor_bits(&checkpoint::resolve(&whole).join(checkpoint::MODEL_FILE)),
        tensor_bits(&checkpoint::resolve(&other).join(checkpoint::MODEL_FILE))
    );
}

#[test]
fn non_finite_loss_stops_and_keeps_last_good_checkpoint() {
    let data = data::load(&DataSpec::Toy(Toy::EightGaussians)).unwrap();
    let dir = scratch("nan-stop");
    let mut setup = tiny_setup(50, 1);
    explode(&mut setup.train);
    let err = fit(&setup, &data, &dir, Start::Fresh).unwrap_err();
    let last_good = last_good_after_nan(&err);
    // The checkpoint on disk is the last good one and loads.
    let (meta, _) = load_ema(&dir);
    assert_eq!(meta.step, last_good);
    assert_no_temp_files(&dir);
}

#[test]
fn fresh_refuses_existing_checkpoint_and_resume_checks_config() {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dir = trained("refuse", &tiny_setup(2, 2), &data);
    let err = fit(&tiny_setup(2, 2), &data, &dir, Start::Fresh).unwrap_err();
    assert!(
        err.to_string().contains("already holds a checkpoint"),
        "{err}"
    );
    let mut other = tiny_setup(4, 2);
    other.schedule.n_timesteps = 50;
    let err = fit(&other, &data, &dir, Start::Resume).unwrap_err();
    assert!(
        err.to_string().contains("another network or schedule"),
        "{err}"
    );
    let empty = scratch("resume-empty");
    let err = fit(&tiny_setup(2, 2), &data, &empty, Start::Resume).unwrap_err();
    assert!(err.to_string().contains("not a checkpoint folder"), "{err}");
}

#[test]
fn training_lowers_the_loss() {
    let data = data::load(&DataSpec::Toy(Toy::EightGaussians)).unwrap();
    let dir = scratch("lowers");
    let mut setup = tiny_setup(300, 300);
    setup.train.lr = 3e-3;
    let mut losses = Vec::new();
    train(
        &setup,
        &data,
        &dir,
        Start::Fresh,
        &candle_core::Device::Cpu,
        &mut |p| losses.push(p.loss),
    )
    .unwrap();
    let head: f64 = losses[..20].iter().sum::<f64>() / 20.0;
    let tail: f64 = losses[losses.len() - 50..].iter().sum::<f64>() / 50.0;
    // L_simple of ε̂ = 0 is E‖ε‖² = d = 2; a network that learned anything is well below it.
    assert!(tail < 0.8 * head && tail < 1.6, "loss {head} → {tail}");
}

/// Issue 20 item 12: a NaN before the first checkpoint says that nothing was written (not
/// "the last good checkpoint (step 0) is kept"), and indeed nothing is.
#[test]
fn non_finite_loss_before_any_checkpoint_says_nothing_was_written() {
    let data = data::load(&DataSpec::Toy(Toy::EightGaussians)).unwrap();
    let dir = scratch("nan-first");
    let mut setup = tiny_setup(50, 100);
    explode(&mut setup.train);
    let err = fit(&setup, &data, &dir, Start::Fresh)
        .unwrap_err()
        .to_string();
    assert!(err.contains("no checkpoint was written"), "{err}");
    assert!(!err.contains("step 0"), "{err}");
    assert!(!checkpoint::exists(&dir));
}

/// Issue 20 items 7 and 16: sizes that cannot fit in memory and a negative gradient clip are
/// refused before anything is allocated or written.
#[test]
fn impossible_sizes_and_bad_grad_clip_are_refused_up_front() {
    let data = data::load(&DataSpec::Toy(Toy::Moons)).unwrap();
    let dir = scratch("sizes");
    let mut setup = tiny_setup(2, 1);
    setup.train.batch_size = 1_000_000_000;
    let err = fit(&setup, &data, &dir, Start::Fresh)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("batch_size") && err.contains("use at most --batch-size"),
        "{err}"
    );
    for clip in [-1.0, f64::NAN] {
        let mut setup = tiny_setup(2, 1);
        setup.train.grad_clip = clip;
        let err = fit(&setup, &data, &dir, Start::Fresh)
            .unwrap_err()
            .to_string();
        assert!(err.contains("grad_clip"), "{err}");
    }
    let mut setup = tiny_setup(2, 1);
    if let diffusion_nn::EpsNetConfig::Mlp(m) = &mut setup.model {
        m.hidden = 10_000_000;
    }
    let err = fit(&setup, &data, &dir, Start::Fresh)
        .unwrap_err()
        .to_string();
    assert!(err.contains("GiB"), "{err}");
    assert!(!checkpoint::exists(&dir));
}
