#!/usr/bin/env python3
"""Reference values (30 significant digits) of the series whose value `kexue series --sum`
computes; writes crates/series/tests/data/sums.txt, which the tests read (`sum` must return an
enclosure containing the reference).

Run once from the repository root with mpmath (e.g. /work/venv-torch/bin/python):
    python bench/series/sum_reference.py
Format of each line: n0 | a_n | value | d, where d is the number of significant digits that
`sum(.., digits = 10)` must guarantee (fewer than 10 where the tail bound is honestly wide, e.g.
the power bounds on ln(n)/n^2, or a bounded factor such as exp(cos n) compared with 1/n^2).
Method, at 40 working digits: p-series by mpmath.zeta (Hurwitz zeta for n0 > 1); Bertrand
series 1/(n ln^q n) by a partial sum to N - 1 plus the Euler-Maclaurin tail from N (closed-form
integral (ln N)^(1-q)/(q-1), f(N)/2, -f'(N)/12, +f'''(N)/720), checked at N = 5000 and 20000.
"""
import os

import mpmath as mp

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "crates/series/tests/data/sums.txt")

mp.mp.dps = 40

# (expression as kexue reads it, n0, c, p, q): a_n = c / (n^p ln(n)^q)
CASES = [
    ("1/n^2", 1, 1, 2, 0),
    ("1/n^3", 1, 1, 3, 0),
    ("1/n^(3/2)", 1, 1, mp.mpf(3) / 2, 0),
    ("5/n^4", 1, 5, 4, 0),
    ("1/n^(101/100)", 1, 1, mp.mpf(101) / 100, 0),
    ("1/n^2", 10, 1, 2, 0),
    ("1/(n*ln(n)^2)", 2, 1, 1, 2),
    ("1/(n*ln(n)^3)", 2, 1, 1, 3),
    ("1/(n*ln(n)^2)", 3, 1, 1, 2),
]


def bertrand(q, n0, N):
    f = lambda x: 1 / (x * mp.log(x) ** q)
    s = mp.fsum(f(mp.mpf(n)) for n in range(n0, N))
    tail = mp.log(N) ** (1 - q) / (q - 1) + f(mp.mpf(N)) / 2
    tail -= mp.diff(f, N) / 12
    tail += mp.diff(f, N, 3) / 720
    return s + tail


def euler_alternating(b, n0, N=400, J=300):
    """sum_{n>=n0} (-1)^n b(n): partial sum to N - 1 plus the Euler transform of the tail
    (exact for completely monotone b up to the truncated 2^-J remainder)."""
    s = mp.fsum((-1) ** n * b(mp.mpf(n)) for n in range(n0, N))
    d = [b(mp.mpf(N + i)) for i in range(J + 1)]
    t = mp.mpf(0)
    for j in range(J):
        t += d[0] / mp.mpf(2) ** (j + 1)
        d = [d[i] - d[i + 1] for i in range(len(d) - 1)]
    return s + (-1) ** N * t


def direct(f, n0, N):
    return mp.fsum(f(mp.mpf(n)) for n in range(n0, N))


