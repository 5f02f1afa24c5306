//! Pratt parser (binding powers in one `match`), after matklad's "Simple but Powerful Pratt
//! Parsing".
//!
//! | operator | binding power (left, right) |
//! |---|---|
//! | `+ -` | 1, 2 |
//! | `* /` | 3, 4 |
//! | unary `-` | prefix, 5 |
//! | `^` | 7, 6 (right-associative, binds tighter than unary minus: `-n^2 = -(n^2)`) |
//! | `!`, `!!` | postfix, 9 |
//!
//! There is no implicit multiplication: `2n` is an error pointing at `n`.

use crate::expr::{Expr, Func};
use crate::lexer::{Tok, Token, lex};
use crate::rat::Rat;
use crate::{Error, Result};

/// Deepest nesting accepted, so that hostile input cannot overflow the stack.
const MAX_DEPTH: usize = 200;

/// Parses `src` into an [`Expr`].
///
/// # Errors
/// [`Error::Syntax`] with the 1-based column of the offending token, or
/// [`Error::UnknownName`] for unknown functions and identifiers.
///
/// ```
/// let e = series::parse("1/(n*ln(n)^2)").unwrap();
/// assert_eq!(e.to_string(), "(/ 1 (* n (^ (ln n) 2)))");
/// let err = series::parse("ln(n) + )").unwrap_err();
/// assert_eq!(err.to_string(), "unexpected ')' at column 9");
/// ```
pub fn parse(src: &str) -> Result<Expr> {
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let (e, _) = p.expr(0)?;
    let t = p.peek();
    if t.tok != Tok::Eof {
        return Err(unexpected(t));
    }
    Ok(e)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

fn unexpected(t: &Token) -> Error {
    let msg = match &t.tok {
        Tok::Eof => "unexpected end of input".to_string(),
        Tok::Num(_) | Tok::Ident(_) | Tok::LParen => {
            format!(
                "unexpected {} (write '*' for multiplication)",
                t.tok.describe()
            )
        }
        other => format!("unexpected {}", other.describe()),
    };
    Error::Syntax {
        column: t.column,
        msg,
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.tokens.len() - 1 {
            self.pos += 1;
        }
        t
    }

    /// Parses at binding power `min_bp`; returns the tree and its depth. Depth is bounded while
    /// building, because every later stage (and `Drop`) recurses on the tree, and long flat
    /// chains (n+n+…+n) nest without parentheses.
    fn expr(&mut self, min_bp: u8) -> Result<(Expr, usize)> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let column = self.peek().column;
            return Err(Error::Syntax {
                column,
                msg: "expression nested too deeply".into(),
            });
        }
        let r = self.expr_inner(min_bp);
        self.depth -= 1;
        r
    }

    fn expr_inner(&mut self, min_bp: u8) -> Result<(Expr, usize)> {
        let t = self.next();
        let (mut lhs, mut depth) = match t.tok {
            Tok::Num(r) => (Expr::Num(r), 1),
            Tok::Minus => {
                let (e, d) = self.expr(5)?;
                (Expr::Neg(Box::new(e)), d + 1)
            }
            Tok::Plus => self.expr(5)?,
            Tok::LParen => {
                let e = self.expr(0)?;
                self.expect_rparen()?;
                e
            }
            Tok::Ident(name) => {
                if self.peek().tok == Tok::LParen {
                    let Some(f) = Func::from_name(&name) else {
                        return Err(Error::UnknownName {
                            kind: "function",
                            name,
                            column: t.column,
                        });
                    };
                    self.next();
                    let (arg, d) = self.expr(0)?;
                    self.expect_rparen()?;
                    (Expr::Call(f, Box::new(arg)), d + 1)
                } else {
                    match name.as_str() {
                        "n" => (Expr::N, 1),
                        "e" => (Expr::E, 1),
                        "pi" => (Expr::Pi, 1),
                        _ if Func::from_name(&name).is_some() => {
                            let msg = format!("function '{name}' needs an argument in parentheses");
                            return Err(Error::Syntax {
                                column: t.column,
                                msg,
                            });
                        }
                        _ => {
                            let kind = "identifier";
                            return Err(Error::UnknownName {
                                kind,
                                name,
                                column: t.column,
                            });
                        }
                    }
                }
            }
            _ => return Err(unexpected(&t)),
        };
        loop {
            if depth > MAX_DEPTH {
                let msg = format!("expression nested too deeply (more than {MAX_DEPTH} levels)");
                return Err(Error::Syntax {
                    column: self.peek().column,
                    msg,
                });
            }
            let t = self.peek().clone();
            let (l_bp, r_bp) = match t.tok {
                Tok::Bang | Tok::BangBang => {
                    if 9 < min_bp {
                        break;
                    }
                    self.next();
                    depth += 1;
                    lhs = if t.tok == Tok::Bang {
                        Expr::Fact(Box::new(lhs))
                    } else {
                        Expr::DFact(Box::new(lhs))
                    };
                    continue;
                }
                Tok::Plus | Tok::Minus => (1, 2),
                Tok::Star | Tok::Slash => (3, 4),
                Tok::Caret => (7, 6),
                Tok::RParen | Tok::Eof => break,
                _ => return Err(unexpected(&t)),
            };
            if l_bp < min_bp {
                break;
            }
            self.next();
            let (rhs, d) = self.expr(r_bp)?;
            depth = depth.max(d) + 1;
            let rhs = Box::new(rhs);
            let l = Box::new(lhs);
            lhs = match t.tok {
                Tok::Plus => Expr::Add(l, rhs),
                Tok::Minus => Expr::Sub(l, rhs),
                Tok::Star => Expr::Mul(l, rhs),
                Tok::Slash => Expr::Div(l, rhs),
                _ => Expr::Pow(l, rhs),
            };
        }
        if depth > MAX_DEPTH {
            let msg = format!("expression nested too deeply (more than {MAX_DEPTH} levels)");
            return Err(Error::Syntax {
                column: self.peek().column,
                msg,
            });
        }
        Ok((lhs, depth))
    }

    fn expect_rparen(&mut self) -> Result<()> {
        let t = self.next();
        if t.tok == Tok::RParen {
            Ok(())
        } else {
            let found = t.tok.describe();
            Err(Error::Syntax {
                column: t.column,
                msg: format!("expected ')', found {found}"),
            })
        }
    }
}

