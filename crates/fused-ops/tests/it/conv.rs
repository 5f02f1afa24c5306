//! Fused conv2d against candle's composed conv2d, a direct f64 convolution from the definition,
//! and central finite differences; fallbacks give candle's answer.
//!
//! Tolerances: fused vs candle (forward and all three gradients) `max|a − b| ≤ 1e-5·max|b|`
//! (f32, sums of up to a few thousand terms in a different order); forward vs the f64
//! definition the same; finite differences `|fd − g| ≤ 2e-3·(1 + |g|)` (the loss is linear in
//! each argument, so central differences with step 0.5 are exact up to f32 rounding of a loss of
//! size ~10).

use candle_core::{DType, Device, Module, Tensor, Var};
use candle_nn::{Conv2dConfig, VarBuilder, VarMap};
use fused_ops::conv::{Conv2d, conv2d, conv2d_add_op, conv2d_op};
use rand::{Rng, SeedableRng, rngs::StdRng};

fn uniform(rng: &mut StdRng, shape: &[usize]) -> Tensor {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0f32..1.0)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// `max|a − b| / max|b|` (with `max|b|` floored at 1e-30).
fn rel_err(a: &Tensor, b: &Tensor) -> f32 {
    assert_eq!(a.dims(), b.dims());
    let (a, b) = (flat(a), flat(b));
    let diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    let scale = b.iter().map(|y| y.abs()).fold(1e-30f32, f32::max);
    diff / scale
}

/// candle's composed convolution + bias (the reference).
fn candle_conv(x: &Tensor, w: &Tensor, b: Option<&Tensor>, stride: usize, pad: usize) -> Tensor {
    let y = x.conv2d(w, pad, stride, 1, 1).unwrap();
    match b {
        Some(b) => y
            .broadcast_add(&b.reshape((1, b.dims1().unwrap(), 1, 1)).unwrap())
            .unwrap(),
        None => y,
    }
}

/// The convolution from its definition, in f64: `[B, cout, H', W']` flattened.
#[allow(clippy::too_many_arguments)]
fn direct_f64(
    x: &[f32],
    (bn, cin, h, wd): (usize, usize, usize, usize),
    w: &[f32],
    (cout, k): (usize, usize),
    b: &[f32],
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let ho = (h + 2 * pad - k) / stride + 1;
    let wo = (wd + 2 * pad - k) / stride + 1;
    let mut y = vec![0f64; bn * cout * ho * wo];
    for n in 0..bn {
        for co in 0..cout {
            for oy in 0..ho {
                for ox in 0..wo {
                    let mut s = b[co] as f64;
                    for ci in 0..cin {
                        for ky in 0..k {
                            for kx in 0..k {
                                let iy = (oy * stride + ky) as isize - pad as isize;
                                let ix = (ox * stride + kx) as isize - pad as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= wd as isize {
                                    continue;
                                }
                                let xv = x[((n * cin + ci) * h + iy as usize) * wd + ix as usize];
                                let wv = w[((co * cin + ci) * k + ky) * k + kx];
                                s += xv as f64 * wv as f64;
                            }
                        }
                    }
                    y[((n * cout + co) * ho + oy) * wo + ox] = s;
                }
            }
        }
    }
    y
}

/// (batch, cin, cout, h, w): odd sizes, one input channel, batch 1, batches that split into
/// several uneven chunks, and non-square images of the widths (4, 8) that have their own
/// im2col kernels and of widths 16 and 32, which the direct 3×3 kernel covers (more than 8 input
/// channels: several channel blocks; output channels not a multiple of 6: a partial panel)
/// (height and width of one parity: candle's composed stride-2 backward, the reference, fails
/// otherwise).
const SHAPES: [(usize, usize, usize, usize, usize); 10] = [
    (3, 11, 7, 6, 16),
    (2, 17, 13, 4, 32),
    (2, 3, 4, 8, 8),
    (3, 4, 5, 6, 8),
    (2, 3, 2, 6, 4),
    (1, 1, 5, 5, 7),
    (3, 5, 2, 4, 4),
    (5, 2, 3, 7, 5),
    (37, 8, 16, 8, 8),
    (20, 64, 32, 4, 4),
];

