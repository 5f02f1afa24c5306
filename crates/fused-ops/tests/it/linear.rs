//! Fused Linear(+SiLU) against candle's composed ops and finite differences.

use candle_core::{DType, Device, Module, Result, Tensor};
use fused_ops::linear::{Activation, Linear, linear_composed, linear_op};

use crate::{finite_diff, output_and_grads, rel_err, switch_lock, uniform, values};

const ACTS: [Activation; 2] = [Activation::Identity, Activation::Silu];

fn fused(act: Activation) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |t: &[Tensor]| linear_op(&t[0], &t[1], Some(&t[2]), act)
}

fn composed(act: Activation) -> impl Fn(&[Tensor]) -> Result<Tensor> {
    move |t: &[Tensor]| linear_composed(&t[0], &t[1], Some(&t[2]), act)
}

/// x `x_shape` (last dim = in), W [out, in], b [out], and the loss weights r.
fn inputs(x_shape: &[usize], out: usize, seed: u64) -> (Vec<Tensor>, Tensor) {
    let inp = *x_shape.last().unwrap();
    let mut y_shape = x_shape.to_vec();
    *y_shape.last_mut().unwrap() = out;
    let bound = 2.0 / (inp as f64).sqrt();
    (
        vec![
            uniform(seed, x_shape, -1.5, 1.5, DType::F32),
            uniform(seed + 1, &[out, inp], -bound, bound, DType::F32),
            uniform(seed + 2, &[out], -1.0, 1.0, DType::F32),
        ],
        uniform(seed + 3, &y_shape, -1.0, 1.0, DType::F32),
    )
}

fn check_against_composed(x_shape: &[usize], out: usize, seed: u64) {
    let (ins, r) = inputs(x_shape, out, seed);
    for act in ACTS {
        let _g = switch_lock();
        let before = fused_ops::fused_calls_on_this_thread();
        let (yf, gf) = output_and_grads(&fused(act), &ins, &r);
        assert_eq!(
            fused_ops::fused_calls_on_this_thread(),
            before + 1,
            "fused path taken"
        );
        drop(_g);
        let (yc, gc) = output_and_grads(&composed(act), &ins, &r);
        let e = rel_err(&yf, &yc);
        assert!(e < 1e-5, "{act:?} {x_shape:?} output rel err {e:e}");
        for (name, (a, b)) in ["x", "W", "b"].iter().zip(gf.iter().zip(&gc)) {
            let e = rel_err(a, b);
            assert!(e < 1e-5, "{act:?} {x_shape:?} grad {name} rel err {e:e}");
        }
    }
}

#[test]
fn matches_composed_small_odd_shapes() {
    check_against_composed(&[37, 19], 23, 1);
    check_against_composed(&[1, 1], 1, 2);
    check_against_composed(&[3, 5, 7], 4, 3); // rank 3: leading dims flattened
}

#[test]
fn matches_composed_reference_mlp_shapes() {
    // The reference MLP's layers (batch 1024): large enough for the threaded paths.
    check_against_composed(&[1024, 66], 256, 4);
    check_against_composed(&[1024, 256], 256, 5);
    check_against_composed(&[1024, 256], 2, 6);
}

#[test]
fn gradients_match_finite_differences() {
    for act in ACTS {
        let (ins, r) = inputs(&[6, 5], 4, 10);
        let (_, g) = output_and_grads(&fused(act), &ins, &r);
        for (which, name) in ["x", "W", "b"].iter().enumerate() {
            let fd = finite_diff(&composed(act), &ins, &r, which, 1e-5);
            let e = rel_err(&g[which], &fd);
            assert!(e < 1e-4, "{act:?} grad {name} vs finite differences: {e:e}");
        }
    }
}

#[test]
fn silu_changes_the_gradient() {
    // Guards the finite-difference test itself: with SiLU the gradients differ from the
    // identity's by far more than the tolerance, so a dropped SiLU derivative would be caught.
    let (ins, r) = inputs(&[6, 5], 4, 10);
    let (_, gi) = output_and_grads(&fused(Activation::Identity), &ins, &r);
    let (_, gs) = output_and_grads(&fused(Activation::Silu), &ins, &r);
    for k in 0..3 {
        assert!(rel_err(&gi[k], &gs[k]) > 0.1);
    }
}

