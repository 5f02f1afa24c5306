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
        if !(temper > 0.0 && temper <= 1.0) {
            return Err(Error::Invalid(format!(
                "sampling temper must be in (0, 1], got {temper}"
            )));
        }
        let mut weights = Vec::new();
        let mut ids = Vec::new();
        let mut offsets = vec![0];
        for (w, c) in dict.entries() {
            if *c == 0 || !w.chars().all(crate::chunk::is_han) {
                continue;
            }
            ids.extend(w.chars().map(|ch| vocab.id(ch)));
            offsets.push(ids.len());
            weights.push((*c as f64).powf(temper));
        }
        if weights.is_empty() {
            return Err(Error::Invalid(
                "dictionary has no Han word with a positive count".into(),
            ));
        }
        Ok(Sampler {
            table: AliasTable::new(&weights)?,
            ids,
            offsets,
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
