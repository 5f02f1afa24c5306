//! The decider: tests as values, tried in order, on the expansion of a_n.
//!
//! Notation (spec §3): ℓ = −ln a_n; ln_1 = ln, ln_{k+1} = ln ∘ ln_k;
//! L_k = lim (ℓ − Σ_{j≤k} ln_j n) / ln_{k+1} n. At the first k with L_k ≠ 1, L_k > 1 (or +∞)
//! means convergence and L_k < 1 (or −∞) divergence, by plain comparison with
//! Σ 1/(n ln n ⋯ ln_{k−1} n (ln_k n)^q) for q strictly between 1 and L_k.
//!
//! With a_n ~ c·exp(Σ c_i t_i), ℓ = −Σ c_i t_i − ln c + o(1) is known exactly up to o(1), so
//! every L_k is read off the exponent: with K the deepest level in ℓ, the leading entry of
//! D = ℓ − Σ_{j≤K} ln_j n decides (its level and sign), and D = O(1) means a_n is
//! asymptotic to a multiple of the divergent boundary series 1/(n ln n ⋯ ln_{K−1} n).
//!
//! Every step uses exact rationals and certified constant signs; no floating-point number
//! enters a decision.

use std::cell::OnceCell;
use std::cmp::Ordering;
use std::fmt;

use crate::Result;
use crate::asymptotic::{Series, expand_until};
use crate::constant::Const;
use crate::expr::Expr;
use crate::rat::Rat;
use crate::scale::{LogMono, Mono, level_name};

/// The answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Σ a_n converges.
    Converges,
    /// Σ a_n diverges.
    Diverges,
    /// Not decided; the justification says why.
    Unknown,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Converges => "converges",
            Verdict::Diverges => "diverges",
            Verdict::Unknown => "unknown",
        })
    }
}

/// A decision by one test.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    /// Converges or diverges.
    pub verdict: Verdict,
    /// The deciding test, e.g. "Bertrand test".
    pub test: String,
    /// Checkable steps, in order.
    pub steps: Vec<String>,
}

/// Limit of a log-scale ratio L_k.
#[derive(Clone, Debug, PartialEq)]
pub enum Limit {
    /// A finite value.
    Finite(Const),
    /// +∞.
    PlusInf,
    /// −∞.
    MinusInf,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::Finite(c) => write!(f, "{c}"),
            Limit::PlusInf => write!(f, "+infinity"),
            Limit::MinusInf => write!(f, "-infinity"),
        }
    }
}

/// Where the log-scale test decides.
#[derive(Clone, Debug, PartialEq)]
pub enum Level {
    /// L_0 = … = L_{k−1} = 1 and L_k is the limit.
    At {
        /// The level.
        k: usize,
        /// L_k.
        limit: Limit,
    },
    /// a_n ~ c/(n ln n ⋯ ln_k n): the divergent boundary series of level k.
    Boundary {
        /// The level.
        k: usize,
    },
}

impl Level {
    fn k(&self) -> usize {
        match self {
            Level::At { k, .. } | Level::Boundary { k } => *k,
        }
    }
}

/// What the tests see.
pub struct Facts<'a> {
    /// The (reduced) term a_n.
    pub expr: &'a Expr,
    /// Leading coefficient of a_n (certified positive).
    pub c0: Const,
    /// Leading monomial of a_n.
    pub m0: Mono,
    /// ℓ = −ln m0 as a monomial exponent map (exp(ℓ) = 1/m0).
    pub ell: Mono,
    /// Where the log-scale test decides.
    pub level: Level,
    /// Whether a factorial occurs (ratio-type tests are then preferred).
    pub has_factorial: bool,
    raabe: OnceCell<Option<RaabeData>>,
}

#[derive(Clone, Debug)]
struct RaabeData {
    /// R = lim n(a_n/a_{n+1} − 1).
    limit: Limit,
    /// Whether a_n/a_{n+1} = 1 + λ/n + O(n^{−1−ε}).
    gauss_form: bool,
}

fn n_pow(r: Rat) -> Mono {
    Mono::exp_of(LogMono::unit(1), Const::rat(r))
}

