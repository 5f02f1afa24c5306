//! The experiments behind `kexue diffusion lab` and `kexue diffusion trajectory`, as library
//! functions returning serde reports.
//!
//! - [`lab`]: the samplers of [`Sampler::LAB`] (or any list of discrete and menu samplers) on
//!   a [`Law`] with its exact ε-predictor: NELBO (nats/dim, discrete samplers), energy
//!   distance of samples started from q at the first node to fresh data, and the exactly
//!   propagated final moments (Gaussian data).
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
use crate::covariance::{CovKind, CovPredictor};
use crate::draw::MenuOptions;
use crate::laws::Law;
use crate::menu::plan::{NoiseSource, Plan, RngNoise};
use crate::menu::{MenuConfig, MenuSampler, MenuVariance, Process};
use crate::metrics::energy_distance;
use crate::optimal::{Guard, path_cost};
use crate::schedule::ScheduleKind;
use crate::solvers::ClippedX0;
use crate::step::PlanSettings;
use crate::step::X0Clip;
use crate::trajectory::TrajectoryKind;
use crate::{
    AnySampler, Decoder, EpsPredictor, Error, FinalStep, Moments, Sampler, Schedule, Trajectory,
    nelbo, optimal_trajectory, plan, propagate_gaussian, sample,
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
#[derive(Debug, Clone, PartialEq)]
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
    /// The samplers, one row each: discrete ones ([`LabSpec::DEFAULT_SAMPLERS`]) and the
    /// menu's ([`crate::menu`], K steps on diffusers' grid of the schedule, with their
    /// options and hybrids).
    pub samplers: Vec<AnySampler>,
}

impl LabSpec {
    /// The lab's default rows: [`Sampler::LAB`].
    pub const DEFAULT_SAMPLERS: [AnySampler; 5] = [
        AnySampler::Discrete(Sampler::LAB[0]),
        AnySampler::Discrete(Sampler::LAB[1]),
        AnySampler::Discrete(Sampler::LAB[2]),
        AnySampler::Discrete(Sampler::LAB[3]),
        AnySampler::Discrete(Sampler::LAB[4]),
    ];
}

/// Applies a command line's `--eta` and menu options to a list of samplers: η to those that
/// take one (DDIM family, ancestral and SDE menu samplers), `--variance` to the menu samplers
/// with η (euler-ancestral, dpm-solver++-sde), the other menu options to every menu sampler.
///
/// # Errors
/// [`Error::Invalid`] when an option applies to none of the samplers, or η is outside
/// [0, 1]; the per-sampler errors of [`AnySampler::with_eta`].
pub fn configure_samplers(
    samplers: &[AnySampler],
    eta: Option<f64>,
    options: MenuOptions,
) -> crate::Result<Vec<AnySampler>> {
    let takes_eta = |s: &AnySampler| match s {
        AnySampler::Discrete(d) => matches!(d, Sampler::Ddim { .. } | Sampler::AnalyticDdim { .. }),
        AnySampler::Covariance(c) => c.ddim_eta.is_some(),
        AnySampler::Menu(m) => m.sampler.takes_eta(),
        AnySampler::Continuous(_) => false,
    };
    let none = |what: &str, which: &str| Error::Invalid {
        what: "samplers",
        msg: format!("{what}: only for {which}, and none is in the list"),
    };
    if let Some(eta) = eta
        && !samplers.iter().any(takes_eta)
    {
        // η = 0 is every sampler's default; still say so when nothing takes it.
        if eta != 0.0 || !(0.0..=1.0).contains(&eta) {
            return Err(none(
                "--eta",
                "ddim, analytic-ddim, euler-ancestral, dpm2-ancestral and dpm-solver++-sde",
            ));
        }
    }
    let is_menu = |s: &AnySampler| matches!(s, AnySampler::Menu(_));
    let hybrid = |s: &AnySampler| {
        matches!(s, AnySampler::Menu(m) if matches!(
            m.sampler,
            MenuSampler::EulerAncestral | MenuSampler::DpmSolverPpSde
        ))
    };
    let general = MenuOptions {
        variance: None,
        ..options
    };
    if general.is_set() && !samplers.iter().any(is_menu) {
        return Err(none(
            "--sigmas, --spacing and --order",
            "the menu samplers (euler, heun, unipc, …)",
        ));
    }
    if options.variance.is_some() && !samplers.iter().any(hybrid) {
        return Err(none("--variance", "euler-ancestral and dpm-solver++-sde"));
    }
    samplers
        .iter()
        .map(|&s| {
            let s = match eta {
                Some(eta) if takes_eta(&s) => s.with_eta(eta)?,
                _ => s,
            };
            if !is_menu(&s) {
                return Ok(s);
            }
            let options = if hybrid(&s) { options } else { general };
            s.with_menu_options(options)
        })
        .collect()
}

