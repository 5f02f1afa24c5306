//! Analytic-DPM: Γ_t, the optimal reverse variance, its bounds and clips (paper-A, spec §6).
//!
//! | code | paper | meaning |
//! |---|---|---|
//! | `Gamma::get(t)` | Γ_t = E‖ε*(x_t)‖²/d | mean squared optimal ε-prediction |
//! | `cov_x0(…)` | σ̄²_t = (β̄_t/ᾱ_t)(1 − Γ_t) | E tr Cov[x_0 \| x_t] / d |
//! | `lambda2` | λ² | variance of the forward family's posterior q_λ(x_s \| x_t, x_0) |
//! | `gamma_coef(…)` | γ = √ᾱ_s − √((β̄_s − λ²) ᾱ_t / β̄_t) | weight of x_0 in x_s |
//! | `optimal_variance(…)` | σ*² = λ² + γ² σ̄²_t | Theorem 1 |
//!
//! DDPM family: λ² = β̃_{s|t}, γ = √ᾱ_s β_{t|s}/β̄_t. DDIM family: λ² = η² β̃_{s|t}.
//! Bounds (Theorem 2): λ² ≤ σ*² ≤ λ² + γ² β̄_t/ᾱ_t (Eq. 11), and for data in [a, b]^d also
//! σ*² ≤ λ² + γ² ((b − a)/2)² (Eq. 12).

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::{EpsPredictor, Error, NoiseLevel, Result, Schedule};

/// What is known about the range of the data; decides which upper bound clips σ̄²_t.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataRange {
    /// No known range (Gaussians, mixtures): clip with Eq. 11 only, σ̄² ∈ [0, β̄_t/ᾱ_t].
    Unbounded,
    /// Data in [lo, hi]^d: additionally σ̄² ≤ ((hi − lo)/2)² (Eq. 12). Images in [−1, 1]
    /// give the official code's `clamp(…, 0, 1)`.
    Bounded {
        /// Lower end a.
        lo: f64,
        /// Upper end b.
        hi: f64,
    },
}

impl DataRange {
    /// Images scaled to [−1, 1].
    pub const PIXELS: DataRange = DataRange::Bounded { lo: -1.0, hi: 1.0 };

    /// The largest possible E tr Cov[x_0 | x_t]/d at time t (the Eq. 11/12 cap of σ̄²_t).
    pub fn cov_x0_cap(self, schedule: &Schedule, t: usize) -> f64 {
        let eq11 = schedule.beta_bar(t) / schedule.alpha_bar(t);
        match self {
            DataRange::Unbounded => eq11,
            DataRange::Bounded { lo, hi } => eq11.min(((hi - lo) / 2.0).powi(2)),
        }
    }
}

/// Lower and upper bound of the optimal variance σ*²_{s|t} (Theorem 2).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// λ² (the handcrafted choice).
    pub lower: f64,
    /// λ² + γ² · cap, cap from [`DataRange::cov_x0_cap`].
    pub upper: f64,
}

/// γ = √ᾱ_s − √((β̄_s − λ²) ᾱ_t / β̄_t), the coefficient of x_0 in x_s given (x_t, x_0).
///
/// # Panics
/// Unless s < t ≤ N.
pub fn gamma_coef(schedule: &Schedule, s: usize, t: usize, lambda2: f64) -> f64 {
    assert!(s < t, "gamma_coef needs s < t");
    let rest = (schedule.beta_bar(s) - lambda2).max(0.0);
    schedule.alpha_bar(s).sqrt() - (rest * schedule.alpha_bar(t) / schedule.beta_bar(t)).sqrt()
}

/// γ of the DDPM family (λ² = β̃_{s|t}) in its cancellation-free form √ᾱ_s β_{t|s}/β̄_t.
pub fn gamma_coef_ddpm(schedule: &Schedule, s: usize, t: usize) -> f64 {
    schedule.alpha_bar(s).sqrt() * schedule.beta(s, t) / schedule.beta_bar(t)
}

/// σ̄²_t = (β̄_t/ᾱ_t)(1 − Γ_t) clipped to [0, `range.cov_x0_cap`] (Eq. 11, and Eq. 12 when
/// bounded). Returns the raw estimate's clipped value.
pub fn cov_x0(schedule: &Schedule, t: usize, gamma_t: f64, range: DataRange) -> f64 {
    let raw = schedule.beta_bar(t) / schedule.alpha_bar(t) * (1.0 - gamma_t);
    raw.clamp(0.0, range.cov_x0_cap(schedule, t))
}

