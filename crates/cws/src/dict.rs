//! Word-frequency dictionary and the unigram maximum-probability segmentation (jieba's `calc`).
//!
//! A dictionary D = {(w, c_w)} with total `T = Σ c_w` gives the unigram probability
//! `P(w) = c_w / T`.
//! [`Dict::route`] maximises `Σ ln P(w_k)` over all segmentations of a run of characters
//! whose words come from the DAG
//!
//! ```text
//! DAG[k] = { i ≥ k : c(s[k..=i]) > 0 },   or {k} when that set is empty (count 1 is used)
//! route[k] = max_{i ∈ DAG[k]} ln(max(c(s[k..=i]), 1)) − ln T + route[i + 1],   route[N] = 0
//! ```
//!
//! Ties go to the larger end index (the longer word), as in jieba.
//! The prefix scan walks a character trie, so the whole pass is O(N·L) with L the longest word,
//! and no string is allocated.
//!
//! | code      | symbol | meaning                                  |
//! |-----------|--------|------------------------------------------|
//! | `count`   | c_w    | the word's count                         |
//! | `total`   | T      | sum of all counts                        |
//! | `logp`    | ln P   | `ln c_w − ln T` (f64)                    |
//!
//! # File format
//!
//! One entry per line, UTF-8: `word count [tag]`, fields separated by ASCII spaces or tabs
//! (jieba's `dict.txt` and the note's tab-separated `word<TAB>count` both parse).
//! A leading BOM is stripped, blank lines are skipped, a count must be a non-negative integer
//! (digits only: `-5`, `1.5`, `nan`, `inf` are errors), a tag must be ASCII letters (jieba's
//! `n`, `nr`, `vn`, …), the last duplicate wins and T is the sum of the counts that remain.
//! Errors name the 1-based line.
//! A count of 0 means "known but never emitted": the word is not a DAG edge.
//!
//! # User dictionary
//!
//! `word [count] [tag]` per line ([`Dict::add_user`]): every word listed with no count or a
//! positive count is **forced** (kept whole wherever it occurs, in dictionary and hybrid
//! segmentation); without a count it gets jieba's suggested count, the smallest count that
//! makes the word win over its current best split. `word 0` **deletes** a word (jieba's
//! `del_word`): it is never a token of dictionary or hybrid segmentation. A word listed twice
//! with different settings is an error naming both lines.

use std::collections::{HashMap, HashSet};
use std::io::BufRead;

use crate::{Error, Result};

/// A parsed dictionary with its prefix trie.
#[derive(Debug, Clone)]
pub struct Dict {
    entries: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    /// Part-of-speech tag of each entry: an index into `tag_names`, or [`NO_TAG`].
    tags: Vec<u16>,
    tag_names: Vec<String>,
    total: u64,
    trie: Trie,
    user: UserWords,
}

const NO_TAG: u16 = u16::MAX;

/// Words a user dictionary forces (kept whole wherever they occur) or deletes (never a token
/// of dictionary or hybrid segmentation).
#[derive(Debug, Clone, Default)]
pub struct UserWords {
    forced: HashSet<String>,
    deleted: HashSet<String>,
    /// Longest forced or deleted word, in characters.
    max_chars: usize,
}

impl UserWords {
    /// Whether there are no forced and no deleted words.
    pub fn is_empty(&self) -> bool {
        self.forced.is_empty() && self.deleted.is_empty()
    }

    /// Whether `word` is forced.
    pub fn is_forced(&self, word: &str) -> bool {
        self.forced.contains(word)
    }

    /// Whether `word` is deleted.
    pub fn is_deleted(&self, word: &str) -> bool {
        self.deleted.contains(word)
    }

    /// Whether any word is deleted.
    pub fn has_deleted(&self) -> bool {
        !self.deleted.is_empty()
    }

    /// Longest forced or deleted word in characters.
    pub fn max_chars(&self) -> usize {
        self.max_chars
    }

