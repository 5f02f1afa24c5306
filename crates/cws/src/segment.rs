//! The segmenter: pre-splitting into atoms and Han runs, then one of three segmentations of
//! each Han run.
//!
//! - [`Mode::Dict`]: the unigram maximum-probability route ([`Dict::route`]).
//! - [`Mode::Neural`]: the tagger's logits decoded by the constrained Viterbi.
//! - [`Mode::Hybrid`]: a word lattice whose edges are all spans of at most [`MAX_SPAN`]
//!   characters plus every dictionary word, scored
//!   `ln P_tagger(tags of the span) + λ · D(span)`, where `D(w) = ln(c_w / T)` for a dictionary
//!   word and, for any other span, the log-probability of the span's best dictionary split
//!   (the dictionary route restricted to it). So the dictionary term never rewards merging
//!   words into an unknown span, nor penalises it beyond what the split costs; the tagger
//!   decides new words. With λ = 0 this is exactly the neural Viterbi (for words up to
//!   `MAX_SPAN`).
//!
//! Invariant: the tokens concatenate to the input, byte for byte, and none is empty.

use crate::chunk::{PieceKind, for_each_piece};
use crate::dict::Dict;
use crate::infer::{FastTagger, log_softmax_rows};
use crate::tag::{Tag, ends};
use crate::{Error, Result};

/// Longest non-dictionary word the hybrid lattice considers.
pub const MAX_SPAN: usize = 8;

/// Which segmentation runs on Han text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tagger + constrained Viterbi.
    Neural,
    /// Unigram DAG + maximum-probability route.
    Dict,
    /// Tagger scores combined with dictionary log-probabilities on a word lattice.
    Hybrid,
}

/// A ready segmenter.
#[derive(Debug, Clone)]
pub struct Segmenter {
    mode: Mode,
    dict: Option<Dict>,
    tagger: Option<FastTagger>,
    lambda: f32,
}

/// Reusable buffers for [`Segmenter::segment_into`] (avoids allocating per call).
#[derive(Debug, Default)]
pub struct Scratch {
    chars: Vec<char>,
    offsets: Vec<usize>,
    ends: Vec<usize>,
    route: Vec<(f64, u32)>,
    hidden: Vec<f32>,
    logits: Vec<[f32; 4]>,
    back: Vec<[u8; 4]>,
    tags: Vec<Tag>,
    best: Vec<(f32, u32)>,
    cum_m: Vec<f32>,
    words: Vec<(usize, f64)>,
    word_start: Vec<usize>,
    split: Vec<f64>,
}

impl Segmenter {
    /// Dictionary mode.
    pub fn dict(dict: Dict) -> Self {
        Segmenter {
            mode: Mode::Dict,
            dict: Some(dict),
            tagger: None,
            lambda: 0.0,
        }
    }

    /// Neural mode.
    pub fn neural(tagger: FastTagger) -> Self {
        Segmenter {
            mode: Mode::Neural,
            dict: None,
            tagger: Some(tagger),
            lambda: 0.0,
        }
    }