#[test]
fn f64_falls_back_to_composed() {
    let (ins, r) = inputs(&[7, 3], 5, 20);
    let ins: Vec<Tensor> = ins
        .iter()
        .map(|t| t.to_dtype(DType::F64).unwrap())
        .collect();
    let r = r.to_dtype(DType::F64).unwrap();
    for act in ACTS {
        let before = fused_ops::fused_calls_on_this_thread();
        let (yf, gf) = output_and_grads(&fused(act), &ins, &r);
        assert_eq!(fused_ops::fused_calls_on_this_thread(), before);
        let (yc, gc) = output_and_grads(&composed(act), &ins, &r);
        assert_eq!(yf, yc);
        assert_eq!(gf, gc);
    }
}

#[test]
fn disabled_switch_runs_composed_ops() {
    let (ins, r) = inputs(&[9, 4], 3, 30);
    let _g = switch_lock();
    fused_ops::set_enabled(false);
    let before = fused_ops::fused_calls_on_this_thread();
    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        output_and_grads(&fused(Activation::Silu), &ins, &r)
    }));
    let after = fused_ops::fused_calls_on_this_thread();
    fused_ops::set_enabled(true);
    let (yf, gf) = res.expect("no panic");
    assert_eq!(after, before, "no fused kernel ran");
    let (yc, gc) = output_and_grads(&composed(Activation::Silu), &ins, &r);
    assert_eq!(yf, yc);
    assert_eq!(gf, gc);
}

#[test]
fn non_contiguous_input_falls_back() {
    let (ins, _) = inputs(&[6, 4], 3, 40);
    let xt = uniform(41, &[4, 6], -1.0, 1.0, DType::F32).t().unwrap(); // [6, 4], strided
    assert!(!xt.is_contiguous());
    let before = fused_ops::fused_calls_on_this_thread();
    let y = linear_op(&xt, &ins[1], Some(&ins[2]), Activation::Silu).unwrap();
    assert_eq!(fused_ops::fused_calls_on_this_thread(), before);
    let want = linear_composed(&xt, &ins[1], Some(&ins[2]), Activation::Silu).unwrap();
    assert_eq!(values(&y), values(&want));
}

#[test]
fn bad_shapes_are_errors_not_panics() {
    let (ins, _) = inputs(&[6, 4], 3, 50);
    // Wrong inner dimension, 1-D input, bias of the wrong length.
    let x5 = uniform(51, &[6, 5], -1.0, 1.0, DType::F32);
    assert!(linear_op(&x5, &ins[1], Some(&ins[2]), Activation::Silu).is_err());
    let x1 = uniform(52, &[4], -1.0, 1.0, DType::F32);
    assert!(linear_op(&x1, &ins[1], Some(&ins[2]), Activation::Identity).is_err());
    let b2 = uniform(53, &[2], -1.0, 1.0, DType::F32);
    assert!(linear_op(&ins[0], &ins[1], Some(&b2), Activation::Identity).is_err());
}

#[test]
fn module_without_bias_and_constructor_names() {
    let (ins, _) = inputs(&[5, 4], 3, 60);
    let layer = Linear::new(ins[1].clone(), None).with_activation(Activation::Silu);
    let y = layer.forward(&ins[0]).unwrap();
    let want = ins[0].matmul(&ins[1].t().unwrap()).unwrap().silu().unwrap();
    assert!(rel_err(&values(&y), &values(&want)) < 1e-6);

    let varmap = candle_nn::VarMap::new();
    let vb = candle_nn::VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let l = fused_ops::linear::linear_silu(4, 3, vb.pp("layer")).unwrap();
    assert_eq!(l.weight().dims(), [3, 4]);
    let mut names: Vec<String> = varmap.data().lock().unwrap().keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["layer.bias", "layer.weight"]);
}

#[test]
fn thread_local_switch_scopes_and_restores() {
    let (ins, _) = inputs(&[4, 3], 2, 70);
    let run = || {
        let before = fused_ops::fused_calls_on_this_thread();
        linear_op(&ins[0], &ins[1], Some(&ins[2]), Activation::Silu).unwrap();
        fused_ops::fused_calls_on_this_thread() - before
    };
    let _g = switch_lock();
    assert_eq!(fused_ops::with_enabled(false, run), 0);
    let nested = fused_ops::with_enabled(false, || fused_ops::with_enabled(true, run));
    assert_eq!(nested, 1);
    assert!(fused_ops::enabled(), "scope restored");
    fused_ops::set_enabled(false);
    let forced = fused_ops::with_enabled(true, run);
    fused_ops::set_enabled(true);
    assert_eq!(forced, 1, "the thread's scope wins over the process switch");
}
