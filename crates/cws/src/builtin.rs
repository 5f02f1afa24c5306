//! The dictionary and model shipped in the repository, compiled into the binary so that
//! segmentation works from any directory without training.
//!
//! - dictionary: `data/dict.txt` (jieba 0.42.1, MIT; see `data/README.md`);
//! - model: `models/cws/` (trained with `kexue cws train`, see its `config.json`).

use crate::{Dict, FastTagger, Result};

const DICT: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/dict.txt"));
const CONFIG: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/cws/config.json"
));
const VOCAB: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/cws/vocab.txt"
));
const WEIGHTS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../models/cws/model.safetensors"
));

/// The shipped dictionary.
///
/// # Errors
/// Never in a correct build (the file is checked by the tests).
pub fn dict() -> Result<Dict> {
    Dict::parse(DICT)
}

/// The shipped tagger.
///
/// # Errors
/// Never in a correct build (the files are checked by the tests).
pub fn tagger() -> Result<FastTagger> {
    FastTagger::from_bytes(CONFIG, VOCAB, WEIGHTS)
}

/// The hybrid weight λ used by default: 1, i.e. the path score is the sum of the tagger's and
/// the dictionary's log-probabilities (a product of the two models), with no weight tuned on
/// the development set (RESULTS.md: it scores as well as the best tuned λ there).
pub const HYBRID_LAMBDA: f32 = 1.0;
