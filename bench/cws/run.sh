#!/usr/bin/env bash
# Side-by-side benchmark of kexue cws, jieba (Python) and jieba-rs (rjieba). Run from anywhere.
# Python: the shared /work/venv-torch when present (it has jieba and rjieba), otherwise a local
# bench/.venv-cws with jieba 0.42.1 and rjieba.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PY:-}
if [ -z "$PY" ]; then
    if [ -x /work/venv-torch/bin/python ] && /work/venv-torch/bin/python -c "import jieba, rjieba" 2>/dev/null; then
        PY=/work/venv-torch/bin/python
    else
        if [ ! -x bench/.venv-cws/bin/python ]; then
            python3 -m venv bench/.venv-cws
            bench/.venv-cws/bin/pip install -q jieba==0.42.1 rjieba
        fi
        PY=bench/.venv-cws/bin/python
    fi
fi
cargo build --release -p cli
"$PY" bench/cws/bench.py
