//! Training the tagger on streamed pseudo-sentences.
//!
//! Each step draws `batch` pseudo-sentences ([`crate::sample::Sampler`]), pads them to the
//! longest, replaces a fraction `unk_rate` of the characters by the unknown id (so the model
//! learns to segment around characters it has never seen), and takes one AdamW step on the
//! masked cross-entropy of the B/M/E/S tags.
//! The learning rate decays by a cosine from `lr` to `lr / 10`.
//!
//! Checkpoints are crash-safe generations ([`crate::ckpt`]): each one is a complete folder
//! `OUT/gen-<step>/` and the file `OUT/CURRENT` names the newest; a kill at any moment leaves
//! a resumable checkpoint. Resuming reloads the weights and continues from the saved step with
//! a sampler seeded by `(seed, step)`; the AdamW moments restart from zero. `steps` is the
//! total: resuming with a larger `steps` continues to the new total (the cosine schedule is
//! stretched to it), with a smaller or equal one there is nothing to do. Every other setting
//! must match the checkpoint's.
//! A non-finite loss stops training with [`Error::NonFinite`], leaving the last checkpoint.

use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::{Optimizer, VarBuilder, VarMap};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::ckpt;
use crate::dict::Dict;
use crate::infer::{ModelFile, files};
use crate::model::{Tagger, TaggerConfig};
use crate::sample::Sampler;
use crate::tag::Tag;
use crate::vocab::{UNK, Vocab};
use crate::{Error, Result};

/// Training hyper-parameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Optimiser steps.
    pub steps: usize,
    /// Sentences per step.
    pub batch: usize,
    /// Longest pseudo-sentence in characters (the note's maxlen).
    pub max_chars: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// Seed for initialisation and sampling.
    pub seed: u64,
    /// Fraction of characters replaced by the unknown id.
    pub unk_rate: f64,
    /// Steps between checkpoints.
    pub checkpoint_every: usize,
    /// Most characters in the vocabulary.
    pub vocab_chars: usize,
    /// Embedding dimension.
    pub emb_dim: usize,
    /// Hidden channels.
    pub hidden: usize,
    /// First convolution width (odd).
    pub window: usize,
    /// Output convolution width (odd).
    pub out_window: usize,
    /// Words are drawn ∝ `count^temper` (1 = the note's ∝ frequency).
    #[serde(default = "one")]
    pub temper: f64,
    /// Most words per pseudo-sentence (the note: 16).
    #[serde(default = "sixteen")]
    pub max_words: usize,
    /// Start from the weights of this model folder (same shape and vocabulary) instead of a
    /// random initialisation (fine-tuning, e.g. with another `temper`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<std::path::PathBuf>,
    /// Apply `temper` within each word-length class, keeping the classes' shares of the
    /// draws ([`Sampler::tempered_within_lengths`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub temper_within_lengths: bool,
}

fn one() -> f64 {
    1.0
}

fn sixteen() -> usize {
    crate::sample::MAX_WORDS
}

/// Whether to continue from a checkpoint found in the output directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Continue if `state.json` exists and the configuration matches.
    IfPresent,
    /// Start from scratch, overwriting.
    Never,
}

/// Progress reported after every step.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    /// Steps done.
    pub step: usize,
    /// Total steps.
    pub steps: usize,
    /// Running mean loss (nats per character).
    pub loss: f32,
    /// Running tag accuracy on the training batches.
    pub accuracy: f32,
}

/// What a training run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    /// Steps done.
    pub step: usize,
    /// Running loss at the last checkpoint.
    pub loss: f32,
    /// Running accuracy at the last checkpoint.
    pub accuracy: f32,
    /// The configuration.
    pub config: TrainConfig,
}

const STATE: &str = ckpt::STATE;

fn save(out: &Path, varmap: &VarMap, state: &State, file: &ModelFile, vocab: &Vocab) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Model("poisoned var map".into()))?;
    let tensors: Vec<(String, Tensor)> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    drop(data);
    let weights = safetensors_bytes(&tensors)?;
    let config = serde_json::to_string_pretty(file)?;
    let vocab = vocab.to_text();
    let st = serde_json::to_string_pretty(state)?;
    ckpt::write_generation(
        out,
        state.step as u64,
        &[
            (files::WEIGHTS, &weights),
            (files::CONFIG, config.as_bytes()),
            (files::VOCAB, vocab.as_bytes()),
            (STATE, st.as_bytes()),
        ],
    )?;
    Ok(())
}

