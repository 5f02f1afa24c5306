"""kexue.diffusion against closed forms (spec diffusion.md §10.3) and the Rust CLI.

Data law throughout: 1-D Gaussian N(m, s²) with m = 0.5, s² = 0.09, whose exact noise predictor
is ε*(x_t) = √β̄_t (x_t − √ᾱ_t m) / v_t with v_t = ᾱ_t s² + β̄_t, and Γ_t = β̄_t / v_t
(spec §10.3). Monte-Carlo comparisons use tolerances of 5 standard errors.
"""

import math

import numpy as np
import pytest

import kexue
from kexue import diffusion as kd

from conftest import cli_json

M, S2 = 0.5, 0.09


def gaussian_eps(schedule, m=M, s2=S2):
    """The exact ε* of N(m, s2) as a numpy eps_fn (reads ᾱ from the model time t)."""
    ab_table = schedule.alpha_bar

    def eps_fn(x_t, t):
        ab = ab_table[t.astype(np.int64)].reshape((-1,) + (1,) * (x_t.ndim - 1))
        v = ab * s2 + (1.0 - ab)
        return np.sqrt(1.0 - ab) * (x_t - np.sqrt(ab) * m) / v

    return eps_fn


def gaussian_gamma(schedule, s2=S2):
    ab = schedule.alpha_bar
    bb = schedule.beta_bar
    g = bb / (ab * s2 + bb)
    g[0] = np.nan
    return kd.Gamma(g)


def q_xn(schedule, rows, seed, m=M, s2=S2):
    """Draws x_N ~ q(x_N) = N(√ᾱ_N m, v_N) as the spec's table assumes."""
    rng = np.random.default_rng(seed)
    ab = schedule.alpha_bar[-1]
    x0 = m + math.sqrt(s2) * rng.standard_normal((rows, 1))
    return math.sqrt(ab) * x0 + math.sqrt(1 - ab) * rng.standard_normal((rows, 1))


# Spec §10.3: final variance after exact propagation, 1-D m = 0.5, s² = 0.09, linear N = 1000,
# even trajectory, x_N ~ q(x_N), every step (the last one too) sampling.
VARIANCE_TABLE = {
    2: {"ddpm-tilde": 0.000100, "ddpm-beta": 0.997941, "analytic-ddpm": 0.09, "ddim": 0.000112, "analytic-ddim": 0.09},
    10: {"ddpm-tilde": 0.026768, "ddpm-beta": 0.194571, "analytic-ddpm": 0.09, "ddim": 0.032647, "analytic-ddim": 0.09},
    100: {"ddpm-tilde": 0.073892, "ddpm-beta": 0.096856, "analytic-ddpm": 0.09, "ddim": 0.082381, "analytic-ddim": 0.09},
    1000: {"ddpm-tilde": 0.087766, "ddpm-beta": 0.090654, "analytic-ddpm": 0.09, "ddim": 0.089123, "analytic-ddim": 0.09},
}


@pytest.mark.parametrize("k", sorted(VARIANCE_TABLE))
def test_variance_table_of_spec_10_3(k):
    schedule = kd.Schedule.linear(1000)
    eps_fn = gaussian_eps(schedule)
    gamma = gaussian_gamma(schedule)
    rows = 40_000
    x_init = q_xn(schedule, rows, seed=k)
    for sampler, want in VARIANCE_TABLE[k].items():
        x = kd.sample(eps_fn, (rows, 1), schedule, sampler=sampler, steps=k, gamma=gamma,
                      x_init=x_init, seed=1, batch=rows)
        assert x.shape == (rows, 1) and x.dtype == np.float64
        # The output is Gaussian (affine steps of Gaussian input): var of the sample variance
        # is 2v²/(rows−1), of the mean v/rows. The table prints 6 decimals (±5e-7).
        se_var = want * math.sqrt(2.0 / (rows - 1))
        assert abs(x.var(ddof=1) - want) < 5 * se_var + 5e-7, (k, sampler, x.var(ddof=1))
        assert abs(x.mean() - M) < 5 * math.sqrt(want / rows) + 1e-6, (k, sampler, x.mean())


