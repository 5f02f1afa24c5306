//! Chinese word segmentation trained from a word-frequency dictionary alone.
//!
//! After Su Jianlin, "Chinese segmentation series 7: deep-learning segmentation? Only a
//! dictionary needed" (kexue.fm/archives/4245, 2017): draw pseudo-sentences of 1..16 words with
//! probability ∝ frequency from a dictionary, tag each character B/M/E/S, train a character
//! tagger on them, and decode with a transition-constrained Viterbi. No segmented corpus is used.
//!
//! The pipeline is a chain of small stages:
//! [`Dict`] (parsing, user words, the jieba-style maximum-probability route) →
//! [`sample::Sampler`] (alias-method pseudo-sentences) → [`model::Tagger`] (candle, training) →
//! [`infer::FastTagger`] (the CPU inference path over the same weights) →
//! [`viterbi::decode`] → [`Segmenter`] (atoms, Han runs, `Mode::{Neural, Dict, Hybrid}`).
//! [`score`] computes word-span P/R/F1 with OOV and IV recall.
//!
//! Besides words it gives tokens with character and byte offsets, search-engine sub-words
//! (jieba's `cut_for_search`), part-of-speech tags from the dictionary's tag column ([`pos`]),
//! and a line-parallel streaming driver ([`stream`]). It does not do keyword extraction or HMM
//! new-word discovery.
//!
//! ```
//! use cws::{Dict, Segmenter};
//! let dict = Dict::parse("结婚 100\n的 1000\n和 500\n和尚 50\n尚未 80\n未 100\n".as_bytes())?;
//! let seg = Segmenter::dict(dict);
//! assert_eq!(seg.segment("结婚的和尚未结婚的。"), ["结婚", "的", "和", "尚未", "结婚", "的", "。"]);
//! # Ok::<(), cws::Error>(())
//! ```
#![warn(missing_docs)]

pub mod builtin;
pub mod chunk;
pub mod ckpt;
pub mod dict;
mod error;
pub mod infer;
pub mod model;
pub mod pos;
pub mod sample;
pub mod score;
pub mod segment;
pub mod stream;
pub mod tag;
pub mod train;
pub mod viterbi;
pub mod vocab;

pub use dict::Dict;
pub use error::{Error, Result};
pub use infer::FastTagger;
pub use segment::{Mode, Scratch, Segmenter, Token};

/// The candle device type (CPU, or CUDA with the `cuda` feature), re-exported for callers.
pub use candle_core::Device;
