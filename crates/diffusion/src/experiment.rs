//! The experiments behind `kexue diffusion lab` and `kexue diffusion trajectory`, as library
//! functions returning serde reports.
//!
//! - [`lab`]: every sampler of [`Sampler::LAB`] on a [`Law`] with its exact ε-predictor:
//!   NELBO (nats/dim), energy distance of samples started from x_{τ_K} ~ q(x_{τ_K}) to fresh
//!   data, and the exactly propagated final moments (Gaussian data).
//! - [`compare_trajectories`]: the optimal K-step trajectory of Analytic-DDPM by dynamic
//!   programming over Γ (paper-A §4) and its NELBO next to the even trajectory's, on any
//!   predictor ([`law_trajectories`] sets it up for a law; `diffusion-nn` for a checkpoint).
//!
//! Randomness: every draw comes from RNGs seeded by the spec's seed; rows that compare
//! samplers or trajectories share their draws (common random numbers).

use std::time::Instant;

use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;

use crate::analytic::Gamma;
use crate::laws::Law;
use crate::metrics::energy_distance;
use crate::optimal::{Guard, path_cost};
use crate::schedule::ScheduleKind;
use crate::step::PlanSettings;
use crate::trajectory::TrajectoryKind;
use crate::{
    Decoder, EpsPredictor, Error, FinalStep, Moments, Sampler, Schedule, Trajectory, nelbo,
    optimal_trajectory, plan, propagate_gaussian, sample,
};

/// Energy distances use at most this many rows of each sample (the statistic is O(M²)).
pub const ENERGY_ROWS: usize = 5000;
/// Upper limit of the number of rows (memory: a few f64 vectors of M·d values).
pub const MAX_SAMPLES: usize = 2_000_000;

/// Progress of a long experiment: `done` of `total` units of the stage `stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// What runs now (a sampler name, "NELBO", "Γ monte carlo", …).
    pub stage: &'a str,
    /// Units done.
    pub done: usize,
    /// Units in all.
    pub total: usize,
}

fn check_samples(m: usize) -> crate::Result<()> {
    if !(2..=MAX_SAMPLES).contains(&m) {
        return Err(Error::Invalid {
            what: "samples",
            msg: format!("--samples must be in 2..={MAX_SAMPLES}, got {m}"),
        });
    }
    Ok(())
}

/// What [`lab`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabSpec {
    /// Noise schedule.
    pub schedule: ScheduleKind,
    /// N.
    pub total_steps: usize,
    /// K.
    pub steps: usize,
    /// `Even` or `Quad` (the lab has Γ at the nodes only).
    pub trajectory: TrajectoryKind,
    /// M: samples per sampler, data rows of the NELBO and of the Monte-Carlo Γ.
    pub samples: usize,
    /// Seed of every draw.
    pub seed: u64,
    /// The official code's last step (its mean, no noise).
    pub final_mean: bool,
}

/// One sampler's row of the lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabRow {
    /// Sampler name.
    pub sampler: String,
    /// NELBO in nats/dim (`None`: undefined, DDIM with η = 0).
    pub nelbo: Option<f64>,
    /// Its Monte-Carlo standard error.
    pub nelbo_std_err: Option<f64>,
    /// Energy distance of the samples to fresh data.
    pub energy_distance: f64,
    /// Exactly propagated variance of the output (Gaussian data).
    pub final_var: Option<f64>,
    /// Exactly propagated mean of the output (Gaussian data).
    pub final_mean: Option<f64>,
    /// Wall time of the row.
    pub seconds: f64,
}

/// The lab's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabReport {
    /// Law name.
    pub data: String,
    /// K.
    pub steps: usize,
    /// Schedule name.
    pub schedule: String,
    /// Trajectory name.
    pub trajectory: String,
    /// N.
    pub total_steps: usize,
    /// τ_1..τ_K.
    pub trajectory_nodes: Vec<usize>,
    /// M.
    pub samples: usize,
    /// Seed.
    pub seed: u64,
    /// `mean` or `sample`.
    pub final_step: &'static str,
    /// Where Γ came from.
    pub gamma: &'static str,
    /// One row per sampler.
    pub rows: Vec<LabRow>,
}