def test_estimate_gamma_matches_closed_form():
    schedule = kd.Schedule.linear(1000)
    rng = np.random.default_rng(0)
    rows = 20_000
    data = M + math.sqrt(S2) * rng.standard_normal((rows, 1))
    times = [1, 10, 100, 300, 1000]
    g = kd.estimate_gamma(gaussian_eps(schedule), data, schedule, times=times, batch=4096, seed=3)
    exact = gaussian_gamma(schedule).values
    for t in times:
        # ε̂ ~ N(0, Γ_t) exactly, so ε̂² has mean Γ_t and standard deviation √2·Γ_t.
        se = exact[t] * math.sqrt(2.0 / rows)
        assert abs(g.get(t) - exact[t]) < 5 * se, (t, g.get(t), exact[t])
    assert g.get(2) is None
    assert np.isnan(g.values[2])


def test_estimate_gamma_m_uses_the_first_rows():
    schedule = kd.Schedule.linear(100)
    data = np.linspace(-1, 1, 64).reshape(16, 4)
    eps = gaussian_eps(schedule)
    a = kd.estimate_gamma(eps, data[:8], schedule, times=[5, 50], seed=1)
    b = kd.estimate_gamma(eps, data, schedule, m=8, times=[5, 50], seed=1)
    assert a.get(5) == b.get(5) and a.get(50) == b.get(50)
    with pytest.raises(ValueError, match="m = 17"):
        kd.estimate_gamma(eps, data, schedule, m=17)


def test_optimal_trajectory_cost_telescopes_for_gaussian_data():
    # Spec §10.3 "DP invariance": 1 − β_{t|s}Γ_t/β̄_t = α_{t|s} v_s / v_t, so the path cost of
    # every trajectory from 1 to N is log(ᾱ_N/ᾱ_1) + log v_1 − log v_N.
    schedule = kd.Schedule.linear(1000)
    ab = schedule.alpha_bar
    v = ab * S2 + (1 - ab)
    want = math.log(ab[1000] / ab[1]) + math.log(v[1]) - math.log(v[1000])
    for k in (2, 10, 50):
        opt = kd.optimal_trajectory(schedule, gaussian_gamma(schedule), k)
        assert opt.steps[0] == 1 and opt.steps[-1] == 1000 and len(opt.steps) == k
        assert opt.guard is None
        # K terms of size O(1) summed in f64.
        assert abs(opt.cost - want) < 1e-12 * k * max(1.0, abs(want)), (k, opt.cost, want)


def rademacher_gamma(schedule, nodes=200):
    """Γ_t of Rademacher data by Gauss–Hermite (spec §10.3; by symmetry x_0 = +1)."""
    z, w = np.polynomial.hermite.hermgauss(nodes)
    g = np.full(schedule.n_steps + 1, np.nan)
    for t in range(1, schedule.n_steps + 1):
        ab = schedule.alpha_bar[t]
        sa, bb = math.sqrt(ab), 1.0 - ab
        x = sa + math.sqrt(bb) * math.sqrt(2.0) * z
        e = (x - sa * np.tanh(sa * x / bb)) / math.sqrt(bb)
        g[t] = float(np.sum(w * e * e) / math.sqrt(math.pi))
    # Γ ≤ 1 for an exact ε* (Jensen, spec §10.4); near t = 1, where Γ_t = 1 − O(1e-300), the
    # quadrature rounds to 1 + O(1e-15), which the DP's guard would read as "Γ > 1".
    return np.minimum(g, 1.0)


@pytest.mark.parametrize("k", [5, 10, 20])
def test_optimal_trajectory_equals_the_cli_on_rademacher(kexue_bin, k):
    schedule = kd.Schedule.linear(1000)
    gamma = kd.Gamma(rademacher_gamma(schedule))
    opt = kd.optimal_trajectory(schedule, gamma, k)
    rust = cli_json(kexue_bin, "diffusion", "trajectory", "--data", "rademacher",
                    "--steps", k, "--samples", 100, "--json")
    assert opt.steps == rust["trajectory"]
    # Both sides integrate the same Γ with 200-node Gauss–Hermite rules computed independently
    # (numpy's and the crate's); the nodes agree to ~1e-13, so the DP costs to 1e-9.
    assert abs(opt.cost - rust["dp_cost"]) < 1e-9 * max(1.0, abs(rust["dp_cost"]))


