#!/usr/bin/env python3
"""Reference Γ(ᾱ) = E‖ε*(x_t)‖²/d of Gaussian mixtures by mpmath quadrature (issue 20 item 22).

Writes crates/diffusion/tests/data/gmm_gamma.json, which `tests/it/gamma.rs` compares with
`GaussianMixture::gamma` (product Gauss–Hermite in f64). Independent of the Rust code: the
density p_t and ε* are written out here from their definitions,

    p_t(x) = Σ_k w_k N(x; √ᾱ m_k, diag(ᾱ s_k² + β̄)),   ε*(x) = −√β̄ ∇ log p_t(x),

and Γ = ∫ p_t ‖ε*‖² dx by mpmath's tanh-sinh quadrature at 30 significant digits, split at
the component centres, for three 1-D mixtures A, B, C at times n of the linear N = 1000
schedule. The Rust test also checks the 2-D and 3-D product rules with them: the product law
A ⊗ B (a 2-D mixture of 3 × 2 diagonal components) has ε* separable per coordinate, so its
Γ is (Γ_A + Γ_B)/2, and A ⊗ B ⊗ C's is (Γ_A + Γ_B + Γ_C)/3.

Usage: /work/venv-torch/bin/python scripts/make_gmm_gamma_fixture.py   (a few minutes)
"""
import json, os, sys
import mpmath as mp

mp.mp.dps = 30
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "crates", "diffusion", "tests", "data", "gmm_gamma.json")


def linear_alpha_bar(n, total=1000):
    # kexue's linear schedule: β_t = 1e-4 + (0.02 − 1e-4)(t − 1)/(N − 1) scaled by 1000/N.
    s = mp.mpf(1000) / total
    ab = mp.mpf(1)
    for t in range(1, n + 1):
        beta = s * (mp.mpf("1e-4") + (mp.mpf("0.02") - mp.mpf("1e-4")) * (t - 1) / (total - 1))
        ab *= 1 - beta
    return ab


def gamma(weights, means, stds, ab):
    d = len(means[0])
    wsum = mp.fsum(weights)
    w = [mp.mpf(x) / wsum for x in weights]
    bb = 1 - ab
    sa = mp.sqrt(ab)
    comps = []
    for wk, mk, sk in zip(w, means, stds):
        v = [ab * mp.mpf(s) ** 2 + bb for s in sk]
        c = [sa * mp.mpf(m) for m in mk]
        comps.append((wk, c, v))

    def integrand(*x):
        dens = []
        score = [mp.mpf(0)] * d
        total = mp.mpf(0)
        for wk, c, v in comps:
            q = mp.fsum((xi - ci) ** 2 / vi for xi, ci, vi in zip(x, c, v))
            pk = wk * mp.exp(-q / 2) / mp.sqrt(mp.fprod(2 * mp.pi * vi for vi in v))
            total += pk
            for i in range(d):
                score[i] += pk * (x[i] - c[i]) / v[i]
        if total == 0:
            return mp.mpf(0)
        # p ‖ε*‖² = β̄ ‖Σ_k p_k (x − c_k)/v_k‖² / p
        return bb * mp.fsum(s * s for s in score) / total

    assert d == 1
    pts = sorted(set([-mp.inf] + [c[0] for _, c, _ in comps] + [mp.inf]))
    return mp.quad(integrand, pts)


def main():
    laws = {
        "A": {"weights": [0.2, 0.5, 0.3], "means": [[-1.5], [0.3], [2.0]], "stds": [[0.2], [0.05], [0.6]]},
        "B": {"weights": [1.0, 1.0], "means": [[-1.0], [1.0]], "stds": [[0.1], [0.1]]},
        "C": {"weights": [0.7, 0.3], "means": [[0.0], [3.0]], "stds": [[1.0], [0.3]]},
    }
    ns = [1, 5, 20, 50, 100, 200, 400, 700, 1000]
    out = {"script": "scripts/make_gmm_gamma_fixture.py", "laws": laws, "n": ns, "alpha_bar": [], "gamma": {k: [] for k in laws}}
    for n in ns:
        ab = linear_alpha_bar(n)
        out["alpha_bar"].append(float(ab))
        for name, law in laws.items():
            g = gamma(law["weights"], law["means"], law["stds"], mp.mpf(float(ab)))
            out["gamma"][name].append(mp.nstr(g, 25))
            print(name, n, mp.nstr(g, 20), file=sys.stderr)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