    /// Non-overlapping occurrences of forced words in `text` (a run whose character `k` starts
    /// at byte `offsets[k]`), as character ranges `(start, end)` in order: the set that covers
    /// the most characters, ties to fewer (longer) words, then to the leftmost start.
    pub fn forced_spans(&self, text: &str, offsets: &[usize], out: &mut Vec<(usize, usize)>) {
        out.clear();
        if self.forced.is_empty() {
            return;
        }
        let n = offsets.len();
        let byte = |k: usize| offsets.get(k).copied().unwrap_or(text.len());
        // best[k] = (covered chars, -words, next) for the suffix starting at k.
        let mut best: Vec<(usize, isize, usize, bool)> = vec![(0, 0, n, false); n + 1];
        for k in (0..n).rev() {
            let (c, w, _, _) = best[k + 1];
            best[k] = (c, w, k + 1, false);
            for len in 1..=self.max_chars.min(n - k) {
                if self.forced.contains(&text[byte(k)..byte(k + len)]) {
                    let (c2, w2, _, _) = best[k + len];
                    let cand = (c2 + len, w2 - 1);
                    if cand > (best[k].0, best[k].1) {
                        best[k] = (cand.0, cand.1, k + len, true);
                    }
                }
            }
        }
        let mut k = 0;
        while k < n {
            let (_, _, next, word) = best[k];
            if word {
                out.push((k, next));
            }
            k = next;
        }
    }
}

/// Which dictionary format a reader holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Counts are required.
    Main,
    /// Counts may be missing (jieba's user dictionary).
    User,
}

/// One parsed line.
#[derive(Debug, Clone)]
struct Line {
    word: String,
    /// `None` for a user word without a count.
    count: Option<u64>,
    tag: Option<String>,
    line: usize,
}

/// Whether `f` is a valid part-of-speech tag: ASCII letters only (jieba's `[a-z]+`, upper case
/// allowed), and not a spelling of a non-finite number.
fn is_tag(f: &str) -> bool {
    !f.is_empty()
        && f.bytes().all(|b| b.is_ascii_alphabetic())
        && !["nan", "inf", "infinity"].contains(&f.to_ascii_lowercase().as_str())
}

fn parse_lines(reader: impl BufRead, kind: Kind) -> Result<Vec<Line>> {
    let mut out = Vec::new();
    let mut reader = reader;
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let err = |msg: String| Error::Dict { line: line_no, msg };
        let text = std::str::from_utf8(&buf).map_err(|e| {
            err(format!(
                "not valid UTF-8 (byte {} of the line)",
                e.valid_up_to()
            ))
        })?;
        let text = if line_no == 1 {
            text.strip_prefix('\u{feff}').unwrap_or(text)
        } else {
            text
        };
        let text = text.trim_end_matches(['\n', '\r']);
        if text.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = text.split([' ', '\t']).filter(|f| !f.is_empty()).collect();
        let word = fields[0];
        if word.chars().any(char::is_whitespace) {
            return Err(err(format!("word {word:?} contains whitespace")));
        }
        let not_count = |f: &str| {
            err(format!(
                "count {f:?} is not a non-negative integer (a count is digits only; a \
                 part-of-speech tag is ASCII letters only)"
            ))
        };
        let (count, rest) = match (kind, fields.get(1)) {
            (_, Some(f)) if f.bytes().all(|b| b.is_ascii_digit()) => (
                Some(
                    f.parse::<u64>()
                        .map_err(|_| err(format!("count {f:?} is too large")))?,
                ),
                &fields[2..],
            ),
            (Kind::User, Some(f)) if is_tag(f) => (None, &fields[1..]),
            (_, Some(f)) => return Err(not_count(f)),
            (Kind::Main, None) => return Err(err(format!("word {word:?} has no count"))),
            (Kind::User, None) => (None, &fields[1..]),
        };
        let tag = match rest {
            [] => None,
            [t] if is_tag(t) => Some((*t).to_owned()),
            [t] => {
                return Err(err(format!(
                    "part-of-speech tag {t:?} is malformed (expected ASCII letters, e.g. n, nr, \
                     vn)"
                )));
            }
            _ => {
                return Err(err(format!(
                    "expected `word count [tag]`, found {} fields",
                    fields.len()
                )));
            }
        };
        out.push(Line {
            word: word.to_owned(),
            count,
            tag,
            line: line_no,
        });
    }
    Ok(out)
}

impl Dict {
    /// Parses a dictionary (`word count [tag]` per line).
    ///
    /// # Errors
    /// [`Error::Dict`] with the 1-based line number for invalid UTF-8, a missing or non-integer
    /// count, a malformed part-of-speech tag, or too many fields; [`Error::Io`] for read
    /// failures; [`Error::DictInvalid`] if no word has a positive count or the total overflows.
    pub fn parse(reader: impl BufRead) -> Result<Self> {
        let lines = parse_lines(reader, Kind::Main)?;
        let mut dict = Self::empty();
        for l in lines {
            let count = l.count.expect("main dictionary lines have counts");
            dict.insert(l.word, count, l.tag.as_deref())?;
        }
        dict.rebuild()?;
        Ok(dict)
    }

