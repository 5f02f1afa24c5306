//! Optimal trajectory by dynamic programming (spec §6.6, §10.3): the solver against brute
//! force, the Gaussian invariance of the path cost, the Rademacher optimum and the dp_seg
//! guard.

use diffusion::analytic::Gamma;
use diffusion::exact::{Gaussian, Rademacher, sample_law};
use diffusion::optimal::{Guard, min_cost_path, path_cost, step_cost};
use diffusion::{
    Decoder, PlanConfig, Sampler, Schedule, Trajectory, nelbo, optimal_trajectory, plan,
};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Every strictly increasing list of `k` nodes from 1 to `n` (k ≥ 2).
fn all_paths(n: usize, k: usize) -> Vec<Vec<usize>> {
    fn rec(n: usize, k: usize, path: &mut Vec<usize>, out: &mut Vec<Vec<usize>>) {
        if path.len() == k - 1 {
            path.push(n);
            out.push(path.clone());
            path.pop();
            return;
        }
        let last = *path.last().unwrap();
        // Leave room for the k − 1 − len interior nodes still to come before n.
        let remaining = k - 1 - path.len();
        for next in last + 1..=n - remaining {
            path.push(next);
            rec(n, k, path, out);
            path.pop();
        }
    }
    let mut out = Vec::new();
    if k == 1 {
        if n == 1 {
            out.push(vec![1]);
        }
        return out;
    }
    rec(n, k, &mut vec![1], &mut out);
    out
}

/// Σ cost over consecutive pairs, in path order; NaN counts as +∞.
fn brute_cost(path: &[usize], cost: &[Vec<f64>]) -> f64 {
    path.windows(2)
        .map(|w| cost[w[0]][w[1]])
        .map(|c| if c.is_nan() { f64::INFINITY } else { c })
        .sum()
}

/// The brute-force minimum and the DP result for a full cost matrix `cost[s][t]`.
fn check_against_brute_force(n: usize, k: usize, cost: &[Vec<f64>]) {
    let paths = all_paths(n, k);
    let best = paths
        .iter()
        .map(|p| brute_cost(p, cost))
        .fold(f64::INFINITY, f64::min);
    let mut calls = Vec::new();
    let got = min_cost_path(n, k, |t, row| {
        calls.push(t);
        for s in 1..t {
            row[s] = cost[s][t];
        }
    });
    if !best.is_finite() {
        assert!(got.is_err(), "N={n} K={k}: no finite path, DP said {got:?}");
        return;
    }
    let got = got.unwrap();
    // The DP adds the same numbers in the same order as brute_cost along its own path, so the
    // minimum is reproduced up to the order of additions among tied paths: 1e-12 absolute for
    // sums of ≤ 11 terms of magnitude ≤ 1.
    assert!(
        (got.cost - best).abs() < 1e-12,
        "N={n} K={k}: DP {} vs brute force {best}",
        got.cost
    );
    assert_eq!(got.nodes.len(), k);
    assert_eq!(got.nodes[0], 1);
    assert_eq!(*got.nodes.last().unwrap(), n);
    assert!(got.nodes.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        brute_cost(&got.nodes, cost),
        got.cost,
        "reported cost is the path's"
    );
    if k >= 2 {
        assert_eq!(
            calls,
            (2..=n).collect::<Vec<_>>(),
            "one row per t, in order"
        );
    }
}

fn random_costs(rng: &mut StdRng, n: usize, forbidden: f64) -> Vec<Vec<f64>> {
    let mut cost = vec![vec![f64::NAN; n + 1]; n + 1];
    for (s, row) in cost.iter_mut().enumerate().skip(1) {
        for c in row.iter_mut().skip(s + 1) {
            *c = if rng.random::<f64>() < forbidden {
                if rng.random::<bool>() {
                    f64::NAN
                } else {
                    f64::INFINITY
                }
            } else {
                rng.random_range(-1.0..1.0)
            };
        }
    }
    cost
}