/// σ*² = λ² + γ² σ̄²_t for a DDIM-family step with forward posterior variance `lambda2`.
pub fn optimal_variance(
    schedule: &Schedule,
    s: usize,
    t: usize,
    lambda2: f64,
    gamma_t: f64,
    range: DataRange,
) -> f64 {
    let g = gamma_coef(schedule, s, t, lambda2);
    lambda2 + g * g * cov_x0(schedule, t, gamma_t, range)
}

/// Analytic-DDPM's σ*² (λ² = β̃_{s|t}), using the cancellation-free γ.
pub fn optimal_variance_ddpm(
    schedule: &Schedule,
    s: usize,
    t: usize,
    gamma_t: f64,
    range: DataRange,
) -> f64 {
    let g = gamma_coef_ddpm(schedule, s, t);
    schedule.tilde_beta(s, t) + g * g * cov_x0(schedule, t, gamma_t, range)
}

/// Theorem 2 bounds of σ*²_{s|t} for forward posterior variance `lambda2`.
pub fn bounds(schedule: &Schedule, s: usize, t: usize, lambda2: f64, range: DataRange) -> Bounds {
    let g = gamma_coef(schedule, s, t, lambda2);
    Bounds {
        lower: lambda2,
        upper: lambda2 + g * g * range.cov_x0_cap(schedule, t),
    }
}

/// The σ₂ pixel threshold (paper-A App. F.2): σ² ≤ (y · 2/255 · √(π/2))², so that the mean
/// absolute noise σ√(2/π) is at most y grey levels of [−1, 1]-scaled 8-bit images.
pub fn pixel_sigma2_threshold(y: f64) -> f64 {
    (y * 2.0 / 255.0 * std::f64::consts::FRAC_PI_2.sqrt()).powi(2)
}

/// How many Monte-Carlo standard errors an estimate Γ̂_n may exceed 1 by and still count as
/// Γ_n = 1 ([`Gamma::usable`]): Γ ≤ 1 holds exactly (Jensen), so a Γ̂_n above 1 within its
/// error is noise. 4 standard errors: a true Γ_n ≤ 1 is declared bad with probability below
/// 3·10⁻⁵ per n (about 3 % over N = 1000 independent times).
pub const GAMMA_SE_TOLERANCE: f64 = 4.0;

/// Γ_n at some (or all) times n of a schedule, with the Monte-Carlo standard error of each
/// estimated value where known.
#[derive(Debug, Clone, PartialEq)]
pub struct Gamma {
    /// Length N+1; NaN where unknown (index 0 is never used).
    values: Vec<f64>,
    /// Standard errors (length N+1, NaN where unknown); `None` for exact or quadrature Γ.
    std_errs: Option<Vec<f64>>,
}

impl Gamma {
    /// No values known (for samplers that do not need Γ).
    pub fn unknown(n_steps: usize) -> Self {
        Self {
            values: vec![f64::NAN; n_steps + 1],
            std_errs: None,
        }
    }