    fn empty() -> Self {
        Dict {
            entries: Vec::new(),
            index: HashMap::new(),
            tags: Vec::new(),
            tag_names: Vec::new(),
            total: 0,
            trie: Trie::default(),
            user: UserWords::default(),
        }
    }

    /// Builds a dictionary from `(word, count)` pairs; the last duplicate wins.
    ///
    /// # Errors
    /// [`Error::DictInvalid`] if no word has a positive count, an empty word is given, or the
    /// total overflows `u64`.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, u64)>) -> Result<Self> {
        let mut dict = Self::empty();
        for (word, count) in entries {
            dict.insert(word, count, None)?;
        }
        dict.rebuild()?;
        Ok(dict)
    }

    fn tag_id(&mut self, tag: Option<&str>) -> Result<u16> {
        let Some(tag) = tag else { return Ok(NO_TAG) };
        if let Some(i) = self.tag_names.iter().position(|t| t == tag) {
            return Ok(i as u16);
        }
        if self.tag_names.len() >= usize::from(NO_TAG) {
            return Err(Error::DictInvalid("too many distinct tags".into()));
        }
        self.tag_names.push(tag.to_owned());
        Ok((self.tag_names.len() - 1) as u16)
    }

    fn insert(&mut self, word: String, count: u64, tag: Option<&str>) -> Result<()> {
        if word.is_empty() {
            return Err(Error::DictInvalid("empty word".into()));
        }
        let tag = self.tag_id(tag)?;
        match self.index.get(&word) {
            Some(&i) => {
                self.entries[i].1 = count;
                if tag != NO_TAG {
                    self.tags[i] = tag;
                }
            }
            None => {
                self.index.insert(word.clone(), self.entries.len());
                self.entries.push((word, count));
                self.tags.push(tag);
            }
        }
        Ok(())
    }

    fn rebuild(&mut self) -> Result<()> {
        let mut total = 0u64;
        for (_, c) in &self.entries {
            total = total
                .checked_add(*c)
                .ok_or_else(|| Error::DictInvalid("total count overflows u64".into()))?;
        }
        if total == 0 {
            return Err(Error::DictInvalid(if self.entries.is_empty() {
                "the dictionary has no entries".into()
            } else {
                "no word has a positive count".into()
            }));
        }
        self.total = total;
        self.trie = Trie::build(&self.entries, total);
        Ok(())
    }

    /// Adds a user dictionary; T is recomputed (as jieba does).
    ///
    /// Lines are `word [count] [tag]`:
    /// - `word` or `word tag`: the word is **forced**: added with jieba's suggested count
    ///   ([`Dict::suggested_count`]) and kept whole wherever it occurs in dictionary and hybrid
    ///   segmentation;
    /// - `word count [tag]` with count ≥ 1: forced too, with that count;
    /// - `word 0`: the word is **deleted** (jieba's `del_word`): it is no longer a dictionary
    ///   word and never a token of dictionary or hybrid segmentation.
    ///
    /// A word listed twice with different settings is a conflict.
    ///
    /// # Errors
    /// As [`Dict::parse`], with line numbers of the user file; [`Error::Dict`] naming both
    /// lines for conflicting duplicates.
    pub fn add_user(&mut self, reader: impl BufRead) -> Result<()> {
        let lines = parse_lines(reader, Kind::User)?;
        let mut seen: HashMap<&str, &Line> = HashMap::new();
        for l in &lines {
            if let Some(prev) = seen.get(l.word.as_str()) {
                let same = prev.count == l.count
                    && (prev.tag == l.tag || l.tag.is_none() || prev.tag.is_none());
                if !same {
                    return Err(Error::Dict {
                        line: l.line,
                        msg: format!(
                            "{:?} conflicts with line {} (a word may be listed once, or again \
                             with the same count and tag)",
                            l.word, prev.line
                        ),
                    });
                }
            }
            seen.entry(&l.word).or_insert(l);
        }
        for l in &lines {
            let count = match l.count {
                Some(c) => c,
                None => self.suggested_count(&l.word),
            };
            self.set_user_word(&l.word, count, l.tag.as_deref())?;
        }
        self.rebuild()
    }

    fn set_user_word(&mut self, word: &str, count: u64, tag: Option<&str>) -> Result<()> {
        self.insert(word.to_owned(), count, tag)?;
        if count == 0 {
            self.user.forced.remove(word);
            self.user.deleted.insert(word.to_owned());
        } else {
            self.user.deleted.remove(word);
            self.user.forced.insert(word.to_owned());
        }
        self.user.max_chars = self.user.max_chars.max(word.chars().count());
        Ok(())
    }

    /// Forces `word` (jieba's `add_word`): added with `count` (or the suggested count) and kept
    /// whole wherever it occurs in dictionary and hybrid segmentation.
    ///
    /// # Errors
    /// [`Error::DictInvalid`] for an empty word, a word with whitespace, a count of 0 (use
    /// [`Dict::del_word`]), a malformed tag or an overflowing total.
    pub fn add_word(&mut self, word: &str, count: Option<u64>, tag: Option<&str>) -> Result<()> {
        check_word(word)?;
        if let Some(t) = tag
            && !is_tag(t)
        {
            return Err(Error::DictInvalid(format!(
                "part-of-speech tag {t:?} is malformed"
            )));
        }
        let count = match count {
            Some(0) => {
                return Err(Error::DictInvalid(
                    "count 0 deletes a word: use del_word".into(),
                ));
            }
            Some(c) => c,
            None => self.suggested_count(word),
        };
        self.set_user_word(word, count, tag)?;
        self.rebuild()
    }

    /// Deletes `word` (jieba's `del_word`): count 0, never a token of dictionary or hybrid
    /// segmentation.
    ///
    /// # Errors
    /// [`Error::DictInvalid`] for an empty word, a word with whitespace, or if no word with a
    /// positive count remains.
    pub fn del_word(&mut self, word: &str) -> Result<()> {
        check_word(word)?;
        self.set_user_word(word, 0, None)?;
        self.rebuild()
    }

    /// The forced and deleted user words.
    pub fn user_words(&self) -> &UserWords {
        &self.user
    }

    /// The part-of-speech tag of `word` from the dictionary's tag column, if any.
    pub fn tag(&self, word: &str) -> Option<&str> {
        let &i = self.index.get(word)?;
        let t = self.tags[i];
        (t != NO_TAG).then(|| self.tag_names[usize::from(t)].as_str())
    }

    /// jieba's `suggest_freq(word, tune=False)` without HMM: the smallest count that makes
    /// `word` beat its current best split, and at least its current count.
    pub fn suggested_count(&self, word: &str) -> u64 {
        let chars: Vec<char> = word.chars().collect();
        let mut ends = Vec::new();
        let mut scratch = Vec::new();
        let logp = self.route(&chars, &mut scratch, &mut ends);
        let want = (logp + (self.total as f64).ln()).exp().floor() as u64 + 1;
        want.max(self.count(word).unwrap_or(1))
    }

    /// The count of `word`, if it is an entry.
    pub fn count(&self, word: &str) -> Option<u64> {
        self.index.get(word).map(|&i| self.entries[i].1)
    }

    /// Whether `word` is an entry (any count, including 0).
    pub fn contains(&self, word: &str) -> bool {
        self.index.contains_key(word)
    }

    /// Total count T.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// The entries `(word, count)` in first-seen order.
    pub fn entries(&self) -> &[(String, u64)] {
        &self.entries
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries (never true for a successfully built dictionary).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `ln(1 / T)`: the log-probability of an unknown single character.
    pub fn unknown_logp(&self) -> f64 {
        -(self.total as f64).ln()
    }

    /// Walks the trie from `chars[start]`, calling `f(end, logp)` for every dictionary word
    /// `chars[start..end]` with a positive count, in increasing `end`.
    pub fn for_each_word(&self, chars: &[char], start: usize, mut f: impl FnMut(usize, f64)) {
        let mut node = ROOT;
        for (i, &c) in chars[start..].iter().enumerate() {
            match self.trie.child(node, c) {
                Some(n) => node = n,
                None => break,
            }
            let lp = self.trie.logp[node as usize];
            if lp > f64::NEG_INFINITY {
                f(start + i + 1, lp);
            }
        }
    }

    /// Maximum-probability route over `chars`; fills `ends` with the exclusive end of each word
    /// (in order) and returns the route's log-probability.
    /// `scratch` is reused between calls to avoid allocation.
    pub fn route(
        &self,
        chars: &[char],
        scratch: &mut Vec<(f64, u32)>,
        ends: &mut Vec<usize>,
    ) -> f64 {
        let n = chars.len();
        scratch.clear();
        scratch.resize(n + 1, (0.0, 0));
        let unknown = self.unknown_logp();
        for k in (0..n).rev() {
            let mut best = f64::NEG_INFINITY;
            let mut best_end = 0u32;
            let mut node = ROOT;
            for (off, &c) in chars[k..].iter().enumerate() {
                match self.trie.child(node, c) {
                    Some(next) => node = next,
                    None => break,
                }
                let lp = self.trie.logp[node as usize];
                if lp > f64::NEG_INFINITY {
                    let end = k + off + 1;
                    let cand = lp + scratch[end].0;
                    // `>=` with increasing `end`: ties go to the longer word (jieba).
                    if cand >= best {
                        best = cand;
                        best_end = end as u32;
                    }
                }
            }
            if best_end == 0 {
                best = unknown + scratch[k + 1].0;
                best_end = (k + 1) as u32;
            }
            scratch[k] = (best, best_end);
        }
        ends.clear();
        let mut k = 0;
        while k < n {
            let e = scratch[k].1 as usize;
            ends.push(e);
            k = e;
        }
        if n == 0 { 0.0 } else { scratch[0].0 }
    }
}

