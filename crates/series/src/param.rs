//! One or two real parameters: the set of values where Σ a_n(p) (or Σ a_n(p, q)) converges, as
//! intervals with the deciding test on each piece.
//!
//! A parameter is a symbolic constant ([`Atom::Param`](crate::constant::Atom)) in the exact
//! arithmetic. The analysis runs on a region of parameter values: for each parameter an open
//! interval (lo, hi) or one point. Whenever a decision needs the sign of a constant that
//! depends on a parameter — always of the form a·p + b or a·ln|p| + b with parameter-free a, b
//! and one parameter (anything else is "unsupported") — the sign is read off the region when the
//! root −b/a (resp. ±e^(−b/a)) lies outside it; otherwise the root is recorded and the analysis
//! of the region is abandoned. The driver then analyses (lo, r), {r} and (r, hi) separately.
//! Every piece's verdict is thus proved for every parameter value in it, with the same tests as
//! without a parameter. At a point the parameter is the exact constant r.
//!
//! Two parameters (p, q): the answer is piecewise in p (the first name); a p-piece whose
//! verdict needs a split in q carries its own pieces in q (e.g. 1/(n^p ln(n)^q): p > 1
//! converges, p < 1 diverges, and at p = 1 the q-pieces q > 1 / q ≤ 1 of the Bertrand test).
//! A split in p requested while a q-piece is analysed is passed up, so that p stays outermost.

use std::cell::{Cell, RefCell};
use std::cmp::Ordering;

use crate::constant::Const;
use crate::expr::Expr;
use crate::interval::Iv;
use crate::{Convergence, Report, Result, Verdict};

/// The region of parameter values under analysis.
#[derive(Clone, Debug)]
pub(crate) enum Region {
    /// lo < p < hi (`None`: unbounded).
    Open(Option<Const>, Option<Const>),
    /// p is exactly this constant.
    Point(Const),
}

#[derive(Clone, Debug)]
struct State {
    regions: Vec<(String, Region)>,
    split: Option<(String, Const)>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Whether a parameter analysis is running.
pub(crate) fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}

/// The current region of the parameter `name`, if a parameter analysis is running.
pub(crate) fn region_of(name: &str) -> Option<Region> {
    STATE.with(|s| {
        s.borrow().as_ref().and_then(|st| {
            st.regions
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, r)| r.clone())
        })
    })
}

/// Records that the region of `name` must be split at `root` (the first request wins).
pub(crate) fn request_split(name: &str, root: Const) {
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut()
            && st.split.is_none()
        {
            st.split = Some((name.to_string(), root));
        }
    });
}

/// An enclosure of the parameter `name` over the current region (for interval arithmetic).
pub(crate) fn enclosure(name: &str) -> Option<Iv> {
    let r = region_of(name)?;
    let f = |c: &Const| -> Option<f64> {
        let v = c.to_f64();
        v.is_finite().then_some(v)
    };
    match r {
        Region::Point(c) => {
            let v = f(&c)?;
            Some(Iv {
                lo: v - v.abs() * 1e-12 - 1e-300,
                hi: v + v.abs() * 1e-12 + 1e-300,
            })
        }
        Region::Open(lo, hi) => {
            let lo = lo.map_or(Some(f64::NEG_INFINITY), |c| {
                f(&c).map(|v| v - v.abs() * 1e-12 - 1e-300)
            })?;
            let hi = hi.map_or(Some(f64::INFINITY), |c| {
                f(&c).map(|v| v + v.abs() * 1e-12 + 1e-300)
            })?;
            Iv::new(lo, hi)
        }
    }
}

/// The sign of `value(p)` for every p of the current open region of the parameter `name`,
/// where `value` is increasing in p and vanishes at `root`; requests a split when `root` is
/// inside the region.
pub(crate) fn sign_around(name: &str, root: &Const, increasing: bool) -> Result<Ordering> {
    let Some(region) = region_of(name) else {
        return Err(crate::Error::Unsupported(
            "parameter outside a parameter analysis".into(),
        ));
    };
    let s = match region {
        Region::Point(p) => p.cmp_const(root)?,
        Region::Open(lo, hi) => {
            if lo
                .as_ref()
                .is_some_and(|lo| root.cmp_const(lo).is_ok_and(|o| o != Ordering::Greater))
            {
                Ordering::Greater
            } else if hi
                .as_ref()
                .is_some_and(|hi| root.cmp_const(hi).is_ok_and(|o| o != Ordering::Less))
            {
                Ordering::Less
            } else {
                request_split(name, root.clone());
                return Err(crate::Error::ZeroEquivalence(format!(
                    "a constant that changes sign at the parameter value {name} = {root}"
                )));
            }
        }
    };
    Ok(if increasing { s } else { s.reverse() })
}