/// Serialises named tensors in the safetensors format (in memory).
fn safetensors_bytes(tensors: &[(String, Tensor)]) -> Result<Vec<u8>> {
    let tmp = std::env::temp_dir().join(format!(
        "cws-weights-{}-{:?}.safetensors",
        std::process::id(),
        std::thread::current().id()
    ));
    let map: std::collections::HashMap<String, Tensor> = tensors.iter().cloned().collect();
    candle_core::safetensors::save(&map, &tmp)?;
    let bytes = std::fs::read(&tmp)?;
    let _ = std::fs::remove_file(&tmp);
    Ok(bytes)
}

/// The settings that differ between two configurations, named as `kexue cws train` flags
/// (`steps`, the total, is not a difference).
fn differing_flags(a: &TrainConfig, b: &TrainConfig) -> Result<Vec<String>> {
    let (va, vb) = (serde_json::to_value(a)?, serde_json::to_value(b)?);
    let (Some(ma), Some(mb)) = (va.as_object(), vb.as_object()) else {
        return Ok(Vec::new());
    };
    Ok(ma
        .iter()
        .filter(|(k, v)| k.as_str() != "steps" && mb.get(*k) != Some(v))
        .map(|(k, v)| {
            format!(
                "--{} (checkpoint {}, now {})",
                k.replace('_', "-"),
                v,
                mb.get(k).cloned().unwrap_or_default()
            )
        })
        .collect())
}

/// Builds one padded batch: ids `[B, T]`, targets `[B·T]` and mask `[B·T]`.
fn batch(
    sampler: &Sampler,
    rng: &mut StdRng,
    cfg: &TrainConfig,
    dev: &Device,
) -> Result<(Tensor, Tensor, Tensor)> {
    let mut sents = Vec::with_capacity(cfg.batch);
    for _ in 0..cfg.batch {
        let (mut ids, mut tags) = (Vec::new(), Vec::new());
        sampler.sentence_of(rng, cfg.max_words, cfg.max_chars, &mut ids, &mut tags);
        for id in ids.iter_mut() {
            if rng.random::<f64>() < cfg.unk_rate {
                *id = UNK;
            }
        }
        sents.push((ids, tags));
    }
    let t = sents.iter().map(|s| s.0.len()).max().unwrap_or(1);
    let (mut ids, mut tgt, mut mask) = (
        Vec::with_capacity(cfg.batch * t),
        Vec::with_capacity(cfg.batch * t),
        Vec::with_capacity(cfg.batch * t),
    );
    for (s_ids, s_tags) in &sents {
        for i in 0..t {
            ids.push(s_ids.get(i).copied().unwrap_or(0));
            tgt.push(s_tags.get(i).map_or(0, |t: &Tag| t.index() as u32));
            mask.push(if i < s_ids.len() { 1f32 } else { 0.0 });
        }
    }
    Ok((
        Tensor::from_vec(ids, (cfg.batch, t), dev)?,
        Tensor::from_vec(tgt, cfg.batch * t, dev)?,
        Tensor::from_vec(mask, cfg.batch * t, dev)?,
    ))
}

/// Re-initialises every variable from a seeded RNG (candle cannot seed its CPU generator):
/// biases 0, embeddings U(−0.1√3, 0.1√3) (standard deviation 0.1, small so that Adam steps move them quickly), convolution weights U(−a, a) with
/// `a = 1/√fan_in` (candle's default bound).
///
/// # Errors
/// Candle errors.
pub fn init_weights(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::Model("poisoned var map".into()))?;
    let mut named: Vec<(&String, &candle_core::Var)> = data.iter().collect();
    named.sort_by(|a, b| a.0.cmp(b.0));
    let mut rng = StdRng::seed_from_u64(seed);
    for (name, var) in named {
        let dims = var.dims().to_vec();
        let n: usize = dims.iter().product();
        let bound = if name.ends_with("bias") {
            0.0
        } else if name.starts_with("emb") {
            0.1 * 3f32.sqrt()
        } else {
            1.0 / (dims[1..].iter().product::<usize>() as f32).sqrt()
        };
        let vals: Vec<f32> = (0..n)
            .map(|_| {
                if bound == 0.0 {
                    0.0
                } else {
                    rng.random_range(-bound..bound)
                }
            })
            .collect();
        var.set(&Tensor::from_vec(vals, dims, var.device())?)?;
    }
    Ok(())
}

