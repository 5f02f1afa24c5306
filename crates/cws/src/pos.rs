//! Part-of-speech tags for tokens: the dictionary's tag column plus rules.
//!
//! Tags follow jieba's (ICTCLAS-style) tag set. For a token `w`, in order:
//!
//! | token                                                     | tag                          |
//! |-----------------------------------------------------------|------------------------------|
//! | whitespace                                                | `x`                          |
//! | digits, with `.` between digits and `%` after (`3.14`, `50%`, full-width too) | `m` |
//! | any other run of Latin letters and digits (`iPhone15`, `GDP`) | `eng`                    |
//! | a dictionary word with a tag                              | that tag                     |
//! | Han characters that are all numerals (`三十`, `两万`, `一百二十`) | `m`                    |
//! | any other Han word (fallback): the tag of its longest proper suffix that is a tagged dictionary word (Chinese compounds are head-final: `数据集` → `集`'s tag) | that tag |
//! | anything else (punctuation, symbols, emoji, an untagged word without such a suffix) | `x` |
//!
//! The fallback rule is jieba's behaviour for punctuation (`x`) and Latin (`eng`); jieba tags
//! unknown Han words with its HMM instead, which this crate does not have.

use crate::chunk::is_han;
use crate::dict::Dict;

/// Whether `c` is a Chinese numeral character.
fn is_han_numeral(c: char) -> bool {
    "〇零一二三四五六七八九十百千万亿两壹贰叁肆伍陆柒捌玖拾佰仟萬億".contains(c)
}

fn is_digitish(c: char) -> bool {
    c.is_ascii_digit() || ('０'..='９').contains(&c) || matches!(c, '.' | '．' | '%' | '％')
}

fn is_latin_or_digit(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || ('０'..='９').contains(&c)
        || ('Ａ'..='Ｚ').contains(&c)
        || ('ａ'..='ｚ').contains(&c)
}

/// The tag of `word` by the rules above, with `dict`'s tag column (none in neural mode).
pub fn tag<'d>(word: &str, dict: Option<&'d Dict>) -> &'d str {
    let Some(first) = word.chars().next() else {
        return "x";
    };
    if word.chars().all(char::is_whitespace) {
        return "x";
    }
    if first.is_ascii_digit() || ('０'..='９').contains(&first) {
        if word.chars().all(is_digitish) {
            return "m";
        }
        if word.chars().all(|c| is_latin_or_digit(c) || is_digitish(c)) {
            return "eng";
        }
    }
    if word.chars().all(is_latin_or_digit) {
        return "eng";
    }
    if let Some(t) = dict.and_then(|d| d.tag(word)) {
        return t;
    }
    if !word.chars().all(is_han) {
        return "x";
    }
    if word.chars().all(is_han_numeral) {
        return "m";
    }
    if let Some(d) = dict {
        for (b, _) in word.char_indices().skip(1) {
            if let Some(t) = d.tag(&word[b..]) {
                return t;
            }
        }
    }
    "x"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_fallbacks() {
        let d = Dict::parse("数据 10 n\n模型 5 n\n跑 3 v\n的 9 uj\n".as_bytes()).unwrap();
        let d = Some(&d);
        let cases = [
            ("数据", "n"),
            ("跑", "v"),
            ("3.14", "m"),
            ("50%", "m"),
            ("１２３", "m"),
            ("iPhone15", "eng"),
            ("5G", "eng"),
            ("，", "x"),
            ("  ", "x"),
            ("👍", "x"),
            ("三十", "m"),
            ("两万", "m"),
            ("大模型", "n"),
            ("深度数据模型", "n"),
            ("苏剑林", "x"),
        ];
        for (w, want) in cases {
            assert_eq!(tag(w, d), want, "{w}");
        }
        assert_eq!(tag("数据", None), "x");
        assert_eq!(tag("GDP", None), "eng");
    }
}
