//! The dedicated CPU inference path over the trained tagger's weights.
//!
//! The first convolution over embeddings is linear, so it is folded into per-offset tables:
//! `P_j[c] = W1[:, :, j] · emb[c]` (`[window][H]` per character id), computed once at load.
//! A character's hidden vector is then `h_t = ReLU(b1 + Σ_j P_j[id_{t+j−w/2}])`, i.e. `window·H`
//! additions, and the logits are `b2 + Σ_j W2[:, :, j] · h_{t+j−ow/2}` (`4·ow·H` multiply-adds).
//! Positions outside the run contribute 0, as the candle model's zero padding does.
//! Tested to give the candle model's logits (and hence tags) to f32 rounding.

use std::path::Path;

use candle_core::Tensor;

use crate::model::{TaggerConfig, load_weights, names};
use crate::tag::Tag;
use crate::vocab::Vocab;
use crate::{Error, Result};

/// Fast CPU tagger.
#[derive(Debug, Clone)]
pub struct FastTagger {
    vocab: Vocab,
    window: usize,
    out_window: usize,
    hidden: usize,
    /// `[n_ids][window][hidden]`.
    table: Vec<f32>,
    b1: Vec<f32>,
    /// `[out_window][4][hidden]`.
    w2: Vec<f32>,
    b2: [f32; 4],
    /// Learned tag-transition log-probabilities for the Viterbi decoder (`None`: uniform).
    transitions: Option<[[f32; 4]; 4]>,
}

/// File names inside a model directory.
pub mod files {
    /// Tagger shape (JSON).
    pub const CONFIG: &str = "config.json";
    /// Weights.
    pub const WEIGHTS: &str = "model.safetensors";
    /// Vocabulary, one character per line.
    pub const VOCAB: &str = "vocab.txt";
}

/// `config.json` of a model directory.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ModelFile {
    /// The tagger shape.
    pub tagger: TaggerConfig,
    /// How it was trained (free-form, for people).
    #[serde(default)]
    pub trained: serde_json::Value,
    /// Tag-transition log-probabilities `[prev][next]` ([`Tag::ALL`] order) of the training
    /// pseudo-corpus ([`crate::sample::Sampler::transition_logp`]), added by the neural
    /// Viterbi; absent = uniform (a hard mask only). Disallowed entries are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transitions: Option<[[f32; 4]; 4]>,
}

fn to_vec(t: &Tensor, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
    if t.dims() != shape {
        return Err(Error::Model(format!(
            "{name} has shape {:?}, expected {shape:?}",
            t.dims()
        )));
    }
    Ok(t.to_dtype(candle_core::DType::F32)?
        .flatten_all()?
        .to_vec1::<f32>()?)
}

impl FastTagger {
    /// Loads a model directory (`config.json`, `vocab.txt`, `model.safetensors`), or the
    /// current checkpoint of a training output folder ([`crate::ckpt::resolve`]).
    ///
    /// # Errors
    /// Missing files, malformed JSON or vocabulary, weights of the wrong shape.
    pub fn load(dir: &Path) -> Result<Self> {
        // A training output folder holds generations; use the current complete one.
        let resolved = crate::ckpt::resolve(dir).ok_or_else(|| {
            Error::Model(format!(
                "{} holds no model (no config.json and no complete checkpoint)",
                dir.display()
            ))
        })?;
        let dir = resolved.as_path();
        let read = |name: &str| {
            std::fs::read(dir.join(name))
                .map_err(|e| Error::Model(format!("cannot read {}: {e}", dir.join(name).display())))
        };
        let config = read(files::CONFIG)?;
        let vocab = read(files::VOCAB)?;
        let weights = read(files::WEIGHTS)?;
        Self::from_bytes(&config, &vocab, &weights)
    }

    /// Builds from the three files' contents.
    ///
    /// # Errors
    /// As [`FastTagger::load`].
    pub fn from_bytes(config: &[u8], vocab: &[u8], weights: &[u8]) -> Result<Self> {
        let file: ModelFile = serde_json::from_slice(config)?;
        let vocab =
            std::str::from_utf8(vocab).map_err(|_| Error::Model("vocab is not UTF-8".into()))?;
        let vocab = Vocab::parse(vocab)?;
        if vocab.n_ids() != file.tagger.n_ids {
            return Err(Error::Model(format!(
                "vocab has {} ids but config says {}",
                vocab.n_ids(),
                file.tagger.n_ids
            )));
        }
        let w = load_weights(weights)?;
        Ok(Self::from_tensors(&file.tagger, vocab, &w)?.with_transitions(file.transitions))
    }

