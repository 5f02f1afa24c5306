//! Character vocabulary: id 0 is padding, id 1 is an unknown character, ids 2.. are characters
//! ranked by the number of distinct dictionary words that contain them (the note's `char2id`,
//! with a dedicated unknown id so unknown characters are not masked as padding).

use std::collections::HashMap;

use crate::dict::Dict;
use crate::{Error, Result};

/// Padding id.
pub const PAD: u32 = 0;
/// Unknown-character id.
pub const UNK: u32 = 1;
/// First character id.
pub const FIRST: u32 = 2;

/// Character ↔ id map.
#[derive(Debug, Clone)]
pub struct Vocab {
    chars: Vec<char>,
    ids: HashMap<char, u32>,
    dense: Vec<u32>,
}

impl Vocab {
    /// Builds from the dictionary's Han-only words: at most `max_chars` characters, most
    /// frequent first, ties by code point.
    pub fn from_dict(dict: &Dict, max_chars: usize) -> Self {
        let mut freq: HashMap<char, u64> = HashMap::new();
        for (w, _) in dict.entries() {
            if w.chars().all(crate::chunk::is_han) {
                for c in w.chars() {
                    *freq.entry(c).or_default() += 1;
                }
            }
        }
        let mut ranked: Vec<(char, u64)> = freq.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(max_chars);
        Self::from_chars(ranked.into_iter().map(|(c, _)| c).collect())
    }

    fn from_chars(chars: Vec<char>) -> Self {
        let mut dense = vec![UNK; 0x10000];
        let mut ids = HashMap::new();
        for (i, &c) in chars.iter().enumerate() {
            let id = i as u32 + FIRST;
            ids.insert(c, id);
            if (c as u32) < 0x10000 {
                dense[c as usize] = id;
            }
        }
        Vocab { chars, ids, dense }
    }

    /// Parses the saved form: one character per line.
    ///
    /// # Errors
    /// [`Error::Model`] for a line that is not exactly one character.
    pub fn parse(text: &str) -> Result<Self> {
        let mut chars = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let mut it = line.chars();
            match (it.next(), it.next()) {
                (Some(c), None) => chars.push(c),
                _ => {
                    return Err(Error::Model(format!(
                        "vocab line {}: expected one character",
                        i + 1
                    )));
                }
            }
        }
        Ok(Self::from_chars(chars))
    }

    /// The saved form: one character per line.
    pub fn to_text(&self) -> String {
        let mut s = String::with_capacity(self.chars.len() * 4);
        for c in &self.chars {
            s.push(*c);
            s.push('\n');
        }
        s
    }

    /// Id of `c` ([`UNK`] if unknown).
    #[inline]
    pub fn id(&self, c: char) -> u32 {
        if (c as u32) < 0x10000 {
            self.dense[c as usize]
        } else {
            self.ids.get(&c).copied().unwrap_or(UNK)
        }
    }

    /// Number of ids including padding and unknown.
    pub fn n_ids(&self) -> usize {
        self.chars.len() + FIRST as usize
    }
}