/// One piece of the answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Piece {
    /// The interval, e.g. "(1, inf)", "(-inf, 1]", "[-1, 1]", "{0}".
    pub interval: String,
    /// Lower end (`None`: −∞) and whether it is included.
    pub lo: Option<(Const, bool)>,
    /// Upper end (`None`: +∞) and whether it is included.
    pub hi: Option<(Const, bool)>,
    /// The verdict on the whole piece ([`Verdict::Unknown`] when it depends on the next
    /// parameter: then `sub` holds the pieces in that parameter).
    pub verdict: Verdict,
    /// The deciding test(s) on the piece.
    pub test: String,
    /// Absolute or conditional, when the same on the whole piece.
    pub convergence: Option<Convergence>,
    /// Why, when unknown.
    pub reason: String,
    /// Two parameters: the pieces in the second parameter when the verdict depends on it.
    pub sub: Option<ParamReport>,
}

impl Piece {
    /// The verdict as printed: "depends on q" for a piece with sub-pieces.
    pub fn verdict_text(&self) -> String {
        match &self.sub {
            Some(s) => format!("depends on {}", s.param),
            None => self.verdict.to_string(),
        }
    }
}

/// The answer for one parameter (pieces may carry pieces in a second parameter).
#[derive(Clone, Debug, PartialEq)]
pub struct ParamReport {
    /// The parameter's name.
    pub param: String,
    /// Pieces in increasing order of the parameter, covering the real line.
    pub pieces: Vec<Piece>,
}

impl ParamReport {
    /// "converges for p in (1, inf) (p-series); diverges for p in (-inf, 1] (...)"; with two
    /// parameters "... for p in {1}: converges for q in (1, inf) (Bertrand test), ...".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .pieces
            .iter()
            .map(|p| {
                if let Some(sub) = &p.sub {
                    return format!("for {} in {}: [{}]", self.param, p.interval, sub.summary());
                }
                let conv = p.convergence.map(|c| format!(", {c}")).unwrap_or_default();
                let why = if p.verdict == Verdict::Unknown {
                    format!(": {}", p.reason)
                } else {
                    format!(" ({}{conv})", p.test)
                };
                format!("{} for {} in {}{why}", p.verdict, self.param, p.interval)
            })
            .collect();
        parts.join("; ")
    }
}

/// Largest number of regions analysed.
const MAX_REGIONS: usize = 80;

fn take_split() -> Option<(String, Const)> {
    STATE.with(|s| s.borrow_mut().as_mut().and_then(|st| st.split.take()))
}

struct Raw {
    lo: Option<(Const, bool)>,
    hi: Option<(Const, bool)>,
    report: std::result::Result<Report, String>,
    sub: Option<Vec<Raw>>,
}

struct Ctx<'a> {
    expr: &'a Expr,
    n0: u64,
    names: &'a [String],
    count: Cell<usize>,
}

/// What one region gave.
enum Outcome {
    /// A verdict on the whole region.
    Leaf(std::result::Result<Report, String>),
    /// The verdict depends on the next parameter: its pieces.
    Sub(Vec<Raw>),
    /// The region of the current parameter must be split here.
    Split(Const),
}

/// A split requested for the earlier parameter `names[k]` at a root.
struct SplitUp(usize, Const);