/// Loads the weights of the model folder `init` (a shipped model or a training output) into
/// `varmap`, after checking that its shape and vocabulary are the ones being trained.
fn warm_start(varmap: &mut VarMap, init: &Path, tcfg: &TaggerConfig, vocab: &Vocab) -> Result<()> {
    let dir = ckpt::resolve(init)
        .ok_or_else(|| Error::Invalid(format!("--init {}: no model there", init.display())))?;
    let file: ModelFile = serde_json::from_slice(&std::fs::read(dir.join(files::CONFIG))?)?;
    if &file.tagger != tcfg {
        return Err(Error::Invalid(format!(
            "--init {}: its shape {:?} differs from the one being trained {:?}",
            init.display(),
            file.tagger,
            tcfg
        )));
    }
    let theirs = std::fs::read_to_string(dir.join(files::VOCAB))?;
    if theirs != vocab.to_text() {
        return Err(Error::Invalid(format!(
            "--init {}: its vocabulary differs (another dictionary or --vocab-chars)",
            init.display()
        )));
    }
    varmap.load(dir.join(files::WEIGHTS))?;
    Ok(())
}

/// Trains a tagger on pseudo-sentences from `dict`, writing checkpoints into `out`.
/// `on_step` is called after every step (the library never prints).
///
/// # Errors
/// Invalid configuration, I/O, candle errors, or [`Error::NonFinite`].
pub fn train(
    dict: &Dict,
    out: &Path,
    cfg: &TrainConfig,
    resume: Resume,
    dev: &Device,
    mut on_step: impl FnMut(&Progress),
) -> Result<State> {
    if cfg.batch == 0 || cfg.checkpoint_every == 0 || cfg.max_chars == 0 {
        return Err(Error::Invalid(
            "batch, checkpoint interval and max chars must be positive".into(),
        ));
    }
    std::fs::create_dir_all(out)?;
    let vocab = Vocab::from_dict(dict, cfg.vocab_chars);
    let sampler = if cfg.temper_within_lengths {
        Sampler::tempered_within_lengths(dict, &vocab, cfg.temper)?
    } else {
        Sampler::tempered(dict, &vocab, cfg.temper)?
    };
    if sampler.longest_word() > cfg.max_chars {
        return Err(Error::Invalid(format!(
            "max chars {} is shorter than the longest word ({})",
            cfg.max_chars,
            sampler.longest_word()
        )));
    }
    let tcfg = TaggerConfig {
        n_ids: vocab.n_ids(),
        emb_dim: cfg.emb_dim,
        hidden: cfg.hidden,
        window: cfg.window,
        out_window: cfg.out_window,
    };
    let file = ModelFile {
        tagger: tcfg.clone(),
        trained: serde_json::json!({
            "method": "pseudo-sentences from the dictionary (kexue.fm/archives/4245)",
            "config": cfg,
        }),
        // Learned transitions did not help on the development set (RESULTS.md), so the
        // decoder stays a hard mask; `bench/cws/transitions.py` adds them to a model folder.
        transitions: None,
    };
    let mut varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, dev);
    let model = Tagger::new(&tcfg, vb)?;
    init_weights(&varmap, cfg.seed)?;
    if let Some(init) = &cfg.init {
        warm_start(&mut varmap, init, &tcfg, &vocab)?;
    }
    let mut start = 0;
    let mut prev_state = None;
    if resume == Resume::IfPresent
        && let Some(gen_dir) = ckpt::resolve(out)
        && gen_dir.join(STATE).is_file()
    {
        let state_path = gen_dir.join(STATE);
        let prev: State = serde_json::from_slice(&std::fs::read(&state_path)?)?;
        let diff = differing_flags(&prev.config, cfg)?;
        if !diff.is_empty() {
            return Err(Error::Invalid(format!(
                "{} was written with other settings: {}; pass --restart to start over, or use \
                 a new --out (only --steps may change: it is the new total)",
                state_path.display(),
                diff.join(", ")
            )));
        }
        varmap.load(gen_dir.join(files::WEIGHTS))?;
        start = prev.step;
        prev_state = Some(prev);
    }
    let mut opt = candle_nn::AdamW::new(
        varmap.all_vars(),
        candle_nn::ParamsAdamW {
            lr: cfg.lr,
            weight_decay: 0.0,
            ..Default::default()
        },
    )?;
    let mut rng =
        StdRng::seed_from_u64(cfg.seed ^ (start as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    // The running averages continue from the checkpoint's, so a resumed (or finished) run
    // reports the checkpoint's loss rather than NaN.
    let (mut run_loss, mut run_acc) = prev_state
        .as_ref()
        .map_or((f32::NAN, f32::NAN), |p| (p.loss, p.accuracy));
    let mut state = State {
        step: start,
        loss: run_loss,
        accuracy: run_acc,
        config: cfg.clone(),
    };
    for step in start..cfg.steps {
        let progress = step as f64 / cfg.steps.max(1) as f64;
        let lr = cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()));
        opt.set_learning_rate(lr);
        let (ids, tgt, mask) = batch(&sampler, &mut rng, cfg, dev)?;
        let logits = model.forward(&ids)?.flatten_to(1)?; // [B·T, 4]
        let logp = candle_nn::ops::log_softmax(&logits, 1)?;
        let picked = logp.gather(&tgt.unsqueeze(1)?, 1)?.squeeze(1)?;
        let n_real = mask.sum_all()?;
        let loss = (picked.mul(&mask)?.sum_all()?.neg()? / n_real.to_scalar::<f32>()? as f64)?;
        let loss_v = loss.to_scalar::<f32>()?;
        if !loss_v.is_finite() {
            return Err(Error::NonFinite { step, loss: loss_v });
        }
        opt.backward_step(&loss)?;
        let hits = logits
            .argmax(1)?
            .eq(&tgt)?
            .to_dtype(DType::F32)?
            .mul(&mask)?
            .sum_all()?;
        let acc = hits.to_scalar::<f32>()? / n_real.to_scalar::<f32>()?;
        // Running mean over this session, then an exponential average over ~50 steps.
        let alpha = (1.0 / (step - start + 1) as f32).max(0.02);
        if run_loss.is_nan() {
            (run_loss, run_acc) = (loss_v, acc);
        } else {
            run_loss += alpha * (loss_v - run_loss);
            run_acc += alpha * (acc - run_acc);
        }
        state = State {
            step: step + 1,
            loss: run_loss,
            accuracy: run_acc,
            config: cfg.clone(),
        };
        if (step + 1) % cfg.checkpoint_every == 0 || step + 1 == cfg.steps {
            save(out, &varmap, &state, &file, &vocab)?;
        }
        on_step(&Progress {
            step: step + 1,
            steps: cfg.steps,
            loss: run_loss,
            accuracy: run_acc,
        });
    }
    if ckpt::resolve(out).is_none() {
        save(out, &varmap, &state, &file, &vocab)?;
    }
    Ok(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_cfg(steps: usize) -> TrainConfig {
        TrainConfig {
            steps,
            batch: 32,
            max_chars: 24,
            lr: 1e-2,
            seed: 0,
            unk_rate: 0.0,
            checkpoint_every: 20,
            vocab_chars: 100,
            emb_dim: 8,
            hidden: 16,
            window: 3,
            out_window: 3,
            temper: 1.0,
            max_words: 16,
            init: None,
            temper_within_lengths: false,
        }
    }

    fn toy_dict() -> Dict {
        let words = [
            ("结婚", 100),
            ("的", 1000),
            ("和", 500),
            ("和尚", 50),
            ("尚未", 80),
            ("未", 100),
            ("扫描", 30),
            ("二维码", 20),
            ("关注", 40),
            ("微信号", 20),
        ];
        Dict::from_entries(words.iter().map(|&(w, c)| (w.to_string(), c))).unwrap()
    }

    #[test]
    fn init_warm_starts_from_a_model_folder() -> Result<()> {
        let base = std::env::temp_dir().join(format!("cws-init-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let (a, b) = (base.join("a"), base.join("b"));
        let dict = toy_dict();
        let trained = train(
            &dict,
            &a,
            &toy_cfg(200),
            Resume::Never,
            &Device::Cpu,
            |_| {},
        )?;
        // Fine-tuning with a negligible learning rate (and other data: temper 0.5): the first
        // step's loss is a trained model's (0.81 here), far below ln 4 ≈ 1.386, where a fresh
        // model starts.
        let cfg = TrainConfig {
            lr: 1e-12,
            temper: 0.5,
            init: Some(a.clone()),
            ..toy_cfg(1)
        };
        let mut first = None;
        train(&dict, &b, &cfg, Resume::Never, &Device::Cpu, |p| {
            first.get_or_insert(p.loss);
        })?;
        let first = first.expect("a step ran");
        assert!(first < 1.0, "{first} (trained to {})", trained.loss);
        let fresh = TrainConfig {
            init: None,
            ..cfg.clone()
        };
        let mut fresh_loss = None;
        train(
            &dict,
            &base.join("c"),
            &fresh,
            Resume::Never,
            &Device::Cpu,
            |p| {
                fresh_loss.get_or_insert(p.loss);
            },
        )?;
        assert!(fresh_loss.expect("a step ran") > 1.2, "{fresh_loss:?}");
        // Another shape, or a folder without a model, is refused with the reason.
        let wide = TrainConfig {
            hidden: 32,
            ..cfg.clone()
        };
        let err = train(
            &dict,
            &base.join("d"),
            &wide,
            Resume::Never,
            &Device::Cpu,
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("shape"), "{err}");
        let none = TrainConfig {
            init: Some(base.join("missing")),
            ..cfg
        };
        let err = train(
            &dict,
            &base.join("e"),
            &none,
            Resume::Never,
            &Device::Cpu,
            |_| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("no model"), "{err}");
        std::fs::remove_dir_all(&base)?;
        Ok(())
    }

    #[test]
    fn training_is_deterministic_for_a_seed() -> Result<()> {
        let base = std::env::temp_dir().join(format!("cws-det-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let weights = |name: &str, seed: u64| -> Result<Vec<u8>> {
            let dir = base.join(name);
            let cfg = TrainConfig {
                seed,
                ..toy_cfg(30)
            };
            train(&toy_dict(), &dir, &cfg, Resume::Never, &Device::Cpu, |_| {})?;
            let gen_dir = ckpt::resolve(&dir).expect("a checkpoint");
            Ok(std::fs::read(gen_dir.join(files::WEIGHTS))?)
        };
        let (a, b, c) = (weights("a", 5)?, weights("b", 5)?, weights("c", 6)?);
        assert!(a == b, "same seed, different weights");
        assert!(a != c, "another seed gave the same weights");
        std::fs::remove_dir_all(&base)?;
        Ok(())
    }

    #[test]
    fn nan_loss_stops_training() {
        let dir = std::env::temp_dir().join(format!("cws-nan-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        // A NaN learning rate turns every weight into NaN after the first update.
        let cfg = TrainConfig {
            lr: f64::NAN,
            ..toy_cfg(10)
        };
        let err = train(&toy_dict(), &dir, &cfg, Resume::Never, &Device::Cpu, |_| {}).unwrap_err();
        assert!(matches!(err, Error::NonFinite { step: 1, .. }), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tiny_training_learns_and_resumes() -> Result<()> {
        let dir = std::env::temp_dir().join(format!("cws-train-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let dict = toy_dict();
        let mut first = None;
        let mut last = 0.0;
        let state = train(
            &dict,
            &dir,
            &toy_cfg(200),
            Resume::Never,
            &Device::Cpu,
            |p| {
                first.get_or_insert(p.loss);
                last = p.loss;
            },
        )?;
        assert_eq!(last, state.loss);
        let first = first.expect("steps ran");
        // ln 4 ≈ 1.386 at the start; a toy dictionary is learnt to well below half of it.
        assert!(state.loss < 0.5 * first, "{first} -> {}", state.loss);
        // The majority tag (S) alone scores 1600/2320 ≈ 0.69 on this dictionary.
        assert!(state.accuracy > 0.75, "{}", state.accuracy);
        // Issue 20 item 11: `steps` is a new total, so a larger one continues the run ...
        let mut seen = Vec::new();
        let s2 = train(
            &dict,
            &dir,
            &toy_cfg(220),
            Resume::IfPresent,
            &Device::Cpu,
            |p| seen.push(p.step),
        )?;
        assert_eq!(seen, (201..=220).collect::<Vec<_>>());
        assert_eq!(s2.step, 220);
        // ... and resuming a finished run does nothing and reports the checkpoint's loss and
        // accuracy (it printed NaN before).
        seen.clear();
        let s3 = train(
            &dict,
            &dir,
            &toy_cfg(220),
            Resume::IfPresent,
            &Device::Cpu,
            |p| seen.push(p.step),
        )?;
        assert!(seen.is_empty());
        assert_eq!(s3.step, 220);
        assert!(s3.loss.is_finite() && s3.accuracy.is_finite(), "{s3:?}");
        assert_eq!((s3.loss, s3.accuracy), (s2.loss, s2.accuracy));
        // Any other difference is refused, naming the flag.
        let other = TrainConfig {
            lr: 5e-3,
            ..toy_cfg(240)
        };
        let err = train(&dict, &dir, &other, Resume::IfPresent, &Device::Cpu, |_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains("--lr") && err.contains("--restart"), "{err}");
        // Only the current generation and the previous one are kept.
        let gens: Vec<String> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("gen-"))
            .collect();
        assert_eq!(gens.len(), 2, "{gens:?}");
        let tagger = crate::FastTagger::load(&dir)?;
        let chars: Vec<char> = "结婚的和尚未结婚的".chars().collect();
        assert_eq!(tagger.tags(&chars).len(), 9);
        std::fs::remove_dir_all(&dir)?;
        Ok(())
    }
}