def more_cases():
    """Series summed by the ratio, alternating and comparison tail bounds."""
    fact = mp.factorial
    out = []
    # Alternating series (Euler-transform tail, completely monotone b).
    out.append(("(-1)^n/n", 1, -mp.log(2), 10))
    out.append(("(-1)^(n+1)/n", 1, mp.log(2), 10))
    out.append(("cos(pi*n)/n^2", 1, -mp.pi ** 2 / 12, 10))
    out.append(("(-1)^n/sqrt(n)", 1, -mp.altzeta(mp.mpf(1) / 2), 10))
    v = euler_alternating(lambda x: 1 / mp.log(x), 2)
    w = euler_alternating(lambda x: 1 / mp.log(x), 2, N=300, J=250)
    assert abs(v - w) < mp.mpf(10) ** -32, (v, w)
    out.append(("(-1)^n/ln(n)", 2, v, 10))
    # Ratio-test tails (terms decay geometrically or faster).
    out.append(("1/n!", 0, mp.e, 10))
    out.append(("1/n!", 1, mp.e - 1, 10))
    out.append(("3^n/n!", 0, mp.exp(3), 10))
    out.append(("n/2^n", 1, mp.mpf(2), 10))
    out.append(("n^2/2^n", 1, mp.mpf(6), 10))
    out.append(("1/(2*n)!", 1, mp.cosh(1) - 1, 10))
    # sum sqrt(n)/2^n = Li_{-1/2}(1/2).
    out.append(("sqrt(n)/2^n", 1, mp.polylog(-0.5, 0.5), 10))
    out.append(("n!^2/(2*n)!", 1, mp.mpf(1) / 3 + 2 * mp.pi * mp.sqrt(3) / 27, 10))
    for src, f in [
        ("n!/n^n", lambda x: fact(x) / x ** x),
        ("2^n*n!/n^n", lambda x: 2 ** x * fact(x) / x ** x),
    ]:
        v, w = direct(f, 1, 400), direct(f, 1, 300)
        assert abs(v - w) < mp.mpf(10) ** -35, (src, v, w)
        out.append((src, 1, v, 10))
    # Power-log terms (integral test with power majorants): sum ln(n)/n^2 = -zeta'(2);
    # sum_{n>=2} 1/(n^2 ln n) by a partial sum plus Euler-Maclaurin (quadrature for the
    # integral), checked at two lengths.
    out.append(("ln(n)/n^2", 1, -mp.zeta(2, derivative=1), 6))
    def em(f, n0, N):
        s = mp.fsum(f(mp.mpf(k)) for k in range(n0, N))
        t = mp.quad(f, [N, mp.inf]) + f(mp.mpf(N)) / 2 - mp.diff(f, N) / 12
        t += mp.diff(f, N, 3) / 720 - mp.diff(f, N, 5) / 30240
        return s + t
    g = lambda x: 1 / (x ** 2 * mp.log(x))
    v, w = em(g, 2, 3000), em(g, 2, 1500)
    assert abs(v - w) < mp.mpf(10) ** -28, (v, w)
    out.append(("1/(n^2*ln(n))", 2, v, 6))
    # A leading minus.
    out.append(("-1/n^2", 1, -mp.zeta(2), 10))
    # Trigonometric factor times a completely monotone b_n: Abel's inequality bounds the
    # oscillating part of the tail by B·b_N, the constant term goes with b's own tail.
    # sum sin(n)/n^2 = Cl_2(1) (Clausen); sum cos(2n)/n^2 = Cl-cos(2, 2);
    # sum sin(nx)/n = (pi - x)/2 for 0 < x < 2 pi.
    out.append(("(2 + sin(n))/n^2", 1, 2 * mp.zeta(2) + mp.clsin(2, 1), 10))
    out.append(("sin(n)^2/n^2", 1, (mp.zeta(2) - mp.clcos(2, 2)) / 2, 10))
    out.append(("sin(n)/n^2", 1, mp.clsin(2, 1), 10))
    out.append(("sin(n)/n", 1, (mp.pi - 1) / 2, 10))
    out.append(("sin(n)*cos(n)/n", 1, (mp.pi - 2) / 4, 10))
    # sum cos(nx)/n = -ln(2 sin(x/2)): x = 2 gives -ln(2 sin 1).
    out.append(("cos(2*n)/n", 1, -mp.log(2 * mp.sin(1)), 10))
    # (-1)^n sin n = sin((1 + pi) n): -2 ln 2 + (pi - 1 - pi)/2.
    out.append(("(-1)^n*(2 + sin(n))/n", 1, -2 * mp.log(2) - mp.mpf(1) / 2, 10))
    # (2 + cos n)/2^n = 2 + Re sum (e^i/2)^n.
    z = mp.exp(1j) / 2
    out.append(("(2 + cos(n))/2^n", 1, 2 + mp.re(z / (1 - z)), 10))
    return out


def main():
    lines = [
        "# Reference values of sum_{n>=n0} a_n at 30 significant digits (mpmath %s)," % mp.__version__,
        "# made by bench/series/sum_reference.py. Format: n0 | a_n | value | digits guaranteed",
    ]
    for src, n0, c, p, q in CASES:
        if q == 0:
            v = c * mp.zeta(p, n0)
        else:
            v = c * bertrand(q, n0, 20000)
            w = c * bertrand(q, n0, 5000)
            # The remainder after f'''/720 is O(f^(5)(N)) ~ N^-6: the N = 5000 value is within
            # 1e-25 of the N = 20000 one, which is 4^6 times closer to the true sum.
            assert abs(v - w) < mp.mpf(10) ** -25, (src, v, w)
        lines.append("%d | %s | %s | 10" % (n0, src, mp.nstr(v, 30)))
    for src, n0, v, d in more_cases():
        lines.append("%d | %s | %s | %d" % (n0, src, mp.nstr(v, 30), d))
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