    /// Hybrid mode with dictionary weight `lambda ≥ 0`.
    ///
    /// # Errors
    /// [`Error::Invalid`] if `lambda` is negative or not finite.
    pub fn hybrid(tagger: FastTagger, dict: Dict, lambda: f32) -> Result<Self> {
        if !(lambda.is_finite() && lambda >= 0.0) {
            return Err(Error::Invalid(format!(
                "hybrid weight must be ≥ 0, got {lambda}"
            )));
        }
        Ok(Segmenter {
            mode: Mode::Hybrid,
            dict: Some(dict),
            tagger: Some(tagger),
            lambda,
        })
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Segments UTF-8 bytes.
    ///
    /// # Errors
    /// [`Error::Utf8`] with the offset of the first invalid byte.
    pub fn segment_bytes<'a>(&self, bytes: &'a [u8]) -> Result<Vec<&'a str>> {
        let text = std::str::from_utf8(bytes).map_err(|e| Error::Utf8 {
            offset: e.valid_up_to(),
        })?;
        Ok(self.segment(text))
    }

    /// Segments `text`; the tokens borrow from it and concatenate to it exactly.
    pub fn segment<'a>(&self, text: &'a str) -> Vec<&'a str> {
        let mut out = Vec::new();
        self.segment_into(text, &mut Scratch::default(), &mut out);
        out
    }

    /// Segments `text` into `out` (cleared first), reusing `scratch` between calls.
    pub fn segment_into<'a>(&self, text: &'a str, scratch: &mut Scratch, out: &mut Vec<&'a str>) {
        out.clear();
        for_each_piece(text, |kind, range| {
            let piece = &text[range];
            if kind == PieceKind::Atom {
                out.push(piece);
                return;
            }
            let s = &mut *scratch;
            s.chars.clear();
            s.offsets.clear();
            for (b, c) in piece.char_indices() {
                s.chars.push(c);
                s.offsets.push(b);
            }
            self.han_ends(s);
            let mut start = 0;
            for &e in &s.ends {
                let b = s.offsets.get(e).copied().unwrap_or(piece.len());
                out.push(&piece[start..b]);
                start = b;
            }
        });
    }

    fn han_ends(&self, s: &mut Scratch) {
        match (self.mode, &self.dict, &self.tagger) {
            (Mode::Dict, Some(d), _) => {
                d.route(&s.chars, &mut s.route, &mut s.ends);
            }
            (Mode::Neural, _, Some(t)) => {
                t.logits(&s.chars, &mut s.hidden, &mut s.logits);
                crate::viterbi::decode(&s.logits, &mut s.back, &mut s.tags);
                ends(&s.tags, &mut s.ends);
            }
            (Mode::Hybrid, Some(d), Some(t)) => self.hybrid_ends(d, t, s),
            _ => unreachable!("constructors pair each mode with what it needs"),
        }
    }

    fn hybrid_ends(&self, d: &Dict, t: &FastTagger, s: &mut Scratch) {
        let n = s.chars.len();
        t.logits(&s.chars, &mut s.hidden, &mut s.logits);
        log_softmax_rows(&mut s.logits);
        let lp = &s.logits;
        s.cum_m.clear();
        s.cum_m.push(0.0);
        for row in lp {
            let last = *s.cum_m.last().expect("non-empty");
            s.cum_m.push(last + row[Tag::M.index()]);
        }
        let span = |i: usize, j: usize| -> f32 {
            if j == i + 1 {
                lp[i][Tag::S.index()]
            } else {
                lp[i][Tag::B.index()]
                    + (s.cum_m[j - 1] - s.cum_m[i + 1])
                    + lp[j - 1][Tag::E.index()]
            }
        };
        let unknown = d.unknown_logp();
        s.best.clear();
        s.best.resize(n + 1, (f32::NEG_INFINITY, 0));
        s.best[0].0 = 0.0;
        // Dictionary words starting at each position: (end, ln P(w)) lists, flattened.
        s.word_start.clear();
        s.words.clear();
        for i in 0..n {
            s.word_start.push(s.words.len());
            d.for_each_word(&s.chars, i, |e, w| s.words.push((e, w)));
        }
        s.word_start.push(s.words.len());
        for i in 0..n {
            let base = s.best[i].0;
            // split[k] = best dictionary log-probability of chars[i..i + k] (the dictionary
            // route restricted to that span), for k ≤ MAX_SPAN.
            s.split.clear();
            s.split.resize(MAX_SPAN + 1, f64::NEG_INFINITY);
            s.split[0] = 0.0;
            for k in 0..MAX_SPAN.min(n - i) {
                let m = i + k;
                let from = s.split[k];
                let edges = &s.words[s.word_start[m]..s.word_start[m + 1]];
                if edges.is_empty() {
                    let v = from + unknown;
                    if v > s.split[k + 1] {
                        s.split[k + 1] = v;
                    }
                }
                for &(e, w) in edges {
                    if e - i <= MAX_SPAN && from + w > s.split[e - i] {
                        s.split[e - i] = from + w;
                    }
                }
            }
            let edges = &s.words[s.word_start[i]..s.word_start[i + 1]];
            let mut wi = 0;
            let last = (i + MAX_SPAN).min(n).max(edges.last().map_or(0, |w| w.0));
            for j in i + 1..=last {
                let dict_lp = if wi < edges.len() && edges[wi].0 == j {
                    wi += 1;
                    edges[wi - 1].1
                } else if j - i > MAX_SPAN {
                    continue;
                } else {
                    s.split[j - i].max(unknown * (j - i) as f64)
                };
                let score = base + span(i, j) + self.lambda * dict_lp as f32;
                if score > s.best[j].0 {
                    s.best[j] = (score, i as u32);
                }
            }
        }
        s.ends.clear();
        let mut j = n;
        while j > 0 {
            s.ends.push(j);
            j = s.best[j].1 as usize;
        }
        s.ends.reverse();
    }
}
