//! Adaptive Dormand–Prince 5(4) ([`dopri5`]) with its tolerances.

use super::steps::check_finite;
use crate::{Error, Result};

/// Relative and absolute tolerances of the adaptive solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    rtol: f64,
    atol: f64,
}

impl Tolerances {
    /// Validated tolerances.
    ///
    /// # Errors
    /// [`Error::Invalid`] unless both are finite and > 0.
    pub fn new(rtol: f64, atol: f64) -> Result<Self> {
        for (name, v) in [("rtol", rtol), ("atol", atol)] {
            if !(v.is_finite() && v > 0.0) {
                return Err(Error::Invalid {
                    what: "tolerance",
                    msg: format!("{name} = {v} must be a positive number"),
                });
            }
        }
        Ok(Self { rtol, atol })
    }

    /// Relative tolerance.
    pub fn rtol(&self) -> f64 {
        self.rtol
    }

    /// Absolute tolerance.
    pub fn atol(&self) -> f64 {
        self.atol
    }
}

/// Cost of an adaptive solve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OdeStats {
    /// Right-hand-side evaluations.
    pub nfe: usize,
    /// Accepted steps.
    pub n_accepted: usize,
    /// Rejected steps.
    pub n_rejected: usize,
}

// Dormand–Prince 5(4) tableau (Dormand & Prince 1980; the `RK45` of scipy and MATLAB's ode45).
const C: [f64; 6] = [0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0];
const A: [[f64; 5]; 6] = [
    [0.0, 0.0, 0.0, 0.0, 0.0],
    [1.0 / 5.0, 0.0, 0.0, 0.0, 0.0],
    [3.0 / 40.0, 9.0 / 40.0, 0.0, 0.0, 0.0],
    [44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0, 0.0, 0.0],
    [
        19372.0 / 6561.0,
        -25360.0 / 2187.0,
        64448.0 / 6561.0,
        -212.0 / 729.0,
        0.0,
    ],
    [
        9017.0 / 3168.0,
        -355.0 / 33.0,
        46732.0 / 5247.0,
        49.0 / 176.0,
        -5103.0 / 18656.0,
    ],
];
/// 5th-order weights (also the 7th stage's row: first same as last).
const B: [f64; 7] = [
    35.0 / 384.0,
    0.0,
    500.0 / 1113.0,
    125.0 / 192.0,
    -2187.0 / 6784.0,
    11.0 / 84.0,
    0.0,
];
/// Embedded 4th-order weights.
const B4: [f64; 7] = [
    5179.0 / 57600.0,
    0.0,
    7571.0 / 16695.0,
    393.0 / 640.0,
    -92097.0 / 339200.0,
    187.0 / 2100.0,
    1.0 / 40.0,
];

/// Right-hand side of an ODE: writes dy/dt at (t, y) into the last argument.
pub type Rhs<'a> = dyn FnMut(f64, &[f64], &mut [f64]) -> Result<()> + 'a;

fn rms_scaled(v: &[f64], y0: &[f64], y1: &[f64], tol: Tolerances) -> f64 {
    let n = v.len().max(1) as f64;
    (v.iter()
        .zip(y0)
        .zip(y1)
        .map(|((e, a), b)| {
            let sc = tol.atol + tol.rtol * a.abs().max(b.abs());
            (e / sc).powi(2)
        })
        .sum::<f64>()
        / n)
        .sqrt()
}