/// Runs the lab: [`Sampler::LAB`] on `law` (module docs). `on_progress` counts 2K units per
/// sampler (sampling steps, then NELBO terms).
///
/// # Errors
/// [`Error::Invalid`] for M outside 2..=[`MAX_SAMPLES`], K outside 1..=N, an optimal
/// trajectory, or a sampler producing a non-finite sample; predictor errors.
pub fn lab(
    law: &Law,
    spec: &LabSpec,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> crate::Result<LabReport> {
    let (total, k, m, seed) = (spec.total_steps, spec.steps, spec.samples, spec.seed);
    check_samples(m)?;
    let schedule = spec.schedule.build(total)?;
    if spec.trajectory == TrajectoryKind::Optimal {
        return Err(Error::Invalid {
            what: "trajectory",
            msg: "the lab runs on the even or quad trajectory".into(),
        });
    }
    let trajectory = spec
        .trajectory
        .build(&schedule, k, &Gamma::unknown(total))?;
    let predictor = law.predictor();
    let dim = predictor.dim();
    // Independent streams per purpose; every sampler sees the same start states, data rows
    // and noise for its NELBO and energy distance (common random numbers).
    let stream =
        |k: u64| StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(k));
    let (gamma, gamma_src) = law.gamma(
        &schedule,
        trajectory.steps(),
        m,
        &mut stream(1),
        &mut |_| {},
    )?;
    let decoder = law.decoder(&schedule);
    let settings = PlanSettings {
        final_step: if spec.final_mean {
            FinalStep::Mean
        } else {
            FinalStep::Sample
        },
        ..law.plan_settings()
    };
    let samplers = Sampler::LAB;
    let total_units = samplers.len() * 2 * k;
    let mut done = 0;
    let fresh = law.sample(&mut stream(4), m.min(ENERGY_ROWS));
    let t_top = *trajectory.steps().last().expect("K ≥ 1");
    let mut rows = Vec::with_capacity(samplers.len());
    for sampler in samplers {
        let name = sampler.name();
        let mut tick = |_: usize| {
            done += 1;
            on_progress(Progress {
                stage: &name,
                done,
                total: total_units,
            });
        };
        let started = Instant::now();
        let steps = plan(&schedule, &trajectory, &settings.with(sampler), &gamma)?;
        // Samples from x_{τ_K} ~ q(x_{τ_K}).
        let mut rng = stream(2);
        let (sa, sb) = (
            schedule.alpha_bar(t_top).sqrt(),
            schedule.beta_bar(t_top).sqrt(),
        );
        let mut x = law.sample(&mut rng, m);
        let mut noise = vec![0.0; x.len()];
        crate::standard_normal(&mut rng, &mut noise);
        for (xi, ni) in x.iter_mut().zip(&noise) {
            *xi = sa * *xi + sb * ni;
        }
        sample(predictor, &steps, &mut x, &mut rng, &mut tick)?;
        if let Some(v) = x.iter().find(|v| !v.is_finite()) {
            return Err(Error::Invalid {
                what: "samples",
                msg: format!("{name} produced a non-finite sample ({v})"),
            });
        }
        let ed = energy_distance(&x[..m.min(ENERGY_ROWS) * dim], &fresh, dim);
        let (nelbo_v, nelbo_se) = if sampler.has_likelihood() {
            let mut rng = stream(3);
            let data = law.sample(&mut rng, m);
            let n = nelbo(
                predictor, &schedule, &steps, &data, decoder, &mut rng, &mut tick,
            )?;
            (Some(n.total), Some(n.std_err))
        } else {
            for i in 0..k {
                tick(i);
            }
            (None, None)
        };
        let (final_var, final_mean) = match law {
            Law::Gauss(g) => {
                let (ab, bb) = (schedule.alpha_bar(t_top), schedule.beta_bar(t_top));
                let start = Moments {
                    mean: ab.sqrt() * g.mean()[0],
                    var: ab * g.var()[0] + bb,
                };
                let end = propagate_gaussian(g, &steps, &[start])?[0];
                (Some(end.var), Some(end.mean))
            }
            _ => (None, None),
        };
        rows.push(LabRow {
            sampler: name.clone(),
            nelbo: nelbo_v,
            nelbo_std_err: nelbo_se,
            energy_distance: ed,
            final_var,
            final_mean,
            seconds: started.elapsed().as_secs_f64(),
        });
    }
    Ok(LabReport {
        data: law.name().to_string(),
        steps: k,
        schedule: spec.schedule.to_string(),
        trajectory: spec.trajectory.to_string(),
        total_steps: total,
        trajectory_nodes: trajectory.steps().to_vec(),
        samples: m,
        seed,
        final_step: if spec.final_mean { "mean" } else { "sample" },
        gamma: gamma_src.name(),
        rows,
    })
}