/// Computes the level of the log-scale test from ℓ.
pub fn level_of(ell: &Mono) -> Result<Level> {
    let depth = ell
        .entries()
        .iter()
        .filter_map(|(t, _)| t.depth())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut d = ell.clone();
    for j in 1..=depth {
        d = d.mul(&Mono::exp_of(LogMono::unit(j), Const::rat(Rat::int(-1))));
    }
    let Some((t, c)) = d.entries().first() else {
        return Ok(Level::Boundary { k: depth - 1 });
    };
    let inf = |s: Ordering| {
        if s == Ordering::Greater {
            Limit::PlusInf
        } else {
            Limit::MinusInf
        }
    };
    let s = c.sign()?;
    let j = t.first_slot().unwrap_or(0);
    if j == 0 {
        return Ok(Level::At {
            k: 0,
            limit: inf(s),
        });
    }
    Ok(match t.cmp(&LogMono::unit(j)) {
        Ordering::Equal => Level::At {
            k: j - 1,
            limit: Limit::Finite(Const::one().add(c)),
        },
        Ordering::Greater => Level::At {
            k: j - 1,
            limit: inf(s),
        },
        Ordering::Less => Level::At {
            k: j,
            limit: inf(s),
        },
    })
}

/// Σ 1/(n ln n ⋯ ln_{k−1} n (ln_k n)^q).
fn ladder(k: usize, q: &str) -> String {
    if k == 0 {
        return format!("sum 1/n^{q}");
    }
    let mut parts = vec!["n".to_string()];
    for j in 1..k {
        parts.push(level_name(j));
    }
    let last = level_name(k);
    let last = if q == "1" {
        last
    } else {
        format!("({last})^{q}")
    };
    parts.push(last);
    format!("sum 1/({})", parts.join(" "))
}

fn limit_verdict(l: &Limit) -> Result<Verdict> {
    Ok(match l {
        Limit::PlusInf => Verdict::Converges,
        Limit::MinusInf => Verdict::Diverges,
        Limit::Finite(v) => match v.cmp_const(&Const::one())? {
            Ordering::Greater => Verdict::Converges,
            _ => Verdict::Diverges,
        },
    })
}

/// The comparison exponent q strictly between 1 and L.
fn q_between(l: &Limit) -> String {
    match l {
        Limit::PlusInf => "2".into(),
        Limit::MinusInf => "1".into(),
        Limit::Finite(v) => match v.as_rat() {
            Some(r) => ((r + Rat::ONE) * Rat::new(1, 2)).to_string(),
            None => format!("q (any q strictly between 1 and {v})"),
        },
    }
}

fn ell_lead(f: &Facts) -> Option<(LogMono, Const)> {
    f.ell.entries().first().cloned()
}

fn geometric(f: &Facts) -> bool {
    ell_lead(f).is_some_and(|(t, _)| t.cmp(&LogMono::unit(0)) != Ordering::Less)
}

fn level_statement(level: &Level) -> String {
    match level {
        Level::At { k, limit } => {
            let ones: Vec<String> = (0..*k).map(|j| format!("L_{j} = 1")).collect();
            let prefix = if ones.is_empty() {
                String::new()
            } else {
                format!("{}, ", ones.join(", "))
            };
            format!("{prefix}L_{k} = {limit}")
        }
        Level::Boundary { k } => {
            let ones: Vec<String> = (0..=*k).map(|j| format!("L_{j} = 1")).collect();
            format!(
                "{} and a_n is asymptotic to a constant multiple of the boundary series",
                ones.join(", ")
            )
        }
    }
}

fn boundary_term(k: usize) -> String {
    if k == 0 {
        return "1/n".into();
    }
    let logs: String = (1..=k).map(|j| format!(" {}", level_name(j))).collect();
    format!("1/(n{logs})")
}

fn log_scale_decision(f: &Facts, test: &str) -> Result<Decision> {
    let mut steps = Vec::new();
    let k = f.level.k();
    let def = if k == 0 {
        "L_0 = lim -ln(a_n)/ln(n)".to_string()
    } else {
        "L_k = lim (-ln(a_n) - ln n - ... - ln_k n)/ln_(k+1) n".to_string()
    };
    steps.push(format!("{def}: {}", level_statement(&f.level)));
    let verdict = match &f.level {
        Level::Boundary { k } => {
            steps.push(format!(
                "a_n / ({}) -> {} in (0, inf), and sum {} diverges (integral: {} -> inf), so by limit comparison the series diverges",
                boundary_term(*k),
                f.c0,
                boundary_term(*k),
                level_name(k + 1)
            ));
            Verdict::Diverges
        }
        Level::At { k, limit } => {
            let v = limit_verdict(limit)?;
            let q = q_between(limit);
            if v == Verdict::Converges {
                steps.push(format!(
                    "so eventually a_n <= the terms of {} with q = {q} > 1, which converges",
                    ladder(*k, "q")
                ));
            } else {
                steps.push(format!(
                    "so eventually a_n >= the terms of {} with q = {q} <= 1, which diverges",
                    ladder(*k, "q")
                ));
            }
            if v == Verdict::Converges && *k >= 1 {
                steps.push(
                    "no bound a_n <= A/n^p with p > 1 holds: n^p a_n -> inf for every p > 1, so the p-series scale alone cannot decide (the note's conjecture fails here)".into(),
                );
            }
            v
        }
    };
    Ok(Decision {
        verdict,
        test: test.into(),
        steps,
    })
}