    /// Attaches the Monte-Carlo standard errors of an estimate: (n, se_n) pairs.
    ///
    /// # Errors
    /// [`Error::Invalid`] when n is 0 or > N, or se_n is not finite or negative.
    pub fn with_std_errs(mut self, pairs: impl IntoIterator<Item = (usize, f64)>) -> Result<Self> {
        let n_steps = self.n_steps();
        let mut se = vec![f64::NAN; n_steps + 1];
        for (n, v) in pairs {
            if n == 0 || n > n_steps {
                return Err(invalid(format!("time {n} is outside 1..={n_steps}")));
            }
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!(
                    "standard error {v} of Γ_{n} is not a finite non-negative number"
                )));
            }
            se[n] = v;
        }
        self.std_errs = Some(se);
        Ok(self)
    }

    /// The Monte-Carlo standard error of Γ̂_n, where Γ was estimated with one.
    pub fn std_err(&self, n: usize) -> Option<f64> {
        self.std_errs
            .as_ref()
            .and_then(|se| se.get(n).copied())
            .filter(|v| !v.is_nan())
    }

    /// The largest standard error over the known Γ̂_n (`None` for exact or quadrature Γ).
    pub fn max_std_err(&self) -> Option<f64> {
        let se = self.std_errs.as_ref()?;
        se.iter().copied().filter(|v| !v.is_nan()).reduce(f64::max)
    }

    /// Γ_n as the optimal-trajectory search uses it: Γ_n itself when ≤ 1; 1 when an estimate
    /// exceeds 1 by at most [`GAMMA_SE_TOLERANCE`] standard errors (Γ ≤ 1 holds exactly,
    /// so the excess is Monte-Carlo noise); `None` when unknown or above 1 beyond its error
    /// (or above 1 at all without a standard error).
    pub fn usable(&self, n: usize) -> Option<f64> {
        let g = self.get(n)?;
        if g <= 1.0 {
            return Some(g);
        }
        let se = self.std_err(n)?;
        (g - 1.0 <= GAMMA_SE_TOLERANCE * se).then_some(1.0)
    }

    /// Γ from (n, Γ_n) pairs.
    ///
    /// # Errors
    /// [`Error::Invalid`] when n is 0 or > N, or Γ_n is not finite or negative.
    pub fn from_pairs(
        n_steps: usize,
        pairs: impl IntoIterator<Item = (usize, f64)>,
    ) -> Result<Self> {
        let mut g = Self::unknown(n_steps);
        for (n, v) in pairs {
            if n == 0 || n > n_steps {
                return Err(invalid(format!("time {n} is outside 1..={n_steps}")));
            }
            if !(v.is_finite() && v >= 0.0) {
                return Err(invalid(format!(
                    "Γ_{n} = {v} is not a finite non-negative number"
                )));
            }
            g.values[n] = v;
        }
        Ok(g)
    }

    /// Γ_n for every n = 1..=N from a closed form (e.g. [`crate::exact::Gaussian::gamma`]).
    ///
    /// # Errors
    /// As [`Gamma::from_pairs`].
    pub fn from_fn(schedule: &Schedule, f: impl Fn(f64) -> f64) -> Result<Self> {
        let n = schedule.n_steps();
        Self::from_pairs(n, (1..=n).map(|k| (k, f(schedule.alpha_bar(k)))))
    }

    /// N of the schedule.
    pub fn n_steps(&self) -> usize {
        self.values.len() - 1
    }

    /// Γ_n if known.
    pub fn get(&self, n: usize) -> Option<f64> {
        self.values.get(n).copied().filter(|v| !v.is_nan())
    }

    /// Γ_n, or an error naming n.
    ///
    /// # Errors
    /// [`Error::Invalid`] when Γ_n is unknown.
    pub fn require(&self, n: usize) -> Result<f64> {
        self.get(n)
            .ok_or_else(|| invalid(format!("Γ_{n} is needed but was not estimated")))
    }
}

