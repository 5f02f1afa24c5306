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
//! Words of the user dictionary ([`crate::dict::UserWords`]) are applied in the two modes that
//! read a dictionary: forced words are cut out of a Han run first (the non-overlapping set that
//! covers the most characters) and kept whole, the rest of the run is segmented around them;
//! deleted words are never a token of the hybrid lattice (in dict mode their count is 0).
//!
//! Invariant: the tokens concatenate to the input, byte for byte, and none is empty.
//!
//! Besides plain words, [`Segmenter::tokenize`] gives [`Token`]s with character and byte
//! offsets, [`Segmenter::tokenize_search`] adds the dictionary sub-words of long words (jieba's
//! `cut_for_search`) and [`Segmenter::pos_tag`] fills in part-of-speech tags ([`crate::pos`]).

use crate::chunk::{PieceKind, for_each_piece, is_han};
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
    forced: Vec<(usize, usize)>,
    gap_ends: Vec<usize>,
}

/// A token with its offsets in the segmented text (`text[byte_start..byte_end] == word`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Token<'a> {
    /// The token.
    pub word: &'a str,
    /// Start, in characters (Unicode scalar values) from the start of the text.
    pub start: usize,
    /// End (exclusive), in characters.
    pub end: usize,
    /// Start, in bytes.
    pub byte_start: usize,
    /// End (exclusive), in bytes.
    pub byte_end: usize,
    /// Part-of-speech tag, when asked for ([`Segmenter::pos_tag`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pos: Option<&'a str>,
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
        self.for_each_span(text, scratch, |a, b| out.push(&text[a..b]));
    }

    /// The dictionary (dict and hybrid modes).
    pub fn dictionary(&self) -> Option<&Dict> {
        self.dict.as_ref()
    }

    /// Segments `text` into tokens with character and byte offsets (the words of
    /// [`Segmenter::segment`], in order; `pos` is `None`).
    pub fn tokenize<'a>(&'a self, text: &'a str) -> Vec<Token<'a>> {
        let mut out = Vec::new();
        self.tokenize_into(text, &mut Scratch::default(), &mut out);
        out
    }

    /// [`Segmenter::tokenize`] into `out` (cleared first), reusing `scratch`.
    pub fn tokenize_into<'a>(
        &'a self,
        text: &'a str,
        scratch: &mut Scratch,
        out: &mut Vec<Token<'a>>,
    ) {
        out.clear();
        let mut chars = 0usize;
        self.for_each_span(text, scratch, |a, b| {
            let word = &text[a..b];
            let n = count_chars(word);
            out.push(Token {
                word,
                start: chars,
                end: chars + n,
                byte_start: a,
                byte_end: b,
                pos: None,
            });
            chars += n;
        });
    }

    /// Search-engine granularity (jieba's `cut_for_search`): each word of
    /// [`Segmenter::tokenize`], preceded, for a Han word of more than two characters, by its
    /// 2-character sub-words that are dictionary words (left to right) and, for more than three
    /// characters, by its 3-character dictionary sub-words. The tokens overlap, so they do not
    /// concatenate to the text; each one's offsets slice it out of the text.
    ///
    /// In neural mode (no dictionary) this is [`Segmenter::tokenize`].
    pub fn tokenize_search<'a>(&'a self, text: &'a str) -> Vec<Token<'a>> {
        let mut out = Vec::new();
        self.tokenize_search_into(text, &mut Scratch::default(), &mut Vec::new(), &mut out);
        out
    }

    /// [`Segmenter::tokenize_search`] into `out` (cleared first); `words` is scratch.
    pub fn tokenize_search_into<'a>(
        &'a self,
        text: &'a str,
        scratch: &mut Scratch,
        words: &mut Vec<Token<'a>>,
        out: &mut Vec<Token<'a>>,
    ) {
        self.tokenize_into(text, scratch, words);
        out.clear();
        let Some(d) = &self.dict else {
            out.append(words);
            return;
        };
        let user = d.user_words();
        let known = |w: &str| d.count(w).is_some_and(|c| c > 0) && !user.is_deleted(w);
        for t in words.drain(..) {
            let n = t.end - t.start;
            if n > 2 && t.word.chars().all(is_han) {
                let offs: Vec<usize> = t
                    .word
                    .char_indices()
                    .map(|(b, _)| b)
                    .chain([t.word.len()])
                    .collect();
                for g in [2usize, 3] {
                    if n <= g {
                        continue;
                    }
                    for i in 0..=n - g {
                        let w = &t.word[offs[i]..offs[i + g]];
                        if known(w) {
                            out.push(Token {
                                word: w,
                                start: t.start + i,
                                end: t.start + i + g,
                                byte_start: t.byte_start + offs[i],
                                byte_end: t.byte_start + offs[i + g],
                                pos: None,
                            });
                        }
                    }
                }
            }
            out.push(t);
        }
    }

    /// Fills in `pos` of each token by the rules of [`crate::pos::tag`] with this segmenter's
    /// dictionary (neural mode: the rules and fallbacks only).
    pub fn pos_tag<'a>(&'a self, tokens: &mut [Token<'a>]) {
        for t in tokens {
            t.pos = Some(crate::pos::tag(t.word, self.dict.as_ref()));
        }
    }

    /// Calls `f(byte_start, byte_end)` for each token of `text` in order.
    fn for_each_span(&self, text: &str, scratch: &mut Scratch, mut f: impl FnMut(usize, usize)) {
        for_each_piece(text, |kind, range| {
            let base = range.start;
            let piece = &text[range];
            if kind == PieceKind::Atom {
                f(base, base + piece.len());
                return;
            }
            let s = &mut *scratch;
            s.chars.clear();
            s.offsets.clear();
            for (b, c) in piece.char_indices() {
                s.chars.push(c);
                s.offsets.push(b);
            }
            let n = s.chars.len();
            let byte = |offsets: &[usize], k: usize| offsets.get(k).copied().unwrap_or(piece.len());
            match &self.dict {
                Some(d) if !d.user_words().is_empty() => {
                    d.user_words()
                        .forced_spans(piece, &s.offsets, &mut s.forced)
                }
                _ => s.forced.clear(),
            }
            let forced = std::mem::take(&mut s.forced);
            let mut k = 0;
            for &(a, b) in forced.iter().chain(std::iter::once(&(n, n))) {
                if a > k {
                    self.han_ends(piece, k, a, s);
                    let mut start = k;
                    for &e in &s.gap_ends {
                        f(base + byte(&s.offsets, start), base + byte(&s.offsets, e));
                        start = e;
                    }
                }
                if b > a {
                    f(base + byte(&s.offsets, a), base + byte(&s.offsets, b));
                }
                k = b;
            }
            s.forced = forced;
        });
    }

    /// Segments `s.chars[lo..hi]` (of the Han run `piece`) into `s.gap_ends` (absolute ends).
    fn han_ends(&self, piece: &str, lo: usize, hi: usize, s: &mut Scratch) {
        let chars = std::mem::take(&mut s.chars);
        let run = &chars[lo..hi];
        match (self.mode, &self.dict, &self.tagger) {
            (Mode::Dict, Some(d), _) => {
                d.route(run, &mut s.route, &mut s.ends);
            }
            (Mode::Neural, _, Some(t)) => {
                t.logits(run, &mut s.hidden, &mut s.logits);
                t.decode(&mut s.logits, &mut s.back, &mut s.tags);
                ends(&s.tags, &mut s.ends);
            }
            (Mode::Hybrid, Some(d), Some(t)) => self.hybrid_ends(d, t, run, piece, lo, s),
            _ => unreachable!("constructors pair each mode with what it needs"),
        }
        s.chars = chars;
        s.gap_ends.clear();
        s.gap_ends.extend(s.ends.iter().map(|e| e + lo));
    }

    fn hybrid_ends(
        &self,
        d: &Dict,
        t: &FastTagger,
        chars: &[char],
        piece: &str,
        lo: usize,
        s: &mut Scratch,
    ) {
        let n = chars.len();
        let user = d.user_words();
        let offsets = &s.offsets;
        let banned = |i: usize, j: usize| {
            user.has_deleted() && j - i <= user.max_chars() && {
                let b = |k: usize| offsets.get(lo + k).copied().unwrap_or(piece.len());
                user.is_deleted(&piece[b(i)..b(j)])
            }
        };
        t.logits(chars, &mut s.hidden, &mut s.logits);
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
            d.for_each_word(chars, i, |e, w| s.words.push((e, w)));
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
                if banned(i, j) {
                    continue;
                }
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

/// Number of characters (bytes that are not UTF-8 continuation bytes).
pub(crate) fn count_chars(s: &str) -> usize {
    s.bytes().filter(|&b| b & 0xC0 != 0x80).count()
}
