//! Streaming pseudo-sentences: words drawn ∝ frequency with Walker/Vose's alias method.
//!
//! A sentence has n ~ U{1, …, 16} words drawn i.i.d. with `P(w) = c_w / T`; if it is longer than
//! `max_chars` it is rejected and redrawn (as in the note, which slightly under-samples long
//! words). Only words made entirely of Han characters are used, because the tagger only ever sees
//! Han runs (digits, Latin letters and punctuation are atoms, see [`crate::chunk`]).
//! Nothing is written to disk; every draw is O(1).

use rand::Rng;

use crate::dict::Dict;
use crate::tag::{Tag, push_word};
use crate::vocab::Vocab;
use crate::{Error, Result};

/// Walker's alias table for O(1) draws from a discrete distribution.
#[derive(Debug, Clone)]
pub struct AliasTable {
    prob: Vec<f64>,
    alias: Vec<u32>,
}

impl AliasTable {
    /// Builds the table for non-negative `weights` (Vose's construction).
    ///
    /// # Errors
    /// [`Error::Invalid`] if there are no weights, one is negative or not finite, or all are 0.
    pub fn new(weights: &[f64]) -> Result<Self> {
        let n = weights.len();
        let total: f64 = weights.iter().sum();
        if n == 0 || weights.iter().any(|w| !w.is_finite() || *w < 0.0) || total <= 0.0 {
            return Err(Error::Invalid(
                "alias table needs finite non-negative weights with a positive sum".into(),
            ));
        }
        let mut prob: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut alias = vec![0u32; n];
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            alias[s] = l as u32;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // Leftovers are 1 up to rounding.
        for i in small.into_iter().chain(large) {
            prob[i] = 1.0;
        }
        Ok(AliasTable { prob, alias })
    }

    /// Draws an index.
    pub fn sample(&self, rng: &mut impl Rng) -> usize {
        let i = rng.random_range(0..self.prob.len());
        if rng.random::<f64>() < self.prob[i] {
            i
        } else {
            self.alias[i] as usize
        }
    }

    /// The probability of index `i` implied by the table (for tests).
    pub fn probability(&self, i: usize) -> f64 {
        let n = self.prob.len() as f64;
        let own = self.prob[i];
        let given: f64 = self
            .alias
            .iter()
            .zip(&self.prob)
            .enumerate()
            .filter(|&(j, (&a, _))| a as usize == i && j != i)
            .map(|(_, (_, &p))| 1.0 - p)
            .sum();
        (own + given) / n
    }
}

/// Pseudo-sentence generator over a dictionary.
#[derive(Debug, Clone)]
pub struct Sampler {
    table: AliasTable,
    /// Concatenated char ids of the usable words.
    ids: Vec<u32>,
    /// `ids[offsets[k]..offsets[k + 1]]` is word k.
    offsets: Vec<usize>,
    /// Unnormalised draw mass of words of length 1, 2, ≥ 3, and Σ weight·(L − 2) over L ≥ 3.
    length_mass: [f64; 4],
}

/// Most words per pseudo-sentence (inclusive).
pub const MAX_WORDS: usize = 16;

impl Sampler {
    /// Collects the Han-only words with a positive count.
    ///
    /// # Errors
    /// [`Error::Invalid`] if the dictionary has no such word.
    pub fn new(dict: &Dict, vocab: &Vocab) -> Result<Self> {
        Self::tempered(dict, vocab, 1.0)
    }

    /// As [`Sampler::new`], drawing words ∝ `count^temper` (1 = the note's ∝ frequency; a
    /// smaller power shows the model rare words more often).
    ///
    /// # Errors
    /// As [`Sampler::new`]; [`Error::Invalid`] unless `0 < temper ≤ 1`.
    pub fn tempered(dict: &Dict, vocab: &Vocab, temper: f64) -> Result<Self> {
        Self::build(dict, vocab, temper, false)
    }