/// (kernel, stride, padding) of the fused paths: padding k/2, and the unpadded 3×3 stride-2
/// convolution of diffusers' `downsample_padding = 0`.
const GEOMETRIES: [(usize, usize, usize); 5] =
    [(1, 1, 0), (1, 2, 0), (3, 1, 1), (3, 2, 1), (3, 2, 0)];

struct Grads {
    y: Tensor,
    dx: Tensor,
    dw: Tensor,
    db: Tensor,
}

/// Output and gradients of `L = Σ y ⊙ gy` for the fused op (`fused`) or candle's composed one.
fn run(
    fused: bool,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    gy: &Tensor,
    stride: usize,
    pad: usize,
) -> Grads {
    let (xv, wv, bv) = (
        Var::from_tensor(x).unwrap(),
        Var::from_tensor(w).unwrap(),
        Var::from_tensor(b).unwrap(),
    );
    let calls = fused_ops::fused_calls_on_this_thread();
    let y = if fused {
        conv2d_op(
            xv.as_tensor(),
            wv.as_tensor(),
            Some(bv.as_tensor()),
            stride,
            pad,
        )
        .unwrap()
    } else {
        candle_conv(
            xv.as_tensor(),
            wv.as_tensor(),
            Some(bv.as_tensor()),
            stride,
            pad,
        )
    };
    let took_fused = fused_ops::fused_calls_on_this_thread() == calls + 1;
    assert_eq!(took_fused, fused, "fused path taken: {took_fused}");
    let loss = (&y * gy).unwrap().sum_all().unwrap();
    let g = loss.backward().unwrap();
    Grads {
        dx: g.get(&xv).unwrap().clone(),
        dw: g.get(&wv).unwrap().clone(),
        db: g.get(&bv).unwrap().clone(),
        y,
    }
}

#[test]
fn forward_and_gradients_match_candle_and_definition() {
    // thread-local switch: immune to other tests flipping the process-wide one
    fused_ops::with_enabled(true, forward_and_gradients_match_candle_and_definition_body);
}

fn forward_and_gradients_match_candle_and_definition_body() {
    let mut rng = StdRng::seed_from_u64(8);
    for &(bn, cin, cout, h, wd) in &SHAPES {
        for (k, stride, pad) in GEOMETRIES {
            {
                let x = uniform(&mut rng, &[bn, cin, h, wd]);
                let w = uniform(&mut rng, &[cout, cin, k, k]);
                let b = uniform(&mut rng, &[cout]);
                let ho = (h + 2 * pad - k) / stride + 1;
                let wo = (wd + 2 * pad - k) / stride + 1;
                let gy = uniform(&mut rng, &[bn, cout, ho, wo]);
                let f = run(true, &x, &w, &b, &gy, stride, pad);
                let c = run(false, &x, &w, &b, &gy, stride, pad);
                let case =
                    format!("B={bn} cin={cin} cout={cout} {h}×{wd} k={k} s={stride} p={pad}");
                for (name, a, r) in [
                    ("forward", &f.y, &c.y),
                    ("input gradient", &f.dx, &c.dx),
                    ("kernel gradient", &f.dw, &c.dw),
                    ("bias gradient", &f.db, &c.db),
                ] {
                    let e = rel_err(a, r);
                    assert!(e <= 1e-5, "{case}: {name} relative error {e:.2e}");
                }
                // forward against the definition in f64
                let want = direct_f64(
                    &flat(&x),
                    (bn, cin, h, wd),
                    &flat(&w),
                    (cout, k),
                    &flat(&b),
                    stride,
                    pad,
                );
                let got = flat(&f.y);
                let scale = want.iter().map(|v| v.abs()).fold(1e-30, f64::max);
                let diff = got
                    .iter()
                    .zip(&want)
                    .map(|(g, w)| (*g as f64 - w).abs())
                    .fold(0f64, f64::max);
                assert!(
                    diff <= 1e-5 * scale,
                    "{case}: forward vs f64 definition {diff:.2e}"
                );
            }
        }
    }
}

