//! Prediction types of diffusion models (ε, x₀, v) and exact conversions to ε.
//!
//! With x_t = √ᾱ x_0 + √β̄ ε (β̄ = 1 − ᾱ), the three targets models are trained on are
//! exactly interconvertible given x_t (spec `diffusion.md` §1):
//!
//! | [`Prediction`] | model output | ε̂ from it | x̂₀ from it |
//! |---|---|---|---|
//! | `epsilon` | ε̂ | ε̂ | (x_t − √β̄ ε̂)/√ᾱ |
//! | `sample` | x̂₀ | (x_t − √ᾱ x̂₀)/√β̄ | x̂₀ |
//! | `v` | v̂ = √ᾱ ε̂ − √β̄ x̂₀ | √ᾱ v̂ + √β̄ x_t | √ᾱ x_t − √β̄ v̂ |
//!
//! [`AsEps`] wraps a model of any prediction type as an [`EpsPredictor`], so every sampler of
//! the crate runs on it unchanged; the diffusers importer uses the same conversion.

use std::fmt;
use std::str::FromStr;

use crate::{EpsPredictor, Error, NoiseLevel, Result};

/// What a model's output means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prediction {
    /// The noise ε (`epsilon`, DDPM's parameterisation).
    Epsilon,
    /// The clean data x₀ (`sample`, diffusers' name).
    Sample,
    /// The velocity v = √ᾱ ε − √β̄ x₀ (`v_prediction`, Salimans & Ho, arXiv 2202.00512).
    V,
}

impl Prediction {
    /// Every prediction type.
    pub const ALL: [Prediction; 3] = [Prediction::Epsilon, Prediction::Sample, Prediction::V];

    /// diffusers' `prediction_type` string: `epsilon`, `sample` or `v_prediction`.
    pub fn name(self) -> &'static str {
        match self {
            Prediction::Epsilon => "epsilon",
            Prediction::Sample => "sample",
            Prediction::V => "v_prediction",
        }
    }
}

impl fmt::Display for Prediction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Prediction {
    type Err = Error;

    /// Accepts diffusers' names and the aliases `eps`, `x0`, `v`.
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "epsilon" | "eps" => Ok(Prediction::Epsilon),
            "sample" | "x0" => Ok(Prediction::Sample),
            "v_prediction" | "v" => Ok(Prediction::V),
            _ => Err(Error::Invalid {
                what: "prediction type",
                msg: format!(
                    "unknown prediction type `{s}` (expected epsilon, sample or v_prediction)"
                ),
            }),
        }
    }
}

/// (√ᾱ, √β̄) of a level, with β̄ = 1 − ᾱ.
fn parts(level: NoiseLevel) -> (f64, f64) {
    let ab = level.alpha_bar;
    (ab.sqrt(), (1.0 - ab).sqrt())
}

/// Converts a model output of type `kind` at x_t into ε̂, in place (`out` holds the output on
/// entry and ε̂ on return). Exact algebra; `sample` is singular at ᾱ = 1 (β̄ = 0).
pub fn output_to_eps(kind: Prediction, x_t: &[f64], level: NoiseLevel, out: &mut [f64]) {
    let (sa, sb) = parts(level);
    match kind {
        Prediction::Epsilon => {}
        Prediction::Sample => {
            for (o, &x) in out.iter_mut().zip(x_t) {
                *o = (x - sa * *o) / sb;
            }
        }
        Prediction::V => {
            for (o, &x) in out.iter_mut().zip(x_t) {
                *o = sa * *o + sb * x;
            }
        }
    }
}

/// Converts ε̂ at x_t into the output a model of type `kind` would give, in place (the inverse
/// of [`output_to_eps`]; `sample` is singular at ᾱ = 0).
pub fn eps_to_output(kind: Prediction, x_t: &[f64], level: NoiseLevel, out: &mut [f64]) {
    let (sa, sb) = parts(level);
    match kind {
        Prediction::Epsilon => {}
        Prediction::Sample => {
            for (o, &x) in out.iter_mut().zip(x_t) {
                *o = (x - sb * *o) / sa;
            }
        }
        Prediction::V => {
            // v = √ᾱ ε − √β̄ x̂₀ with x̂₀ = (x − √β̄ ε)/√ᾱ gives v = (ε − √β̄ x)/√ᾱ.
            for (o, &x) in out.iter_mut().zip(x_t) {
                *o = (*o - sb * x) / sa;
            }
        }
    }
}