const ROOT: u32 = 0;

/// Character trie in compressed-sparse-row form; the root's children below U+10000 are also in
/// a dense table so the first step (the most frequent one) is a single array read.
#[derive(Debug, Clone, Default)]
struct Trie {
    root_bmp: Vec<u32>,
    first: Vec<u32>,
    edge_char: Vec<char>,
    edge_node: Vec<u32>,
    logp: Vec<f64>,
}

impl Trie {
    fn build(entries: &[(String, u64)], total: u64) -> Trie {
        let mut words: Vec<(&str, u64)> = entries.iter().map(|(w, c)| (w.as_str(), *c)).collect();
        words.sort_unstable();
        // Children lists; because words are sorted, a node's existing child for `c`, if any,
        // is its last child.
        let mut children: Vec<Vec<(char, u32)>> = vec![Vec::new()];
        let mut counts: Vec<u64> = vec![0];
        for (w, c) in words {
            let mut node = 0usize;
            for ch in w.chars() {
                let next = match children[node].last() {
                    Some(&(last, n)) if last == ch => n as usize,
                    _ => {
                        let n = children.len();
                        children.push(Vec::new());
                        counts.push(0);
                        children[node].push((ch, n as u32));
                        n
                    }
                };
                node = next;
            }
            counts[node] = c;
        }
        let ln_total = (total as f64).ln();
        let mut trie = Trie {
            root_bmp: vec![u32::MAX; 0x10000],
            first: Vec::with_capacity(children.len() + 1),
            edge_char: Vec::new(),
            edge_node: Vec::new(),
            logp: counts
                .iter()
                .map(|&c| {
                    if c > 0 {
                        (c as f64).ln() - ln_total
                    } else {
                        f64::NEG_INFINITY
                    }
                })
                .collect(),
        };
        for kids in &children {
            trie.first.push(trie.edge_char.len() as u32);
            for &(c, n) in kids {
                trie.edge_char.push(c);
                trie.edge_node.push(n);
            }
        }
        trie.first.push(trie.edge_char.len() as u32);
        for &(c, n) in &children[0] {
            if (c as u32) < 0x10000 {
                trie.root_bmp[c as usize] = n;
            }
        }
        trie
    }

