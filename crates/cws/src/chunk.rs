//! Pre-splitting a line into Han runs (segmented by a model or the dictionary) and atoms.
//!
//! Atoms are never split further and never changed:
//! - a run of ASCII or full-width Latin letters and digits, with `.` between digits and `%`
//!   after a digit (`3.14`, `50%`, `iPhone12`);
//! - a run of whitespace;
//! - any other character (punctuation, emoji, control characters, kana, …) together with the
//!   characters that glue to it: combining marks, variation selectors, emoji modifiers and tags,
//!   a zero-width joiner and the character after it, the second regional indicator of a flag.
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
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let end_of = |i: usize| chars.get(i).map_or(text.len(), |&(b, _)| b);
    let n = chars.len();
    let mut i = 0;
    while i < n {
        let (start, c) = chars[i];
        let mut j = i + 1;
        let kind = if is_han(c) {
            while j < n && is_han(chars[j].1) {
                j += 1;
            }
            PieceKind::Han
        } else if c.is_whitespace() {
            while j < n && chars[j].1.is_whitespace() {
                j += 1;
            }
            PieceKind::Atom
        } else if is_alnum(c) {
            while j < n {
                let d = chars[j].1;
                let prev_digit = is_digit(chars[j - 1].1);
                let next_digit = chars.get(j + 1).is_some_and(|&(_, x)| is_digit(x));
                if is_alnum(d)
                    || is_glue(d) && d != '\u{200d}'
                    || (d == '.' || d == '．') && prev_digit && next_digit
                    || (d == '%' || d == '％') && prev_digit
                {
                    j += 1;
                } else {
                    break;
                }
            }
            PieceKind::Atom
        } else {
            if is_regional(c) && j < n && is_regional(chars[j].1) {
                j += 1;
            }
            while j < n && is_glue(chars[j].1) {
                // A joiner takes the character after it too.
                if chars[j].1 == '\u{200d}' && j + 1 < n {
                    j += 1;
                }
                j += 1;
            }
            PieceKind::Atom
        };
        out.push((kind, start..end_of(j)));
        i = j;
    }
    out
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
    }
}