#[test]
fn dp_matches_brute_force_on_random_costs() {
    let mut rng = StdRng::seed_from_u64(3);
    for k in 3..=5 {
        for _ in 0..50 {
            let cost = random_costs(&mut rng, 12, 0.0);
            check_against_brute_force(12, k, &cost);
            let cost = random_costs(&mut rng, 12, 0.3);
            check_against_brute_force(12, k, &cost);
        }
    }
    // Only a chain of allowed steps 1 → 4 → 8 → 12.
    let mut cost = vec![vec![f64::INFINITY; 13]; 13];
    cost[1][4] = 0.5;
    cost[4][8] = 0.25;
    cost[8][12] = 0.125;
    let p = min_cost_path(12, 4, |t, row| {
        for s in 1..t {
            row[s] = cost[s][t];
        }
    })
    .unwrap();
    assert_eq!(p.nodes, vec![1, 4, 8, 12]);
    assert_eq!(p.cost, 0.875);
    assert!(
        min_cost_path(12, 3, |t, row| {
            for s in 1..t {
                row[s] = cost[s][t];
            }
        })
        .is_err()
    );
}

proptest! {
    #[test]
    fn dp_matches_brute_force_for_every_shape(n in 1usize..=10, kf in 0.0f64..1.0, seed in 0u64..1000, forbidden in 0.0f64..0.5) {
        let k = 1 + ((n as f64) * kf) as usize;
        let k = k.min(n);
        let mut rng = StdRng::seed_from_u64(seed);
        let cost = random_costs(&mut rng, n, forbidden);
        if k == 1 && n > 1 {
            prop_assert!(min_cost_path(n, k, |_, _| ()).is_err(), "K = 1 < N");
        } else {
            check_against_brute_force(n, k, &cost);
        }
    }
}

/// Spec §10.3: for Gaussian data 1 − β_{t|s}Γ_t/β̄_t = α_{t|s} v_s/v_t, so every path costs
/// log(ᾱ_N/ᾱ_1) + log v_1 − log v_N.
fn gaussian_path_cost(schedule: &Schedule, var: f64) -> f64 {
    let n = schedule.n_steps();
    let v = |t: usize| schedule.alpha_bar(t) * var + schedule.beta_bar(t);
    (schedule.alpha_bar(n) / schedule.alpha_bar(1)).ln() + v(1).ln() - v(n).ln()
}

/// Γ_t = β̄_t/v_t of N(m, s²) data (spec §10.3), with the schedule's own β̄_t: J magnifies the
/// error of 1 − Γ_t by 1/(1 − Γ_t) ~ 1e4 near t = N, so Γ must use the same β̄ as the cost.
fn gaussian_gamma(schedule: &Schedule, var: f64) -> Gamma {
    let n = schedule.n_steps();
    let g = |t: usize| schedule.beta_bar(t) / (schedule.alpha_bar(t) * var + schedule.beta_bar(t));
    Gamma::from_pairs(n, (1..=n).map(|t| (t, g(t)))).unwrap()
}

#[test]
fn gaussian_gamma_is_the_exact_laws() {
    // The helper above agrees with `exact::Gaussian::gamma` (which forms β̄ = 1 − ᾱ itself) to
    // the 1e-12 relative that 1 − ᾱ_1 keeps.
    let sched = Schedule::linear(1000).unwrap();
    let law = Gaussian::isotropic(1, 0.5, 0.09).unwrap();
    let g = gaussian_gamma(&sched, 0.09);
    for t in [1, 10, 500, 1000] {
        let want = law.gamma(sched.alpha_bar(t));
        assert!((g.get(t).unwrap() / want - 1.0).abs() < 1e-11, "t={t}");
    }
}

