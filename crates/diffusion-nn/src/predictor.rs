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

    fn run(&self, x_t: &[f64], t: f64, eps: &mut [f64]) -> crate::Result<()> {
        let d = self.model.config().dim();
        for (x, e) in x_t
            .chunks(self.max_batch * d)
            .zip(eps.chunks_mut(self.max_batch * d))
        {
            let rows = x.len() / d;
            let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            let input = Tensor::from_vec(xf, (rows, d), self.model.device())?;
            let out = self
                .model
                .forward(&input, &vec![t; rows])?
                .flatten_all()?
                .to_vec1::<f32>()?;
            for (dst, src) in e.iter_mut().zip(out) {
                *dst = src as f64;
            }
        }
        Ok(())
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
        let d = self.dim();
        if !x_t.len().is_multiple_of(d) || eps.len() != x_t.len() {
            return Err(diffusion::Error::Invalid {
                what: "batch",
                msg: format!(
                    "{} inputs / {} outputs for rows of {d}",
                    x_t.len(),
                    eps.len()
                ),
            });
        }
        self.run(x_t, level.t, eps)
            .map_err(|e| diffusion::Error::Predictor(Box::new(e)))
    }
}
