"""kexue.series.decide against the CLI's --json on the public cases."""

import json

import pytest

from kexue import series

from conftest import run_cli

VERDICT = {"C": "converges", "D": "diverges", "U": "unknown"}


def public_cases(repo):
    cases = []
    for line in (repo / "crates" / "series" / "tests" / "data" / "cases.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        verdict, test, n0, expr = (f.strip() for f in line.split("|", 3))
        cases.append((VERDICT[verdict], test, int(n0), expr))
    return cases


def test_decide_matches_the_case_table(repo):
    cases = public_cases(repo)
    assert len(cases) > 100
    for verdict, test, n0, expr in cases:
        r = series.decide(expr, start=n0)
        assert r["verdict"] == verdict, (expr, r)
        assert r["test"] == test, (expr, r)


def test_decide_matches_the_cli_json(repo, kexue_bin, tmp_path):
    cases = public_cases(repo)
    f = tmp_path / "cases.txt"
    f.write_text("".join(f"{expr} ; {n0}\n" for _, _, n0, expr in cases))
    rust = [json.loads(l) for l in run_cli(kexue_bin, "series", "--file", f, "--json").splitlines()]
    assert len(rust) == len(cases)
    for (_, _, n0, expr), want in zip(cases, rust):
        want.pop("line")
        want.pop("elapsed_us")
        assert series.decide(expr, n0) == want


def test_single_case_fields_and_order(kexue_bin):
    want = json.loads(run_cli(kexue_bin, "series", "1/(n*ln(n)^2)", "--from", "2", "--json"))
    got = series.decide("1/(n*ln(n)^2)", start=2)
    assert list(got) == list(want) and got == want
    assert got["verdict"] == "converges" and got["test"] == "Bertrand test"


def test_bad_terms_raise_value_error():
    with pytest.raises(ValueError, match="column"):
        series.decide("1/(n^2")
    with pytest.raises(ValueError):
        series.decide("1/ln(n)", start=1)
