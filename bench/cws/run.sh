#!/usr/bin/env bash
# Side-by-side benchmark of kexue cws and jieba. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ ! -x bench/.venv-cws/bin/python ]; then
    python3 -m venv bench/.venv-cws
    bench/.venv-cws/bin/pip install -q jieba==0.42.1
fi
cargo build --release -p cli
bench/.venv-cws/bin/python bench/cws/bench.py