/// Monte-Carlo Γ_n = (1/M) Σ_m ‖ε̂(x_{n,m})‖²/d with x_{n,m} = √ᾱ_n x_0^(m) + √β̄_n ε^(m),
/// one fresh ε per data row per n (paper-A Eq. 8, spec §6.3), for each n in `times`.
///
/// `data` holds M rows of `predictor.dim()` values. The predictor is called on at most
/// `batch_rows` rows at a time. `on_time(i)` is called after `times[i]` is done. The result
/// carries the standard error of each Γ̂_n (sample standard deviation of the per-row
/// ‖ε̂‖²/d over √M; [`Gamma::std_err`]).
///
/// # Errors
/// [`Error::Invalid`] for empty or ragged data, `batch_rows == 0` or a time outside 1..=N;
/// the predictor's own errors.
pub fn estimate_gamma<P, R>(
    predictor: &P,
    schedule: &Schedule,
    data: &[f64],
    times: &[usize],
    batch_rows: usize,
    rng: &mut R,
    on_time: &mut dyn FnMut(usize),
) -> Result<Gamma>
where
    P: EpsPredictor + ?Sized,
    R: Rng + ?Sized,
{
    let d = predictor.dim();
    crate::sample::check_rows(data, d)?;
    if batch_rows == 0 {
        return Err(invalid("batch_rows must be ≥ 1".to_string()));
    }
    let mut pairs = Vec::with_capacity(times.len());
    let mut std_errs = Vec::with_capacity(times.len());
    let rows = (data.len() / d) as f64;
    let mut x_t = Vec::new();
    let mut eps = Vec::new();
    for (i, &n) in times.iter().enumerate() {
        if n == 0 || n > schedule.n_steps() {
            return Err(invalid(format!(
                "time {n} is outside 1..={}",
                schedule.n_steps()
            )));
        }
        let (sa, sb) = (schedule.alpha_bar(n).sqrt(), schedule.beta_bar(n).sqrt());
        let level = NoiseLevel {
            t: n as f64,
            alpha_bar: schedule.alpha_bar(n),
        };
        let mut sum = 0.0;
        let mut sum_sq = 0.0;
        for chunk in data.chunks(batch_rows * d) {
            x_t.clear();
            x_t.extend(chunk.iter().map(|&x0| {
                let e: f64 = StandardNormal.sample(rng);
                sa * x0 + sb * e
            }));
            eps.clear();
            eps.resize(chunk.len(), 0.0);
            predictor.predict_eps(&x_t, level, &mut eps)?;
            sum += eps.iter().map(|e| e * e).sum::<f64>();
            for row in eps.chunks(d) {
                let r = row.iter().map(|e| e * e).sum::<f64>();
                sum_sq += r * r / d as f64;
            }
        }
        let mean = sum / data.len() as f64;
        // Per-row values r_m = ‖ε̂_m‖²/d: sample variance (Σ r² − M r̄²)/(M − 1), se = sd/√M.
        let var = if rows > 1.0 {
            ((sum_sq / d as f64 - rows * mean * mean) / (rows - 1.0)).max(0.0)
        } else {
            0.0
        };
        pairs.push((n, mean));
        std_errs.push((n, (var / rows).sqrt()));
        on_time(i);
    }
    Gamma::from_pairs(schedule.n_steps(), pairs)?.with_std_errs(std_errs)
}

/// Γ_n by Monte Carlo on the posterior variance: since E‖ε‖² = d = E‖E[ε|x_n]‖² +
/// E tr Var[ε|x_n], Γ_n = 1 − E tr Var[ε|x_n]/d, estimated as
/// 1 − (1/M) Σ_m Σ_i g_i(x_{n,m})/d with an NPR head g = Var[ε|x_n] ([`crate::covariance::CovKind::Npr`]; exact
/// for the laboratory's Gaussian mixtures), x_{n,m} = √ᾱ_n x_0^(m) + √β̄_n ε^(m) as in
/// [`estimate_gamma`]. With an exact head the estimate never exceeds 1 (the variance is
/// non-negative) and its Monte-Carlo error is that of 1 − Γ, far below the plain estimate's
/// near n = N; the result carries the standard error of each Γ̂_n. (At low noise the
/// posterior variance of separated modes is large only in rare rows between them, so a few
/// thousand rows can under-sample it and the reported error understate the true one: on a
/// 2-D product law with 4000 rows, 1.6e-5 off at n = 50 of N = 1000.)
///
/// # Errors
/// As [`estimate_gamma`]; the head's errors.
pub fn estimate_gamma_posterior<R>(
    head: &dyn crate::covariance::CovPredictor,
    schedule: &Schedule,
    data: &[f64],
    times: &[usize],
    batch_rows: usize,
    rng: &mut R,
    on_time: &mut dyn FnMut(usize),
) -> Result<Gamma>
where
    R: Rng + ?Sized,
{
    let mut pairs = Vec::with_capacity(times.len());
    let mut std_errs = Vec::with_capacity(times.len());
    for (i, &n) in times.iter().enumerate() {
        if n == 0 || n > schedule.n_steps() {
            return Err(invalid(format!(
                "time {n} is outside 1..={}",
                schedule.n_steps()
            )));
        }
        let level = NoiseLevel {
            t: n as f64,
            alpha_bar: schedule.alpha_bar(n),
        };
        let (sa, sb) = (schedule.alpha_bar(n).sqrt(), schedule.beta_bar(n).sqrt());
        let (g, se) = posterior_gamma_at(head, data, level, (sa, sb), batch_rows, rng)?;
        pairs.push((n, g));
        std_errs.push((n, se));
        on_time(i);
    }
    Gamma::from_pairs(schedule.n_steps(), pairs)?.with_std_errs(std_errs)
}

