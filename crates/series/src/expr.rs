//! The expression tree over the variable `n`, its S-expression `Display`, an infix printer and a
//! plain `f64` evaluator (used only to check where a_n is defined and positive, never to decide).

use std::fmt;

use crate::rat::Rat;

/// A function of the input language.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// Natural logarithm (`ln`, `log`).
    Ln,
    /// `exp`.
    Exp,
    /// `sqrt`.
    Sqrt,
    /// `sin`.
    Sin,
    /// `cos`.
    Cos,
    /// `tan`.
    Tan,
    /// `arctan` (also `atan`).
    Arctan,
    /// `sinh`.
    Sinh,
    /// `cosh`.
    Cosh,
    /// `tanh`.
    Tanh,
    /// `abs`.
    Abs,
}

impl Func {
    /// Looks a function up by name.
    pub fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "ln" | "log" => Func::Ln,
            "exp" => Func::Exp,
            "sqrt" => Func::Sqrt,
            "sin" => Func::Sin,
            "cos" => Func::Cos,
            "tan" => Func::Tan,
            "arctan" | "atan" => Func::Arctan,
            "sinh" => Func::Sinh,
            "cosh" => Func::Cosh,
            "tanh" => Func::Tanh,
            "abs" => Func::Abs,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        match self {
            Func::Ln => "ln",
            Func::Exp => "exp",
            Func::Sqrt => "sqrt",
            Func::Sin => "sin",
            Func::Cos => "cos",
            Func::Tan => "tan",
            Func::Arctan => "arctan",
            Func::Sinh => "sinh",
            Func::Cosh => "cosh",
            Func::Tanh => "tanh",
            Func::Abs => "abs",
        }
    }
}

/// An expression in `n`.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An exact rational literal.
    Num(Rat),
    /// The summation variable `n`.
    N,
    /// e.
    E,
    /// π.
    Pi,
    /// `-a`.
    Neg(Box<Expr>),
    /// `a + b`.
    Add(Box<Expr>, Box<Expr>),
    /// `a - b`.
    Sub(Box<Expr>, Box<Expr>),
    /// `a * b`.
    Mul(Box<Expr>, Box<Expr>),
    /// `a / b`.
    Div(Box<Expr>, Box<Expr>),
    /// `a ^ b`.
    Pow(Box<Expr>, Box<Expr>),
    /// `a!`.
    Fact(Box<Expr>),
    /// `a!!`.
    DFact(Box<Expr>),
    /// `f(a)`.
    Call(Func, Box<Expr>),
    /// A real parameter (see [`crate::param`]).
    Param(String),
}

/// Why a numeric evaluation gave no value.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalIssue {
    /// Outside the domain: the reason.
    Undefined(String),
    /// Too large or too small for `f64`: no information.
    Overflow,
}

impl Expr {
    /// Whether `n` occurs.
    pub fn has_n(&self) -> bool {
        self.any(&|e| matches!(e, Expr::N))
    }

    /// Whether a factorial or double factorial occurs.
    pub fn has_factorial(&self) -> bool {
        self.any(&|e| matches!(e, Expr::Fact(_) | Expr::DFact(_)))
    }

    /// Whether some power has an exponent depending on `n`.
    pub fn has_variable_exponent(&self) -> bool {
        self.any(&|e| match e {
            Expr::Pow(_, b) => b.has_n(),
            Expr::Call(Func::Exp, a) => a.has_n(),
            _ => false,
        })
    }

    /// Whether `pred` holds for some node.
    pub fn any(&self, pred: &dyn Fn(&Expr) -> bool) -> bool {
        if pred(self) {
            return true;
        }
        match self {
            Expr::Num(_) | Expr::N | Expr::E | Expr::Pi | Expr::Param(_) => false,
            Expr::Neg(a) | Expr::Fact(a) | Expr::DFact(a) | Expr::Call(_, a) => a.any(pred),
            Expr::Add(a, b)
            | Expr::Sub(a, b)
            | Expr::Mul(a, b)
            | Expr::Div(a, b)
            | Expr::Pow(a, b) => a.any(pred) || b.any(pred),
        }
    }