def test_nelbo_is_the_entropy_with_the_analytic_decoder():
    # Spec §10.3 closed-form NELBO: Analytic-DDPM with exact ε*, decoder variance σ̄²_{τ_1}
    # (the last step's own variance) gives ½ ln(2πe s²) + KL(q(x_N) ‖ N(0, 1)) for every K.
    schedule = kd.Schedule.linear(1000)
    rng = np.random.default_rng(1)
    data = M + math.sqrt(S2) * rng.standard_normal((20_000, 1))
    ab, bb = schedule.alpha_bar, schedule.beta_bar
    mean_n, var_n = math.sqrt(ab[1000]) * M, ab[1000] * S2 + bb[1000]
    prior_kl = 0.5 * (var_n + mean_n**2 - 1.0 - math.log(var_n))
    want = 0.5 * math.log(2 * math.pi * math.e * S2) + prior_kl
    for k in (10, 25):
        tau1 = kd.Trajectory.even(1000, k).steps[0]
        # Optimal DDPM variance at (0, τ_1): Cov[x_0 | x_{τ_1}] = s² β̄/v (spec §10.3).
        dec = S2 * bb[tau1] / (ab[tau1] * S2 + bb[tau1])
        r = kd.nelbo(gaussian_eps(schedule), data, schedule, sampler="analytic-ddpm", steps=k,
                     gamma=gaussian_gamma(schedule), decoder_variance=dec, seed=2)
        assert len(r["terms"]) == k - 1 and r["rows"] == 20_000
        assert abs(r["total"] - want) < 5 * r["std_err"] + 1e-9, (k, r, want)
        assert r["bits_per_dim"] == pytest.approx(r["total"] / math.log(2), rel=1e-15)


def test_nelbo_equals_the_cli_lab(kexue_bin):
    # The laboratory's Gaussian law is N(0.5, 0.09); its NELBO uses the §6.7 decoder β̃_{1|2},
    # the default here. Different data draws: agreement within 5 combined standard errors.
    rows = 20_000
    rust = cli_json(kexue_bin, "diffusion", "lab", "--data", "gauss", "--steps", 10,
                    "--samples", rows, "--json")
    schedule = kd.Schedule.linear(1000)
    rng = np.random.default_rng(5)
    data = M + math.sqrt(S2) * rng.standard_normal((rows, 1))
    for row in rust["rows"]:
        if row["nelbo"] is None:
            continue
        r = kd.nelbo(gaussian_eps(schedule), data, schedule, sampler=row["sampler"], steps=10,
                     gamma=gaussian_gamma(schedule), seed=7)
        tol = 5 * math.hypot(r["std_err"], row["nelbo_std_err"])
        assert abs(r["total"] - row["nelbo"]) < tol, (row["sampler"], r["total"], row["nelbo"])


@pytest.mark.parametrize("sampler,steps,tol", [("ode-rk45", 1, 2e-3), ("dpm-solver++", 50, 5e-3)])
def test_continuous_samplers_reach_the_data_law(sampler, steps, tol):
    schedule = kd.Schedule.linear(1000)
    rows = 20_000
    x = kd.sample(gaussian_eps(schedule), (rows, 1), schedule, sampler=sampler, steps=steps, seed=0,
                  batch=rows)
    # The ODEs stop at t_end = 1e-3 (ᾱ ≈ 1, noise variance ≈ 1e-5 on top of s²); the deviation
    # allowed is the solver's error plus 5 standard errors.
    assert abs(x.var(ddof=1) - S2) < tol + 5 * S2 * math.sqrt(2 / rows)
    assert abs(x.mean() - M) < tol + 5 * math.sqrt(S2 / rows)