#[test]
fn gaussian_data_makes_every_path_cost_the_same() {
    for var in [0.09, 1.0, 4.0] {
        // Small N: every path of K = 3..5 nodes ties, checked by enumeration.
        let small = Schedule::cosine(12).unwrap();
        let gamma = gaussian_gamma(&small, var);
        let want = gaussian_path_cost(&small, var);
        // Γ_t is stored as a number near 1, so 1 − Γ_t carries an absolute error of ~ε; J moves
        // by ε/(1 − Γ_t) per step at worst. Tolerance: 4 steps' worth plus 1e-13 for the logs.
        let tol = |g: &Gamma, n: usize| {
            let worst = (1..=n).map(|t| 1.0 - g.get(t).unwrap()).fold(1.0, f64::min);
            1e-13 + 4.0 * f64::EPSILON / worst
        };
        let tol_small = tol(&gamma, 12);
        for k in 2..=5 {
            for p in all_paths(12, k) {
                let traj = Trajectory::from_steps(12, p).unwrap();
                let got = path_cost(&small, &gamma, &traj).unwrap();
                assert!((got - want).abs() < tol_small, "{traj:?}: {got} vs {want}");
            }
        }
        // N = 1000: the DP optimum, ET and random trajectories all cost the closed form. Up to
        // 1000 terms, each with a few ulps of error on values ≤ 10 in magnitude: 1e-11 more.
        let sched = Schedule::linear(1000).unwrap();
        let gamma = gaussian_gamma(&sched, var);
        let tol_big = 1e-11 + tol(&gamma, 1000);
        let want = gaussian_path_cost(&sched, var);
        let mut rng = StdRng::seed_from_u64(9);
        for k in [2, 10, 50, 333, 1000] {
            let opt = optimal_trajectory(&sched, &gamma, k).unwrap();
            assert!(opt.guard.is_none());
            assert!(
                (opt.cost - want).abs() < tol_big,
                "K={k}: {} vs {want}",
                opt.cost
            );
            let mut trajs = vec![Trajectory::even(1000, k).unwrap(), opt.trajectory.clone()];
            if k > 2 {
                let mut inner: Vec<usize> = (2..1000).collect();
                for i in 0..k - 2 {
                    let j = rng.random_range(i..inner.len());
                    inner.swap(i, j);
                }
                let mut nodes: Vec<usize> = inner[..k - 2].to_vec();
                nodes.push(1);
                nodes.push(1000);
                nodes.sort_unstable();
                trajs.push(Trajectory::from_steps(1000, nodes).unwrap());
            }
            for traj in trajs {
                let got = path_cost(&sched, &gamma, &traj).unwrap();
                assert!((got - want).abs() < tol_big, "K={k}: {got} vs {want}");
            }
        }
    }
}

/// Γ of the 1-D Rademacher law on every time of `schedule` (200-point Gauss–Hermite, spec
/// §10.3). Γ ≤ 1 holds exactly (Jensen); quadrature rounding can exceed it by ulps near t = 1,
/// so the table is capped at 1.
fn rademacher_gamma(schedule: &Schedule) -> Gamma {
    Gamma::from_fn(schedule, |ab| Rademacher::gamma(ab, 200).min(1.0)).unwrap()
}

/// The linear N = 1000 schedule and its Rademacher Γ, built once (1000 quadrature rules).
fn linear_1000() -> &'static (Schedule, Gamma) {
    static CELL: std::sync::OnceLock<(Schedule, Gamma)> = std::sync::OnceLock::new();
    CELL.get_or_init(|| {
        let sched = Schedule::linear(1000).unwrap();
        let gamma = rademacher_gamma(&sched);
        (sched, gamma)
    })
}

#[test]
fn rademacher_optimum_matches_brute_force_with_real_costs() {
    // N = 100 (linear schedule, scale 10), K = 4: all C(98, 2) = 4753 paths, costs J(s, t)
    // from `step_cost`, against the DP's running-product costs.
    let sched = Schedule::linear(100).unwrap();
    let gamma = rademacher_gamma(&sched);
    for k in [3, 4] {
        let (best, arg) = all_paths(100, k)
            .into_iter()
            .map(|p| {
                let traj = Trajectory::from_steps(100, p).unwrap();
                (path_cost(&sched, &gamma, &traj).unwrap(), traj)
            })
            .fold((f64::INFINITY, None), |(b, a), (c, t)| {
                if c < b { (c, Some(t)) } else { (b, a) }
            });
        let opt = optimal_trajectory(&sched, &gamma, k).unwrap();
        // Two evaluations of the same ≤ 3 logs (telescoped vs running β_{t|s}): 1e-13.
        assert!(
            (opt.cost - best).abs() < 1e-13,
            "K={k}: {} vs {best}",
            opt.cost
        );
        let arg = arg.unwrap();
        assert!(
            (path_cost(&sched, &gamma, &arg).unwrap()
                - path_cost(&sched, &gamma, &opt.trajectory).unwrap())
            .abs()
                < 1e-13
        );
    }
}

