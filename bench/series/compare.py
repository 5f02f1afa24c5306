#!/usr/bin/env python3
"""Compare `kexue series` with SymPy's Sum(...).is_convergent() on the public cases.

Usage (from the repository root):  bench/series/run.sh
which creates bench/.venv-series (SymPy from PyPI), builds kexue in release mode and runs:
    bench/.venv-series/bin/python bench/series/compare.py [--timeout S] [--out FILE]

Both tools see the same cases (crates/series/tests/data/cases.txt) in the same run.
Ground truth is the table's verdict, except for the rows the decider must leave unknown, whose
mathematical truth is listed in TRUTH_FOR_UNKNOWN_ROWS (None = open problem).
A verdict is "wrong" when it contradicts the ground truth; "undecided" covers None, an
exception and a timeout.
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = os.path.join(ROOT, "crates/series/tests/data/cases.txt")
KEXUE = os.path.join(ROOT, "target/release/kexue")

TRUTH_FOR_UNKNOWN_ROWS = {
    "1/(n^3*sin(n)^2)": None,  # Flint Hills series: open
    "1/(n^2*sin(n))": None,  # tied to the irrationality measure of pi: open
    "sin(n)^2/n": "D",  # sin^2 n averages 1/2
    "(-1)^n/n": "C",  # alternating harmonic series (conditionally)
    "sin(n)/n": "C",  # Dirichlet test (conditionally)
    "(sin(1)^2 + cos(1)^2 - 1)/n": "C",  # identically zero
    "-1/n^2": "C",
    "exp(exp(n))/exp(exp(n + 1))": "C",
}


def load_cases():
    out = []
    with open(CASES) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            verdict, test, n0, src = [p.strip() for p in line.split("|", 3)]
            truth = verdict if verdict != "U" else TRUTH_FOR_UNKNOWN_ROWS.get(src)
            out.append({"src": src, "n0": int(n0), "table": verdict, "truth": truth, "test": test})
    return out


def sympy_worker(src, n0, q):
    import sympy
    from sympy.parsing.sympy_parser import (
        convert_xor,
        factorial_notation,
        parse_expr,
        standard_transformations,
    )

    n = sympy.Symbol("n", integer=True, positive=True)
    local = {"n": n, "e": sympy.E, "pi": sympy.pi, "ln": sympy.log, "log": sympy.log,
             "arctan": sympy.atan, "atan": sympy.atan}
    t0 = time.perf_counter()
    try:
        expr = parse_expr(src, local_dict=local,
                          transformations=standard_transformations + (convert_xor, factorial_notation))
        r = sympy.Sum(expr, (n, n0, sympy.oo)).is_convergent()
        if r is sympy.true or r is True:
            v = "C"
        elif r is sympy.false or r is False:
            v = "D"
        else:
            v = "undecided"
    except Exception as exc:  # SymPy raises NotImplementedError and friends
        v = "undecided (%s)" % type(exc).__name__
    q.put((v, time.perf_counter() - t0))


def run_sympy(case, timeout):
    q = mp.Queue()
    p = mp.Process(target=sympy_worker, args=(case["src"], case["n0"], q))
    t0 = time.perf_counter()
    p.start()
    p.join(timeout)
    if p.is_alive():
        p.terminate()
        p.join()
        return "undecided (timeout)", time.perf_counter() - t0
    try:
        return q.get(timeout=1)
    except Exception:
        return "undecided (crash)", time.perf_counter() - t0


def run_kexue(cases):
    text = "".join("%s ; %d\n" % (c["src"], c["n0"]) for c in cases)
    t0 = time.perf_counter()
    p = subprocess.run([KEXUE, "series", "--file", "-", "--json"], input=text,
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    rows = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(rows) == len(cases), p.stderr
    out = []
    for r in rows:
        v = {"converges": "C", "diverges": "D"}.get(r.get("verdict"), "undecided")
        out.append((v, r.get("elapsed_us", 0) / 1e6, r.get("test", r.get("error"))))
    return out, wall


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", default=None, help="write per-case results as JSON lines")
    args = ap.parse_args()
    import sympy

    cases = load_cases()
    kx, kx_wall = run_kexue(cases)
    rows = []
    for c, k in zip(cases, kx):
        sv, st = run_sympy(c, args.timeout)
        rows.append({**c, "kexue": k[0], "kexue_s": k[1], "kexue_test": k[2], "sympy": sv, "sympy_s": st})
        print("%-45s truth=%-4s kexue=%-9s sympy=%-28s %.4fs" % (
            c["src"][:45], c["truth"], k[0], sv[:28], st), file=sys.stderr)

    def stats(key):
        decided = [r for r in rows if r[key] in ("C", "D")]
        wrong = [r for r in decided if r["truth"] in ("C", "D") and r[key] != r["truth"]]
        return decided, wrong

    textbook = [r for r in rows if r["table"] != "U"]
    print("cases: %d (textbook rows with a checked verdict: %d; must-stay-unknown rows: %d)"
          % (len(rows), len(textbook), len(rows) - len(textbook)))
    print("sympy %s, timeout %.0f s per case" % (sympy.__version__, args.timeout))
    for key, label in (("kexue", "kexue series"), ("sympy", "SymPy is_convergent")):
        decided, wrong = stats(key)
        tb_dec = [r for r in textbook if r[key] in ("C", "D")]
        times = sorted(r[key + "_s"] for r in rows)
        print("%-22s decided %3d/%d (textbook %3d/%d = %.1f%%), wrong %d, "
              "time per case: median %.4f s, max %.4f s, total %.2f s"
              % (label, len(decided), len(rows), len(tb_dec), len(textbook),
                 100.0 * len(tb_dec) / len(textbook), len(wrong),
                 times[len(times) // 2], times[-1], sum(times)))
        for r in wrong:
            print("   wrong: %s (truth %s, said %s)" % (r["src"], r["truth"], r[key]))
    print("kexue wall time for the whole file (one process): %.3f s" % kx_wall)
    only_sympy = [r["src"] for r in rows if r["sympy"] in ("C", "D") and r["kexue"] not in ("C", "D")]
    only_kexue = [r for r in rows if r["kexue"] in ("C", "D") and r["sympy"] not in ("C", "D")]
    print("decided by SymPy only: %s" % (only_sympy or "none"))
    print("decided by kexue only: %d" % len(only_kexue))
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