def test_sample_is_seeded_and_batches_do_not_change_the_result():
    schedule = kd.Schedule.cosine(200)
    eps = gaussian_eps(schedule)
    a = kd.sample(eps, (50, 2, 3), schedule, sampler="ddpm-beta", steps=20, seed=4, batch=7)
    b = kd.sample(eps, (50, 2, 3), schedule, sampler="ddpm-beta", steps=20, seed=4, batch=50)
    c = kd.sample(eps, (50, 2, 3), schedule, sampler="ddpm-beta", steps=20, seed=5, batch=50)
    assert a.shape == (50, 2, 3)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_eps_fn_sees_batches_and_model_times():
    schedule = kd.Schedule.linear(1000)
    seen = []

    def eps_fn(x, t):
        seen.append((x.shape, t.dtype, float(t[0]), bool(np.all(t == t[0]))))
        return np.zeros_like(x)

    kd.sample(eps_fn, (10, 3), schedule, sampler="ddim", steps=4, batch=4)
    traj = kd.Trajectory.even(1000, 4).steps
    assert [s[0] for s in seen[:3]] == [(4, 3), (4, 3), (2, 3)]
    assert all(dt == np.float64 and same for _, dt, _, same in seen)
    assert [s[2] for s in seen[::3]] == [float(t) for t in reversed(traj)]


def test_schedules_round_trip():
    lin = kd.Schedule.linear(1000)
    assert lin.n_steps == 1000 and lin.betas[0] == 0.0 and lin.alpha_bar[0] == 1.0
    # Ho et al.: β from 1e-4 to 0.02.
    assert lin.betas[1] == pytest.approx(1e-4, rel=1e-12) and lin.betas[-1] == pytest.approx(0.02, rel=1e-12)
    back = kd.Schedule.from_alphas_cumprod(lin.alphas_cumprod)
    np.testing.assert_allclose(back.alpha_bar, lin.alpha_bar, rtol=1e-13)
    np.testing.assert_allclose(back.betas, lin.betas, rtol=1e-9)
    again = kd.Schedule.from_betas(lin.betas[1:])
    np.testing.assert_array_equal(again.alpha_bar, lin.alpha_bar)
    rng = kd.Schedule.linear(10, beta_start=0.1, beta_end=0.2)
    np.testing.assert_allclose(rng.betas[1:], np.linspace(0.1, 0.2, 10), rtol=1e-15)
    cos = kd.Schedule.cosine(1000)
    assert cos.beta_bar[500] == pytest.approx(1 - cos.alpha_bar[500], rel=1e-12)
    t = kd.Trajectory(1000, [1, 500, 1000])
    assert t.pairs() == [(500, 1000), (1, 500), (0, 1)] and len(t) == 3
    assert kd.Trajectory.even(1000, 10).steps == [1, 112, 223, 334, 445, 556, 667, 778, 889, 1000]


