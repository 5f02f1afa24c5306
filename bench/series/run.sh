#!/usr/bin/env bash
# Compare `kexue series` with SymPy on the public cases (see compare.py).
# Creates bench/.venv-series (gitignored) with SymPy from PyPI on first use.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="$root/bench/.venv-series"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet "sympy==1.13.3"
fi
(cd "$root" && cargo build --release -p cli --quiet)
"$venv/bin/python" "$root/bench/series/compare.py" "$@"