    /// As [`Sampler::tempered`], but each word-length class (1, 2, 3, … characters) keeps the
    /// share of draws it has under ∝ count: `P(w) = M_L · c_w^p / Σ_{|v| = L} c_v^p` with
    /// `M_L = Σ_{|v| = L} c_v / T`. Rare words of each length are drawn more often without
    /// changing how often single characters and long words occur.
    ///
    /// # Errors
    /// As [`Sampler::tempered`].
    pub fn tempered_within_lengths(dict: &Dict, vocab: &Vocab, temper: f64) -> Result<Self> {
        Self::build(dict, vocab, temper, true)
    }

    fn build(dict: &Dict, vocab: &Vocab, temper: f64, within_lengths: bool) -> Result<Self> {
        if !(temper > 0.0 && temper <= 1.0) {
            return Err(Error::Invalid(format!(
                "sampling temper must be in (0, 1], got {temper}"
            )));
        }
        let mut weights = Vec::new();
        let mut ids = Vec::new();
        let mut offsets = vec![0];
        let mut length_mass = [0f64; 4];
        let mut counts = Vec::new();
        for (w, c) in dict.entries() {
            if *c == 0 || !w.chars().all(crate::chunk::is_han) {
                continue;
            }
            ids.extend(w.chars().map(|ch| vocab.id(ch)));
            let len = ids.len() - offsets.last().copied().unwrap_or(0);
            offsets.push(ids.len());
            let weight = (*c as f64).powf(temper);
            weights.push(weight);
            counts.push(*c as f64);
            match len {
                1 => length_mass[0] += weight,
                2 => length_mass[1] += weight,
                l => {
                    length_mass[2] += weight;
                    length_mass[3] += weight * (l - 2) as f64;
                }
            }
        }
        if weights.is_empty() {
            return Err(Error::Invalid(
                "dictionary has no Han word with a positive count".into(),
            ));
        }
        if within_lengths {
            // Rescale each length class from its tempered mass to its ∝-count mass.
            let len = |k: usize| offsets[k + 1] - offsets[k];
            let longest = (0..weights.len()).map(len).max().unwrap_or(1);
            let (mut raw, mut tempered) = (vec![0f64; longest + 1], vec![0f64; longest + 1]);
            for (k, w) in weights.iter().enumerate() {
                raw[len(k)] += counts[k];
                tempered[len(k)] += w;
            }
            for (k, w) in weights.iter_mut().enumerate() {
                *w *= raw[len(k)] / tempered[len(k)];
            }
            length_mass = [0.0; 4];
            for (k, w) in weights.iter().enumerate() {
                match len(k) {
                    1 => length_mass[0] += w,
                    2 => length_mass[1] += w,
                    l => {
                        length_mass[2] += w;
                        length_mass[3] += w * (l - 2) as f64;
                    }
                }
            }
        }
        Ok(Sampler {
            table: AliasTable::new(&weights)?,
            ids,
            offsets,
            length_mass,
        })
    }

    /// Appends one pseudo-sentence of at most `max_chars` characters (≥ the longest word) to
    /// `ids` and `tags`.
    pub fn sentence(
        &self,
        rng: &mut impl Rng,
        max_chars: usize,
        ids: &mut Vec<u32>,
        tags: &mut Vec<Tag>,
    ) {
        self.sentence_of(rng, MAX_WORDS, max_chars, ids, tags);
    }

    /// As [`Sampler::sentence`] with n ~ U{1, …, `max_words`} words.
    pub fn sentence_of(
        &self,
        rng: &mut impl Rng,
        max_words: usize,
        max_chars: usize,
        ids: &mut Vec<u32>,
        tags: &mut Vec<Tag>,
    ) {
        let base = ids.len();
        loop {
            ids.truncate(base);
            tags.truncate(base);
            let n = rng.random_range(1..=max_words.max(1));
            for _ in 0..n {
                let k = self.table.sample(rng);
                let w = &self.ids[self.offsets[k]..self.offsets[k + 1]];
                ids.extend_from_slice(w);
                push_word(w.len(), tags);
            }
            if ids.len() - base <= max_chars {
                return;
            }
        }
    }

