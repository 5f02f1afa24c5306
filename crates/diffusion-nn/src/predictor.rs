//! A trained network as a [`diffusion::EpsPredictor`], so the scalar core's sampling loop, Γ
//! estimator and NELBO run on it unchanged.

use candle_core::Tensor;
use diffusion::{EpsPredictor, NoiseLevel};

use crate::model::Model;

/// Wraps a [`Model`]: f64 rows in, f32 network, f64 ε̂ out, at most `max_batch` rows per
/// forward pass.
#[derive(Debug)]
pub struct NetPredictor<'a> {
    model: &'a Model,
    max_batch: usize,
}

impl<'a> NetPredictor<'a> {
    /// A predictor evaluating at most `max_batch` (≥ 1) rows per network call.
    pub fn new(model: &'a Model, max_batch: usize) -> Self {
        NetPredictor {
            model,
            max_batch: max_batch.max(1),
        }
    }
}

impl EpsPredictor for NetPredictor<'_> {
    fn dim(&self) -> usize {
        self.model.config().dim()
    }

    fn predict_eps(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
    ) -> diffusion::Result<()> {
        let model = self.model;
        predict_rows(x_t, level, eps, model, self.max_batch, |x, t| {
            model.forward_untracked(x, t)
        })
    }
}

/// Runs a network of `model`'s shapes (`forward`, e.g. the model itself or a head around it)
/// on a batch of f64 rows at one noise level: checks the batch, then converts to f32 and
/// evaluates at most `max_batch` rows per call, writing f64 outputs into `out`. The one
/// f64 ↔ f32 bridge of [`NetPredictor`] and [`crate::cov::NetCovPredictor`].
pub(crate) fn predict_rows(
    x_t: &[f64],
    level: NoiseLevel,
    out: &mut [f64],
    model: &Model,
    max_batch: usize,
    forward: impl Fn(&Tensor, &[f64]) -> crate::Result<Tensor>,
) -> diffusion::Result<()> {
    let d = model.config().dim();
    if !x_t.len().is_multiple_of(d) || out.len() != x_t.len() {
        return Err(diffusion::Error::Invalid {
            what: "batch",
            msg: format!(
                "{} inputs / {} outputs for rows of {d}",
                x_t.len(),
                out.len()
            ),
        });
    }
    let run = |out: &mut [f64]| -> crate::Result<()> {
        for (x, o) in x_t.chunks(max_batch * d).zip(out.chunks_mut(max_batch * d)) {
            let rows = x.len() / d;
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let input = Tensor::from_vec(xf, (rows, d), model.device())?;
            let y = forward(&input, &vec![level.t; rows])?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (dst, src) in o.iter_mut().zip(y) {
                *dst = src as f64;
            }
        }
        Ok(())
    };
    run(out).map_err(|e| diffusion::Error::Predictor(Box::new(e)))
}