impl LabReport {
    /// The report as a text table (one row per sampler) under a one-line title; `dim` is the
    /// law's dimension.
    pub fn table(&self, dim: usize) -> String {
        use std::fmt::Write;
        let r = self;
        let mut f = String::new();
        let _ = writeln!(
            f,
            "data {} (d={dim}), {} schedule N={}, {} trajectory K={}, M={} samples, seed {}, Γ {}, \
         final step: {}",
            r.data,
            r.schedule,
            r.total_steps,
            r.trajectory,
            r.steps,
            r.samples,
            r.seed,
            r.gamma,
            r.final_step
        );
        let _ = writeln!(
            f,
            "{:<14} {:>22} {:>16} {:>12} {:>9}",
            "sampler", "nelbo (nats/dim)", "energy_distance", "final_var", "seconds"
        );
        for row in &r.rows {
            let nelbo = match (row.nelbo, row.nelbo_std_err) {
                (Some(v), Some(se)) => format!("{v:.4} ± {se:.4}"),
                _ => "undefined".to_string(),
            };
            let fv = row
                .final_var
                .map_or_else(|| "-".to_string(), |v| format!("{v:.6}"));
            let _ = writeln!(
                f,
                "{:<14} {:>22} {:>16.5} {:>12} {:>9.3}",
                row.sampler, nelbo, row.energy_distance, fv, row.seconds
            );
        }
        f
    }
}

/// Everything [`compare_trajectories`] needs, from a law or from a checkpoint.
pub struct TrajectorySetup<'a> {
    /// How the data is named in the report.
    pub data: String,
    /// How the schedule is named in the report.
    pub schedule_name: String,
    /// The schedule.
    pub schedule: Schedule,
    /// The ε-predictor.
    pub predictor: &'a dyn EpsPredictor,
    /// Γ at every n.
    pub gamma: Gamma,
    /// Where Γ came from (for the report and errors).
    pub gamma_src: String,
    /// NELBO rows (M × d).
    pub rows: Vec<f64>,
    /// Plan settings of Analytic-DDPM for the NELBO.
    pub settings: PlanSettings,
    /// NELBO decoder.
    pub decoder: Decoder,
    /// Seed of the NELBO's noise (shared by both trajectories).
    pub seed: u64,
}

/// One trajectory's cost and NELBO.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathReport {
    /// τ_1..τ_K.
    pub trajectory: Vec<usize>,
    /// Σ J.
    pub cost: f64,
    /// NELBO of Analytic-DDPM, nats/dim.
    pub nelbo: f64,
    /// Its standard error.
    pub nelbo_std_err: f64,
    /// The NELBO in bits/dim.
    pub bits_per_dim: f64,
}

/// The DP's guard, when some Γ_n > 1 cut the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GuardReport {
    /// First n with Γ_n > 1.
    pub first_bad: usize,
    /// Times from `first_bad` on.
    pub n_bad: usize,
    /// Times searched by the DP.
    pub n_searched: usize,
    /// Nodes placed by the DP.
    pub k_searched: usize,
    /// Even nodes in the tail.
    pub k_tail: usize,
}