/// A model whose raw output has some [`Prediction`] type (a network imported from diffusers,
/// an x₀-predicting denoiser). Same batch contract as [`EpsPredictor`].
pub trait RawPredictor {
    /// Data dimension d.
    fn dim(&self) -> usize;

    /// Writes the raw model output for a batch of rows into `out` (same length as `x_t`).
    ///
    /// # Errors
    /// Implementation-defined.
    fn predict(&self, x_t: &[f64], level: NoiseLevel, out: &mut [f64]) -> Result<()>;
}

/// A [`RawPredictor`] of type `kind` seen as an ε-predictor (exact conversion per call).
pub struct AsEps<P> {
    model: P,
    kind: Prediction,
}

impl<P: RawPredictor> AsEps<P> {
    /// Wraps `model`, whose output has type `kind`.
    pub fn new(model: P, kind: Prediction) -> Self {
        Self { model, kind }
    }

    /// The wrapped model's prediction type.
    pub fn kind(&self) -> Prediction {
        self.kind
    }

    /// The wrapped model.
    pub fn model(&self) -> &P {
        &self.model
    }
}

impl<P: RawPredictor> EpsPredictor for AsEps<P> {
    fn dim(&self) -> usize {
        self.model.dim()
    }

    fn predict_eps(&self, x_t: &[f64], level: NoiseLevel, eps: &mut [f64]) -> Result<()> {
        if self.kind == Prediction::Sample && (level.alpha_bar >= 1.0 || level.alpha_bar.is_nan()) {
            return Err(Error::Invalid {
                what: "noise level",
                msg: format!(
                    "an x₀-predicting model cannot give ε at ᾱ = {} (no noise)",
                    level.alpha_bar
                ),
            });
        }
        self.model.predict(x_t, level, eps)?;
        output_to_eps(self.kind, x_t, level, eps);
        Ok(())
    }
}

/// An ε-predictor re-expressed as a model of another type (tests and adapters: the exact ε*
/// of the laboratory as an x₀- or v-model).
pub struct FromEps<'a> {
    inner: &'a dyn EpsPredictor,
    kind: Prediction,
}

impl<'a> FromEps<'a> {
    /// Wraps `inner` so that it outputs predictions of type `kind`.
    pub fn new(inner: &'a dyn EpsPredictor, kind: Prediction) -> Self {
        Self { inner, kind }
    }
}

impl RawPredictor for FromEps<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    fn predict(&self, x_t: &[f64], level: NoiseLevel, out: &mut [f64]) -> Result<()> {
        self.inner.predict_eps(x_t, level, out)?;
        eps_to_output(self.kind, x_t, level, out);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_round_trip() {
        // x_t built from known (x₀, ε): each target converts back to the same ε to a few ulps.
        let level = NoiseLevel {
            t: 3.0,
            alpha_bar: 0.37,
        };
        let (sa, sb) = parts(level);
        let (x0, e) = ([0.3, -1.2, 2.0], [1.1, 0.4, -0.7]);
        let x_t: Vec<f64> = x0.iter().zip(&e).map(|(a, b)| sa * a + sb * b).collect();
        let v: Vec<f64> = x0.iter().zip(&e).map(|(a, b)| sa * b - sb * a).collect();
        for (kind, raw) in [
            (Prediction::Epsilon, e.to_vec()),
            (Prediction::Sample, x0.to_vec()),
            (Prediction::V, v),
        ] {
            let mut out = raw.clone();
            output_to_eps(kind, &x_t, level, &mut out);
            for (a, b) in out.iter().zip(&e) {
                assert!(
                    (a - b).abs() < 16.0 * f64::EPSILON * 4.0,
                    "{kind}: {a} vs {b}"
                );
            }
            eps_to_output(kind, &x_t, level, &mut out);
            for (a, b) in out.iter().zip(&raw) {
                assert!(
                    (a - b).abs() < 16.0 * f64::EPSILON * 4.0,
                    "{kind}: {a} vs {b}"
                );
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for p in Prediction::ALL {
            assert_eq!(p.name().parse::<Prediction>().unwrap(), p);
        }
        assert!("noise".parse::<Prediction>().is_err());
    }
}