/// One Γ̂ of [`estimate_gamma_posterior`] at `level` with (√ᾱ, √β̄) = `scales`: the
/// estimate (clipped at 0) and its standard error.
///
/// # Errors
/// As [`estimate_gamma_posterior`].
pub fn posterior_gamma_at<R>(
    head: &dyn crate::covariance::CovPredictor,
    data: &[f64],
    level: NoiseLevel,
    scales: (f64, f64),
    batch_rows: usize,
    rng: &mut R,
) -> Result<(f64, f64)>
where
    R: Rng + ?Sized,
{
    let d = head.cov_dim();
    crate::sample::check_rows(data, d)?;
    if batch_rows == 0 {
        return Err(invalid("batch_rows must be ≥ 1".to_string()));
    }
    let (sa, sb) = scales;
    let rows = (data.len() / d) as f64;
    let (mut x_t, mut g) = (Vec::new(), Vec::new());
    let (mut sum, mut sum_sq) = (0.0, 0.0);
    for chunk in data.chunks(batch_rows * d) {
        x_t.clear();
        x_t.extend(chunk.iter().map(|&x0| {
            let e: f64 = StandardNormal.sample(rng);
            sa * x0 + sb * e
        }));
        g.clear();
        g.resize(chunk.len(), 0.0);
        head.predict_cov(crate::covariance::CovKind::Npr, &x_t, level, &mut g)?;
        for row in g.chunks(d) {
            let v = row.iter().sum::<f64>() / d as f64;
            sum += v;
            sum_sq += v * v;
        }
    }
    let mean = sum / rows;
    let var = if rows > 1.0 {
        ((sum_sq - rows * mean * mean) / (rows - 1.0)).max(0.0)
    } else {
        0.0
    };
    Ok(((1.0 - mean).max(0.0), (var / rows).sqrt()))
}