impl From<Guard> for GuardReport {
    fn from(g: Guard) -> Self {
        Self {
            first_bad: g.first_bad,
            n_bad: g.n_bad,
            n_searched: g.n_searched,
            k_searched: g.k_searched,
            k_tail: g.k_tail,
        }
    }
}

/// The report of `kexue diffusion trajectory`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrajectoryReport {
    /// Data name.
    pub data: String,
    /// d.
    pub dim: usize,
    /// Schedule name.
    pub schedule: String,
    /// N.
    pub total_steps: usize,
    /// K.
    pub steps: usize,
    /// Where Γ came from.
    pub gamma: String,
    /// NELBO rows M.
    pub samples: usize,
    /// Seed.
    pub seed: u64,
    /// The optimal path τ_1..τ_K.
    pub trajectory: Vec<usize>,
    /// Σ J along the optimal path (null when undefined: Γ_n > 1 at a node).
    pub cost: Option<f64>,
    /// The DP's least Σ J over the searched nodes.
    pub dp_cost: f64,
    /// NELBO of Analytic-DDPM on the optimal path, nats/dim.
    pub nelbo: f64,
    /// Its standard error.
    pub nelbo_std_err: f64,
    /// The same NELBO in bits/dim.
    pub bits_per_dim: f64,
    /// The even trajectory with the same sampler.
    pub even: PathReport,
    /// ½ (Σ J_even − Σ J_opt): the expected NELBO gain, nats/dim.
    pub predicted_gain: Option<f64>,
    /// The DP's guard.
    pub guard: Option<GuardReport>,
    /// Seconds of the DP.
    pub dp_seconds: f64,
}

/// Sets up [`compare_trajectories`] on `law`: Γ at every n ([`Law::gamma`], Monte Carlo from
/// `samples` rows), then `samples` NELBO rows, all from one RNG seeded by `seed`.
///
/// # Errors
/// [`Error::Invalid`] for M outside 2..=[`MAX_SAMPLES`]; Γ errors.
pub fn law_trajectories<'a>(
    law: &'a Law,
    schedule: ScheduleKind,
    total_steps: usize,
    samples: usize,
    seed: u64,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> crate::Result<TrajectorySetup<'a>> {
    check_samples(samples)?;
    let sched = schedule.build(total_steps)?;
    let n = sched.n_steps();
    let mut rng = StdRng::seed_from_u64(seed);
    let times: Vec<usize> = (1..=n).collect();
    let (gamma, src) = law.gamma(&sched, &times, samples, &mut rng, &mut |i| {
        on_progress(Progress {
            stage: "Γ monte carlo",
            done: i + 1,
            total: n,
        })
    })?;
    let rows = law.sample(&mut rng, samples);
    Ok(TrajectorySetup {
        data: law.name().to_string(),
        schedule_name: schedule.to_string(),
        decoder: law.decoder(&sched),
        settings: law.plan_settings(),
        schedule: sched,
        predictor: law.predictor(),
        gamma,
        gamma_src: src.name().to_string(),
        rows,
        seed,
    })
}

