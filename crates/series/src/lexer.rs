//! Tokens of the input language, each with its 1-based character column.

use crate::rat::Rat;
use crate::{Error, Result};

/// A token kind.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A number literal, exact (`1.25` is 5/4).
    Num(Rat),
    /// A number in scientific notation, mantissa · 10^exponent (`1e-3`, `2.5E4`), exact.
    Sci(Rat, i64),
    /// An identifier (`n`, `ln`, `pi`, …).
    Ident(String),
    /// `+`.
    Plus,
    /// `-`.
    Minus,
    /// `*`.
    Star,
    /// `/`.
    Slash,
    /// `^` (also `**`).
    Caret,
    /// `!`.
    Bang,
    /// `!!`.
    BangBang,
    /// `(`.
    LParen,
    /// `)`.
    RParen,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match self {
            Tok::Num(r) => format!("number {r}"),
            Tok::Sci(r, k) => format!("number {r}e{k}"),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::Plus => "'+'".into(),
            Tok::Minus => "'-'".into(),
            Tok::Star => "'*'".into(),
            Tok::Slash => "'/'".into(),
            Tok::Caret => "'^'".into(),
            Tok::Bang => "'!'".into(),
            Tok::BangBang => "'!!'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Eof => "end of input".into(),
        }
    }
}

/// A token with its 1-based character column.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The kind.
    pub tok: Tok,
    /// 1-based character column of its first character.
    pub column: usize,
}

/// Splits `src` into tokens, ending with [`Tok::Eof`].
///
/// # Errors
/// [`Error::Syntax`] for a character outside the language or a malformed number.
pub fn lex(src: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let column = i + 1;
        let single = match c {
            '+' => Some(Tok::Plus),
            '-' => Some(Tok::Minus),
            '/' => Some(Tok::Slash),
            '^' => Some(Tok::Caret),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            _ => None,
        };
        if let Some(tok) = single {
            out.push(Token { tok, column });
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '*' {
            if chars.get(i + 1) == Some(&'*') {
                out.push(Token {
                    tok: Tok::Caret,
                    column,
                });
                i += 2;
            } else {
                out.push(Token {
                    tok: Tok::Star,
                    column,
                });
                i += 1;
            }
        } else if c == '!' {
            if chars.get(i + 1) == Some(&'!') {
                out.push(Token {
                    tok: Tok::BangBang,
                    column,
                });
                i += 2;
            } else {
                out.push(Token {
                    tok: Tok::Bang,
                    column,
                });
                i += 1;
            }
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            let mantissa = parse_number(&text, column)?;
            // Scientific notation: 1e-3, 2.5E+4 (an 'e' not followed by a digit is the constant).
            let sign_len = match chars.get(i + 1) {
                Some('+') | Some('-') => 1,
                _ => 0,
            };
            let is_exp = matches!(chars.get(i), Some('e') | Some('E'))
                && chars
                    .get(i + 1 + sign_len)
                    .is_some_and(|c| c.is_ascii_digit());
            if is_exp {
                let negative = chars.get(i + 1) == Some(&'-');
                let mut j = i + 1 + sign_len;
                let estart = j;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let digits: String = chars[estart..j].iter().collect();
                let exp: i64 = match digits.parse::<i64>() {
                    Ok(k) if k <= 100_000 => k,
                    _ => {
                        return Err(Error::Syntax {
                            column,
                            msg: format!("exponent of '{text}e{digits}' is too large"),
                        });
                    }
                };
                i = j;
                out.push(Token {
                    tok: Tok::Sci(mantissa, if negative { -exp } else { exp }),
                    column,
                });
            } else {
                out.push(Token {
                    tok: Tok::Num(mantissa),
                    column,
                });
            }
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(chars[start..i].iter().collect()),
                column,
            });
        } else {
            return Err(Error::Syntax {
                column,
                msg: format!("unexpected character '{c}'"),
            });
        }
    }
    out.push(Token {
        tok: Tok::Eof,
        column: chars.len() + 1,
    });
    Ok(out)
}

/// Parses a decimal literal exactly.
fn parse_number(text: &str, column: usize) -> Result<Rat> {
    let bad = || Error::Syntax {
        column,
        msg: format!("malformed number '{text}'"),
    };
    let (int, frac) = match text.split_once('.') {
        Some((a, b)) => (a, b),
        None => (text, ""),
    };
    if frac.contains('.') || (int.is_empty() && frac.is_empty()) {
        return Err(bad());
    }
    let digits = format!("{int}{frac}");
    if digits.len() > 30 {
        return Err(Error::Syntax {
            column,
            msg: format!("number '{text}' has too many digits"),
        });
    }
    let num: i128 = digits.parse().map_err(|_| bad())?;
    let den = 10i128.pow(frac.len() as u32);
    Ok(Rat::new(num, den))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_are_exact() {
        let toks = lex("1.0000001").unwrap();
        assert_eq!(toks[0].tok, Tok::Num(Rat::new(10_000_001, 10_000_000)));
    }

    #[test]
    fn columns_count_characters() {
        let toks = lex("ln(n) ** 2!!").unwrap();
        let cols: Vec<usize> = toks.iter().map(|t| t.column).collect();
        assert_eq!(cols, vec![1, 3, 4, 5, 7, 10, 11, 13]);
        assert_eq!(toks[4].tok, Tok::Caret);
        assert_eq!(toks[6].tok, Tok::BangBang);
    }

    #[test]
    fn scientific_notation_is_exact() {
        let toks = lex("1e-3 + 2.5E+4 * e").unwrap();
        assert_eq!(toks[0].tok, Tok::Sci(Rat::ONE, -3));
        assert_eq!(toks[2].tok, Tok::Sci(Rat::new(5, 2), 4));
        assert_eq!(toks[4].tok, Tok::Ident("e".into()));
        // An 'e' not followed by a digit is not an exponent.
        let toks = lex("2e").unwrap();
        assert_eq!(toks[1].tok, Tok::Ident("e".into()));
    }

    #[test]
    fn stray_character_is_located() {
        let err = lex("n + #").unwrap_err();
        assert_eq!(err.to_string(), "unexpected character '#' at column 5");
    }
}