    /// Replaces `n` by `by`.
    pub fn subst_n(&self, by: &Expr) -> Expr {
        let s = |a: &Expr| Box::new(a.subst_n(by));
        match self {
            Expr::N => by.clone(),
            Expr::Num(_) | Expr::E | Expr::Pi | Expr::Param(_) => self.clone(),
            Expr::Neg(a) => Expr::Neg(s(a)),
            Expr::Fact(a) => Expr::Fact(s(a)),
            Expr::DFact(a) => Expr::DFact(s(a)),
            Expr::Call(f, a) => Expr::Call(*f, s(a)),
            Expr::Add(a, b) => Expr::Add(s(a), s(b)),
            Expr::Sub(a, b) => Expr::Sub(s(a), s(b)),
            Expr::Mul(a, b) => Expr::Mul(s(a), s(b)),
            Expr::Div(a, b) => Expr::Div(s(a), s(b)),
            Expr::Pow(a, b) => Expr::Pow(s(a), s(b)),
        }
    }

    /// `n + 1` substituted for `n`.
    pub fn shifted(&self) -> Expr {
        self.subst_n(&Expr::Add(Box::new(Expr::N), Box::new(Expr::Num(Rat::ONE))))
    }

    /// Evaluates at `n` in `f64`; domain violations are reported, overflow is not an error.
    pub fn eval(&self, n: f64) -> Result<f64, EvalIssue> {
        let v = self.eval_raw(n)?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(EvalIssue::Overflow)
        }
    }

    fn eval_raw(&self, n: f64) -> Result<f64, EvalIssue> {
        let undef = |s: &str| Err(EvalIssue::Undefined(s.to_string()));
        Ok(match self {
            Expr::Num(r) => r.to_f64(),
            Expr::N => n,
            Expr::E => std::f64::consts::E,
            Expr::Pi => std::f64::consts::PI,
            Expr::Param(_) => return Err(EvalIssue::Overflow),
            Expr::Neg(a) => -a.eval_raw(n)?,
            Expr::Add(a, b) => a.eval_raw(n)? + b.eval_raw(n)?,
            Expr::Sub(a, b) => a.eval_raw(n)? - b.eval_raw(n)?,
            Expr::Mul(a, b) => a.eval_raw(n)? * b.eval_raw(n)?,
            Expr::Div(a, b) => {
                let d = b.eval_raw(n)?;
                if d == 0.0 {
                    return undef("division by zero");
                }
                a.eval_raw(n)? / d
            }
            Expr::Pow(a, b) => {
                let x = a.eval_raw(n)?;
                let y = b.eval_raw(n)?;
                if x == 0.0 && y < 0.0 {
                    return undef("zero to a negative power");
                }
                if x < 0.0 && y.fract() != 0.0 {
                    return undef("negative base to a non-integer power");
                }
                x.powf(y)
            }
            Expr::Fact(a) => {
                let x = a.eval_raw(n)?;
                if x == f64::INFINITY {
                    // An overflowed argument (e.g. (n!)! at n = 200): the value overflows too.
                    return Ok(f64::INFINITY);
                }
                if x < 0.0 || x.fract() != 0.0 {
                    return undef("factorial of a negative or non-integer number");
                }
                if x > 200.0 {
                    f64::INFINITY
                } else {
                    (1..=x as u64).map(|k| k as f64).product()
                }
            }
            Expr::DFact(a) => {
                let x = a.eval_raw(n)?;
                if x == f64::INFINITY {
                    return Ok(f64::INFINITY);
                }
                if x < -1.0 || x.fract() != 0.0 {
                    return undef("double factorial of a negative or non-integer number");
                }
                if x > 400.0 {
                    f64::INFINITY
                } else {
                    let m = x as i64;
                    (1..=m.max(0))
                        .filter(|k| k % 2 == m % 2)
                        .map(|k| k as f64)
                        .product()
                }
            }
            Expr::Call(f, a) => {
                let x = a.eval_raw(n)?;
                match f {
                    Func::Ln => {
                        if x <= 0.0 {
                            return undef("ln of a non-positive number");
                        }
                        x.ln()
                    }
                    Func::Sqrt => {
                        if x < 0.0 {
                            return undef("sqrt of a negative number");
                        }
                        x.sqrt()
                    }
                    Func::Exp => x.exp(),
                    Func::Sin => x.sin(),
                    Func::Cos => x.cos(),
                    Func::Tan => {
                        if x.cos() == 0.0 {
                            return undef("tan at a pole");
                        }
                        x.tan()
                    }
                    Func::Arctan => x.atan(),
                    Func::Sinh => x.sinh(),
                    Func::Cosh => x.cosh(),
                    Func::Tanh => x.tanh(),
                    Func::Abs => x.abs(),
                }
            }
        })
    }

    /// Conventional infix rendering (fully parenthesised where precedence needs it).
    pub fn infix(&self) -> String {
        self.infix_prec(0)
    }

    fn infix_prec(&self, ctx: u8) -> String {
        let (s, p) = match self {
            Expr::Num(r) => {
                let s = r.to_string();
                let p = if r.is_integer() && r.sign() != std::cmp::Ordering::Less {
                    9
                } else {
                    2
                };
                (s, p)
            }
            Expr::N => ("n".into(), 9),
            Expr::E => ("e".into(), 9),
            Expr::Pi => ("pi".into(), 9),
            Expr::Param(p) => (p.clone(), 9),
            Expr::Neg(a) => (format!("-{}", a.infix_prec(3)), 3),
            Expr::Add(a, b) => (format!("{} + {}", a.infix_prec(1), b.infix_prec(2)), 1),
            Expr::Sub(a, b) => (format!("{} - {}", a.infix_prec(1), b.infix_prec(2)), 1),
            Expr::Mul(a, b) => (format!("{}*{}", a.infix_prec(2), b.infix_prec(3)), 2),
            Expr::Div(a, b) => (format!("{}/{}", a.infix_prec(2), b.infix_prec(3)), 2),
            Expr::Pow(a, b) => (format!("{}^{}", a.infix_prec(5), b.infix_prec(4)), 4),
            Expr::Fact(a) => (format!("{}!", a.infix_prec(6)), 6),
            Expr::DFact(a) => (format!("{}!!", a.infix_prec(6)), 6),
            Expr::Call(f, a) => (format!("{}({})", f.name(), a.infix_prec(0)), 9),
        };
        if p < ctx { format!("({s})") } else { s }
    }
}

impl fmt::Display for Expr {
    /// S-expression form, e.g. `(/ 1 (^ n 2))`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(r) => write!(f, "{r}"),
            Expr::N => write!(f, "n"),
            Expr::E => write!(f, "e"),
            Expr::Pi => write!(f, "pi"),
            Expr::Param(p) => write!(f, "{p}"),
            Expr::Neg(a) => write!(f, "(- {a})"),
            Expr::Add(a, b) => write!(f, "(+ {a} {b})"),
            Expr::Sub(a, b) => write!(f, "(- {a} {b})"),
            Expr::Mul(a, b) => write!(f, "(* {a} {b})"),
            Expr::Div(a, b) => write!(f, "(/ {a} {b})"),
            Expr::Pow(a, b) => write!(f, "(^ {a} {b})"),
            Expr::Fact(a) => write!(f, "(! {a})"),
            Expr::DFact(a) => write!(f, "(!! {a})"),
            Expr::Call(func, a) => write!(f, "({} {a})", func.name()),
        }
    }
}
