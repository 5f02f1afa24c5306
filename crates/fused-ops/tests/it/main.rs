//! Integration tests of the fused ops against candle's composed ops and finite differences.
//!
//! Tolerances: "relative" means the norm-wise relative error ‖a − b‖₂ / ‖b‖₂. Fused vs composed
//! in f32: 1e-5 (both sum in different orders; elementwise rounding is ~1e-7). Fused f32
//! gradients vs central finite differences of the composed op in f64 (step 1e-5, truncation and
//! rounding error ~1e-9): 1e-4, set by the f32 rounding of the fused kernel; a wrong derivative
//! (e.g. SiLU's, or a bias gradient off by a factor) gives errors of order 1.
mod conv;
mod linear;
mod norm;
mod shape;

use std::sync::{Mutex, MutexGuard};

use candle_core::{DType, Device, Result, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

/// Serialises the tests that switch fusion off or assert which path ran: the switch is
/// process-wide and the tests of this binary run on parallel threads.
pub fn switch_lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// A seeded tensor of U(lo, hi) values in `dtype`.
pub fn uniform(seed: u64, shape: &[usize], lo: f64, hi: f64, dtype: DType) -> Tensor {
    let mut rng = StdRng::seed_from_u64(seed);
    let n: usize = shape.iter().product();
    let v: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
    Tensor::from_vec(v, shape, &Device::Cpu)
        .and_then(|t| t.to_dtype(dtype))
        .expect("tensor")
}

/// Flat f64 values of a tensor.
pub fn values(t: &Tensor) -> Vec<f64> {
    t.to_dtype(DType::F64)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1::<f64>())
        .expect("values")
}

/// ‖a − b‖₂ / ‖b‖₂.
pub fn rel_err(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let num: f64 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
    let den: f64 = b.iter().map(|y| y * y).sum();
    (num / den.max(1e-300)).sqrt()
}

/// Output and the gradients of L = Σ out ⊙ r with respect to each of `inputs`.
pub fn output_and_grads(
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    r: &Tensor,
) -> (Vec<f64>, Vec<Vec<f64>>) {
    let vars: Vec<Var> = inputs
        .iter()
        .map(|t| Var::from_tensor(t).expect("var"))
        .collect();
    let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
    let y = f(&ts).expect("forward");
    let loss = (&y * r).and_then(|p| p.sum_all()).expect("loss");
    let grads = loss.backward().expect("backward");
    let g = ts
        .iter()
        .map(|t| values(grads.get(t).expect("every input has a gradient")))
        .collect();
    (values(&y), g)
}

/// Central differences (step h) of L = Σ f(inputs) ⊙ r with respect to every entry of
/// input `which`, computed in f64.
pub fn finite_diff(
    f: &dyn Fn(&[Tensor]) -> Result<Tensor>,
    inputs: &[Tensor],
    r: &Tensor,
    which: usize,
    h: f64,
) -> Vec<f64> {
    let inputs: Vec<Tensor> = inputs
        .iter()
        .map(|t| t.to_dtype(DType::F64).expect("f64"))
        .collect();
    let r = r.to_dtype(DType::F64).expect("f64");
    let base = values(&inputs[which]);
    let shape = inputs[which].dims().to_vec();
    let loss = |v: Vec<f64>| {
        let mut ins = inputs.clone();
        ins[which] = Tensor::from_vec(v, shape.as_slice(), &Device::Cpu).expect("tensor");
        let y = f(&ins).expect("forward");
        (&y * &r)
            .and_then(|p| p.sum_all())
            .and_then(|s| s.to_scalar::<f64>())
            .expect("loss")
    };
    (0..base.len())
        .map(|i| {
            let mut p = base.clone();
            p[i] += h;
            let mut m = base.clone();
            m[i] -= h;
            (loss(p) - loss(m)) / (2.0 * h)
        })
        .collect()
}