impl Ctx<'_> {
    fn run(
        &self,
        regions: Vec<(String, Region)>,
    ) -> (std::result::Result<Report, String>, Option<(String, Const)>) {
        STATE.with(|s| {
            *s.borrow_mut() = Some(State {
                regions,
                split: None,
            })
        });
        let r = crate::analyze_expr(self.expr, self.n0).map_err(|e| e.to_string());
        let split = take_split();
        STATE.with(|s| *s.borrow_mut() = None);
        (r, split)
    }

    /// Analyses `fixed` (regions of names[..k]) × `region` for names[k] × the whole line for
    /// the later names.
    fn piece(
        &self,
        k: usize,
        fixed: &[(String, Region)],
        region: Region,
    ) -> std::result::Result<Outcome, SplitUp> {
        self.count.set(self.count.get() + 1);
        if self.count.get() > MAX_REGIONS {
            return Ok(Outcome::Leaf(Err("too many parameter regions".into())));
        }
        let mut regions = fixed.to_vec();
        regions.push((self.names[k].clone(), region.clone()));
        for later in &self.names[k + 1..] {
            regions.push((later.clone(), Region::Open(None, None)));
        }
        let (r, split) = self.run(regions);
        let Some((name, root)) = split else {
            return Ok(Outcome::Leaf(r));
        };
        let j = self.names.iter().position(|n| *n == name).unwrap_or(k);
        match j.cmp(&k) {
            Ordering::Less => Err(SplitUp(j, root)),
            Ordering::Equal => Ok(Outcome::Split(root)),
            Ordering::Greater => {
                let mut inner = fixed.to_vec();
                inner.push((self.names[k].clone(), region));
                match self.solve(k + 1, &inner) {
                    Ok(raws) => Ok(Outcome::Sub(raws)),
                    Err(SplitUp(j2, root2)) if j2 == k => Ok(Outcome::Split(root2)),
                    Err(up) => Err(up),
                }
            }
        }
    }

    /// The pieces of names[k] given the regions `fixed` of names[..k].
    fn solve(
        &self,
        k: usize,
        fixed: &[(String, Region)],
    ) -> std::result::Result<Vec<Raw>, SplitUp> {
        let mut done: Vec<Raw> = Vec::new();
        let mut queue: Vec<(Option<Const>, Option<Const>)> = vec![(None, None)];
        while let Some((lo, hi)) = queue.pop() {
            match self.piece(k, fixed, Region::Open(lo.clone(), hi.clone()))? {
                Outcome::Split(root) => {
                    let point = match self.piece(k, fixed, Region::Point(root.clone()))? {
                        Outcome::Leaf(r) => (r, None),
                        Outcome::Sub(raws) => (Err(String::new()), Some(raws)),
                        // A point cannot be split further.
                        Outcome::Split(_) => (Err("split at a point".into()), None),
                    };
                    // Depth-first, lowest region first.
                    queue.push((Some(root.clone()), hi));
                    done.push(Raw {
                        lo: Some((root.clone(), true)),
                        hi: Some((root.clone(), true)),
                        report: point.0,
                        sub: point.1,
                    });
                    queue.push((lo, Some(root)));
                }
                Outcome::Leaf(r) => done.push(Raw {
                    lo: lo.map(|c| (c, false)),
                    hi: hi.map(|c| (c, false)),
                    report: r,
                    sub: None,
                }),
                Outcome::Sub(raws) => done.push(Raw {
                    lo: lo.map(|c| (c, false)),
                    hi: hi.map(|c| (c, false)),
                    report: Err(String::new()),
                    sub: Some(raws),
                }),
            }
        }
        Ok(done)
    }
}

/// Decides Σ_{n≥n0} a_n(p) for every real value of the parameter `name`.
///
/// # Errors
/// Malformed input (the parameter's name must not be `n`, `e`, `pi` or a function name).
pub fn analyze_param(src: &str, name: &str, n0: u64) -> Result<ParamReport> {
    analyze_params(src, &[name], n0)
}

/// Decides Σ_{n≥n0} a_n(p, q, …) for every real value of the parameters `names` (one or two):
/// pieces in the first parameter, each with pieces in the second where its verdict depends on
/// it.
///
/// # Errors
/// Malformed input, a repeated name, or more than two parameters.
pub fn analyze_params(src: &str, names: &[&str], n0: u64) -> Result<ParamReport> {
    if names.is_empty() || names.len() > 2 {
        return Err(crate::Error::Unsupported(format!(
            "one or two parameters, not {}",
            names.len()
        )));
    }
    if names.len() == 2 && names[0] == names[1] {
        return Err(crate::Error::Unsupported(format!(
            "the parameter {} is named twice",
            names[0]
        )));
    }
    let expr = crate::parser::parse_with_params(src, names)?;
    let owned: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let ctx = Ctx {
        expr: &expr,
        n0,
        names: &owned,
        count: Cell::new(0),
    };
    let raws = match ctx.solve(0, &[]) {
        Ok(r) => r,
        // Cannot happen at the top level (no earlier parameter); answer unknown if it does.
        Err(_) => vec![Raw {
            lo: None,
            hi: None,
            report: Err("internal: split of an outer parameter at the top level".into()),
            sub: None,
        }],
    };
    Ok(build(&owned, 0, raws))
}