fn term_test(f: &Facts) -> Result<Option<Decision>> {
    let t = f.m0.tendency()?;
    if t == Ordering::Less {
        return Ok(None);
    }
    let lim = if t == Ordering::Greater {
        "+infinity".to_string()
    } else {
        f.c0.to_string()
    };
    Ok(Some(Decision {
        verdict: Verdict::Diverges,
        test: "term test".into(),
        steps: vec![format!(
            "a_n -> {lim} != 0, so the terms do not tend to zero"
        )],
    }))
}

fn p_series(f: &Facts) -> Result<Option<Decision>> {
    if f.has_factorial || geometric(f) || f.level.k() != 0 {
        return Ok(None);
    }
    log_scale_decision(f, "p-series").map(Some)
}

fn root_test(f: &Facts) -> Result<Option<Decision>> {
    if !geometric(f) {
        return Ok(None);
    }
    let Some((t, c)) = ell_lead(f) else {
        return Ok(None);
    };
    let s = c.sign()?;
    let (lim, verdict) = if t == LogMono::unit(0) {
        let r = c.neg().exp()?;
        let v = if s == Ordering::Greater {
            Verdict::Converges
        } else {
            Verdict::Diverges
        };
        (r.to_string(), v)
    } else if s == Ordering::Greater {
        ("0".to_string(), Verdict::Converges)
    } else {
        ("+infinity".to_string(), Verdict::Diverges)
    };
    let cmp = if verdict == Verdict::Converges {
        "< 1"
    } else {
        "> 1"
    };
    let via = if f.has_factorial {
        " (from Stirling's formula)"
    } else {
        ""
    };
    Ok(Some(Decision {
        verdict,
        test: "root test".into(),
        steps: vec![format!(
            "-ln(a_n) = {} {} + o({}), so a_n^(1/n) -> {lim} {cmp}{via}",
            c, t, t
        )],
    }))
}

impl Facts<'_> {
    /// lim a_{n+1}/a_n from the expansion of the quotient, when a factorial is present.
    fn raabe_like_ratio(&self) -> Option<(Const, Mono)> {
        let q = Expr::Div(Box::new(self.expr.shifted()), Box::new(self.expr.clone()));
        let s = expand_until(&q, |s| !s.terms.is_empty()).ok()?;
        let t = s.terms.first()?;
        Some((t.c.clone(), t.m.clone()))
    }

    fn raabe(&self) -> Option<RaabeData> {
        self.raabe
            .get_or_init(|| self.compute_raabe().ok().flatten())
            .clone()
    }

    fn compute_raabe(&self) -> Result<Option<RaabeData>> {
        let inv_n = n_pow(Rat::int(-1));
        let q = Expr::Div(Box::new(self.expr.clone()), Box::new(self.expr.shifted()));
        let s: Series = expand_until(&q, |s| match &s.err {
            None => true,
            Some(e) => e.cmp_growth(&inv_n).is_ok_and(|o| o == Ordering::Less),
        })?;
        let Some(first) = s.terms.first() else {
            return Ok(None);
        };
        if !first.m.is_one() || first.c != Const::one() {
            return Ok(None);
        }
        let second = s.terms.get(1);
        let (limit, rest) = match second {
            Some(t) => match t.m.cmp_growth(&inv_n)? {
                Ordering::Greater => {
                    let l = if t.c.sign()? == Ordering::Greater {
                        Limit::PlusInf
                    } else {
                        Limit::MinusInf
                    };
                    (l, None)
                }
                Ordering::Equal => (
                    Limit::Finite(t.c.clone()),
                    s.terms
                        .get(2)
                        .map(|t| t.m.clone())
                        .or_else(|| s.err.clone()),
                ),
                Ordering::Less => (Limit::Finite(Const::zero()), Some(t.m.clone())),
            },
            None => (Limit::Finite(Const::zero()), s.err.clone()),
        };
        // Gauss form: the remainder after λ/n is O(n^(-1-ε)).
        let gauss_form = match &rest {
            None => true,
            Some(m) => {
                let rel = m.mul(&n_pow(Rat::ONE));
                match rel.entries().first() {
                    None => false,
                    Some((t, c)) => {
                        t.cmp(&LogMono::unit(1)) != Ordering::Less && c.sign()? == Ordering::Less
                    }
                }
            }
        };
        Ok(Some(RaabeData { limit, gauss_form }))
    }
}