#[test]
fn rademacher_optimum_beats_the_even_trajectory() {
    // Spec §10.3: Γ of Rademacher data is non-monotone, so the optimum is not a tie. The gain
    // in NELBO equals half the gain in Σ J (the KL terms are ½ log(σ*²/β̃) per dimension and the
    // rest telescopes), checked by Monte Carlo with common random numbers.
    let (sched, gamma) = linear_1000().clone();
    let law = Rademacher::new(1).unwrap();
    let mut rng = StdRng::seed_from_u64(21);
    let data = sample_law(&law, &mut rng, 40_000);
    for k in [10, 25] {
        let opt = optimal_trajectory(&sched, &gamma, k).unwrap();
        assert!(opt.guard.is_none());
        let even = Trajectory::even(1000, k).unwrap();
        let j_even = path_cost(&sched, &gamma, &even).unwrap();
        let j_opt = path_cost(&sched, &gamma, &opt.trajectory).unwrap();
        assert!((j_opt - opt.cost).abs() < 1e-11, "{j_opt} vs {}", opt.cost);
        assert!(
            j_opt < j_even - 0.1,
            "K={k}: optimal {j_opt} vs even {j_even}"
        );
        assert_ne!(opt.trajectory, even);
        let mut totals = Vec::new();
        for traj in [&even, &opt.trajectory] {
            let steps = plan(
                &sched,
                traj,
                &PlanConfig::exact(Sampler::AnalyticDdpm),
                &gamma,
            )
            .unwrap();
            let dec = Decoder::Gaussian { variance: 1e-3 };
            let mut r = StdRng::seed_from_u64(77);
            let n = nelbo(&law, &sched, &steps, &data, dec, &mut r, &mut |_| {}).unwrap();
            totals.push(n);
        }
        let gain = totals[0].total - totals[1].total;
        let want = 0.5 * (j_even - j_opt);
        let se = (totals[0].std_err.powi(2) + totals[1].std_err.powi(2)).sqrt();
        assert!(
            (gain - want).abs() < 4.0 * se,
            "K={k}: NELBO gain {gain} vs ½ΔJ {want} (se {se})"
        );
    }
}

#[test]
fn bad_gamma_cuts_the_search_like_dp_seg() {
    let (sched, good) = linear_1000().clone();
    // Γ_n > 1 from n = 901 on: n_bad = 200, N1 = 800, K1 = ⌈0.84·20⌉ = 17, K2 = 3.
    let bumped = Gamma::from_pairs(
        1000,
        (1..=1000).map(|t| (t, if t > 900 { 1.01 } else { good.get(t).unwrap() })),
    )
    .unwrap();
    let opt = optimal_trajectory(&sched, &bumped, 20).unwrap();
    let g = opt.guard.unwrap();
    assert_eq!(g, Guard::new(1000, 20, 901).unwrap());
    assert_eq!((g.n_searched, g.k_searched, g.k_tail), (800, 17, 3));
    let steps = opt.trajectory.steps();
    assert_eq!(steps.len(), 20);
    // Tail: round(1000 − (200/3)·i), i = 2, 1, 0 → 866.67, 933.33, 1000.
    assert_eq!(&steps[17..], &[867, 933, 1000]);
    // The searched part is the optimum on [1, 800] with 17 nodes.
    let head = Trajectory::from_steps(800, steps[..17].to_vec()).unwrap();
    assert_eq!(*head.steps().last().unwrap(), 800);
    let sub = Schedule::from_betas(sched.betas()[..=800].to_vec()).unwrap();
    let sub_gamma = Gamma::from_pairs(800, (1..=800).map(|t| (t, good.get(t).unwrap()))).unwrap();
    let direct = optimal_trajectory(&sub, &sub_gamma, 17).unwrap();
    assert_eq!(direct.trajectory, head);
    assert!((direct.cost - opt.cost).abs() < 1e-12);

    // Unknown Γ counts as bad; NaN cannot be stored, so leave times out.
    let partial = Gamma::from_pairs(1000, (1..=950).map(|t| (t, good.get(t).unwrap()))).unwrap();
    let opt = optimal_trajectory(&sched, &partial, 10).unwrap();
    assert_eq!(opt.guard.unwrap().first_bad, 951);
    // Bad from the start: no room, a clear error.
    let ones = Gamma::from_pairs(1000, (1..=1000).map(|t| (t, 1.5))).unwrap();
    let err = optimal_trajectory(&sched, &ones, 10)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Γ_n > 1"), "{err}");
}

