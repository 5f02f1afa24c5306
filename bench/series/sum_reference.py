#!/usr/bin/env python3
"""Reference values (30 significant digits) of the series whose value `kexue series --sum`
computes; writes crates/series/tests/data/sums.txt, which the tests read (`sum` must return an
enclosure containing the reference).

Run once from the repository root with mpmath (e.g. /work/venv-torch/bin/python):
    python bench/series/sum_reference.py
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


def main():
    lines = [
        "# Reference values of sum_{n>=n0} a_n at 30 significant digits (mpmath %s)," % mp.__version__,
        "# made by bench/series/sum_reference.py. Format: n0 | a_n | value",
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
        lines.append("%d | %s | %s" % (n0, src, mp.nstr(v, 30)))
    with open(OUT, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