/// Convenience for tests: the rational `p/q` as an expression.
pub fn num(p: i128, q: i128) -> Expr {
    Expr::Num(Rat::new(p, q))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(src: &str, sexp: &str) {
        assert_eq!(parse(src).unwrap().to_string(), sexp, "{src}");
    }

    fn check_err(src: &str, msg: &str) {
        assert_eq!(parse(src).unwrap_err().to_string(), msg, "{src}");
    }

    #[test]
    fn precedence_and_associativity() {
        check("1 + 2 * n", "(+ 1 (* 2 n))");
        check("n - 1 - 2", "(- (- n 1) 2)");
        check("2^3^n", "(^ 2 (^ 3 n))");
        check("-n^2", "(- (^ n 2))");
        check("2^-n", "(^ 2 (- n))");
        check("(2*n)!/n!^2", "(/ (! (* 2 n)) (^ (! n) 2))");
        check("(2*n-1)!!", "(!! (- (* 2 n) 1))");
        check("log(n)**2", "(^ (ln n) 2)");
        check("1.5", "3/2");
    }

    #[test]
    fn errors_point_at_the_column() {
        check_err("(n + 1))", "unexpected ')' at column 8");
        check_err("1/(n^2", "expected ')', found end of input at column 7");
        check_err(
            "2n",
            "unexpected 'n' (write '*' for multiplication) at column 2",
        );
        check_err("foo(n)", "unknown function 'foo' at column 1");
        check_err("x + 1", "unknown identifier 'x' at column 1");
        check_err("", "unexpected end of input at column 1");
        check_err("n +", "unexpected end of input at column 4");
        check_err("n * * n", "unexpected '*' at column 5");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = "(".repeat(10_000) + "n" + &")".repeat(10_000);
        assert!(matches!(parse(&src), Err(Error::Syntax { .. })));
        let flat = "n".to_string() + &"+n".repeat(100_000);
        assert!(matches!(parse(&flat), Err(Error::Syntax { .. })));
        let ok = "1/n".to_string() + &"+1/n".repeat(60);
        assert!(parse(&ok).is_ok());
    }
}