/// `L(θ) = Σ conv(x, w, b) ⊙ gy` through the fused forward, as f64.
fn loss(x: &Tensor, w: &Tensor, b: &Tensor, gy: &Tensor, stride: usize, pad: usize) -> f64 {
    let y = conv2d_op(x, w, Some(b), stride, pad).unwrap();
    let y = flat(&y);
    let g = flat(gy);
    y.iter().zip(&g).map(|(a, b)| *a as f64 * *b as f64).sum()
}

/// Central differences of `L` in every coordinate of argument `which` (0 = x, 1 = w, 2 = b).
#[allow(clippy::too_many_arguments)]
fn finite_diff(
    which: usize,
    x: &Tensor,
    w: &Tensor,
    b: &Tensor,
    gy: &Tensor,
    stride: usize,
    pad: usize,
) -> Vec<f64> {
    let h = 0.5f32;
    let base = [x, w, b][which];
    let v = flat(base);
    let shape = base.dims().to_vec();
    (0..v.len())
        .map(|i| {
            let at = |d: f32| {
                let mut u = v.clone();
                u[i] += d;
                let t = Tensor::from_vec(u, shape.as_slice(), &Device::Cpu).unwrap();
                match which {
                    0 => loss(&t, w, b, gy, stride, pad),
                    1 => loss(x, &t, b, gy, stride, pad),
                    _ => loss(x, w, &t, gy, stride, pad),
                }
            };
            (at(h) - at(-h)) / (2.0 * h as f64)
        })
        .collect()
}

#[test]
fn gradients_match_finite_differences() {
    // thread-local switch: immune to other tests flipping the process-wide one
    fused_ops::with_enabled(true, gradients_match_finite_differences_body);
}

fn gradients_match_finite_differences_body() {
    let mut rng = StdRng::seed_from_u64(9);
    // odd sizes so that every padding edge and the stride-2 remainder are exercised
    let (bn, cin, cout, h, wd) = (2, 2, 3, 5, 4);
    for (k, stride, pad) in GEOMETRIES {
        {
            let x = uniform(&mut rng, &[bn, cin, h, wd]);
            let w = uniform(&mut rng, &[cout, cin, k, k]);
            let b = uniform(&mut rng, &[cout]);
            let ho = (h + 2 * pad - k) / stride + 1;
            let wo = (wd + 2 * pad - k) / stride + 1;
            let gy = uniform(&mut rng, &[bn, cout, ho, wo]);
            let f = run(true, &x, &w, &b, &gy, stride, pad);
            for (which, name, grad) in [(0, "x", &f.dx), (1, "w", &f.dw), (2, "b", &f.db)] {
                let fd = finite_diff(which, &x, &w, &b, &gy, stride, pad);
                let g = flat(grad);
                assert_eq!(g.len(), fd.len());
                for (i, (a, e)) in g.iter().zip(&fd).enumerate() {
                    let a = *a as f64;
                    assert!(
                        (a - e).abs() <= 2e-3 * (1.0 + a.abs()),
                        "k={k} s={stride} p={pad}: d{name}[{i}] = {a} but finite difference {e}"
                    );
                }
            }
        }
    }
}

#[test]
fn no_bias_and_module_match_candle() {
    // thread-local switch: immune to other tests flipping the process-wide one
    fused_ops::with_enabled(true, no_bias_and_module_match_candle_body);
}