    /// Sets (or clears) the learned transitions used by [`FastTagger::decode`].
    pub fn with_transitions(mut self, transitions: Option<[[f32; 4]; 4]>) -> Self {
        self.transitions = transitions.filter(|t| t.iter().flatten().all(|x| x.is_finite()));
        self
    }

    /// The learned transitions, if the model has them.
    pub fn transitions(&self) -> Option<&[[f32; 4]; 4]> {
        self.transitions.as_ref()
    }

    /// Best legal tags for `logits` (from [`FastTagger::logits`]; turned into log-softmax rows
    /// in place when the model has learned transitions).
    pub fn decode(&self, logits: &mut [[f32; 4]], back: &mut Vec<[u8; 4]>, tags: &mut Vec<Tag>) {
        match &self.transitions {
            Some(t) => {
                log_softmax_rows(logits);
                crate::viterbi::decode_with(logits, t, back, tags);
            }
            None => crate::viterbi::decode(logits, back, tags),
        }
    }

    /// Builds from named tensors (as saved by training).
    ///
    /// # Errors
    /// Missing or misshapen tensors.
    pub fn from_tensors(
        cfg: &TaggerConfig,
        vocab: Vocab,
        w: &std::collections::HashMap<String, Tensor>,
    ) -> Result<Self> {
        cfg.validate()?;
        let get = |name: &str| {
            w.get(name)
                .ok_or_else(|| Error::Model(format!("missing tensor {name}")))
        };
        let (v, d, h, k, ok) = (
            cfg.n_ids,
            cfg.emb_dim,
            cfg.hidden,
            cfg.window,
            cfg.out_window,
        );
        let emb = to_vec(get(names::EMB)?, names::EMB, &[v, d])?;
        let w1 = to_vec(get(names::W1)?, names::W1, &[h, d, k])?;
        let b1 = to_vec(get(names::B1)?, names::B1, &[h])?;
        let w2 = to_vec(get(names::W2)?, names::W2, &[4, h, ok])?;
        let b2 = to_vec(get(names::B2)?, names::B2, &[4])?;
        let mut table = vec![0f32; v * k * h];
        for id in 0..v {
            let e = &emb[id * d..(id + 1) * d];
            for j in 0..k {
                let row = &mut table[(id * k + j) * h..(id * k + j + 1) * h];
                for (o, out) in row.iter_mut().enumerate() {
                    let wrow = &w1[o * d * k..(o + 1) * d * k];
                    *out = (0..d).map(|i| wrow[i * k + j] * e[i]).sum();
                }
            }
        }
        let mut w2t = vec![0f32; ok * 4 * h];
        for j in 0..ok {
            for o in 0..4 {
                for i in 0..h {
                    w2t[(j * 4 + o) * h + i] = w2[(o * h + i) * ok + j];
                }
            }
        }
        Ok(FastTagger {
            vocab,
            window: k,
            out_window: ok,
            hidden: h,
            table,
            b1,
            w2: w2t,
            b2: [b2[0], b2[1], b2[2], b2[3]],
            transitions: None,
        })
    }

    /// The vocabulary.
    pub fn vocab(&self) -> &Vocab {
        &self.vocab
    }

    /// Logits (`[f32; 4]` per character, [`Tag::ALL`] order) for a run of characters, into
    /// `out`; `hidden` is scratch.
    pub fn logits(&self, chars: &[char], hidden: &mut Vec<f32>, out: &mut Vec<[f32; 4]>) {
        let n = chars.len();
        let h = self.hidden;
        let (k, half) = (self.window, self.window / 2);
        hidden.clear();
        hidden.resize(n * h, 0.0);
        let ids: Vec<usize> = chars.iter().map(|&c| self.vocab.id(c) as usize).collect();
        for t in 0..n {
            let acc = &mut hidden[t * h..(t + 1) * h];
            acc.copy_from_slice(&self.b1);
            let lo = t.saturating_sub(half);
            let hi = (t + half + 1).min(n);
            for (s, &id) in ids.iter().enumerate().take(hi).skip(lo) {
                let j = s + half - t;
                let row = &self.table[(id * k + j) * h..(id * k + j + 1) * h];
                for (a, r) in acc.iter_mut().zip(row) {
                    *a += r;
                }
            }
            for a in acc.iter_mut() {
                *a = a.max(0.0);
            }
        }
        out.clear();
        out.resize(n, self.b2);
        let ohalf = self.out_window / 2;
        for (t, slot) in out.iter_mut().enumerate() {
            let lo = t.saturating_sub(ohalf);
            let hi = (t + ohalf + 1).min(n);
            let mut y = self.b2;
            for s in lo..hi {
                let j = s + ohalf - t;
                let hv = &hidden[s * h..(s + 1) * h];
                for (o, yo) in y.iter_mut().enumerate() {
                    let w = &self.w2[(j * 4 + o) * h..(j * 4 + o + 1) * h];
                    *yo += dot(w, hv);
                }
            }
            *slot = y;
        }
    }

