//! Fused GroupNorm(+SiLU) against candle-nn's composed GroupNorm and finite differences.

use candle_core::{DType, Device, Module, Result, Tensor};
use fused_ops::linear::Activation;
use fused_ops::norm::{GroupNorm, group_norm_composed, group_norm_op};

use crate::{finite_diff, output_and_grads, rel_err, switch_lock, uniform, values};

const ACTS: [Activation; 2] = [Activation::Identity, Activation::Silu];
const EPS: f64 = 1e-5;

fn fused(groups: usize, act: Activation) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |t: &[Tensor]| group_norm_op(&t[0], &t[1], &t[2], groups, EPS, act)
}

fn composed(groups: usize, act: Activation) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |t: &[Tensor]| group_norm_composed(&t[0], &t[1], &t[2], groups, EPS, act)
}

/// x (with a per-sample offset and scale, so the statistics matter), γ around 1, β, and r.
fn inputs(shape: &[usize], seed: u64) -> (Vec<Tensor>, Tensor) {
    let c = shape[1];
    let x = uniform(seed, shape, -1.0, 1.0, DType::F32);
    let mut off_shape = vec![shape[0], 1];
    off_shape.extend(std::iter::repeat_n(1, shape.len() - 2));
    let off = uniform(seed + 4, &off_shape, -2.0, 2.0, DType::F32);
    let x = x
        .broadcast_mul(&(off.abs().unwrap() + 0.5).unwrap())
        .unwrap();
    let x = x.broadcast_add(&off).unwrap();
    (
        vec![
            x,
            uniform(seed + 1, &[c], 0.5, 1.5, DType::F32),
            uniform(seed + 2, &[c], -0.5, 0.5, DType::F32),
        ],
        uniform(seed + 3, shape, -1.0, 1.0, DType::F32),
    )
}

fn check_against_composed(shape: &[usize], groups: usize, seed: u64) {
    let (ins, r) = inputs(shape, seed);
    for act in ACTS {
        let _g = switch_lock();
        let before = fused_ops::fused_calls_on_this_thread();
        let (yf, gf) = output_and_grads(&fused(groups, act), &ins, &r);
        assert_eq!(
            fused_ops::fused_calls_on_this_thread(),
            before + 1,
            "fused path taken"
        );
        drop(_g);
        let (yc, gc) = output_and_grads(&composed(groups, act), &ins, &r);
        let e = rel_err(&yf, &yc);
        assert!(e < 1e-5, "{act:?} {shape:?} output rel err {e:e}");
        for (name, (a, b)) in ["x", "γ", "β"].iter().zip(gf.iter().zip(&gc)) {
            let e = rel_err(a, b);
            assert!(e < 1e-5, "{act:?} {shape:?} grad {name} rel err {e:e}");
        }
    }
}

#[test]
fn matches_composed_small_odd_shapes() {
    check_against_composed(&[3, 6, 5, 3], 3, 1);
    check_against_composed(&[2, 4, 7], 2, 2); // rank 3
    check_against_composed(&[1, 5, 1, 1], 5, 3); // one value per group
    check_against_composed(&[2, 6, 3, 2, 2], 1, 4); // rank 5, one group
}

#[test]
fn matches_composed_reference_unet_shapes() {
    // The reference U-Net's norms (batch 128): threaded paths.
    check_against_composed(&[128, 32, 8, 8], 8, 5);
    check_against_composed(&[128, 96, 4, 4], 8, 6);
    check_against_composed(&[128, 64, 8, 8], 8, 7);
}

#[test]
fn gradients_match_finite_differences() {
    for act in ACTS {
        let (ins, r) = inputs(&[2, 4, 3, 2], 10);
        let (_, g) = output_and_grads(&fused(2, act), &ins, &r);
        for (which, name) in ["x", "γ", "β"].iter().enumerate() {
            let fd = finite_diff(&composed(2, act), &ins, &r, which, 1e-5);
            let e = rel_err(&g[which], &fd);
            assert!(e < 1e-4, "{act:?} grad {name} vs finite differences: {e:e}");
        }
    }
}