fn build(names: &[String], k: usize, mut done: Vec<Raw>) -> ParamReport {
    // Order by lower end (None first), points after the open piece ending there.
    let key = |r: &Raw| -> f64 {
        match &r.lo {
            None => f64::NEG_INFINITY,
            Some((c, _)) => c.to_f64(),
        }
    };
    done.sort_by(|a, b| {
        key(a).total_cmp(&key(b)).then_with(|| {
            (a.lo.as_ref().is_some_and(|l| !l.1)).cmp(&b.lo.as_ref().is_some_and(|l| !l.1))
        })
    });
    let mut pieces: Vec<Piece> = Vec::new();
    for r in done {
        let sub = r.sub.map(|raws| build(names, k + 1, raws));
        // Sub-pieces that all agree collapse into one verdict.
        let uniform = sub.as_ref().and_then(|s| match s.pieces.as_slice() {
            [one] if one.sub.is_none() => Some(one.clone()),
            _ => None,
        });
        let (verdict, test, convergence, reason, sub) = match (uniform, sub, &r.report) {
            (Some(u), _, _) => (u.verdict, u.test, u.convergence, u.reason, None),
            (None, Some(s), _) => (
                Verdict::Unknown,
                "none".to_string(),
                None,
                format!("depends on {}", s.param),
                Some(s),
            ),
            (None, None, Ok(rep)) => (
                rep.verdict,
                rep.test.clone(),
                rep.convergence,
                if rep.verdict == Verdict::Unknown {
                    rep.justification.clone()
                } else {
                    String::new()
                },
                None,
            ),
            (None, None, Err(e)) => (Verdict::Unknown, "none".to_string(), None, e.clone(), None),
        };
        if let Some(last) = pieces.last_mut()
            && sub.is_none()
            && last.sub.is_none()
            && last.verdict == verdict
            && last.convergence == convergence
            && (verdict != Verdict::Unknown || last.reason == reason)
        {
            for t in test.split(" / ") {
                if !last.test.split(" / ").any(|x| x == t) {
                    last.test = format!("{} / {t}", last.test);
                }
            }
            last.hi = r.hi;
            continue;
        }
        pieces.push(Piece {
            interval: String::new(),
            lo: r.lo,
            hi: r.hi,
            verdict,
            test,
            convergence,
            reason,
            sub,
        });
    }
    for p in &mut pieces {
        p.interval = fmt_interval(&p.lo, &p.hi);
    }
    ParamReport {
        param: names[k].clone(),
        pieces,
    }
}

fn fmt_interval(lo: &Option<(Const, bool)>, hi: &Option<(Const, bool)>) -> String {
    if let (Some((a, true)), Some((b, true))) = (lo, hi)
        && a == b
    {
        return format!("{{{a}}}");
    }
    let l = match lo {
        None => "(-inf".to_string(),
        Some((c, true)) => format!("[{c}"),
        Some((c, false)) => format!("({c}"),
    };
    let h = match hi {
        None => "inf)".to_string(),
        Some((c, true)) => format!("{c}]"),
        Some((c, false)) => format!("{c})"),
    };
    format!("{l}, {h}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p_series_splits_at_one() {
        let r = analyze_param("1/n^p", "p", 1).unwrap();
        let got: Vec<(String, Verdict)> = r
            .pieces
            .iter()
            .map(|p| (p.interval.clone(), p.verdict))
            .collect();
        assert_eq!(
            got,
            vec![
                ("(-inf, 1]".to_string(), Verdict::Diverges),
                ("(1, inf)".to_string(), Verdict::Converges)
            ],
            "{}",
            r.summary()
        );
    }

    #[test]
    fn bertrand_family_in_two_parameters() {
        let r = analyze_params("1/(n^p*ln(n)^q)", &["p", "q"], 2).unwrap();
        let top: Vec<(String, String)> = r
            .pieces
            .iter()
            .map(|p| (p.interval.clone(), p.verdict_text()))
            .collect();
        assert_eq!(
            top,
            vec![
                ("(-inf, 1)".to_string(), "diverges".to_string()),
                ("{1}".to_string(), "depends on q".to_string()),
                ("(1, inf)".to_string(), "converges".to_string()),
            ],
            "{}",
            r.summary()
        );
        let sub = r.pieces[1].sub.as_ref().unwrap();
        let got: Vec<(String, Verdict)> = sub
            .pieces
            .iter()
            .map(|p| (p.interval.clone(), p.verdict))
            .collect();
        assert_eq!(
            got,
            vec![
                ("(-inf, 1]".to_string(), Verdict::Diverges),
                ("(1, inf)".to_string(), Verdict::Converges)
            ],
            "{}",
            r.summary()
        );
        assert_eq!(sub.param, "q");
    }
}
