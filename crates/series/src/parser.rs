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
    parse_with_params(src, &[])
}

/// [`parse`] with the given identifiers read as real parameters ([`Expr::Param`]).
///
/// # Errors
/// As [`parse`]; a parameter named like `n`, `e`, `pi` or a function is a syntax error.
pub fn parse_with_params(src: &str, params: &[&str]) -> Result<Expr> {
    for p in params {
        let ok = !p.is_empty()
            && p.chars().all(|c| c.is_alphanumeric() || c == '_')
            && p.chars().next().is_some_and(|c| c.is_alphabetic())
            && !matches!(*p, "n" | "e" | "pi")
            && Func::from_name(p).is_none();
        if !ok {
            return Err(Error::Syntax {
                column: 1,
                msg: format!(
                    "'{p}' cannot be a parameter name (use a letter other than n, e, pi or a function name)"
                ),
            });
        }
    }
    let tokens = lex(src)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
        params: params.iter().map(|s| s.to_string()).collect(),
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
    params: Vec<String>,
}

fn unexpected(t: &Token) -> Error {
    let msg = match &t.tok {
        Tok::Eof => "unexpected end of input".to_string(),
        Tok::Num(_) | Tok::Sci(..) | Tok::Ident(_) | Tok::LParen => {
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
            Tok::Sci(m, k) => (scientific(m, k), 3),
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
                        _ if self.params.contains(&name) => (Expr::Param(name), 1),
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
        // Operands of a running chain of `+ -` (class 1) or `* /` (class 3) at this level; long
        // flat chains (n + n + … + n) are built as balanced trees so that their depth is
        // logarithmic, not linear, in their length.
        let mut chain: Vec<(Tok, Expr, usize)> = Vec::new();
        let mut class = 0u8;
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
                    (lhs, depth) = flush(lhs, depth, &mut chain, class);
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
            if matches!(t.tok, Tok::Caret) {
                (lhs, depth) = flush(lhs, depth, &mut chain, class);
                depth = depth.max(d) + 1;
                lhs = Expr::Pow(Box::new(lhs), Box::new(rhs));
                continue;
            }
            if class != l_bp {
                (lhs, depth) = flush(lhs, depth, &mut chain, class);
                class = l_bp;
            }
            chain.push((t.tok, rhs, d));
        }
        (lhs, depth) = flush(lhs, depth, &mut chain, class);
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

/// Chains up to this length keep the usual left-nested shape (`n - 1 - 2` is `(n - 1) - 2`).
const LEFT_NESTED_CHAIN: usize = 32;

/// Builds `first op1 e1 op2 e2 …` (one precedence class) and empties `chain`. Short chains are
/// left-nested; longer ones become a balanced sum of terms (`a - b` as `a + (-b)`) or a
/// balanced product over a balanced product (`a / b / c` as `a / (b c)`).
fn flush(
    first: Expr,
    depth: usize,
    chain: &mut Vec<(Tok, Expr, usize)>,
    class: u8,
) -> (Expr, usize) {
    if chain.is_empty() {
        return (first, depth);
    }
    let items = std::mem::take(chain);
    if items.len() <= LEFT_NESTED_CHAIN {
        let (mut lhs, mut depth) = (first, depth);
        for (op, rhs, d) in items {
            depth = depth.max(d) + 1;
            let (l, r) = (Box::new(lhs), Box::new(rhs));
            lhs = match op {
                Tok::Plus => Expr::Add(l, r),
                Tok::Minus => Expr::Sub(l, r),
                Tok::Star => Expr::Mul(l, r),
                _ => Expr::Div(l, r),
            };
        }
        return (lhs, depth);
    }
    if class == 1 {
        let mut terms = vec![(first, depth)];
        for (op, rhs, d) in items {
            terms.push(if op == Tok::Minus {
                (Expr::Neg(Box::new(rhs)), d + 1)
            } else {
                (rhs, d)
            });
        }
        balanced(terms, &|a, b| Expr::Add(Box::new(a), Box::new(b)))
    } else {
        let mut num = vec![(first, depth)];
        let mut den = Vec::new();
        for (op, rhs, d) in items {
            if op == Tok::Slash {
                den.push((rhs, d));
            } else {
                num.push((rhs, d));
            }
        }
        let mul = |a, b| Expr::Mul(Box::new(a), Box::new(b));
        let (n, dn) = balanced(num, &mul);
        if den.is_empty() {
            return (n, dn);
        }
        let (d, dd) = balanced(den, &mul);
        (Expr::Div(Box::new(n), Box::new(d)), dn.max(dd) + 1)
    }
}

/// A balanced binary tree over non-empty `items` with the combining operation `op`.
fn balanced(mut items: Vec<(Expr, usize)>, op: &dyn Fn(Expr, Expr) -> Expr) -> (Expr, usize) {
    while items.len() > 1 {
        let mut next = Vec::with_capacity(items.len().div_ceil(2));
        let mut it = items.into_iter();
        while let Some((a, da)) = it.next() {
            match it.next() {
                Some((b, db)) => next.push((op(a, b), da.max(db) + 1)),
                None => next.push((a, da)),
            }
        }
        items = next;
    }
    items.pop().unwrap_or((Expr::Num(Rat::ZERO), 1))
}

/// m·10^k exactly: a rational literal when it fits in i128, else `m * 10^k`.
fn scientific(m: Rat, k: i64) -> Expr {
    let p = u32::try_from(k.unsigned_abs())
        .ok()
        .and_then(|e| 10i128.checked_pow(e));
    if let Some(p) = p {
        let (num, den) = if k >= 0 {
            (m.num().checked_mul(p), Some(m.den()))
        } else {
            (Some(m.num()), m.den().checked_mul(p))
        };
        if let (Some(a), Some(b)) = (num, den) {
            return Expr::Num(Rat::new(a, b));
        }
    }
    let ten = Expr::Pow(
        Box::new(Expr::Num(Rat::int(10))),
        Box::new(Expr::Num(Rat::int(k as i128))),
    );
    Expr::Mul(Box::new(Expr::Num(m)), Box::new(ten))
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
        // A long flat chain is balanced, not nested (issue 20 item 14).
        let flat = "n".to_string() + &"+n".repeat(100_000);
        assert_eq!(parse(&flat).unwrap().eval(1.0).unwrap(), 100_001.0);
        let nested = "n".to_string() + &"+(n".repeat(300) + &")".repeat(300);
        assert!(matches!(parse(&nested), Err(Error::Syntax { .. })));
        let ok = "1/n".to_string() + &"+1/n".repeat(60);
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn long_flat_chains_are_balanced() {
        // Issue 20 item 14: a flat sum of more than 200 terms used to be "nested too deeply".
        let sum = "1/n^2".to_string() + &"+1/n^2".repeat(999);
        let e = parse(&sum).unwrap();
        let v = e.eval(2.0).unwrap();
        assert!((v - 250.0).abs() < 1e-9, "{v}");
        let mixed = "n".to_string() + &"-1+2".repeat(300);
        assert_eq!(parse(&mixed).unwrap().eval(10.0).unwrap(), 310.0);
        let prod = "n".to_string() + &"*2/3".repeat(300);
        let v = parse(&prod).unwrap().eval(1.0).unwrap();
        assert!((v / (2.0f64 / 3.0).powi(300) - 1.0).abs() < 1e-9);
        // Short chains keep their usual shape.
        check("n - 1 - 2", "(- (- n 1) 2)");
        check("n / 2 * 3 ^ 2!", "(* (/ n 2) (^ 3 (! 2)))");
    }

    #[test]
    fn scientific_notation() {
        check("1e-3", "1/1000");
        check("2.5E+4*n", "(* 25000 n)");
        check("1e-50", "(* 1 (^ 10 -50))");
    }
}
