#!/usr/bin/env python3
"""High-precision reference values for crates/probmap/tests/it/reference.rs.

p_i = integral f(x - mu_i) prod_{j != i} F(x - mu_j) dx, evaluated with mpmath (tanh-sinh,
30 digits, breakpoints at every mu_j and at the support ends / kinks of the noise).
Prints one line per case: family<TAB>param<TAB>mu (comma separated)<TAB>p (comma separated, 20 digits)
Run: python3 crates/probmap/scripts/reference.py > crates/probmap/tests/data/reference.tsv
(`reference.py heavy` prints only the Student-t cases with nu < 1, the last lines of the file.)

Very heavy tails (Student-t with nu < 1) put much of the mass at |x| beyond 1e300 (nu = 0.001:
|x| ~ e^1000), out of reach of tanh-sinh on an infinite interval; those cases integrate the two
tails in s = log|x - end| (x = min mu - e^s and x = max mu + e^s), with breaks down to the core
width sqrt(nu) and out to s = 3e5, and grade the stretches between scores towards both ends.
"""
import sys

import mpmath as mp

mp.mp.dps = 30


def student(nu):
    nu = mp.mpf(nu)
    c = mp.gamma((nu + 1) / 2) / (mp.sqrt(nu * mp.pi) * mp.gamma(nu / 2))

    def pdf(z):
        return c * (1 + z * z / nu) ** (-(nu + 1) / 2)

    def cdf(z):
        tail = mp.betainc(nu / 2, mp.mpf(1) / 2, 0, nu / (nu + z * z), regularized=True) / 2
        return tail if z < 0 else 1 - tail

    return pdf, cdf, []


def gumbel_cdf(z):
    # exp(-e^{-z}) is below 1e-4000 once e^{-z} > 1e4: return 0 instead of letting mpmath
    # evaluate exp of a huge number at every tanh-sinh node.
    e = mp.exp(-z)
    return mp.mpf(0) if e > 10000 else mp.exp(-e)


def gumbel_pdf(z):
    e = mp.exp(-z)
    return mp.mpf(0) if e > 10000 else e * mp.exp(-e)


FAMILIES = {
    "gumbel": (lambda z: gumbel_pdf(z), lambda z: gumbel_cdf(z), []),
    "gauss": (mp.npdf, mp.ncdf, []),
    "logistic": (lambda z: mp.exp(-abs(z)) / (1 + mp.exp(-abs(z))) ** 2,
                 lambda z: 1 / (1 + mp.exp(-z)), []),
    "laplace": (lambda z: mp.exp(-abs(z)) / 2,
                lambda z: mp.exp(z) / 2 if z < 0 else 1 - mp.exp(-z) / 2, [0]),
    "exponential": (lambda z: mp.exp(-z) if z >= 0 else mp.mpf(0),
                    lambda z: 1 - mp.exp(-z) if z >= 0 else mp.mpf(0), [0]),
    "uniform": (lambda z: mp.mpf(1) if 0 <= z <= 1 else mp.mpf(0),
                lambda z: min(max(z, mp.mpf(0)), mp.mpf(1)), [0, 1]),
}

CASES = [
    [1, 2, 3],
    [0, 0, 1],
    [0.3, -1.2, 2.5, 2.5, 0.0],
    [0, 50],
    [-3, 0, 0.5, 60, 10],
    [0.1, 0.35, 0.2, 0.9, 0.75, 0.6],
]


def probs(pdf, cdf, kinks, mu):
    mu = [mp.mpf(repr(m)) for m in mu]
    pts = sorted(set([m + k for m in mu for k in kinks] + mu))
    out = []
    for i, mi in enumerate(mu):
        def f(x, i=i, mi=mi):
            v = pdf(x - mi)
            if v == 0:
                return v
            for j, mj in enumerate(mu):
                if j != i:
                    v *= cdf(x - mj)
            return v
        out.append(mp.quad(f, [-mp.inf] + pts + [mp.inf]))
    return out


# (nu, mu): Student-t with nu < 1, issue 20 item 5 (and a gap that the old panels missed)
HEAVY_CASES = [
    (0.001, [1, 2]),
    (0.01, [1, 2]),
    (0.1, [0, 1e6]),
    (0.001, [0, 1e6]),
    (0.05, [0.3, -1.2, 2.5, 2.5, 0.0]),
    (0.3, [-3, 0, 0.5, 60, 10]),
]


def probs_heavy(pdf, cdf, mu, nu):
    mu = [mp.mpf(repr(m)) for m in mu]
    pts = sorted(set(mu))
    a, b = pts[0], pts[-1]
    w = mp.sqrt(mp.mpf(nu))
    top = mp.log(w) - 10
    spl = [top + k for k in range(11)] + [mp.mpf(x) for x in
                                          (5, 10, 20, 50, 100, 300, 1000, 3000, 10000, 30000,
                                           100000, 300000)]
    spl = [-mp.inf] + sorted(set(spl)) + [mp.inf]
    out = []
    for i, mi in enumerate(mu):
        def f(x, i=i, mi=mi):
            v = pdf(x - mi)
            for j, mj in enumerate(mu):
                if j != i:
                    v *= cdf(x - mj)
            return v
        total = mp.quad(lambda s: f(a - mp.exp(s)) * mp.exp(s), spl)
        total += mp.quad(lambda s: f(b + mp.exp(s)) * mp.exp(s), spl)
        for p, q in zip(pts, pts[1:]):
            if q - p > 2 * w:
                m = (p + q) / 2
                inner = [p, p + w / 100, p + w / 10, p + w, m, q - w, q - w / 10, q - w / 100, q]
            else:
                inner = [p, q]
            total += mp.quad(f, inner)
        out.append(total)
    return out


def heavy():
    for nu, mu in HEAVY_CASES:
        pdf, cdf, _ = student(nu)
        p = probs_heavy(pdf, cdf, mu, nu)
        check_and_print("student", repr(float(nu)), mu, p)


def main():
    if sys.argv[1:] == ["heavy"]:
        heavy()
        return
    for name, (pdf, cdf, kinks) in list(FAMILIES.items()):
        emit(name, "-", pdf, cdf, kinks)
    for nu in (1, 2.5, 7):
        pdf, cdf, kinks = student(nu)
        emit("student", repr(float(nu)), pdf, cdf, kinks)
    heavy()


def emit(name, param, pdf, cdf, kinks):
    for mu in CASES:
        check_and_print(name, param, mu, probs(pdf, cdf, kinks, mu))


def check_and_print(name, param, mu, p):
    s = sum(p)
    assert abs(s - 1) < mp.mpf("1e-18"), (name, param, mu, s)
    print("\t".join([name, param, ",".join(repr(float(m)) for m in mu),
                     ",".join(mp.nstr(v, 20) for v in p)]), flush=True)


if __name__ == "__main__":
    main()
