//! A diffusers network as a [`diffusion::EpsPredictor`]: f64 rows in, ε̂ out, whatever the
//! network predicts (see the table in the [module docs](super)).

use candle_core::Tensor;
use diffusion::{EpsPredictor, NoiseLevel};

use super::scheduler::PredictionType;
use super::unet::UNet2D;
use crate::{Error, Result};

/// Class labels for a class-conditional model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassLabels {
    /// An unconditional model.
    None,
    /// Every image gets this class.
    All(u32),
    /// Image i of every batch gets `labels[i]` (the batch must have exactly this many images).
    PerRow(Vec<u32>),
}

/// The ε-view of a [`UNet2D`]: rows are flattened CHW images; the network is queried at
/// diffusers timestep τ = t − 1 for kexue's time t, at most `max_batch` images per call.
#[derive(Debug)]
pub struct EpsView<'a> {
    unet: &'a UNet2D,
    prediction: PredictionType,
    labels: ClassLabels,
    max_batch: usize,
}

impl<'a> EpsView<'a> {
    /// The view of `unet` for a network predicting `prediction`, with `labels`.
    ///
    /// # Errors
    /// [`Error::Config`] when labels are given to an unconditional model, missing for a
    /// class-conditional one, or out of range.
    pub fn new(
        unet: &'a UNet2D,
        prediction: PredictionType,
        labels: ClassLabels,
        max_batch: usize,
    ) -> Result<Self> {
        let n = unet.config().num_class_embeds;
        let given: &[u32] = match &labels {
            ClassLabels::None => &[],
            ClassLabels::All(c) => std::slice::from_ref(c),
            ClassLabels::PerRow(v) => v,
        };
        match (n, &labels) {
            (None, ClassLabels::None) => {}
            (Some(n), ClassLabels::None) => {
                return Err(Error::config(
                    "class",
                    format!("the model is class-conditional: choose a class in 0..{n}"),
                ));
            }
            (None, _) => {
                return Err(Error::config(
                    "class",
                    "the model is not class-conditional: give no class",
                ));
            }
            (Some(n), _) => {
                if let Some(bad) = given.iter().find(|&&c| c as usize >= n) {
                    return Err(Error::config(
                        "class",
                        format!("class {bad} is outside 0..{n}"),
                    ));
                }
            }
        }
        Ok(EpsView {
            unet,
            prediction,
            labels,
            max_batch: max_batch.max(1),
        })
    }

    /// The view with labels already checked against the model (by [`crate::Checkpoint`]).
    pub(crate) fn new_checked(
        unet: &'a UNet2D,
        prediction: PredictionType,
        labels: &ClassLabels,
        max_batch: usize,
    ) -> Self {
        EpsView {
            unet,
            prediction,
            labels: labels.clone(),
            max_batch: max_batch.max(1),
        }
    }

    /// ε̂ as [`EpsPredictor::predict_eps`], and the network's learned-variance half (improved
    /// DDPM's v ∈ [−1, 1], one per value) into `variance`.
    ///
    /// # Errors
    /// As [`EpsPredictor::predict_eps`]; [`diffusion::Error::Invalid`] when the model has no
    /// learned variance or `variance` is not as long as `x_t`.
    pub fn predict_eps_and_variance(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
        variance: &mut [f64],
    ) -> diffusion::Result<()> {
        if !self.unet.config().learned_variance() || variance.len() != x_t.len() {
            return Err(diffusion::Error::Invalid {
                what: "variance",
                msg: "the model has no learned variance, or the output has the wrong length".into(),
            });
        }
        self.run(x_t, level, eps, Some(variance))
    }

    fn run(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
        mut variance: Option<&mut [f64]>,
    ) -> diffusion::Result<()> {
        let c = self.unet.config();
        let d = c.dim();
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
        let rows = x_t.len() / d;
        if let ClassLabels::PerRow(l) = &self.labels
            && l.len() != rows
        {
            return Err(diffusion::Error::Invalid {
                what: "class",
                msg: format!("{} class labels for a batch of {rows} images", l.len()),
            });
        }
        let (ab, bb) = (level.alpha_bar, 1.0 - level.alpha_bar);
        let tau = level.t - 1.0;
        let mut go = || -> Result<()> {
            for start in (0..rows).step_by(self.max_batch) {
                let n = self.max_batch.min(rows - start);
                let x = &x_t[start * d..(start + n) * d];
                let xf: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let (h, w) = c.sample_size;
                let input = Tensor::from_vec(xf, (n, c.in_channels, h, w), self.unet.device())?;
                let labels: Option<Vec<u32>> = match &self.labels {
                    ClassLabels::None => None,
                    ClassLabels::All(k) => Some(vec![*k; n]),
                    ClassLabels::PerRow(l) => Some(l[start..start + n].to_vec()),
                };
                let y = self
                    .unet
                    .forward(&input, &vec![tau; n], labels.as_deref())?;
                let first = y
                    .narrow(1, 0, c.in_channels)?
                    .flatten_all()?
                    .to_vec1::<f32>()?;
                let out = &mut eps[start * d..(start + n) * d];
                for ((o, &p), &xv) in out.iter_mut().zip(&first).zip(x) {
                    let p = p as f64;
                    *o = match self.prediction {
                        PredictionType::Epsilon => p,
                        PredictionType::VPrediction => ab.sqrt() * p + bb.sqrt() * xv,
                        PredictionType::Sample => (xv - ab.sqrt() * p) / bb.sqrt(),
                    };
                }
                if let Some(var) = variance.as_deref_mut() {
                    let second = y
                        .narrow(1, c.in_channels, c.in_channels)?
                        .flatten_all()?
                        .to_vec1::<f32>()?;
                    for (o, v) in var[start * d..(start + n) * d].iter_mut().zip(second) {
                        *o = v as f64;
                    }
                }
            }
            Ok(())
        };
        go().map_err(|e| diffusion::Error::Predictor(Box::new(e)))
    }
}

impl EpsPredictor for EpsView<'_> {
    fn dim(&self) -> usize {
        self.unet.config().dim()
    }

    fn predict_eps(
        &self,
        x_t: &[f64],
        level: NoiseLevel,
        eps: &mut [f64],
    ) -> diffusion::Result<()> {
        self.run(x_t, level, eps, None)
    }
}