    #[inline]
    fn child(&self, node: u32, c: char) -> Option<u32> {
        if node == ROOT && (c as u32) < 0x10000 {
            let n = *self.root_bmp.get(c as usize)?;
            return (n != u32::MAX).then_some(n);
        }
        let lo = *self.first.get(node as usize)? as usize;
        let hi = self.first[node as usize + 1] as usize;
        let span = &self.edge_char[lo..hi];
        // Most inner nodes have a handful of children: a linear scan beats binary search there.
        let found = if span.len() <= 8 {
            span.iter().position(|&x| x == c)
        } else {
            span.binary_search(&c).ok()
        };
        found.map(|i| self.edge_node[lo + i])
    }
}

/// A word of `add_word` / `del_word`: non-empty, without whitespace.
fn check_word(word: &str) -> Result<()> {
    if word.is_empty() || word.chars().any(char::is_whitespace) {
        return Err(Error::DictInvalid(format!(
            "{word:?}: a word is non-empty and has no whitespace"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy() -> Dict {
        let entries = [
            ("结婚", 100),
            ("的", 1000),
            ("和", 500),
            ("和尚", 50),
            ("尚未", 80),
            ("未", 100),
            ("尚", 10),
            ("结", 5),
            ("婚", 5),
        ];
        Dict::from_entries(entries.iter().map(|&(w, c)| (w.to_string(), c))).unwrap()
    }

    fn seg(d: &Dict, s: &str) -> (Vec<String>, f64) {
        let chars: Vec<char> = s.chars().collect();
        let (mut scratch, mut ends) = (Vec::new(), Vec::new());
        let lp = d.route(&chars, &mut scratch, &mut ends);
        let mut out = Vec::new();
        let mut k = 0;
        for e in ends {
            out.push(chars[k..e].iter().collect());
            k = e;
        }
        (out, lp)
    }

    // Spec §5: values from a python3 re-implementation of jieba's `calc` (T = 1850).
    #[test]
    fn toy_route_matches_reference() {
        let d = toy();
        assert_eq!(d.total(), 1850);
        let (words, lp) = seg(&d, "结婚的和尚未结婚的");
        assert_eq!(words, ["结婚", "的", "和", "尚未", "结婚", "的"]);
        assert!((lp - -11.5151598).abs() < 1e-6, "{lp}");
        // The alternative route is ln 8 worse.
        let ln = |w: &str| ((d.count(w).unwrap() as f64) / 1850.0).ln();
        let alt: f64 = ["结婚", "的", "和尚", "未", "结婚", "的"]
            .iter()
            .map(|w| ln(w))
            .sum();
        assert!((alt - -13.5946014).abs() < 1e-6, "{alt}");
        assert!((lp - alt - 8f64.ln()).abs() < 1e-9);
    }

    #[test]
    fn unknown_chars_are_single_tokens() {
        let (words, lp) = seg(&toy(), "苏剑林是博主");
        assert_eq!(words.len(), 6);
        assert!((lp - -45.1376455).abs() < 1e-6, "{lp}");
    }

    #[test]
    fn route_is_the_best_split_by_enumeration() {
        // Oracle: enumerate all 2^(n-1) splits and score with the same DAG rules.
        let d = toy();
        for s in [
            "结婚的和尚未结婚的",
            "和尚未",
            "尚未结婚",
            "婚结和尚",
            "的的和",
        ] {
            let chars: Vec<char> = s.chars().collect();
            let n = chars.len();
            let mut best = f64::NEG_INFINITY;
            for mask in 0..(1u32 << (n - 1)) {
                let mut start = 0;
                let mut total = 0.0;
                let mut ok = true;
                for i in 1..=n {
                    if i == n || mask & (1 << (i - 1)) != 0 {
                        let w: String = chars[start..i].iter().collect();
                        let mut in_dag = false;
                        d.for_each_word(&chars, start, |e, lp| {
                            if e == i {
                                total += lp;
                                in_dag = true;
                            }
                        });
                        if !in_dag {
                            // Only allowed when nothing starts at `start` and it is one char.
                            let mut any = false;
                            d.for_each_word(&chars, start, |_, _| any = true);
                            if any || w.chars().count() != 1 {
                                ok = false;
                            }
                            total += d.unknown_logp();
                        }
                        start = i;
                    }
                }
                if ok && total > best {
                    best = total;
                }
            }
            let (_, lp) = seg(&d, s);
            assert!((lp - best).abs() < 1e-9, "{s}: {lp} vs {best}");
        }
    }

    #[test]
    fn parses_both_formats_and_reports_line_numbers() {
        let d = Dict::parse("\u{feff}词语 123 n\n\n中文\t7\n词语 5\n".as_bytes()).unwrap();
        assert_eq!(d.count("词语"), Some(5));
        assert_eq!(d.total(), 12);
        let e = Dict::parse("好 1\n坏 x\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        let e = Dict::parse("好 1\n坏\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("no count"), "{e}");
        let e = Dict::parse("好 1 n extra\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1"), "{e}");
        let e = Dict::parse(&b"a 1\n\xff 2\n"[..]).unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
        assert!(Dict::parse("好 0\n".as_bytes()).is_err());
        assert!(Dict::parse("好 99999999999999999999999\n".as_bytes()).is_err());
        let e = Dict::parse("好 1 n\n坏 2 名词\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("tag"), "{e}");
    }

    // Issue 20 item 13: bad counts were read as tags; an empty dictionary said "line 0".
    #[test]
    fn bad_counts_and_tags_name_the_line() {
        for bad in ["-5", "nan", "inf", "1.5", "+3", "1e3", "NaN", "Infinity"] {
            let text = format!("好 1\n坏 {bad}\n");
            let e = Dict::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("line 2") && e.contains("count"), "{bad}: {e}");
            let mut d = toy();
            let e = d.add_user(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("line 2") && e.contains("count"), "{bad}: {e}");
        }
        for bad in ["名词", "n1", "n-v", "nan"] {
            let text = format!("好 1 n\n坏 2 {bad}\n");
            let e = Dict::parse(text.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("line 2"), "{bad}: {e}");
            let mut d = toy();
            assert!(
                d.add_user(format!("坏 {bad}\n").as_bytes()).is_err(),
                "{bad}"
            );
        }
        for empty in ["", "\n\n", "\u{feff}"] {
            let e = Dict::parse(empty.as_bytes()).unwrap_err().to_string();
            assert!(!e.contains("line 0") && e.contains("no entries"), "{e}");
        }
        let e = Dict::parse("好 0\n".as_bytes()).unwrap_err().to_string();
        assert!(!e.contains("line 0") && e.contains("positive count"), "{e}");
    }

    #[test]
    fn user_dictionary_conflicts_name_both_lines() {
        let mut d = toy();
        let e = d
            .add_user("甲乙 5\n丙 3\n甲乙 7\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 3") && e.contains("line 1"), "{e}");
        let e = d
            .add_user("甲乙 5\n甲乙 0\n".as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("line 1"), "{e}");
        // The same line twice, or again without a tag, is not a conflict.
        d.add_user("甲乙 5 n\n甲乙 5 n\n甲乙 5\n".as_bytes())
            .unwrap();
        assert_eq!(d.tag("甲乙"), Some("n"));
    }

    #[test]
    fn tags_forced_and_deleted_words() {
        let mut d = Dict::parse("结婚 100 v\n的 1000 uj\n和尚 50 nr\n".as_bytes()).unwrap();
        assert_eq!(d.tag("结婚"), Some("v"));
        assert_eq!(d.tag("和尚"), Some("nr"));
        assert_eq!(d.tag("没有"), None);
        d.add_user("尚未 nz\n结婚 0\n".as_bytes()).unwrap();
        assert!(d.user_words().is_forced("尚未") && d.user_words().is_deleted("结婚"));
        assert_eq!(d.count("结婚"), Some(0));
        assert_eq!(d.tag("尚未"), Some("nz"));
        d.add_word("和尚未", Some(9), None).unwrap();
        d.del_word("尚未").unwrap();
        assert!(d.user_words().is_deleted("尚未") && !d.user_words().is_forced("尚未"));
        assert!(d.add_word("a b", None, None).is_err());
        assert!(d.del_word("a b").is_err() && d.del_word("").is_err());
        assert!(d.add_word("好", Some(0), None).is_err());
        let text = "和尚未结婚";
        let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        let mut spans = Vec::new();
        d.user_words().forced_spans(text, &offsets, &mut spans);
        assert_eq!(spans, [(0, 3)]);
    }

    #[test]
    fn forced_spans_cover_the_most_characters() {
        let mut d = toy();
        d.add_user("甲乙 5\n乙丙丁 5\n丁戊 5\n".as_bytes()).unwrap();
        let text = "甲乙丙丁戊";
        let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
        let mut spans = Vec::new();
        d.user_words().forced_spans(text, &offsets, &mut spans);
        // 甲乙 + 丁戊 cover 4 characters, 乙丙丁 covers 3.
        assert_eq!(spans, [(0, 2), (3, 5)]);
    }

    #[test]
    fn user_words_without_count_win() {
        let mut d = toy();
        d.add_user("尚未结 \n和尚未 nz\n".as_bytes()).unwrap();
        let (words, _) = seg(&d, "和尚未");
        assert_eq!(words, ["和尚未"]);
        assert!(d.total() > 1850);
    }
}
