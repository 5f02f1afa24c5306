#!/usr/bin/env python3
"""Issue 19 families: `kexue series` vs SymPy on the signed/oscillating table and on series values.

Usage (from the repository root, after `cargo build --release -p cli`):
    PYTHON bench/series/compare_signed.py [--timeout S] [--out FILE]
with a Python that has sympy and mpmath (e.g. /work/venv-torch/bin/python).

Part 1, verdicts: every row of crates/series/tests/data/signed.txt; kexue via
`kexue series --file - --json` (in-process time per case), SymPy via
`Sum(a, (n, n0, oo)).is_convergent()` in a fresh process per case with a timeout.
Ground truth: the table's hand-checked verdict; for the rows kexue must leave unknown, the
mathematical truth in TRUTH_FOR_UNKNOWN_ROWS (None = open or not established here).

Part 2, values: every row of crates/series/tests/data/sums.txt (mpmath references at 30 digits);
kexue via `kexue series EXPR --from N0 --sum --digits 10 --json` (wall time of the process),
SymPy via `Sum(a, (n, n0, oo)).evalf(15)` in a fresh process (wall time); an answer is wrong when
it is off the reference by more than its own claimed accuracy (kexue: outside its enclosure;
SymPy: more than 1e-10 relative, as it claims 15 digits).
"""
import argparse
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SIGNED = os.path.join(ROOT, "crates/series/tests/data/signed.txt")
SUMS = os.path.join(ROOT, "crates/series/tests/data/sums.txt")
KEXUE = os.path.join(ROOT, "target/release/kexue")

TRUTH_FOR_UNKNOWN_ROWS = {
    "1/(n^3*sin(n)^2)": None,  # Flint Hills series: open
    "1/(n^2*sin(n))": None,  # irrationality measure of pi: open
    "sin(n^2)/n": "C",  # known (Weyl sums), not by the tests here
    "sin(sqrt(n))/n": "C",  # known (Euler-Maclaurin on sin(sqrt x)/x)
    "(sin(1)^2 + cos(1)^2 - 1)/n": "C",  # identically zero
    "sin(n)*sin(n^2)/n": None,  # not established here
    "abs(sin(n))*cos(n)/n": None,  # |sin x| cos x has mean 0 but is no trig polynomial: not proved here
    "sin(pi*n)^2/n^2 + sin(n)/n": "C",  # 0 + Dirichlet
}


def parse_n(src):
    import sympy
    from sympy.parsing.sympy_parser import (convert_xor, factorial_notation, parse_expr,
                                            standard_transformations)
    n = sympy.Symbol("n", integer=True, positive=True)
    local = {"n": n, "e": sympy.E, "pi": sympy.pi, "ln": sympy.log, "log": sympy.log,
             "arctan": sympy.atan, "atan": sympy.atan, "abs": sympy.Abs}
    expr = parse_expr(src.replace("E+", "e+"), local_dict=local,
                      transformations=standard_transformations + (convert_xor, factorial_notation))
    return sympy, n, expr


def sympy_verdict(src, n0, q):
    t0 = time.perf_counter()
    try:
        sympy, n, expr = parse_n(src)
        r = sympy.Sum(expr, (n, n0, sympy.oo)).is_convergent()
        v = "C" if r in (True, sympy.true) else "D" if r in (False, sympy.false) else "undecided"
    except Exception as exc:
        v = "undecided (%s)" % type(exc).__name__
    q.put((v, time.perf_counter() - t0))


def sympy_value(src, n0, q):
    t0 = time.perf_counter()
    try:
        sympy, n, expr = parse_n(src)
        v = sympy.Sum(expr, (n, n0, sympy.oo)).evalf(15)
        v = str(v) if v.is_number else "undecided"
    except Exception as exc:
        v = "undecided (%s)" % type(exc).__name__
    q.put((v, time.perf_counter() - t0))


def in_process(target, args, timeout):
    q = mp.Queue()
    p = mp.Process(target=target, args=args + (q,))
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


