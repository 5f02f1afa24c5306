//! One real parameter: the set of values where Σ a_n(p) converges, as intervals with the
//! deciding test on each piece.
//!
//! The parameter is a symbolic constant ([`Atom::Param`](crate::constant::Atom)) in the exact
//! arithmetic. The analysis runs on a region of parameter values: an open interval (lo, hi) or
//! one point. Whenever a decision needs the sign of a constant that depends on the parameter —
//! always of the form a·p + b or a·ln|p| + b with parameter-free a, b (anything else is
//! "unsupported") — the sign is read off the region when the root −b/a (resp. ±e^(−b/a)) lies
//! outside it; otherwise the root is recorded and the analysis of the region is abandoned.
//! The driver then analyses (lo, r), {r} and (r, hi) separately. Every piece's verdict is thus
//! proved for every parameter value in it, with the same tests as without a parameter.
//! At a point the parameter is the exact constant r.

use std::cell::RefCell;
use std::cmp::Ordering;

use crate::constant::Const;
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
    name: String,
    region: Region,
    split: Option<Const>,
}

thread_local! {
    static STATE: RefCell<Option<State>> = const { RefCell::new(None) };
}

/// Whether a parameter analysis is running.
pub(crate) fn active() -> bool {
    STATE.with(|s| s.borrow().is_some())
}

/// The current region, if a parameter analysis is running.
pub(crate) fn region() -> Option<(String, Region)> {
    STATE.with(|s| {
        s.borrow()
            .as_ref()
            .map(|st| (st.name.clone(), st.region.clone()))
    })
}

/// Records that the region must be split at `root` (the first request wins).
pub(crate) fn request_split(root: Const) {
    STATE.with(|s| {
        if let Some(st) = s.borrow_mut().as_mut()
            && st.split.is_none()
        {
            st.split = Some(root);
        }
    });
}

/// An enclosure of the parameter over the current region (for interval arithmetic).
pub(crate) fn enclosure() -> Option<Iv> {
    let (_, r) = region()?;
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

/// The sign of `value(p)` for every p of the current open region, where `value` is increasing
/// in p and vanishes at `root`; requests a split when `root` is inside the region.
pub(crate) fn sign_around(root: &Const, increasing: bool) -> Result<Ordering> {
    let Some((_, region)) = region() else {
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
                request_split(root.clone());
                return Err(crate::Error::ZeroEquivalence(format!(
                    "a constant that changes sign at the parameter value {root}"
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
    /// The verdict on the whole piece.
    pub verdict: Verdict,
    /// The deciding test(s) on the piece.
    pub test: String,
    /// Absolute or conditional, when the same on the whole piece.
    pub convergence: Option<Convergence>,
    /// Why, when unknown.
    pub reason: String,
}

/// The answer for one parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamReport {
    /// The parameter's name.
    pub param: String,
    /// Pieces in increasing order of the parameter, covering the real line.
    pub pieces: Vec<Piece>,
}

impl ParamReport {
    /// "converges for p in (1, inf) (p-series); diverges for p in (-inf, 1] (...)".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .pieces
            .iter()
            .map(|p| {
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
const MAX_REGIONS: usize = 60;

fn set(name: &str, region: Region) {
    STATE.with(|s| {
        *s.borrow_mut() = Some(State {
            name: name.to_string(),
            region,
            split: None,
        })
    });
}

fn take_split() -> Option<Const> {
    STATE.with(|s| s.borrow_mut().as_mut().and_then(|st| st.split.take()))
}

fn clear() {
    STATE.with(|s| *s.borrow_mut() = None);
}

struct Raw {
    lo: Option<(Const, bool)>,
    hi: Option<(Const, bool)>,
    report: std::result::Result<Report, String>,
}

/// Decides Σ_{n≥n0} a_n(p) for every real value of the parameter `name`.
///
/// # Errors
/// Malformed input (the parameter's name must not be `n`, `e`, `pi` or a function name).
pub fn analyze_param(src: &str, name: &str, n0: u64) -> Result<ParamReport> {
    let expr = crate::parser::parse_with_params(src, &[name])?;
    let mut done: Vec<Raw> = Vec::new();
    let mut queue: Vec<(Option<Const>, Option<Const>)> = vec![(None, None)];
    let mut regions = 0;
    let run = |region: Region| -> (std::result::Result<Report, String>, Option<Const>) {
        set(name, region);
        let r = crate::analyze_expr(&expr, n0).map_err(|e| e.to_string());
        let split = take_split();
        clear();
        (r, split)
    };
    while let Some((lo, hi)) = queue.pop() {
        regions += 1;
        let (r, split) = if regions > MAX_REGIONS {
            (Err("too many parameter regions".to_string()), None)
        } else {
            run(Region::Open(lo.clone(), hi.clone()))
        };
        match split {
            Some(root) => {
                let (pr, _) = run(Region::Point(root.clone()));
                // Depth-first, lowest region first.
                queue.push((Some(root.clone()), hi));
                done.push(Raw {
                    lo: Some((root.clone(), true)),
                    hi: Some((root.clone(), true)),
                    report: pr,
                });
                queue.push((lo, Some(root)));
            }
            None => done.push(Raw {
                lo: lo.map(|c| (c, false)),
                hi: hi.map(|c| (c, false)),
                report: r,
            }),
        }
    }
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
        let (verdict, test, convergence, reason) = match &r.report {
            Ok(rep) => (
                rep.verdict,
                rep.test.clone(),
                rep.convergence,
                if rep.verdict == Verdict::Unknown {
                    rep.justification.clone()
                } else {
                    String::new()
                },
            ),
            Err(e) => (Verdict::Unknown, "none".to_string(), None, e.clone()),
        };
        if let Some(last) = pieces.last_mut()
            && last.verdict == verdict
            && last.convergence == convergence
            && (verdict != Verdict::Unknown || last.reason == reason)
        {
            if !last.test.split(" / ").any(|t| t == test) {
                last.test = format!("{} / {test}", last.test);
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
        });
    }
    for p in &mut pieces {
        p.interval = fmt_interval(&p.lo, &p.hi);
    }
    Ok(ParamReport {
        param: name.to_string(),
        pieces,
    })
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
}