fn no_bias_and_module_match_candle_body() {
    let mut rng = StdRng::seed_from_u64(10);
    let x = uniform(&mut rng, &[4, 3, 6, 6]);
    let w = uniform(&mut rng, &[5, 3, 3, 3]);
    let got = conv2d_op(&x, &w, None, 2, 1).unwrap();
    let want = candle_conv(&x, &w, None, 2, 1);
    assert!(rel_err(&got, &want) <= 1e-5);

    // the constructor creates candle_nn's variable names and shapes
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    let cfg = Conv2dConfig {
        padding: 1,
        stride: 1,
        ..Default::default()
    };
    let layer = conv2d(3, 5, 3, cfg, vb.pp("c")).unwrap();
    let vars = varmap.data().lock().unwrap();
    let mut names: Vec<_> = vars
        .iter()
        .map(|(k, v)| (k.clone(), v.dims().to_vec()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        vec![
            ("c.bias".to_string(), vec![5]),
            ("c.weight".to_string(), vec![5, 3, 3, 3])
        ]
    );
    let reference = candle_nn::Conv2d::new(
        layer.weight().clone(),
        layer.bias().cloned(),
        *layer.config(),
    );
    let e = rel_err(&layer.forward(&x).unwrap(), &reference.forward(&x).unwrap());
    assert!(e <= 1e-5, "module vs candle_nn: {e:.2e}");
}

/// Every fallback gives exactly candle's answer (the same ops run), never a panic.
#[test]
fn fallbacks_give_candles_answer() {
    // thread-local switch: immune to other tests flipping the process-wide one
    fused_ops::with_enabled(true, fallbacks_give_candles_answer_body);
}

fn fallbacks_give_candles_answer_body() {
    let mut rng = StdRng::seed_from_u64(11);
    let calls_before = fused_ops::fused_calls_on_this_thread();
    let x = uniform(&mut rng, &[3, 4, 7, 6]);
    let b = uniform(&mut rng, &[5]);
    let same = |got: Tensor, want: Tensor, what: &str| {
        assert_eq!(got.dims(), want.dims(), "{what}");
        assert_eq!(flat(&got), flat(&want), "{what}: not candle's answer");
    };
    // kernel sizes / paddings / strides the kernels do not cover
    for (k, pad, stride) in [
        (5, 2, 1),
        (3, 0, 1),
        (3, 2, 2),
        (1, 1, 1),
        (3, 1, 3),
        (2, 1, 1),
    ] {
        let w = uniform(&mut rng, &[5, 4, k, k]);
        same(
            conv2d_op(&x, &w, Some(&b), stride, pad).unwrap(),
            candle_conv(&x, &w, Some(&b), stride, pad),
            &format!("k={k} pad={pad} stride={stride}"),
        );
    }
    let w = uniform(&mut rng, &[5, 4, 3, 3]);
    // f64
    let (x64, w64, b64) = (
        x.to_dtype(DType::F64).unwrap(),
        w.to_dtype(DType::F64).unwrap(),
        b.to_dtype(DType::F64).unwrap(),
    );
    let got = conv2d_op(&x64, &w64, Some(&b64), 1, 1).unwrap();
    assert_eq!(got.dtype(), DType::F64);
    let want = candle_conv(&x64, &w64, Some(&b64), 1, 1);
    assert_eq!(
        got.flatten_all().unwrap().to_vec1::<f64>().unwrap(),
        want.flatten_all().unwrap().to_vec1::<f64>().unwrap()
    );
    // non-contiguous input (H and W swapped by a transpose)
    let xt = x.transpose(2, 3).unwrap();
    assert!(!xt.is_contiguous());
    same(
        conv2d_op(&xt, &w, Some(&b), 1, 1).unwrap(),
        candle_conv(&xt, &w, Some(&b), 1, 1),
        "non-contiguous",
    );
    // dilation and groups through the module
    for (dilation, groups) in [(2, 1), (1, 2)] {
        let cfg = Conv2dConfig {
            padding: 1,
            stride: 1,
            dilation,
            groups,
            cudnn_fwd_algo: None,
        };
        let wg = uniform(&mut rng, &[6, 4 / groups, 3, 3]);
        let bg = uniform(&mut rng, &[6]);
        let ours = Conv2d::new(wg.clone(), Some(bg.clone()), cfg);
        let theirs = candle_nn::Conv2d::new(wg, Some(bg), cfg);
        same(
            ours.forward(&x).unwrap(),
            theirs.forward(&x).unwrap(),
            &format!("dilation={dilation} groups={groups}"),
        );
    }
    // empty batch: whatever candle says, but no panic
    let empty = Tensor::zeros((0, 4, 7, 6), DType::F32, &Device::Cpu).unwrap();
    if let Ok(y) = conv2d_op(&empty, &w, Some(&b), 1, 1) {
        assert_eq!(y.dims(), &[0, 5, 7, 6]);
    }
    // mismatched channels: candle's error, not a panic
    let bad = uniform(&mut rng, &[5, 3, 3, 3]);
    assert!(conv2d_op(&x, &bad, Some(&b), 1, 1).is_err());
    let bad_bias = uniform(&mut rng, &[4]);
    assert!(conv2d_op(&x, &w, Some(&bad_bias), 1, 1).is_err());
    // switched off: candle's answer bit for bit
    let off = fused_ops::with_enabled(false, || conv2d_op(&x, &w, Some(&b), 1, 1));
    same(
        off.unwrap(),
        candle_conv(&x, &w, Some(&b), 1, 1),
        "disabled",
    );
    assert_eq!(
        fused_ops::fused_calls_on_this_thread(),
        calls_before,
        "a fallback ran the fused kernel"
    );
    // and the same call switched on does run it
    conv2d_op(&x, &w, Some(&b), 1, 1).unwrap();
    assert_eq!(fused_ops::fused_calls_on_this_thread(), calls_before + 1);
}

/// An input or kernel that is not tracked gets no gradient; the others are still right.
#[test]
fn untracked_arguments_get_no_gradient() {
    // thread-local switch: immune to other tests flipping the process-wide one
    fused_ops::with_enabled(true, untracked_arguments_get_no_gradient_body);
}

fn untracked_arguments_get_no_gradient_body() {
    let mut rng = StdRng::seed_from_u64(12);
    for (k, stride) in [(3usize, 1usize), (3, 2), (1, 1)] {
        let x = uniform(&mut rng, &[6, 3, 5, 7]);
        let w = uniform(&mut rng, &[4, 3, k, k]);
        let b = uniform(&mut rng, &[4]);
        let y = conv2d_op(&x, &w, Some(&b), stride, k / 2).unwrap();
        let gy = uniform(&mut rng, y.dims());
        let want = run(false, &x, &w, &b, &gy, stride, k / 2);
        // x constant: only w and b get gradients
        let (wv, bv) = (Var::from_tensor(&w).unwrap(), Var::from_tensor(&b).unwrap());
        let y = conv2d_op(&x, wv.as_tensor(), Some(bv.as_tensor()), stride, k / 2).unwrap();
        let g = (&y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g.get(&x).is_none());
        let (ew, eb) = (
            rel_err(g.get(&wv).unwrap(), &want.dw),
            rel_err(g.get(&bv).unwrap(), &want.db),
        );
        assert!(
            ew <= 1e-5 && eb <= 1e-5,
            "k={k} s={stride}: dw {ew:.2e}, db {eb:.2e}"
        );
        // w constant: x still gets its gradient
        let xv = Var::from_tensor(&x).unwrap();
        let y = conv2d_op(xv.as_tensor(), &w, None, stride, k / 2).unwrap();
        let g = (&y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
        assert!(g.get(&w).is_none());
        assert!(
            rel_err(g.get(&xv).unwrap(), &want.dx) <= 1e-5,
            "k={k} s={stride}"
        );
    }
}

#[test]
fn add_terms_match_composed_and_fall_back() {
    fused_ops::with_enabled(true, add_terms_match_composed_and_fall_back_body);
}

/// `conv2d_add_op` (conv + b + per-(image, channel) bias + residual): the fused inference path
/// against candle's composed ops to 1e-5 (relative to the largest output) for every stride,
/// kernel size and combination of extra terms, over batches that split into uneven chunks;
/// tracked arguments take the composed path and get the same gradients as the composed ops; a
/// non-contiguous residual falls back with the same answer; mismatched shapes are errors.
fn add_terms_match_composed_and_fall_back_body() {
    let mut rng = StdRng::seed_from_u64(21);
    for (bn, cin, cout, h, wd) in [
        (37, 8, 16, 8, 8),
        (5, 2, 3, 7, 5),
        (3, 6, 4, 4, 4),
        (5, 10, 7, 8, 16),
    ] {
        for (k, stride) in [(3usize, 1usize), (3, 2), (1, 1)] {
            let pad = k / 2;
            let x = uniform(&mut rng, &[bn, cin, h, wd]);
            let w = uniform(&mut rng, &[cout, cin, k, k]);
            let b = uniform(&mut rng, &[cout]);
            let (ho, wo) = (
                (h + 2 * pad - k) / stride + 1,
                (wd + 2 * pad - k) / stride + 1,
            );
            let tb = uniform(&mut rng, &[bn, cout]);
            let res = uniform(&mut rng, &[bn, cout, ho, wo]);
            for (use_tb, use_res) in [(true, false), (false, true), (true, true), (false, false)] {
                let (tb, res) = (use_tb.then_some(&tb), use_res.then_some(&res));
                let mut want = candle_conv(&x, &w, Some(&b), stride, pad);
                if let Some(t) = tb {
                    want = want
                        .broadcast_add(&t.unsqueeze(2).unwrap().unsqueeze(3).unwrap())
                        .unwrap();
                }
                if let Some(r) = res {
                    want = (r + want).unwrap();
                }
                let calls = fused_ops::fused_calls_on_this_thread();
                let got = conv2d_add_op(&x, &w, Some(&b), stride, pad, tb, res).unwrap();
                assert!(
                    fused_ops::fused_calls_on_this_thread() > calls,
                    "fused path ran"
                );
                let e = rel_err(&got, &want);
                assert!(
                    e <= 1e-5,
                    "{bn}x{cin}x{h}x{wd} k{k} s{stride} {use_tb} {use_res}: {e}"
                );
                // a non-contiguous residual: composed fallback, same answer
                if let Some(r) = res {
                    let rt = r.transpose(2, 3).unwrap().contiguous().unwrap();
                    let rt = rt.transpose(2, 3).unwrap();
                    assert!(!rt.is_contiguous());
                    let got = conv2d_add_op(&x, &w, Some(&b), stride, pad, tb, Some(&rt)).unwrap();
                    assert!(rel_err(&got, &want) <= 1e-5);
                }
            }
            // tracked input and residual: the composed path, with candle's gradients
            let xv = Var::from_tensor(&x).unwrap();
            let rv = Var::from_tensor(&res).unwrap();
            let gy = uniform(&mut rng, &[bn, cout, ho, wo]);
            let y = conv2d_add_op(
                xv.as_tensor(),
                &w,
                Some(&b),
                stride,
                pad,
                Some(&tb),
                Some(rv.as_tensor()),
            )
            .unwrap();
            let grads = (y * &gy).unwrap().sum_all().unwrap().backward().unwrap();
            let dr = grads.get(rv.as_tensor()).expect("residual gradient");
            assert_eq!(flat(dr), flat(&gy), "d(residual) = upstream gradient");
            let dx = grads.get(xv.as_tensor()).expect("input gradient");
            let xc = Var::from_tensor(&x).unwrap();
            let yc = candle_conv(xc.as_tensor(), &w, Some(&b), stride, pad);
            let gc = (yc * &gy).unwrap().sum_all().unwrap().backward().unwrap();
            assert!(rel_err(dx, gc.get(xc.as_tensor()).unwrap()) <= 1e-5);
        }
    }
    // mismatched extra shapes: errors, not panics
    let x = uniform(&mut rng, &[2, 3, 4, 4]);
    let w = uniform(&mut rng, &[5, 3, 3, 3]);
    let bad_tb = uniform(&mut rng, &[2, 4]);
    assert!(conv2d_add_op(&x, &w, None, 1, 1, Some(&bad_tb), None).is_err());
    let bad_res = uniform(&mut rng, &[2, 5, 3, 4]);
    assert!(conv2d_add_op(&x, &w, None, 1, 1, None, Some(&bad_res)).is_err());
    // Conv2d::forward_add with dilation 2 (a config the fused kernels do not cover)
    let cfg = Conv2dConfig {
        padding: 2,
        dilation: 2,
        ..Default::default()
    };
    let layer = Conv2d::new(w.clone(), None, cfg);
    let tb = uniform(&mut rng, &[2, 5]);
    let got = layer.forward_add(&x, Some(&tb), None).unwrap();
    let want = x
        .conv2d(&w, 2, 1, 2, 1)
        .unwrap()
        .broadcast_add(&tb.unsqueeze(2).unwrap().unsqueeze(3).unwrap())
        .unwrap();
    assert!(rel_err(&got, &want) <= 1e-5);
}