fn invalid(msg: String) -> Error {
    Error::Invalid { what: "gamma", msg }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Trajectory;

    /// Relative agreement to 3 significant digits, as Table 7 is printed.
    fn three_digits(got: f64, want: f64) -> bool {
        (got - want).abs() <= 0.005 * want.abs()
    }

    /// Paper-A Table 7 (spec §6.4): bounds at the step (s = τ_1 = 1, t = τ_2) of the even
    /// trajectory, upper bound with data in [−1, 1].
    #[test]
    fn reproduces_paper_a_table7_bounds() {
        let lin = Schedule::linear(1000).unwrap();
        let cos = Schedule::cosine(1000).unwrap();
        let cos4k = Schedule::cosine(4000).unwrap();
        #[allow(clippy::type_complexity)]
        let rows: [(&str, &Schedule, [usize; 4], [f64; 4], [f64; 4], [f64; 4]); 4] = [
            (
                "CIFAR10 LS",
                &lin,
                [10, 25, 50, 100],
                [1.45e-1, 2.24e-2, 6.20e-3, 2.10e-3],
                [9.99e-5, 9.96e-5, 9.84e-5, 9.55e-5],
                [1.37e-1, 1.96e-2, 4.82e-3, 1.36e-3],
            ),
            (
                "CIFAR10 CS",
                &cos,
                [10, 25, 50, 100],
                [3.56e-2, 6.15e-3, 1.85e-3, 6.80e-4],
                [4.12e-5, 4.10e-5, 4.04e-5, 3.89e-5],
                [3.33e-2, 5.22e-3, 1.37e-3, 4.18e-4],
            ),
            (
                "CelebA",
                &lin,
                [10, 25, 50, 100],
                [1.45e-1, 2.24e-2, 6.20e-3, 2.10e-3],
                [9.99e-5, 9.96e-5, 9.84e-5, 9.55e-5],
                [1.37e-1, 1.96e-2, 4.82e-3, 1.36e-3],
            ),
            (
                "ImageNet64",
                &cos4k,
                [25, 50, 100, 200],
                [5.93e-3, 1.84e-3, 6.44e-4, 2.61e-4],
                [9.85e-6, 9.81e-6, 9.72e-6, 9.51e-6],
                [5.46e-3, 1.59e-3, 5.03e-4, 1.77e-4],
            ),
        ];
        for (name, sched, ks, ddpm_up, ddpm_lo, ddim_up) in rows {
            for i in 0..4 {
                let traj = Trajectory::even(sched.n_steps(), ks[i]).unwrap();
                let (s, t) = (traj.steps()[0], traj.steps()[1]);
                let lambda2 = sched.tilde_beta(s, t);
                let b = bounds(sched, s, t, lambda2, DataRange::PIXELS);
                assert!(
                    three_digits(b.upper, ddpm_up[i]),
                    "{name} K={} up {}",
                    ks[i],
                    b.upper
                );
                assert!(
                    three_digits(b.lower, ddpm_lo[i]),
                    "{name} K={} lo {}",
                    ks[i],
                    b.lower
                );
                let b = bounds(sched, s, t, 0.0, DataRange::PIXELS);
                assert_eq!(b.lower, 0.0);
                assert!(
                    three_digits(b.upper, ddim_up[i]),
                    "{name} DDIM K={} {}",
                    ks[i],
                    b.upper
                );
            }
        }
    }

    #[test]
    fn pixel_thresholds_match_spec() {
        // Spec §10.1; 1e-12 relative.
        assert!((pixel_sigma2_threshold(1.0) / 9.66272250239075e-05 - 1.0).abs() < 1e-12);
        assert!((pixel_sigma2_threshold(2.0) / 3.8650890009563e-4 - 1.0).abs() < 1e-12);
    }

    #[test]
    fn gamma_identities_hold() {
        // Spec §10.4: γ(λ² = β̃) in general form equals √ᾱ_s β_{t|s}/β̄_t; the general form
        // subtracts two O(1) numbers, so tolerance 1e-12 absolute.
        let sched = Schedule::linear(1000).unwrap();
        for (s, t) in [(1, 2), (1, 112), (100, 200), (500, 1000), (0, 7)] {
            let g1 = gamma_coef(&sched, s, t, sched.tilde_beta(s, t));
            let g2 = gamma_coef_ddpm(&sched, s, t);
            assert!((g1 - g2).abs() < 1e-12, "({s},{t}): {g1} vs {g2}");
            // Corollary 2: the DDPM optimum equals (β_{t|s}/α_{t|s})(1 − β_{t|s} Γ/β̄_t).
            for gamma_t in [0.0, 0.3, 0.9, 1.0] {
                let v = optimal_variance_ddpm(&sched, s, t, gamma_t, DataRange::Unbounded);
                let b = sched.beta(s, t);
                let cor2 = b / sched.alpha(s, t) * (1.0 - b * gamma_t / sched.beta_bar(t));
                assert!(
                    (v - cor2).abs() <= 1e-12 * cor2.max(1e-300),
                    "({s},{t}) Γ={gamma_t}"
                );
            }
        }
        // K = N: upper − lower of Eq. 11 is β_t²/(α_t β̄_t) (spec §10.4), 1e-12 relative.
        for t in [2, 10, 500, 1000] {
            let b = bounds(
                &sched,
                t - 1,
                t,
                sched.tilde_beta(t - 1, t),
                DataRange::Unbounded,
            );
            let beta = sched.betas()[t];
            let want = beta * beta / ((1.0 - beta) * sched.beta_bar(t));
            assert!(((b.upper - b.lower) / want - 1.0).abs() < 1e-9, "t={t}");
        }
    }

    #[test]
    fn optimal_variance_stays_within_bounds() {
        let sched = Schedule::cosine(200).unwrap();
        for (s, t) in [(1, 5), (20, 80), (150, 200)] {
            for gamma_t in [-0.5, 0.0, 0.5, 1.0, 1.7] {
                for lambda2 in [0.0, 0.5 * sched.tilde_beta(s, t), sched.tilde_beta(s, t)] {
                    for range in [DataRange::Unbounded, DataRange::PIXELS] {
                        let v = optimal_variance(&sched, s, t, lambda2, gamma_t, range);
                        let b = bounds(&sched, s, t, lambda2, range);
                        assert!(v >= b.lower && v <= b.upper * (1.0 + 1e-15));
                    }
                }
            }
        }
    }

    #[test]
    fn gamma_table_validates() {
        assert!(Gamma::from_pairs(10, [(0, 0.5)]).is_err());
        assert!(Gamma::from_pairs(10, [(11, 0.5)]).is_err());
        assert!(Gamma::from_pairs(10, [(3, f64::NAN)]).is_err());
        let g = Gamma::from_pairs(10, [(3, 0.5)]).unwrap();
        assert_eq!(g.get(3), Some(0.5));
        assert_eq!(g.get(4), None);
        assert!(g.require(4).is_err());
    }
}
