//! B/M/E/S character tags and the conversions between words and tags.
//!
//! A word of length 1 is `S`; a word of length L ≥ 2 is `B M^(L−2) E`.
//! A new word starts at every `B` or `S`.

/// A character's position in its word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Tag {
    /// First character of a multi-character word.
    B = 0,
    /// Inner character of a word of length ≥ 3.
    M = 1,
    /// Last character of a multi-character word.
    E = 2,
    /// Single-character word.
    S = 3,
}

impl Tag {
    /// All tags, in index order (the model's output order).
    pub const ALL: [Tag; 4] = [Tag::B, Tag::M, Tag::E, Tag::S];

    /// Index 0..4 (model output column).
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether a word starts at a character with this tag.
    pub fn starts_word(self) -> bool {
        matches!(self, Tag::B | Tag::S)
    }
}

/// Appends the tags of a word of `len ≥ 1` characters to `out`.
pub fn push_word(len: usize, out: &mut Vec<Tag>) {
    match len {
        0 => {}
        1 => out.push(Tag::S),
        _ => {
            out.push(Tag::B);
            out.extend(std::iter::repeat_n(Tag::M, len - 2));
            out.push(Tag::E);
        }
    }
}

/// Tags of a sequence of words (lengths in characters).
pub fn bmes<S: AsRef<str>>(words: &[S]) -> Vec<Tag> {
    let mut out = Vec::new();
    for w in words {
        push_word(w.as_ref().chars().count(), &mut out);
    }
    out
}

/// Word end offsets (exclusive, in characters) from tags: a word starts at every B or S.
/// Works for any tag sequence, legal or not, so nothing is ever lost.
pub fn ends(tags: &[Tag], out: &mut Vec<usize>) {
    out.clear();
    for (i, t) in tags.iter().enumerate().skip(1) {
        if t.starts_word() {
            out.push(i);
        }
    }
    if !tags.is_empty() {
        out.push(tags.len());
    }
}

/// Splits `text` into words according to one tag per character.
///
/// # Panics
/// If `tags.len()` differs from the number of characters (a caller bug).
pub fn words<'a>(text: &'a str, tags: &[Tag]) -> Vec<&'a str> {
    let offsets: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    assert_eq!(offsets.len(), tags.len(), "one tag per character");
    let mut e = Vec::new();
    ends(tags, &mut e);
    let mut out = Vec::with_capacity(e.len());
    let mut start = 0;
    for end in e {
        let b = offsets.get(end).copied().unwrap_or(text.len());
        out.push(&text[start..b]);
        start = b;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_of_words() {
        use Tag::*;
        assert_eq!(bmes(&["结婚", "的", "二维码"]), [B, E, S, B, M, E]);
    }

    proptest! {
        #[test]
        fn words_of_bmes_roundtrip(ws in proptest::collection::vec("[a-z中文字😀]{1,5}", 0..8)) {
            let text: String = ws.concat();
            let tags = bmes(&ws);
            let back = words(&text, &tags);
            prop_assert_eq!(back, ws.iter().map(String::as_str).collect::<Vec<_>>());
        }
    }
}