    /// Best legal tags for a run of characters.
    pub fn tags(&self, chars: &[char]) -> Vec<Tag> {
        let (mut hidden, mut em, mut back, mut tags) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        self.logits(chars, &mut hidden, &mut em);
        self.decode(&mut em, &mut back, &mut tags);
        tags
    }
}

/// Dot product with 8 independent accumulators (lets the compiler vectorise).
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let chunks = a.len() / 8;
    for c in 0..chunks {
        let (x, y) = (&a[c * 8..c * 8 + 8], &b[c * 8..c * 8 + 8]);
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s: f32 = acc.iter().sum();
    for i in chunks * 8..a.len() {
        s += a[i] * b[i];
    }
    s
}

/// Rows of log-softmax from logits (the per-tag log-probabilities).
pub fn log_softmax_rows(logits: &mut [[f32; 4]]) {
    for row in logits {
        let m = row.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        let lse = m + row.iter().map(|&x| (x - m).exp()).sum::<f32>().ln();
        for x in row.iter_mut() {
            *x -= lse;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dict;
    use crate::model::Tagger;
    use candle_core::{DType, Device};
    use candle_nn::{VarBuilder, VarMap};
    use rand::{Rng, SeedableRng, rngs::StdRng};

    fn case(dev: &Device) -> Result<()> {
        let words = [
            "结婚",
            "的",
            "和尚",
            "尚未",
            "未",
            "扫描",
            "二维码",
            "关注",
            "微信号",
        ];
        let dict = Dict::from_entries(words.iter().map(|w| (w.to_string(), 3)))?;
        let vocab = Vocab::from_dict(&dict, 10);
        let cfg = TaggerConfig {
            n_ids: vocab.n_ids(),
            emb_dim: 6,
            hidden: 11,
            window: 5,
            out_window: 3,
        };
        let varmap = VarMap::new();
        let model = Tagger::new(&cfg, VarBuilder::from_varmap(&varmap, DType::F32, dev))?;
        crate::train::init_weights(&varmap, 3)?;
        // Biases start at 0 in candle; give them values so they are tested too.
        for var in varmap.all_vars() {
            let t = var.as_tensor();
            var.set(&(t + 0.1)?)?;
        }
        let weights: std::collections::HashMap<String, Tensor> = varmap
            .data()
            .lock()
            .expect("not poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
            .collect();
        let fast = FastTagger::from_tensors(&cfg, vocab.clone(), &weights)?;
        let mut rng = StdRng::seed_from_u64(0);
        let alphabet: Vec<char> = "结婚的和尚未扫描二维码关注微信号苏剑林".chars().collect();
        for n in [1usize, 2, 3, 7, 20] {
            let chars: Vec<char> = (0..n)
                .map(|_| alphabet[rng.random_range(0..alphabet.len())])
                .collect();
            let ids: Vec<u32> = chars.iter().map(|&c| vocab.id(c)).collect();
            // Reference: the candle model on a padded batch of two (the second row is padding
            // after one character), so masking is exercised as well.
            let mut rows = ids.clone();
            rows.push(ids[0]);
            rows.extend(std::iter::repeat_n(0, n - 1));
            let t = Tensor::from_vec(rows, (2, n), dev)?;
            let want = model.forward(&t)?.to_dtype(DType::F32)?.to_vec3::<f32>()?;
            let (mut h, mut got) = (Vec::new(), Vec::new());
            fast.logits(&chars, &mut h, &mut got);
            for (a, b) in got.iter().zip(&want[0]) {
                for (x, y) in a.iter().zip(b) {
                    // f32 sums of ~100 terms of size ≤ 1: |error| ≲ 1e-5.
                    assert!((x - y).abs() < 1e-4, "{x} vs {y}");
                }
            }
            fast.logits(&chars[..1], &mut h, &mut got);
            for (x, y) in got[0].iter().zip(&want[1][0]) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
            // Same tags as decoding the candle logits.
            let cand: Vec<[f32; 4]> = want[0].iter().map(|r| [r[0], r[1], r[2], r[3]]).collect();
            let (mut back, mut tags) = (Vec::new(), Vec::new());
            crate::viterbi::decode(&cand, &mut back, &mut tags);
            assert_eq!(fast.tags(&chars), tags);
        }
        Ok(())
    }

    #[test]
    fn fast_path_matches_candle_cpu() -> Result<()> {
        case(&Device::Cpu)
    }

    #[cfg(feature = "cuda")]
    #[test]
    fn fast_path_matches_candle_cuda() -> Result<()> {
        case(&Device::new_cuda(0)?)
    }
}
