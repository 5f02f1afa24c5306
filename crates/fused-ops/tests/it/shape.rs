//! Fused up-sampling against candle's op.

use candle_core::{DType, Result, Tensor};
use fused_ops::shape::upsample_nearest2x;

use crate::{finite_diff, output_and_grads, rel_err, switch_lock, uniform, values};

fn up_composed(t: &[Tensor]) -> Result<Tensor> {
    let (_, _, h, w) = t[0].dims4()?;
    t[0].upsample_nearest2d(2 * h, 2 * w)
}

fn check_upsample(shape: &[usize], seed: u64) {
    let x = uniform(seed, shape, -1.0, 1.0, DType::F32);
    let mut out = shape.to_vec();
    out[2] *= 2;
    out[3] *= 2;
    let r = uniform(seed + 1, &out, -1.0, 1.0, DType::F32);
    let _g = switch_lock();
    let before = fused_ops::fused_calls_on_this_thread();
    let (yf, gf) = output_and_grads(
        &|t: &[Tensor]| upsample_nearest2x(&t[0]),
        std::slice::from_ref(&x),
        &r,
    );
    assert_eq!(fused_ops::fused_calls_on_this_thread(), before + 1);
    drop(_g);
    let (yc, gc) = output_and_grads(&up_composed, &[x], &r);
    assert_eq!(yf, yc, "{shape:?}: up-sampling copies values");
    let e = rel_err(&gf[0], &gc[0]);
    assert!(e < 1e-6, "{shape:?}: gradient rel err {e:e}");
}

#[test]
fn upsample_matches_candle() {
    check_upsample(&[2, 3, 4, 5], 1);
    check_upsample(&[1, 1, 1, 1], 2);
    check_upsample(&[128, 64, 4, 4], 3); // the reference U-Net's, threaded
}

#[test]
fn upsample_gradient_matches_finite_differences() {
    let x = uniform(10, &[2, 2, 3, 2], -1.0, 1.0, DType::F32);
    let r = uniform(11, &[2, 2, 6, 4], -1.0, 1.0, DType::F32);
    let (_, g) = output_and_grads(
        &|t: &[Tensor]| upsample_nearest2x(&t[0]),
        std::slice::from_ref(&x),
        &r,
    );
    let fd = finite_diff(&up_composed, &[x], &r, 0, 1e-5);
    let e = rel_err(&g[0], &fd);
    assert!(e < 1e-4, "{e:e}");
}

#[test]
fn fallbacks_and_errors() {
    let x64 = uniform(30, &[2, 3, 2, 2], -1.0, 1.0, DType::F64);
    let before = fused_ops::fused_calls_on_this_thread();
    let y = upsample_nearest2x(&x64).unwrap();
    let xt = uniform(31, &[2, 3, 2, 2], -1.0, 1.0, DType::F32)
        .transpose(2, 3)
        .unwrap();
    let yt = upsample_nearest2x(&xt).unwrap();
    assert_eq!(
        fused_ops::fused_calls_on_this_thread(),
        before,
        "all fell back"
    );
    assert_eq!(
        values(&y),
        values(&up_composed(std::slice::from_ref(&x64)).unwrap())
    );
    assert_eq!(
        values(&yt),
        values(&up_composed(std::slice::from_ref(&xt)).unwrap())
    );
    // A wrong rank is an error, not a panic.
    assert!(upsample_nearest2x(&uniform(34, &[2, 3, 2], -1.0, 1.0, DType::F32)).is_err());
}
