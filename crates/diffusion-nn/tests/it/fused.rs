//! The networks with fused CPU ops (the default) against the same networks on candle's
//! composed ops (`fused_ops::set_enabled(false)`): loss and every parameter gradient to 1e-5
//! relative (‖a − b‖₂ / ‖b‖₂, f32), and the shipped digits checkpoint gives the same ε̂.
//!
//! The composed runs use `fused_ops::with_enabled(false, …)`, which switches fusion off for the
//! calling thread only, so the other tests of this binary (resume bit-identity) are undisturbed.

use std::path::Path;

use candle_core::Tensor;
use diffusion_nn::checkpoint::{Weights, load_model};
use diffusion_nn::{Device, EpsNetConfig, MlpConfig, Model, UnetConfig};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn rel_err(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let num: f64 = a.iter().zip(b).map(|(x, y)| ((x - y) as f64).powi(2)).sum();
    let den: f64 = b.iter().map(|y| (*y as f64).powi(2)).sum();
    (num / den.max(1e-300)).sqrt()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn batch(dim: usize, b: usize, seed: u64) -> (Tensor, Tensor, Vec<f64>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draw = |n: usize| -> Vec<f32> { (0..n).map(|_| rng.random_range(-1.5..1.5)).collect() };
    let x = Tensor::from_vec(draw(b * dim), (b, dim), &Device::Cpu).unwrap();
    let eps = Tensor::from_vec(draw(b * dim), (b, dim), &Device::Cpu).unwrap();
    let t = (0..b).map(|i| (1 + (i * 389) % 1000) as f64).collect();
    (x, eps, t)
}

/// L_simple-style loss and the gradient of every parameter, by name.
fn loss_and_grads(
    model: &Model,
    x: &Tensor,
    eps: &Tensor,
    t: &[f64],
) -> (f32, Vec<(String, Vec<f32>)>) {
    let out = model.forward(x, t).unwrap();
    let loss = (out - eps)
        .unwrap()
        .sqr()
        .unwrap()
        .sum(1)
        .unwrap()
        .mean(0)
        .unwrap();
    let grads = loss.backward().unwrap();
    let g = model
        .named_vars()
        .into_iter()
        .map(|(name, v)| {
            let g = grads
                .get(v.as_tensor())
                .unwrap_or_else(|| panic!("no gradient for {name}"));
            (name, flat(g))
        })
        .collect();
    (loss.to_scalar::<f32>().unwrap(), g)
}

fn compare_network(config: EpsNetConfig, b: usize) {
    let model = Model::new(&config, 3, &Device::Cpu).unwrap();
    let (x, eps, t) = batch(config.dim(), b, 4);
    let calls = fused_ops::fused_calls_on_this_thread();
    let (lf, gf) = fused_ops::with_enabled(true, || loss_and_grads(&model, &x, &eps, &t));
    assert!(
        fused_ops::fused_calls_on_this_thread() > calls,
        "fused ops ran"
    );
    let calls = fused_ops::fused_calls_on_this_thread();
    let (lc, gc) = fused_ops::with_enabled(false, || loss_and_grads(&model, &x, &eps, &t));
    assert_eq!(
        fused_ops::fused_calls_on_this_thread(),
        calls,
        "composed ops only"
    );
    let e = ((lf - lc) / lc).abs();
    assert!(e < 1e-5, "{config:?}: loss {lf} vs {lc}");
    assert_eq!(gf.len(), gc.len());
    for ((name, a), (_, b)) in gf.iter().zip(&gc) {
        let e = rel_err(a, b);
        assert!(e < 1e-5, "{name}: gradient rel err {e:e}");
    }
}

fn compare_digits_checkpoint() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let (_, model) = load_model(&dir, Weights::Ema, &Device::Cpu).unwrap();
    let (x, _, t) = batch(model.config().dim(), 16, 5);
    let yf = fused_ops::with_enabled(true, || flat(&model.forward(&x, &t).unwrap()));
    let yc = fused_ops::with_enabled(false, || flat(&model.forward(&x, &t).unwrap()));
    let e = rel_err(&yf, &yc);
    assert!(e < 1e-5, "digits ε̂ fused vs composed: {e:e}");
    // The weights were loaded: a freshly initialised network of the same shape differs.
    let fresh = Model::new(model.config(), 0, &Device::Cpu).unwrap();
    let y0 = flat(&fresh.forward(&x, &t).unwrap());
    assert!(rel_err(&y0, &yf) > 0.1);
}

#[test]
fn fused_mlp_matches_composed() {
    compare_network(EpsNetConfig::Mlp(MlpConfig::reference(2)), 256);
}

#[test]
fn digits_checkpoint_gives_the_same_eps() {
    compare_digits_checkpoint();
}

#[test]
fn fused_unets_match_composed() {
    let small_unet = UnetConfig {
        base_channels: 16,
        temb_dim: 32,
        groups: 4,
        ..UnetConfig::reference(1, 8, 8)
    };
    compare_network(EpsNetConfig::Unet(small_unet), 8);
    compare_network(EpsNetConfig::Unet(UnetConfig::reference(1, 8, 8)), 4);
}

/// The inference forward (`Model::forward_untracked`, used by sampling) on the shipped digits
/// checkpoint and a fresh MLP: the same ε̂ as the tracked forward to 1e-6 relative (it runs the
/// same kernels, plus the inference-only fusions of the U-Net's time-bias and residual adds),
/// with fusion on and off, nothing recorded for backpropagation, and it follows later updates
/// of the variables (the untracked layers share the weights' storage).
#[test]
fn untracked_forward_matches_tracked() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/digits");
    let (_, unet) = load_model(&dir, Weights::Ema, &Device::Cpu).unwrap();
    let mlp = Model::new(&EpsNetConfig::Mlp(MlpConfig::reference(2)), 7, &Device::Cpu).unwrap();
    for model in [&unet, &mlp] {
        let (x, _, t) = batch(model.config().dim(), 11, 6);
        for fused in [true, false] {
            fused_ops::with_enabled(fused, || {
                let tracked = model.forward(&x, &t).unwrap();
                assert!(tracked.track_op());
                let y = model.forward_untracked(&x, &t).unwrap();
                assert!(!y.track_op(), "untracked output records no graph");
                let e = rel_err(&flat(&y), &flat(&tracked));
                assert!(e < 1e-6, "fused={fused}: untracked vs tracked {e:e}");
            });
        }
        // An update of every variable shows in the untracked forward.
        let before = flat(&model.forward_untracked(&x, &t).unwrap());
        for (_, var) in model.named_vars() {
            var.set(&(var.as_tensor() * 0.5).unwrap()).unwrap();
        }
        let after = flat(&model.forward_untracked(&x, &t).unwrap());
        let tracked = flat(&model.forward(&x, &t).unwrap());
        assert!(rel_err(&after, &before) > 1e-3, "the update is seen");
        assert!(rel_err(&after, &tracked) < 1e-6);
    }
}