#[test]
fn output_is_normalised() {
    // Identity activation, γ = 1, β = 0: every (sample, group) slice has mean 0, variance
    // σ²/(σ² + eps) (≈ 1).
    let (ins, _) = inputs(&[3, 4, 4, 4], 20);
    let one = Tensor::ones(4, DType::F32, &Device::Cpu).unwrap();
    let zero = Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap();
    let y = group_norm_op(&ins[0], &one, &zero, 2, EPS, Activation::Identity).unwrap();
    let y = values(&y);
    for slice in y.chunks(32) {
        let m = slice.iter().sum::<f64>() / 32.0;
        let v = slice.iter().map(|a| (a - m) * (a - m)).sum::<f64>() / 32.0;
        assert!(m.abs() < 1e-6, "mean {m}");
        assert!((v - 1.0).abs() < 1e-3, "variance {v}");
    }
}

#[test]
fn f64_and_disabled_switch_fall_back() {
    let (ins, r) = inputs(&[2, 4, 3, 3], 30);
    let ins64: Vec<Tensor> = ins
        .iter()
        .map(|t| t.to_dtype(DType::F64).unwrap())
        .collect();
    let r64 = r.to_dtype(DType::F64).unwrap();
    let before = fused_ops::fused_calls_on_this_thread();
    let (yf, gf) = output_and_grads(&fused(2, Activation::Silu), &ins64, &r64);
    assert_eq!(fused_ops::fused_calls_on_this_thread(), before);
    let (yc, gc) = output_and_grads(&composed(2, Activation::Silu), &ins64, &r64);
    assert_eq!((yf, gf), (yc, gc));

    let _g = switch_lock();
    fused_ops::set_enabled(false);
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        output_and_grads(&fused(2, Activation::Silu), &ins, &r)
    }));
    let after = fused_ops::fused_calls_on_this_thread();
    fused_ops::set_enabled(true);
    let (yf, gf) = res.expect("no panic");
    assert_eq!(after, before, "no fused kernel ran");
    let (yc, gc) = output_and_grads(&composed(2, Activation::Silu), &ins, &r);
    assert_eq!((yf, gf), (yc, gc));
}

#[test]
fn non_contiguous_input_falls_back() {
    let (ins, _) = inputs(&[2, 4, 3, 3], 40);
    let xt = ins[0].transpose(2, 3).unwrap();
    assert!(!xt.is_contiguous());
    let before = fused_ops::fused_calls_on_this_thread();
    let y = group_norm_op(&xt, &ins[1], &ins[2], 2, EPS, Activation::Silu).unwrap();
    assert_eq!(fused_ops::fused_calls_on_this_thread(), before);
    let want = group_norm_composed(&xt, &ins[1], &ins[2], 2, EPS, Activation::Silu).unwrap();
    assert_eq!(values(&y), values(&want));
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let (ins, _) = inputs(&[2, 4, 3, 3], 50);
    // Groups not dividing C, wrong channel count, rank 2.
    assert!(group_norm_op(&ins[0], &ins[1], &ins[2], 3, EPS, Activation::Silu).is_err());
    assert!(GroupNorm::new(ins[1].clone(), ins[2].clone(), 3, EPS).is_err());
    assert!(GroupNorm::new(ins[1].clone(), ins[2].clone(), 0, EPS).is_err());
    let x6 = uniform(51, &[2, 6, 3, 3], -1.0, 1.0, DType::F32);
    assert!(group_norm_op(&x6, &ins[1], &ins[2], 2, EPS, Activation::Identity).is_err());
    let x2 = uniform(52, &[2, 4], -1.0, 1.0, DType::F32);
    assert!(group_norm_op(&x2, &ins[1], &ins[2], 2, EPS, Activation::Identity).is_err());
}

#[test]
fn module_and_constructor_names() {
    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let gn = fused_ops::norm::group_norm_silu(2, 4, EPS, vb.pp("norm")).unwrap();
    let mut names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["norm.bias", "norm.weight"]);
    assert_eq!(values(gn.weight()), vec![1.0; 4]);
    let (ins, _) = inputs(&[2, 4, 3, 3], 60);
    let y = gn.forward(&ins[0]).unwrap();
    let want =
        group_norm_composed(&ins[0], gn.weight(), gn.bias(), 2, EPS, Activation::Silu).unwrap();
    assert!(rel_err(&values(&y), &values(&want)) < 1e-5);
}
