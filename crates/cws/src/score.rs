//! SIGHAN-style word-span precision, recall and F1.
//!
//! A segmentation of a string is turned into its set of character spans `[start, end)`.
//! With `c = |gold ∩ pred|` summed over the corpus:
//! `P = c / |pred|`, `R = c / |gold|`, `F1 = 2c / (|gold| + |pred|)` (micro-averaged).
//! OOV recall is the recall over gold words not in a word list, IV recall over those in it;
//! both count only words that contain a Han character. Punctuation, digit runs, Latin runs and
//! other symbols are atoms that every mode gets right by construction, so they are counted
//! apart (`other_gold`, `other_correct`) instead of inflating OOV recall.
//! An empty corpus scores P = R = F1 = 1 by definition (nothing to get wrong).
//! Lines are words separated by whitespace; whitespace itself is never a word.

use std::collections::HashSet;

use crate::{Error, Result};

/// Counts accumulated over a corpus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Words in the gold segmentation.
    pub gold_words: u64,
    /// Words in the prediction.
    pub pred_words: u64,
    /// Words in both (same span).
    pub correct: u64,
    /// Gold words not in the word list.
    pub oov_gold: u64,
    /// Of those, found by the prediction.
    pub oov_correct: u64,
    /// Gold words in the word list.
    pub iv_gold: u64,
    /// Of those, found by the prediction.
    pub iv_correct: u64,
    /// Gold words without a Han character (punctuation, numbers, Latin, symbols): neither
    /// OOV nor IV.
    pub other_gold: u64,
    /// Of those, found by the prediction.
    pub other_correct: u64,
    /// Sentences (lines) scored.
    pub sentences: u64,
    /// Sentences segmented exactly like the gold.
    pub exact: u64,
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

impl Counts {
    /// Precision `c / |pred|`.
    pub fn precision(&self) -> f64 {
        ratio(self.correct, self.pred_words)
    }
    /// Recall `c / |gold|`.
    pub fn recall(&self) -> f64 {
        ratio(self.correct, self.gold_words)
    }
    /// `F1 = 2c / (|gold| + |pred|)`.
    pub fn f1(&self) -> f64 {
        ratio(2 * self.correct, self.gold_words + self.pred_words)
    }
    /// Recall over out-of-vocabulary gold words (`None` when there are none).
    pub fn oov_recall(&self) -> Option<f64> {
        (self.oov_gold > 0).then(|| ratio(self.oov_correct, self.oov_gold))
    }
    /// Recall over in-vocabulary gold words (`None` when there are none).
    pub fn iv_recall(&self) -> Option<f64> {
        (self.iv_gold > 0).then(|| ratio(self.iv_correct, self.iv_gold))
    }
    /// Fraction of sentences segmented exactly like the gold.
    pub fn exact_match(&self) -> f64 {
        ratio(self.exact, self.sentences)
    }

    /// Adds one sentence; `words` is the word list for OOV/IV (IV/OOV counts stay 0 if `None`).
    ///
    /// # Errors
    /// [`Error::Mismatch`] (with `line`) if the two do not concatenate to the same string.
    pub fn add<S: AsRef<str>>(
        &mut self,
        gold: &[S],
        pred: &[S],
        words: Option<&HashSet<String>>,
        line: usize,
    ) -> Result<()> {
        let cat = |v: &[S]| v.iter().map(AsRef::as_ref).collect::<String>();
        if cat(gold) != cat(pred) {
            return Err(Error::Mismatch { line });
        }
        let spans = |v: &[S]| {
            let mut s = 0usize;
            v.iter()
                .map(|w| {
                    let n = w.as_ref().chars().count();
                    s += n;
                    (s - n, s)
                })
                .collect::<Vec<_>>()
        };
        let g = spans(gold);
        let p: HashSet<(usize, usize)> = spans(pred).into_iter().collect();
        let mut correct = 0;
        for (w, span) in gold.iter().zip(&g) {
            let hit = p.contains(span);
            correct += u64::from(hit);
            if let Some(list) = words {
                if !w.as_ref().chars().any(crate::chunk::is_han) {
                    self.other_gold += 1;
                    self.other_correct += u64::from(hit);
                } else if list.contains(w.as_ref()) {
                    self.iv_gold += 1;
                    self.iv_correct += u64::from(hit);
                } else {
                    self.oov_gold += 1;
                    self.oov_correct += u64::from(hit);
                }
            }
        }
        self.gold_words += g.len() as u64;
        self.pred_words += p.len() as u64;
        self.correct += correct;
        self.sentences += 1;
        self.exact += u64::from(correct == g.len() as u64 && g.len() == p.len());
        Ok(())
    }
}

