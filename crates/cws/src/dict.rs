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
//! A leading BOM is stripped, blank lines are skipped, a count must be a non-negative integer,
//! the last duplicate wins and T is the sum of the counts that remain.
//! A count of 0 means "known but never emitted": the word is not a DAG edge.
//! In a user dictionary the count may be missing; the word then gets jieba's suggested count,
//! the smallest count that makes the word win over its current best split.

use std::collections::HashMap;
use std::io::BufRead;

use crate::{Error, Result};

/// A parsed dictionary with its prefix trie.
#[derive(Debug, Clone)]
pub struct Dict {
    entries: Vec<(String, u64)>,
    index: HashMap<String, usize>,
    total: u64,
    trie: Trie,
}

/// Which dictionary format a reader holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Counts are required.
    Main,
    /// Counts may be missing (jieba's user dictionary).
    User,
}

/// One parsed line: word and count (`None` for a user word without one).
type Line = (String, Option<u64>);

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
        let count = match (kind, fields.get(1)) {
            (_, Some(f)) if f.bytes().all(|b| b.is_ascii_digit()) => Some(
                f.parse::<u64>()
                    .map_err(|_| err(format!("count {f:?} is too large")))?,
            ),
            (Kind::Main, Some(f)) => {
                return Err(err(format!("count {f:?} is not a non-negative integer")));
            }
            (Kind::Main, None) => return Err(err(format!("word {word:?} has no count"))),
            (Kind::User, _) => None,
        };
        let max_fields = if count.is_some() || kind == Kind::Main {
            3
        } else {
            2
        };
        if fields.len() > max_fields {
            return Err(err(format!(
                "expected `word count [tag]`, found {} fields",
                fields.len()
            )));
        }
        out.push((word.to_owned(), count));
    }
    Ok(out)
}

impl Dict {
    /// Parses a dictionary (`word count [tag]` per line).
    ///
    /// # Errors
    /// [`Error::Dict`] with the 1-based line number for invalid UTF-8, a missing or non-integer
    /// count, too many fields, or a total that overflows; [`Error::Io`] for read failures;
    /// [`Error::Dict`] with line 0 if no word has a positive count.
    pub fn parse(reader: impl BufRead) -> Result<Self> {
        let lines = parse_lines(reader, Kind::Main)?;
        Self::from_entries(
            lines
                .into_iter()
                .map(|(w, c)| (w, c.expect("main dictionary lines have counts"))),
        )
    }

    /// Builds a dictionary from `(word, count)` pairs; the last duplicate wins.
    ///
    /// # Errors
    /// [`Error::Dict`] (line 0) if no word has a positive count, an empty word is given, or the
    /// total overflows `u64`.
    pub fn from_entries(entries: impl IntoIterator<Item = (String, u64)>) -> Result<Self> {
        let mut dict = Dict {
            entries: Vec::new(),
            index: HashMap::new(),
            total: 0,
            trie: Trie::default(),
        };
        for (word, count) in entries {
            dict.insert(word, count)?;
        }
        dict.rebuild()?;
        Ok(dict)
    }

    fn insert(&mut self, word: String, count: u64) -> Result<()> {
        if word.is_empty() {
            return Err(Error::Dict {
                line: 0,
                msg: "empty word".into(),
            });
        }
        match self.index.get(&word) {
            Some(&i) => self.entries[i].1 = count,
            None => {
                self.index.insert(word.clone(), self.entries.len());
                self.entries.push((word, count));
            }
        }
        Ok(())
    }

    fn rebuild(&mut self) -> Result<()> {
        let mut total = 0u64;
        for (_, c) in &self.entries {
            total = total.checked_add(*c).ok_or_else(|| Error::Dict {
                line: 0,
                msg: "total count overflows u64".into(),
            })?;
        }
        if total == 0 {
            return Err(Error::Dict {
                line: 0,
                msg: "no word has a positive count".into(),
            });
        }
        self.total = total;
        self.trie = Trie::build(&self.entries, total);
        Ok(())
    }

    /// Adds a user dictionary (`word [count] [tag]` per line); T is recomputed (as jieba does).
    ///
    /// # Errors
    /// As [`Dict::parse`], with line numbers of the user file.
    pub fn add_user(&mut self, reader: impl BufRead) -> Result<()> {
        let lines = parse_lines(reader, Kind::User)?;
        for (word, count) in lines {
            let count = match count {
                Some(c) => c,
                None => self.suggested_count(&word),
            };
            self.insert(word, count)?;
        }
        self.rebuild()
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
