#!/usr/bin/env bash
# Per-op profile at the reference networks' shapes: candle's composed ops vs the fused ops of
# crates/fused-ops vs PyTorch, forward and forward+backward, in one interleaved run.
#
#   bench/diffusion/ops.sh [rounds] [reps]
#
# Runs ROUNDS rounds of (kexue op_profile --json, ops_torch.py), each op timed REPS times per
# round (median), records the 1-minute load average before each run, and prints a Markdown
# table of the best round per op with ratios. Threads: BENCH_THREADS (default 2) on both sides.
# The venv bench/.venv-diffusion is the one run.sh creates (pip install torch).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-2}
REPS=${2:-20}
VENV=bench/.venv-diffusion
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch
fi
if [ -n "${KEXUE_OPS_BIN:-}" ]; then
  PROFILE=$KEXUE_OPS_BIN
else
  cargo build --release -q -p fused-ops --example op_profile
  PROFILE=target/release/examples/op_profile
fi
export BENCH_THREADS=${BENCH_THREADS:-2} RAYON_NUM_THREADS=${BENCH_THREADS:-2}
OUT=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$PROFILE" --json "$REPS" | sed "s/^/{\"round\": $round, \"load\": $load, \"run\": /; s/\$/}/" >> "$OUT"
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$VENV/bin/python" bench/diffusion/ops_torch.py "$REPS" | sed "s/^/{\"round\": $round, \"load\": $load, \"run\": /; s/\$/}/" >> "$OUT"
  echo "round $round done (load $(cut -d' ' -f1 /proc/loadavg))" >&2
done
python3 - "$OUT" "$BENCH_THREADS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
threads = sys.argv[2]
loads = [r["load"] for r in rows]
torch_v = next((r["run"]["torch"] for r in rows if r["run"]["impl"] == "pytorch"), "n/a")
print(f"threads {threads}; rounds {max(r['round'] for r in rows)}; load average (1 min) before the runs: "
      f"min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}; torch {torch_v}")
print("ms, best round of the per-round medians; fwd = forward on tracked inputs; fwd+bwd adds "
      "L = Σ y⊙r and its backward (same on both sides); ratio = kexue fused / PyTorch")
print()
ops = []
for r in rows:
    if r["run"]["op"] not in ops:
        ops.append(r["run"]["op"])
def best(op, impl, key):
    v = [r["run"][key] for r in rows if r["run"]["op"] == op and r["run"]["impl"] == impl]
    return min(v) if v else float("nan")
print("| op | input | composed fwd | fused fwd | PyTorch fwd | fused / PyTorch | composed fwd+bwd | fused fwd+bwd | PyTorch fwd+bwd | fused / PyTorch | composed / PyTorch fwd+bwd |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for op in ops:
    shape = next(r["run"]["shape"] for r in rows if r["run"]["op"] == op)
    cf, ff, pf = best(op, "kexue", "composed_fwd_ms"), best(op, "kexue", "fused_fwd_ms"), best(op, "pytorch", "fwd_ms")
    cb, fb, pb = best(op, "kexue", "composed_fwdbwd_ms"), best(op, "kexue", "fused_fwdbwd_ms"), best(op, "pytorch", "fwdbwd_ms")
    print(f"| {op} | {shape} | {cf:.3f} | {ff:.3f} | {pf:.3f} | {ff/pf:.1f}× | {cb:.3f} | {fb:.3f} | {pb:.3f} | {fb/pb:.1f}× | {cb/pb:.1f}× |")
PY
rm -f "$OUT"