/// One sampler's row of the lab.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabRow {
    /// Sampler name.
    pub sampler: String,
    /// NELBO in nats/dim (`None`: undefined, DDIM with η = 0 and the menu samplers).
    pub nelbo: Option<f64>,
    /// Its Monte-Carlo standard error.
    pub nelbo_std_err: Option<f64>,
    /// Energy distance of the samples to fresh data.
    pub energy_distance: f64,
    /// Exactly propagated variance of the output (Gaussian data).
    pub final_var: Option<f64>,
    /// Exactly propagated mean of the output (Gaussian data).
    pub final_mean: Option<f64>,
    /// Model evaluations per sample (menu samplers only; a discrete sampler uses K).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nfe: Option<usize>,
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
    /// Largest Monte-Carlo standard error of Γ̂ at the nodes (estimated Γ only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma_std_err: Option<f64>,
    /// One row per sampler.
    pub rows: Vec<LabRow>,
}

/// Runs the lab: `spec.samplers` on `law` (module docs). `on_progress` counts 2K units per
/// discrete sampler (sampling steps, then NELBO terms) and K per menu sampler.
///
/// # Errors
/// [`Error::Invalid`] for M outside 2..=[`MAX_SAMPLES`], K outside 1..=N, an optimal
/// trajectory, no sampler or a continuous or covariance sampler, a menu configuration the
/// menu rejects, a hybrid without Γ or head for this law, or a sampler producing a
/// non-finite sample; predictor errors.
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
    if spec.samplers.is_empty() {
        return Err(Error::Invalid {
            what: "samplers",
            msg: "the lab needs at least one sampler".into(),
        });
    }
    if let Some(s) = spec
        .samplers
        .iter()
        .find(|s| matches!(s, AnySampler::Continuous(_) | AnySampler::Covariance(_)))
    {
        return Err(Error::Invalid {
            what: "samplers",
            msg: format!(
                "the lab runs the discrete samplers (ddpm-tilde, ddpm-beta, analytic-ddpm, ddim, \
                 analytic-ddim) and the menu (euler, heun, unipc, …), not {s}"
            ),
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
    let units = |s: &AnySampler| match s {
        AnySampler::Menu(_) => k,
        _ => 2 * k,
    };
    let total_units = spec.samplers.iter().map(units).sum();
    let mut done = 0;
    let fresh = law.sample(&mut stream(4), m.min(ENERGY_ROWS));
    let t_top = *trajectory.steps().last().expect("K ≥ 1");
    let mut rows = Vec::with_capacity(spec.samplers.len());
    for &any in &spec.samplers {
        let name = any.to_string();
        let mut tick = |_: usize| {
            done += 1;
            on_progress(Progress {
                stage: &name,
                done,
                total: total_units,
            });
        };
        let started = Instant::now();
        let row = match any {
            AnySampler::Discrete(sampler) => {
                let steps = plan(&schedule, &trajectory, &settings.with(sampler), &gamma)?;
                // Samples from x_{τ_K} ~ q(x_{τ_K}).
                let mut rng = stream(2);
                let (sa, sb) = (
                    schedule.alpha_bar(t_top).sqrt(),
                    schedule.beta_bar(t_top).sqrt(),
                );
                let mut x = start_batch(law, &mut rng, m, sa, sb);
                sample(predictor, &steps, &mut x, &mut rng, &mut tick)?;
                check_finite(&x, &name)?;
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
                LabRow {
                    sampler: name.clone(),
                    nelbo: nelbo_v,
                    nelbo_std_err: nelbo_se,
                    energy_distance: ed,
                    final_var,
                    final_mean,
                    nfe: None,
                    seconds: 0.0,
                }
            }
            AnySampler::Menu(cfg) => {
                let run = lab_menu(law, &schedule, cfg, k, settings.x0_clip, m, &stream)?;
                for i in 0..k {
                    tick(i);
                }
                check_finite(&run.x, &name)?;
                let ed = energy_distance(&run.x[..m.min(ENERGY_ROWS) * dim], &fresh, dim);
                LabRow {
                    sampler: name.clone(),
                    nelbo: None,
                    nelbo_std_err: None,
                    energy_distance: ed,
                    final_var: run.moments.map(|mo| mo.var),
                    final_mean: run.moments.map(|mo| mo.mean),
                    nfe: Some(run.nfe),
                    seconds: 0.0,
                }
            }
            AnySampler::Continuous(_) | AnySampler::Covariance(_) => {
                unreachable!("rejected above")
            }
        };
        rows.push(LabRow {
            seconds: started.elapsed().as_secs_f64(),
            ..row
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
        gamma_std_err: trajectory
            .steps()
            .iter()
            .filter_map(|&n| gamma.std_err(n))
            .reduce(f64::max),
        rows,
    })
}

/// M rows of x_t = √ᾱ x_0 + √β̄ ε ~ q(x_t) (`sa` = √ᾱ, `sb` = √β̄): x_0 from the law,
/// then the noise.
fn start_batch(law: &Law, rng: &mut StdRng, m: usize, sa: f64, sb: f64) -> Vec<f64> {
    let mut x = law.sample(rng, m);
    let mut noise = vec![0.0; x.len()];
    crate::standard_normal(rng, &mut noise);
    for (xi, ni) in x.iter_mut().zip(&noise) {
        *xi = sa * *xi + sb * ni;
    }
    x
}

fn check_finite(x: &[f64], name: &str) -> crate::Result<()> {
    if let Some(v) = x.iter().find(|v| !v.is_finite()) {
        return Err(Error::Invalid {
            what: "samples",
            msg: format!("{name} produced a non-finite sample ({v})"),
        });
    }
    Ok(())
}

/// A menu sampler's run in the lab.
struct MenuRun {
    x: Vec<f64>,
    nfe: usize,
    moments: Option<Moments>,
}

/// Runs the menu sampler `cfg` with K steps on `law`'s exact predictor (and exact head, Γ by
/// [`Law::gamma_at`] for the hybrids), from x ~ q at the plan's first node (stream 2); for
/// Gaussian data also the exactly propagated final moments ([`menu_gaussian_moments`]).
fn lab_menu(
    law: &Law,
    schedule: &Schedule,
    cfg: MenuConfig,
    k: usize,
    x0_clip: X0Clip,
    m: usize,
    stream: &dyn Fn(u64) -> StdRng,
) -> crate::Result<MenuRun> {
    let cfg = MenuConfig { n_steps: k, ..cfg };
    let process = Process::Discrete(schedule);
    // Γ(ᾱ) at the grid's nodes: closed form or quadrature, else (mixtures in d ≥ 2) Monte
    // Carlo on the exact posterior variance from M rows of stream 5, reseeded per ᾱ.
    let gamma_rows = match law.gamma_at(0.5)? {
        Some(_) => Vec::new(),
        None if cfg.variance == MenuVariance::Analytic => law.sample(&mut stream(5), m),
        None => Vec::new(),
    };
    let gamma_fn = |ab: f64| match law.gamma_at(ab) {
        Ok(Some(g)) => g,
        Ok(None) => match law.cov_predictor() {
            Some(head) if !gamma_rows.is_empty() => {
                let mut rng = stream(5 ^ ab.to_bits());
                let level = crate::NoiseLevel {
                    t: 0.0,
                    alpha_bar: ab,
                };
                crate::analytic::posterior_gamma_at(
                    head,
                    &gamma_rows,
                    level,
                    (ab.sqrt(), (1.0 - ab).sqrt()),
                    4096,
                    &mut rng,
                )
                .map_or(f64::NAN, |(g, _)| g)
            }
            _ => f64::NAN,
        },
        Err(_) => f64::NAN,
    };
    let head = match cfg.variance.cov_kind() {
        Some(kind) => Some((
            law.cov_predictor().ok_or_else(|| Error::Invalid {
                what: "sampler",
                msg: format!(
                    "the {} law has no exact covariance head for --variance {}",
                    law.name(),
                    cfg.variance
                ),
            })?,
            kind,
        )),
        None => None,
    };
    let plan = crate::menu::plan_with(process, &cfg, Some(&gamma_fn))?;
    let clipped;
    let predictor: &dyn EpsPredictor = match x0_clip {
        X0Clip::Range { lo, hi } => {
            clipped = ClippedX0::new(law.predictor(), lo, hi);
            &clipped
        }
        X0Clip::None => law.predictor(),
    };
    let mut rng = stream(2);
    let (sa, sb) = plan.start.alpha_sigma();
    let mut x = start_batch(law, &mut rng, m, sa, sb);
    let nfe = crate::menu::plan::run_with_head(
        predictor,
        head,
        &plan,
        &mut x,
        &mut RngNoise(&mut rng),
        &mut |_| {},
    )?;
    let moments = match law {
        Law::Gauss(g) => {
            let ab = plan.start.alpha_bar();
            let start = Moments {
                mean: ab.sqrt() * g.mean()[0],
                var: ab * g.var()[0] + (1.0 - ab),
            };
            Some(menu_gaussian_moments(predictor, head, &plan, start)?)
        }
        _ => None,
    };
    Ok(MenuRun { x, nfe, moments })
}

/// Feeds unit noise to one row per noise draw: row `2 + j` gets z = 1 at the j-th draw,
/// every other row 0.
struct BasisNoise {
    draw: usize,
}

impl NoiseSource for BasisNoise {
    fn fill(&mut self, out: &mut [f64]) {
        out.fill(0.0);
        if let Some(v) = out.get_mut(2 + self.draw) {
            *v = 1.0;
        }
        self.draw += 1;
    }
}

/// The exact output moments of a menu plan on 1-D Gaussian data. With the exact ε* (affine in
/// x) and a head whose posterior variance does not depend on x (Gaussian data), the plan is
/// an affine map x_out = c + A x_in + Σ_j B_j z_j of the start and of its noise draws; one
/// run on the rows (x_in, z) = (0, 0), (1, 0) and (0, e_j) gives c, A and every B_j, so
/// mean = c + A·mean_in and var = A²·var_in + Σ_j B_j².
fn menu_gaussian_moments(
    predictor: &dyn EpsPredictor,
    head: Option<(&dyn CovPredictor, CovKind)>,
    plan: &Plan,
    start: Moments,
) -> crate::Result<Moments> {
    let draws = plan.stages.iter().filter(|s| s.noise.is_some()).count();
    let mut x = vec![0.0; 2 + draws];
    x[1] = 1.0;
    crate::menu::plan::run_with_head(
        predictor,
        head,
        plan,
        &mut x,
        &mut BasisNoise { draw: 0 },
        &mut |_| {},
    )?;
    let c = x[0];
    let a = x[1] - c;
    let noise_var: f64 = x[2..].iter().map(|v| (v - c).powi(2)).sum();
    Ok(Moments {
        mean: c + a * start.mean,
        var: a * a * start.var + noise_var,
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
        if let Some(se) = r.gamma_std_err {
            let _ = writeln!(f, "Γ̂ standard error ≤ {se:.2e} at the nodes (Monte Carlo)");
        }
        let w = r
            .rows
            .iter()
            .map(|row| row.sampler.chars().count())
            .max()
            .unwrap_or(0)
            .max(14);
        let _ = writeln!(
            f,
            "{:<w$} {:>22} {:>16} {:>12} {:>9}",
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
            let nfe = row.nfe.map(|n| format!("  NFE {n}")).unwrap_or_default();
            let _ = writeln!(
                f,
                "{:<w$} {:>22} {:>16.5} {:>12} {:>9.3}{nfe}",
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
    /// Largest Monte-Carlo standard error of Γ̂_n over n (estimated Γ only); Γ̂_n > 1
    /// counts as bad only beyond [`crate::analytic::GAMMA_SE_TOLERANCE`] of its errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gamma_std_err: Option<f64>,
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
        gamma_std_err: gamma.max_std_err(),
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
        if let Some(se) = r.gamma_std_err {
            writeln!(
                f,
                "Γ̂ standard error ≤ {se:.2e}; Γ̂_n > 1 counts as bad only beyond {} standard errors",
                crate::analytic::GAMMA_SE_TOLERANCE
            )?;
        }
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