/// Integrates dy/dt = f(t, y) from `t0` to `t1` (either direction) with adaptive
/// Dormand–Prince 5(4), local extrapolation and FSAL, overwriting `y` with y(t1).
///
/// Error control as scipy's `RK45`: the step is accepted when the RMS of
/// err_i / (atol + rtol·max(|y_i|, |y_i'|)) is ≤ 1, and the next step is scaled by
/// 0.9·err^{−1/5} clamped to [0.2, 10]; the first step follows Hairer–Nørsett–Wanner's
/// heuristic (one extra evaluation).
///
/// # Errors
/// [`Error::Invalid`] when more than `max_nfe` evaluations are needed or the step size
/// underflows (both naming the time reached), or the state becomes non-finite; `f`'s errors.
pub fn dopri5(
    f: &mut Rhs<'_>,
    t0: f64,
    t1: f64,
    y: &mut [f64],
    tol: Tolerances,
    max_nfe: usize,
) -> Result<OdeStats> {
    let n = y.len();
    let mut stats = OdeStats::default();
    if t0 == t1 {
        return Ok(stats);
    }
    let dir = (t1 - t0).signum();
    let span = (t1 - t0).abs();
    let budget = |stats: &OdeStats, t: f64, extra: usize| -> Result<()> {
        if stats.nfe + extra > max_nfe {
            return Err(Error::Invalid {
                what: "ODE solve",
                msg: format!(
                    "NFE budget of {max_nfe} exceeded at t = {t:.6} after {} accepted steps",
                    stats.n_accepted
                ),
            });
        }
        Ok(())
    };
    let mut k: Vec<Vec<f64>> = vec![vec![0.0; n]; 7];
    let mut tmp = vec![0.0; n];
    let mut y_new = vec![0.0; n];
    let mut err = vec![0.0; n];
    let mut t = t0;
    budget(&stats, t, 2)?;
    f(t, y, &mut k[0])?;
    stats.nfe += 1;
    check_finite(&k[0], t, 0)?;
    // Initial step (Hairer, Nørsett & Wanner, Solving ODEs I, II.4).
    let mut h = {
        let scale: Vec<f64> = y.iter().map(|v| tol.atol + tol.rtol * v.abs()).collect();
        let norm = |v: &[f64]| {
            (v.iter()
                .zip(&scale)
                .map(|(a, s)| (a / s).powi(2))
                .sum::<f64>()
                / n.max(1) as f64)
                .sqrt()
        };
        let (d0, d1) = (norm(y), norm(&k[0]));
        let h0 = if d0 < 1e-5 || d1 < 1e-5 {
            1e-6
        } else {
            0.01 * d0 / d1
        }
        .min(span);
        for ((a, &yi), &ki) in tmp.iter_mut().zip(y.iter()).zip(&k[0]) {
            *a = yi + dir * h0 * ki;
        }
        f(t + dir * h0, &tmp, &mut k[1])?;
        stats.nfe += 1;
        let diff: Vec<f64> = k[1].iter().zip(&k[0]).map(|(a, b)| a - b).collect();
        let d2 = norm(&diff) / h0;
        let h1 = if d1.max(d2) <= 1e-15 {
            (h0 * 1e-3).max(1e-6)
        } else {
            (0.01 / d1.max(d2)).powf(0.2)
        };
        (100.0 * h0).min(h1).min(span)
    };
    while (t1 - t) * dir > 0.0 {
        let remaining = (t1 - t).abs();
        let last = h >= remaining;
        if last {
            h = remaining;
        }
        if h < 16.0 * f64::EPSILON * t.abs().max(span) {
            return Err(Error::Invalid {
                what: "ODE solve",
                msg: format!(
                    "step size underflow at t = {t:.6} after {} accepted steps",
                    stats.n_accepted
                ),
            });
        }
        budget(&stats, t, 6)?;
        let hs = dir * h;
        for s in 1..6 {
            for (i, v) in tmp.iter_mut().enumerate() {
                let mut acc = y[i];
                for (j, kj) in k.iter().enumerate().take(s) {
                    acc += hs * A[s][j] * kj[i];
                }
                *v = acc;
            }
            f(t + C[s] * hs, &tmp, &mut k[s])?;
        }
        for (i, v) in y_new.iter_mut().enumerate() {
            let mut acc = y[i];
            for (j, kj) in k.iter().enumerate().take(6) {
                acc += hs * B[j] * kj[i];
            }
            *v = acc;
        }
        let t_new = if last { t1 } else { t + hs };
        f(t_new, &y_new, &mut k[6])?;
        stats.nfe += 6;
        for (i, e) in err.iter_mut().enumerate() {
            let mut acc = 0.0;
            for (j, kj) in k.iter().enumerate() {
                acc += (B[j] - B4[j]) * kj[i];
            }
            *e = hs * acc;
        }
        let en = rms_scaled(&err, y, &y_new, tol);
        let finite = en.is_finite() && y_new.iter().all(|v| v.is_finite());
        if finite && en <= 1.0 {
            t = t_new;
            y.copy_from_slice(&y_new);
            let (first, rest) = k.split_at_mut(1);
            first[0].copy_from_slice(&rest[5]);
            stats.n_accepted += 1;
            let factor = if en == 0.0 {
                10.0
            } else {
                (0.9 * en.powf(-0.2)).min(10.0)
            };
            h *= factor;
        } else {
            stats.n_rejected += 1;
            let factor = if finite {
                (0.9 * en.powf(-0.2)).max(0.2)
            } else {
                0.2
            };
            h *= factor;
        }
    }
    check_finite(y, t, stats.n_accepted)?;
    Ok(stats)
}