    /// Tag-transition log-probabilities `[prev][next]` of the pseudo-corpus, in closed form
    /// from the draw probabilities π(w) (words are i.i.d., sentence boundaries ignored):
    /// after E or S the next word is a single character with probability `P(L = 1)`; after B
    /// the word ends with probability `P(L = 2) / P(L ≥ 2)`; after M with probability
    /// `P(L ≥ 3) / E[(L − 2)·1{L ≥ 3}]`. Disallowed transitions are 0 (ignored by the decoder).
    pub fn transition_logp(&self) -> [[f32; 4]; 4] {
        let [p1, p2, p3, inner] = self.length_mass;
        let ln = |x: f64| x.max(1e-12).ln() as f32;
        let total = p1 + p2 + p3;
        let start_s = p1 / total;
        let b_end = if p2 + p3 > 0.0 { p2 / (p2 + p3) } else { 1.0 };
        let m_end = if inner > 0.0 { p3 / inner } else { 1.0 };
        let (b, m, e, s) = (0, 1, 2, 3);
        let mut t = [[0f32; 4]; 4];
        for from in [e, s] {
            t[from][s] = ln(start_s);
            t[from][b] = ln(1.0 - start_s);
        }
        t[b][e] = ln(b_end);
        t[b][m] = ln(1.0 - b_end);
        t[m][e] = ln(m_end);
        t[m][m] = ln(1.0 - m_end);
        t
    }

