//! Pre-splitting a line into Han runs (segmented by a model or the dictionary) and atoms.
//!
//! Atoms are never split further and never changed:
//! - a run of ASCII or full-width Latin letters and digits, with `.` between digits and `%`
//!   after a digit (`3.14`, `50%`, `iPhone12`);
//! - a run of whitespace;
//! - any other character (punctuation, emoji, control characters, kana, …) together with the
//!   characters that glue to it: combining marks, variation selectors, emoji modifiers and tags,
//!   a zero-width joiner and the character after it (unless that is whitespace or a control
//!   character), the second regional indicator of a flag.
//!
//! The pieces concatenate to the input exactly.

use std::ops::Range;

/// What a piece of a line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    /// A maximal run of Han ideographs, to be segmented.
    Han,
    /// An atomic token.
    Atom,
}

/// Whether `c` is a Han ideograph (CJK unified ideographs and extensions, compatibility
/// ideographs, and 〇).
pub fn is_han(c: char) -> bool {
    matches!(c as u32,
        0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F | 0x3007)
}

fn is_digit(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c)
}

fn is_alnum(c: char) -> bool {
    is_digit(c)
        || c.is_ascii_alphabetic()
        || ('Ａ'..='Ｚ').contains(&c)
        || ('ａ'..='ｚ').contains(&c)
}

fn is_glue(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
        | 0xFE00..=0xFE0F | 0xE0100..=0xE01EF | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F | 0x200D)
}

fn is_regional(c: char) -> bool {
    matches!(c as u32, 0x1F1E6..=0x1F1FF)
}

/// Splits `text` into pieces (byte ranges) in order; they cover `text` exactly.
pub fn pieces(text: &str) -> Vec<(PieceKind, Range<usize>)> {
    let mut out = Vec::new();
    for_each_piece(text, |k, r| out.push((k, r)));
    out
}

const ZWJ: char = '\u{200d}';

/// Calls `f` with each piece of `text` in order (no allocation); the pieces cover `text`.
pub fn for_each_piece(text: &str, mut f: impl FnMut(PieceKind, Range<usize>)) {
    let mut it = text.char_indices().peekable();
    while let Some((start, c)) = it.next() {
        let mut end = start + c.len_utf8();
        let kind = if is_han(c) {
            while let Some(&(b, d)) = it.peek() {
                if !is_han(d) {
                    break;
                }
                end = b + d.len_utf8();
                it.next();
            }
            PieceKind::Han
        } else if c.is_whitespace() {
            while let Some(&(b, d)) = it.peek() {
                if !d.is_whitespace() {
                    break;
                }
                end = b + d.len_utf8();
                it.next();
            }
            PieceKind::Atom
        } else if is_alnum(c) {
            let mut prev = c;
            while let Some(&(b, d)) = it.peek() {
                let take = if is_alnum(d) || (is_glue(d) && d != ZWJ) {
                    true
                } else if (d == '.' || d == '．') && is_digit(prev) {
                    text[b + d.len_utf8()..]
                        .chars()
                        .next()
                        .is_some_and(is_digit)
                } else {
                    (d == '%' || d == '％') && is_digit(prev)
                };
                if !take {
                    break;
                }
                end = b + d.len_utf8();
                prev = d;
                it.next();
            }
            PieceKind::Atom
        } else {
            if let Some(&(b, d)) = it.peek()
                && is_regional(c)
                && is_regional(d)
            {
                end = b + d.len_utf8();
                it.next();
            }
            while let Some(&(b, d)) = it.peek() {
                if !is_glue(d) {
                    break;
                }
                end = b + d.len_utf8();
                it.next();
                // A joiner takes the character after it too, unless that is whitespace or a
                // control character (they stay tokens of their own).
                if d == ZWJ
                    && let Some(&(b2, d2)) = it.peek()
                    && !d2.is_whitespace()
                    && !d2.is_control()
                {
                    end = b2 + d2.len_utf8();
                    it.next();
                }
            }
            PieceKind::Atom
        };
        f(kind, start..end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(s: &str) -> Vec<&str> {
        pieces(s).into_iter().map(|(_, r)| &s[r]).collect()
    }

    #[test]
    fn atoms_and_runs() {
        assert_eq!(
            split("我有3.14元和50%的iPhone12，  好👍🏽！"),
            [
                "我有", "3.14", "元和", "50%", "的", "iPhone12", "，", "  ", "好", "👍🏽", "！"
            ]
        );
        assert_eq!(split("👨\u{200d}👩\u{200d}👧"), ["👨\u{200d}👩\u{200d}👧"]);
        assert_eq!(split("🇨🇳🇺🇸"), ["🇨🇳", "🇺🇸"]);
        assert_eq!(split("1.2.3."), ["1.2.3", "."]);
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("\u{301}a\u{200d}"), ["\u{301}", "a", "\u{200d}"]);
        // Issue 20 item 13: a joiner before a space does not swallow the space.
        assert_eq!(split("👍\u{200d} 好"), ["👍\u{200d}", " ", "好"]);
        assert_eq!(split("，\u{200d}\n"), ["，\u{200d}", "\n"]);
    }
}