/// The optimal K-node trajectory, its NELBO and the even trajectory's (module docs).
///
/// # Errors
/// [`Error::Invalid`] for K outside 1..=N or a Γ the DP cannot use (naming Γ's source);
/// predictor errors.
pub fn compare_trajectories(
    setup: TrajectorySetup<'_>,
    k: usize,
    on_progress: &mut dyn FnMut(Progress<'_>),
) -> crate::Result<TrajectoryReport> {
    let TrajectorySetup {
        data,
        schedule_name,
        schedule,
        predictor,
        gamma,
        gamma_src,
        rows,
        settings,
        decoder,
        seed,
    } = setup;
    crate::draw::check_steps(k, &schedule)?;
    let n = schedule.n_steps();
    let start = Instant::now();
    let opt = optimal_trajectory(&schedule, &gamma, k).map_err(|e| Error::Invalid {
        what: "Γ",
        msg: format!("{e} (Γ from {gamma_src})"),
    })?;
    let dp_seconds = start.elapsed().as_secs_f64();
    let even = Trajectory::even(n, k)?;
    // Common random numbers: both trajectories see the same noise draws.
    let noise_seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let config = settings.with(Sampler::AnalyticDdpm);
    let mut done = 0;
    let mut evaluate = |traj: &Trajectory| -> crate::Result<PathReport> {
        let steps = plan(&schedule, traj, &config, &gamma)?;
        let mut r = StdRng::seed_from_u64(noise_seed);
        let nb = nelbo(
            predictor,
            &schedule,
            &steps,
            &rows,
            decoder,
            &mut r,
            &mut |_| {
                done += 1;
                on_progress(Progress {
                    stage: "NELBO",
                    done,
                    total: 2 * k,
                });
            },
        )?;
        Ok(PathReport {
            trajectory: traj.steps().to_vec(),
            cost: path_cost(&schedule, &gamma, traj)?,
            nelbo: nb.total,
            nelbo_std_err: nb.std_err,
            bits_per_dim: nb.bits_per_dim(),
        })
    };
    let opt_report = evaluate(&opt.trajectory)?;
    let even_report = evaluate(&even)?;
    let finite = |v: f64| v.is_finite().then_some(v);
    Ok(TrajectoryReport {
        data,
        dim: predictor.dim(),
        schedule: schedule_name,
        total_steps: n,
        steps: k,
        gamma: gamma_src,
        samples: rows.len() / predictor.dim(),
        seed,
        trajectory: opt_report.trajectory,
        cost: finite(opt_report.cost),
        nelbo: opt_report.nelbo,
        nelbo_std_err: opt_report.nelbo_std_err,
        bits_per_dim: opt_report.bits_per_dim,
        predicted_gain: finite(0.5 * (even_report.cost - opt_report.cost)),
        dp_cost: opt.cost,
        even: even_report,
        guard: opt.guard.map(GuardReport::from),
        dp_seconds,
    })
}

impl std::fmt::Display for TrajectoryReport {
    /// Title, optimal vs even costs and NELBOs, the gain, both paths and the DP time.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let r = self;
        let fmt_path = |p: &[usize]| {
            p.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        let fmt_cost =
            |v: Option<f64>| v.map_or_else(|| "undefined".to_string(), |v| format!("{v:.6}"));
        writeln!(
            f,
            "data {} (d={}), {} schedule N={}, K={}, Γ {} at every n, M={} rows, seed {}",
            r.data, r.dim, r.schedule, r.total_steps, r.steps, r.gamma, r.samples, r.seed
        )?;
        if let Some(g) = &r.guard {
            writeln!(
                f,
                "dp_seg guard: Γ_n > 1 from n = {} on; DP over 1..={} with {} nodes, {} even nodes \
             in the last {} times",
                g.first_bad, g.n_searched, g.k_searched, g.k_tail, g.n_bad
            )?;
        }
        writeln!(
            f,
            "{:<10} {:>14} {:>22} {:>10}",
            "trajectory", "Σ J", "NELBO nats/dim ± se", "bits/dim"
        )?;
        let even_cost = r.even.cost.is_finite().then_some(r.even.cost);
        for (name, cost, nelbo, se, bpd) in [
            ("optimal", r.cost, r.nelbo, r.nelbo_std_err, r.bits_per_dim),
            (
                "even",
                even_cost,
                r.even.nelbo,
                r.even.nelbo_std_err,
                r.even.bits_per_dim,
            ),
        ] {
            writeln!(
                f,
                "{name:<10} {:>14} {:>13.6} ± {se:.6} {bpd:>10.4}",
                fmt_cost(cost),
                nelbo
            )?;
        }
        if let Some(gain) = r.predicted_gain {
            writeln!(
                f,
                "NELBO gain even − optimal: {:.6} measured, {:.6} expected (½ ΔΣJ)",
                r.even.nelbo - r.nelbo,
                gain
            )?;
        }
        writeln!(f, "optimal: {}", fmt_path(&r.trajectory))?;
        writeln!(f, "even:    {}", fmt_path(&r.even.trajectory))?;
        writeln!(f, "dp: {:.3} s", r.dp_seconds)?;
        Ok(())
    }
}