    /// Length of the longest usable word.
    pub fn longest_word(&self) -> usize {
        self.offsets
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{SeedableRng, rngs::StdRng};

    #[test]
    fn alias_table_is_exact() {
        let w = [1.0, 2.0, 0.0, 7.0, 0.5];
        let t = AliasTable::new(&w).unwrap();
        let total: f64 = w.iter().sum();
        for (i, wi) in w.iter().enumerate() {
            // Exact up to a few roundings of values ≤ n.
            assert!((t.probability(i) - wi / total).abs() < 1e-12, "{i}");
        }
        assert!(AliasTable::new(&[]).is_err());
        assert!(AliasTable::new(&[0.0]).is_err());
    }

    #[test]
    fn alias_draws_follow_weights() {
        let w = [1.0, 3.0];
        let t = AliasTable::new(&w).unwrap();
        let mut rng = StdRng::seed_from_u64(0);
        let n = 200_000;
        let ones = (0..n).filter(|_| t.sample(&mut rng) == 1).count() as f64 / n as f64;
        // Binomial sd = sqrt(.75·.25/n) ≈ 9.7e-4; allow 5 sd.
        assert!((ones - 0.75).abs() < 5e-3, "{ones}");
    }

    #[test]
    fn transitions_match_sampled_tag_bigrams() {
        // Lengths 1, 2, 3, 5 with weights 4, 3, 2, 1: P(L=1) = 0.4; after B the word ends
        // with P(L=2)/P(L≥2) = 0.5; after M with (2 + 1)/(2·1 + 1·3) = 0.6.
        let d = Dict::from_entries([
            ("的".to_string(), 4),
            ("结婚".into(), 3),
            ("二维码".into(), 2),
            ("中华人民国".into(), 1),
        ])
        .unwrap();
        let v = Vocab::from_dict(&d, 100);
        let s = Sampler::new(&d, &v).unwrap();
        let t = s.transition_logp();
        let close = |x: f32, p: f64| assert!((x as f64 - p.ln()).abs() < 1e-6, "{x} vs ln {p}");
        let (b, m, e, st) = (0, 1, 2, 3);
        close(t[e][st], 0.4);
        close(t[st][b], 0.6);
        close(t[b][e], 0.5);
        close(t[b][m], 0.5);
        close(t[m][e], 0.6);
        close(t[m][m], 0.4);
        // The same from sampled sentences (within-sentence bigrams, 4 sd of a binomial).
        let mut rng = StdRng::seed_from_u64(2);
        let mut counts = [[0f64; 4]; 4];
        for _ in 0..20_000 {
            let (mut ids, mut tags) = (Vec::new(), Vec::new());
            // 16 words of ≤ 5 characters: never rejected, so the draws are unbiased.
            s.sentence(&mut rng, 80, &mut ids, &mut tags);
            for w in tags.windows(2) {
                counts[w[0].index()][w[1].index()] += 1.0;
            }
        }
        for from in 0..4 {
            let n: f64 = counts[from].iter().sum();
            for to in 0..4 {
                if crate::viterbi::ALLOWED[from][to] {
                    let p = t[from][to].exp() as f64;
                    let sd = (p * (1.0 - p) / n).sqrt();
                    assert!(
                        (counts[from][to] / n - p).abs() < 4.0 * sd + 1e-9,
                        "{from}->{to}"
                    );
                }
            }
        }
    }

    #[test]
    fn tempering_within_lengths_keeps_length_shares() {
        // Counts 1: {的 64, 和 16}, 2: {结婚 9, 尚未 1}: T = 90; ∝ count gives length 1 the share
        // 80/90. Within lengths with p = 0.5: 的 ∝ 8, 和 ∝ 4 → 的 = (80/90)·(8/12).
        let d = Dict::from_entries([
            ("的".to_string(), 64),
            ("和".into(), 16),
            ("结婚".into(), 9),
            ("尚未".into(), 1),
        ])
        .unwrap();
        let v = Vocab::from_dict(&d, 100);
        let s = Sampler::tempered_within_lengths(&d, &v, 0.5).unwrap();
        let p = |w: &str| {
            let ids: Vec<u32> = w.chars().map(|c| v.id(c)).collect();
            let k = (0..s.offsets.len() - 1)
                .find(|&k| s.ids[s.offsets[k]..s.offsets[k + 1]] == ids[..])
                .unwrap();
            s.table.probability(k)
        };
        let want = [
            ("的", 80.0 / 90.0 * 8.0 / 12.0),
            ("和", 80.0 / 90.0 * 4.0 / 12.0),
            ("结婚", 10.0 / 90.0 * 3.0 / 4.0),
            ("尚未", 10.0 / 90.0 * 1.0 / 4.0),
        ];
        for (w, q) in want {
            assert!((p(w) - q).abs() < 1e-12, "{w}: {} vs {q}", p(w));
        }
        // Plain tempering changes the length shares: length 1 gets 12/16 instead of 80/90.
        let plain = Sampler::tempered(&d, &v, 0.5).unwrap();
        assert!((plain.transition_logp()[3][3] - (12f32 / 16.0).ln()).abs() < 1e-6);
        assert!((s.transition_logp()[3][3] - (80f32 / 90.0).ln()).abs() < 1e-6);
    }

    #[test]
    fn sentences_are_tagged_and_bounded() {
        let d = Dict::from_entries([
            ("结婚".to_string(), 3),
            ("的".into(), 5),
            ("abc".into(), 100),
        ])
        .unwrap();
        let v = Vocab::from_dict(&d, 100);
        let s = Sampler::new(&d, &v).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..100 {
            let (mut ids, mut tags) = (Vec::new(), Vec::new());
            s.sentence(&mut rng, 10, &mut ids, &mut tags);
            assert!(!ids.is_empty() && ids.len() <= 10);
            assert_eq!(ids.len(), tags.len());
            assert!(crate::viterbi::is_legal(&tags));
            assert!(ids.iter().all(|&i| i >= crate::vocab::FIRST));
        }
    }
}