def load_signed():
    out = []
    for line in open(SIGNED):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        verdict, test, mode, n0, src = [p.strip() for p in line.split("|", 4)]
        truth = verdict if verdict != "U" else TRUTH_FOR_UNKNOWN_ROWS.get(src)
        out.append({"src": src, "n0": int(n0), "table": verdict, "truth": truth, "test": test})
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--timeout", type=float, default=10.0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import sympy

    cases = load_signed()
    text = "".join("%s ; %d\n" % (c["src"], c["n0"]) for c in cases)
    p = subprocess.run([KEXUE, "series", "--file", "-", "--json"], input=text,
                       capture_output=True, text=True)
    kx = [json.loads(l) for l in p.stdout.splitlines()]
    assert len(kx) == len(cases), p.stderr
    rows = []
    for c, k in zip(cases, kx):
        kv = {"converges": "C", "diverges": "D"}.get(k.get("verdict"), "undecided")
        sv, st = in_process(sympy_verdict, (c["src"], c["n0"]), args.timeout)
        rows.append({**c, "kexue": kv, "kexue_s": k.get("elapsed_us", 0) / 1e6, "sympy": sv,
                     "sympy_s": st})
        print("%-40s truth=%-4s kexue=%-9s sympy=%-26s %.3fs" % (c["src"][:40], c["truth"], kv,
              sv[:26], st), file=sys.stderr)
    print("## verdicts: %d rows of signed.txt; sympy %s, timeout %.0f s" % (
        len(rows), sympy.__version__, args.timeout))
    print("| tool | decided | wrong | median time/case | max | total |")
    print("|---|---|---|---|---|---|")
    for key, label in (("kexue", "kexue series"), ("sympy", "SymPy is_convergent")):
        decided = [r for r in rows if r[key] in ("C", "D")]
        wrong = [r for r in decided if r["truth"] in ("C", "D") and r[key] != r["truth"]]
        wrong += [r for r in decided if r["truth"] is None]
        t = sorted(r[key + "_s"] for r in rows)
        print("| %s | %d/%d | %d | %.4f s | %.3f s | %.2f s |" % (
            label, len(decided), len(rows), len(wrong), t[len(t) // 2], t[-1], sum(t)))
        for r in wrong:
            print("  wrong (%s): `%s` truth %s, said %s" % (label, r["src"], r["truth"], r[key]))
    # Values.
    vals = []
    for line in open(SUMS):
        if line.startswith("#") or not line.strip():
            continue
        n0, src, ref = [x.strip() for x in line.split("|")][:3]
        ref = float(ref)
        t0 = time.perf_counter()
        p = subprocess.run([KEXUE, "series", src, "--from", n0, "--sum", "--digits", "10", "--json"],
                           capture_output=True, text=True)
        kt = time.perf_counter() - t0
        s = json.loads(p.stdout)["sum"]
        k_ok = s["lo"] <= ref <= s["hi"]
        s["value"] = "%s [%s]" % (s["value"], s["test"])
        sv, st = in_process(sympy_value, (src, int(n0)), args.timeout)
        try:
            s_val = float(sv)
            s_ok = abs(s_val - ref) <= 1e-10 * abs(ref)
        except ValueError:
            s_val, s_ok = None, None
        vals.append((src, n0, ref, s, k_ok, kt, sv, s_ok, st))
    print("\n## values: %d rows of sums.txt (mpmath references)" % len(vals))
    kw = sum(1 for v in vals if not v[4])
    sd = sum(1 for v in vals if v[7] is not None)
    sw = sum(1 for v in vals if v[7] is False)
    print("kexue: %d/%d values, %d outside the enclosure; SymPy: %d/%d numbers, %d off by more than 1e-10"
          % (len(vals), len(vals), kw, sd, len(vals), sw))
    print("| a_n | n0 | reference | kexue --sum [tail test] (digits) | in enclosure | time | SymPy evalf(15) | within 1e-10 | time |")
    print("|---|---|---|---|---|---|---|---|---|")
    for src, n0, ref, s, k_ok, kt, sv, s_ok, st in vals:
        print("| `%s` | %s | %.12g | %s (%d) | %s | %.3f s | %s | %s | %.2f s |" % (
            src, n0, ref, s["value"], s["digits"], "yes" if k_ok else "NO", kt, sv[:18],
            {True: "yes", False: "NO", None: "-"}[s_ok], st))
    if args.out:
        with open(args.out, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