fn ratio_test(f: &Facts) -> Result<Option<Decision>> {
    if !f.has_factorial || !geometric(f) {
        return Ok(None);
    }
    let Some((c, m)) = f.raabe_like_ratio() else {
        return Ok(None);
    };
    let (lim, verdict) = match m.tendency()? {
        Ordering::Less => ("0".to_string(), Verdict::Converges),
        Ordering::Greater => ("+infinity".to_string(), Verdict::Diverges),
        Ordering::Equal => match c.cmp_const(&Const::one())? {
            Ordering::Less => (c.to_string(), Verdict::Converges),
            Ordering::Greater => (c.to_string(), Verdict::Diverges),
            Ordering::Equal => return Ok(None),
        },
    };
    let cmp = if verdict == Verdict::Converges {
        "< 1"
    } else {
        "> 1"
    };
    Ok(Some(Decision {
        verdict,
        test: "ratio test".into(),
        steps: vec![format!(
            "a_(n+1)/a_n -> {lim} {cmp} (expansion of the quotient)"
        )],
    }))
}

fn raabe_test(f: &Facts) -> Result<Option<Decision>> {
    if !f.has_factorial || geometric(f) || f.level.k() != 0 {
        return Ok(None);
    }
    let Some(r) = f.raabe() else { return Ok(None) };
    let verdict = match &r.limit {
        Limit::Finite(l) if l.cmp_const(&Const::one())? == Ordering::Equal => return Ok(None),
        other => limit_verdict(other)?,
    };
    let cmp = if verdict == Verdict::Converges {
        "> 1"
    } else {
        "< 1"
    };
    Ok(Some(Decision {
        verdict,
        test: "Raabe test".into(),
        steps: vec![format!(
            "R_n = n(a_n/a_(n+1) - 1) -> {} {cmp} (expansion of a_n/a_(n+1) = 1 + R/n + o(1/n))",
            r.limit
        )],
    }))
}

fn gauss_test(f: &Facts) -> Result<Option<Decision>> {
    if !f.has_factorial || geometric(f) || f.level.k() > 1 {
        return Ok(None);
    }
    let Some(r) = f.raabe() else { return Ok(None) };
    let Limit::Finite(l) = &r.limit else {
        return Ok(None);
    };
    if l.cmp_const(&Const::one())? != Ordering::Equal || !r.gauss_form {
        return Ok(None);
    }
    Ok(Some(Decision {
        verdict: Verdict::Diverges,
        test: "Gauss test".into(),
        steps: vec![
            "a_n/a_(n+1) = 1 + 1/n + O(n^(-1-eps)) with eps > 0 (Raabe gives exactly 1: no verdict)".into(),
            "Gauss: lambda = 1 means divergence".into(),
        ],
    }))
}

fn bertrand_test(f: &Facts) -> Result<Option<Decision>> {
    if geometric(f) || f.level.k() != 1 {
        return Ok(None);
    }
    log_scale_decision(f, "Bertrand test").map(Some)
}

fn log_scale_test(f: &Facts) -> Result<Option<Decision>> {
    let k = f.level.k();
    if geometric(f) || k < 2 {
        return Ok(None);
    }
    log_scale_decision(f, &format!("log scale k={k}")).map(Some)
}

fn stirling_comparison(f: &Facts) -> Result<Option<Decision>> {
    if geometric(f) {
        return Ok(None);
    }
    let mut d = log_scale_decision(f, "limit comparison (Stirling)")?;
    d.steps.insert(
        0,
        "the asymptotics of the factorials come from Stirling's series".into(),
    );
    Ok(Some(d))
}

/// A test: `None` when it does not apply or gives no verdict.
pub type TestFn = fn(&Facts) -> Result<Option<Decision>>;

/// The tests, most elementary first (spec §5.7).
pub const TESTS: &[(&str, TestFn)] = &[
    ("term test", term_test),
    ("p-series", p_series),
    ("ratio test", ratio_test),
    ("root test", root_test),
    ("Raabe test", raabe_test),
    ("Gauss test", gauss_test),
    ("Bertrand test", bertrand_test),
    ("log scale", log_scale_test),
    ("limit comparison (Stirling)", stirling_comparison),
];

/// Runs [`TESTS`] in order on a_n ~ c0·m0 (c0 > 0).
///
/// # Errors
/// When a needed constant sign cannot be certified.
pub fn decide(expr: &Expr, c0: Const, m0: Mono) -> Result<Option<Decision>> {
    let ell = m0.inv();
    let level = level_of(&ell)?;
    let facts = Facts {
        expr,
        c0,
        m0,
        ell,
        level,
        has_factorial: expr.has_factorial(),
        raabe: OnceCell::new(),
    };
    for (_, test) in TESTS {
        if let Some(d) = test(&facts)? {
            return Ok(Some(d));
        }
    }
    Ok(None)
}