/// Scores two texts line by line (words separated by whitespace).
///
/// # Errors
/// [`Error::LineCount`] if the line counts differ; [`Error::Mismatch`] if a line's words do
/// not concatenate to the same string.
pub fn score_texts(gold: &str, pred: &str, words: Option<&HashSet<String>>) -> Result<Counts> {
    let g: Vec<&str> = gold.lines().collect();
    let p: Vec<&str> = pred.lines().collect();
    if g.len() != p.len() {
        return Err(Error::LineCount {
            gold: g.len(),
            pred: p.len(),
        });
    }
    let mut counts = Counts::default();
    for (i, (gl, pl)) in g.iter().zip(&p).enumerate() {
        let gw: Vec<&str> = gl.split_whitespace().collect();
        let pw: Vec<&str> = pl.split_whitespace().collect();
        counts.add(&gw, &pw, words, i + 1)?;
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Spec §8 closed forms; tolerance 1e-12 (ratios of small integers in f64).
    #[test]
    fn closed_form_cases() {
        let c = score_texts("结婚 的 和 尚未 结婚 的", "结婚 的 和尚 未 结婚 的", None).unwrap();
        assert_eq!(c.correct, 4);
        for v in [c.precision(), c.recall(), c.f1()] {
            assert!((v - 2.0 / 3.0).abs() < 1e-12);
        }
        let c = score_texts(
            "扫描 二维码 ， 关注 微信号",
            "扫描 二 维码 ， 关注 微信 号",
            None,
        )
        .unwrap();
        assert_eq!((c.correct, c.gold_words, c.pred_words), (3, 5, 7));
        assert!((c.precision() - 3.0 / 7.0).abs() < 1e-12);
        assert!((c.recall() - 0.6).abs() < 1e-12);
        assert!((c.f1() - 0.5).abs() < 1e-12);
        assert_eq!(c.exact_match(), 0.0);
        let c = score_texts("甲 乙丙", "甲 乙丙", None).unwrap();
        assert_eq!(
            (c.precision(), c.recall(), c.f1(), c.exact_match()),
            (1.0, 1.0, 1.0, 1.0)
        );
        let c = score_texts("", "", None).unwrap();
        assert_eq!((c.precision(), c.recall(), c.f1()), (1.0, 1.0, 1.0));
    }

    #[test]
    fn oov_and_iv_recall() {
        let words: HashSet<String> = ["扫描", "关注", "，"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let c = score_texts(
            "扫描 二维码 ， 关注 微信号",
            "扫描 二维码 ， 关注 微信 号",
            Some(&words),
        )
        .unwrap();
        assert_eq!((c.oov_gold, c.oov_correct), (2, 1));
        assert_eq!(c.oov_recall(), Some(0.5));
        assert_eq!(c.iv_recall(), Some(1.0));
    }

    // Issue 20 item 21: punctuation, digits and Latin runs are neither OOV nor IV.
    #[test]
    fn atoms_are_not_oov() {
        let words: HashSet<String> = ["扫描"].iter().map(|s| s.to_string()).collect();
        let c = score_texts(
            "扫描 2023 ， iPhone 二维码 。",
            "扫描 2023 ， iPhone 二 维码 。",
            Some(&words),
        )
        .unwrap();
        assert_eq!((c.oov_gold, c.oov_correct), (1, 0));
        assert_eq!((c.iv_gold, c.iv_correct), (1, 1));
        assert_eq!((c.other_gold, c.other_correct), (4, 4));
        assert_eq!(c.oov_recall(), Some(0.0));
    }

    #[test]
    fn refuses_mismatch() {
        assert!(matches!(
            score_texts("ab", "ac", None),
            Err(Error::Mismatch { line: 1 })
        ));
        assert!(matches!(
            score_texts("a\nb", "a", None),
            Err(Error::LineCount { .. })
        ));
    }
}