#[test]
fn edge_cases_and_errors() {
    let (sched, gamma) = linear_1000().clone();
    let one = optimal_trajectory(&sched, &gamma, 1).unwrap();
    assert_eq!(one.trajectory.steps(), &[1000]);
    assert_eq!(one.cost, 0.0);
    let all = optimal_trajectory(&sched, &gamma, 1000).unwrap();
    assert_eq!(
        all.trajectory.steps(),
        (1..=1000).collect::<Vec<_>>().as_slice()
    );
    let two = optimal_trajectory(&sched, &gamma, 2).unwrap();
    assert_eq!(two.trajectory.steps(), &[1, 1000]);
    assert!((two.cost - step_cost(&sched, 1, 1000, gamma.get(1000).unwrap())).abs() < 1e-15);
    assert!(optimal_trajectory(&sched, &gamma, 0).is_err());
    assert!(optimal_trajectory(&sched, &gamma, 1001).is_err());
    let other = Schedule::linear(500).unwrap();
    assert!(optimal_trajectory(&other, &gamma, 10).is_err());
    assert!(step_cost(&sched, 1, 2, 2e4).is_nan());
}

#[test]
fn thousand_steps_any_k_is_fast() {
    // N = 1000 with K up to 1000 must take seconds (issue 3); the worst case is K ≈ N/3.
    let (sched, gamma) = linear_1000().clone();
    let start = std::time::Instant::now();
    for k in [2, 10, 100, 333, 500, 900, 999, 1000] {
        let opt = optimal_trajectory(&sched, &gamma, k).unwrap();
        assert_eq!(opt.trajectory.len(), k);
        // The optimum is never worse than ET (1e-12: same sums, other order).
        let even = path_cost(&sched, &gamma, &Trajectory::even(1000, k).unwrap()).unwrap();
        assert!(opt.cost <= even + 1e-12, "K={k}");
    }
    let secs = start.elapsed().as_secs_f64();
    assert!(secs < 30.0, "8 DPs took {secs} s");
}

proptest! {
    #[test]
    fn optimal_trajectory_is_the_least_path_cost(
        n in 2usize..=12,
        kf in 0.0f64..1.0,
        gammas in proptest::collection::vec(0.0f64..=1.0, 12),
    ) {
        // Random Γ ∈ [0, 1] on the cosine schedule with N ≤ 12: the DP (running β_{t|s}) must
        // equal the least `path_cost` (telescoped β_{t|s}) over every path; ≤ 11 logs of values
        // ≤ 20 in magnitude: 1e-12 absolute.
        let k = (2 + ((n - 1) as f64 * kf) as usize).min(n);
        let sched = Schedule::cosine(n).unwrap();
        let gamma = Gamma::from_pairs(n, (1..=n).map(|t| (t, gammas[t - 1]))).unwrap();
        let opt = optimal_trajectory(&sched, &gamma, k).unwrap();
        prop_assert!(opt.guard.is_none());
        let best = all_paths(n, k)
            .into_iter()
            .map(|p| path_cost(&sched, &gamma, &Trajectory::from_steps(n, p).unwrap()).unwrap())
            .fold(f64::INFINITY, f64::min);
        prop_assert!((opt.cost - best).abs() < 1e-12, "{} vs {best}", opt.cost);
        let own = path_cost(&sched, &gamma, &opt.trajectory).unwrap();
        prop_assert!((own - opt.cost).abs() < 1e-12);
    }
}