def test_checkpoint_model_runs_in_rust_and_from_python(repo):
    model = kd.load(repo / "models" / "digits")
    assert model.shape == [1, 8, 8] and model.dim == 64
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8))
    eps = model(x, 500.0)
    assert eps.shape == x.shape and np.all(np.isfinite(eps))
    np.testing.assert_array_equal(model(x, np.full(5, 500.0)), eps)
    schedule = model.schedule
    # The checkpoint's own settings (as `kexue diffusion sample`): x̂_0 clipped to [−1, 1] and a
    # mean-only last step, so every value lies in [−1, 1].
    auto = kd.sample(model, (6, 1, 8, 8), schedule, sampler="ddim", steps=10, seed=1)
    assert np.all(np.abs(auto) <= 1.0 + 1e-12)
    # The same network in Rust and through a Python callable: same plan, same draws, same ε̂.
    kw = dict(sampler="ddpm-tilde", steps=10, seed=1, clip_x0=(-1.0, 1.0), final_step="mean")
    direct = kd.sample(model, (6, 1, 8, 8), schedule, **kw)
    through_python = kd.sample(lambda x, t: model(x, t), (6, 1, 8, 8), schedule, **kw)
    np.testing.assert_allclose(through_python, direct, rtol=0, atol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        kd.sample(model, (2, 64), schedule, sampler="ddim", steps=5)


# ---------------------------------------------------------------------------------------------
# Bad inputs


class Boom(Exception):
    pass


def test_exception_in_eps_fn_propagates_unchanged():
    schedule = kd.Schedule.linear(100)

    def eps_fn(x, t):
        if t[0] < 50:
            raise Boom(f"failed at t = {t[0]}")
        return np.zeros_like(x)

    with pytest.raises(Boom, match="failed at t = "):
        kd.sample(eps_fn, (3, 2), schedule, sampler="ddim", steps=10)
    with pytest.raises(Boom):
        kd.estimate_gamma(eps_fn, np.zeros((4, 2)), schedule)
    with pytest.raises(Boom):
        kd.nelbo(eps_fn, np.zeros((4, 2)), schedule, sampler="ddpm-beta", steps=10)


@pytest.mark.parametrize(
    "ret,exc,pattern",
    [
        (lambda x: x[:1], ValueError, r"shape \(1, 2\) for x_t of shape \(3, 2\)"),
        (lambda x: x.reshape(-1), ValueError, "shape"),
        (lambda x: x.tolist(), TypeError, "float32 or float64, got list"),
        (lambda x: x.astype(np.int64), TypeError, "int64|<i8"),
        (lambda x: np.full_like(x, np.nan), ValueError, "not finite"),
    ],
)
def test_bad_eps_fn_results_raise_clear_errors(ret, exc, pattern):
    schedule = kd.Schedule.linear(100)
    with pytest.raises(exc, match=pattern):
        kd.sample(lambda x, t: ret(x), (3, 2), schedule, sampler="ddim", steps=5)


def test_float32_results_are_accepted():
    schedule = kd.Schedule.linear(100)
    x = kd.sample(lambda x, t: np.zeros_like(x, dtype=np.float32), (3, 2), schedule,
                  sampler="ddim", steps=5)
    assert x.dtype == np.float64 and np.all(np.isfinite(x))


def test_bad_arguments_raise_clear_errors():
    schedule = kd.Schedule.linear(100)
    eps = gaussian_eps(schedule)
    with pytest.raises(ValueError, match="unknown sampler `nope`"):
        kd.sample(eps, (2, 1), schedule, sampler="nope")
    with pytest.raises(ValueError, match="Γ_.* is needed"):
        kd.sample(eps, (2, 1), schedule, sampler="analytic-ddpm", steps=5)
    with pytest.raises(ValueError, match="K = 0"):
        kd.sample(eps, (2, 1), schedule, sampler="ddim", steps=0)
    with pytest.raises(ValueError, match="outside"):
        kd.sample(eps, (2, 1), schedule, sampler="ddim", eta=1.5)
    with pytest.raises(ValueError, match="eta applies"):
        kd.sample(eps, (2, 1), schedule, sampler="ddpm-beta", eta=0.5)
    with pytest.raises(TypeError, match="callable"):
        kd.sample(42, (2, 1), schedule)
    with pytest.raises(TypeError, match="float32 or float64"):
        kd.estimate_gamma(eps, np.zeros((4, 1), dtype=np.int32), schedule)
    with pytest.raises(ValueError, match=r"data\[2, 0\] = NaN is not finite"):
        kd.estimate_gamma(eps, np.array([[0.0], [1.0], [np.nan]]), schedule)
    with pytest.raises(ValueError, match="rows"):
        kd.nelbo(eps, np.zeros(4), schedule)
    with pytest.raises(ValueError, match="not in"):
        kd.Schedule.linear(10, beta_start=0.5, beta_end=1.5)
    with pytest.raises(ValueError, match="increasing"):
        kd.Trajectory(100, [5, 3])
    with pytest.raises(ValueError, match="x_init has shape"):
        kd.sample(eps, (2, 1), schedule, sampler="ddim", x_init=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="discrete samplers"):
        kd.nelbo(eps, np.zeros((4, 1)), schedule, sampler="dpm-solver++")
    with pytest.raises(ValueError, match="checkpoint"):
        kd.load("/nonexistent/checkpoint")


def test_version_and_help():
    assert isinstance(kexue.__version__, str)
    assert "eps_fn" in kd.__doc__
    assert kd.sample.__doc__ and "shape" in kd.sample.__doc__
