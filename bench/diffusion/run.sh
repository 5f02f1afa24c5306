#!/usr/bin/env bash
# kexue (candle) vs PyTorch on the reference ε-networks of issue 6, interleaved in one run.
#
#   bench/diffusion/run.sh [rounds] [train_steps] [passes]
#
# Creates bench/.venv-diffusion with `pip install torch` on first use, builds the kexue bench
# example, then runs ROUNDS rounds of (kexue mlp, torch mlp, kexue unet, torch unet), recording
# the 1-minute load average before each run, and prints a Markdown table of medians and ratios.
# Both sides use 2 threads (BENCH_THREADS, RAYON_NUM_THREADS) and the CPU only.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
TRAIN_STEPS=${2:-20}
PASSES=${3:-20}
VENV=bench/.venv-diffusion
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch
fi
if [ -n "${KEXUE_BIN:-}" ]; then
  KEXUE=$KEXUE_BIN   # a prebuilt bench_nets binary
else
  cargo build --release -q -p diffusion-nn --example bench_nets
  KEXUE=target/release/examples/bench_nets
fi
export BENCH_THREADS=${BENCH_THREADS:-2} RAYON_NUM_THREADS=${BENCH_THREADS:-2}
OUT=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for net in mlp unet; do
    for impl in kexue pytorch; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      if [ "$impl" = kexue ]; then
        line=$("$KEXUE" "$net" "$TRAIN_STEPS" "$PASSES")
      else
        line=$("$VENV/bin/python" bench/diffusion/bench_torch.py "$net" "$TRAIN_STEPS" "$PASSES")
      fi
      echo "{\"round\": $round, \"load\": $load, \"run\": $line}" | tee -a "$OUT" >&2
    done
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def vals(net, impl, key):
    return [r["run"][key] for r in rows if r["run"]["net"] == net and r["run"]["impl"] == impl]
loads = [r["load"] for r in rows]
torch_v = next(r["run"].get("torch") for r in rows if r["run"]["impl"] == "pytorch")
print(f"rounds: {max(r['round'] for r in rows)}, load average (1 min) during the runs: "
      f"min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}; torch {torch_v}")
print()
print("Per run (ms): train ms/step, sample ms/pass, 1-min load average before the run")
for r in rows:
    x = r["run"]
    print(f"- round {r['round']} {x['impl']:>7} {x['net']:>4}: train {x['train_ms_per_step']:9.1f}  sample {x['sample_ms_per_pass']:8.2f}  load {r['load']:.2f}")
print()
for stat_name, stat in [("median", statistics.median), ("best (min)", min)]:
    print(f"{stat_name} over rounds; ratio = kexue / PyTorch (> 1: kexue slower)")
    print()
    print("| network | params | batch | kexue train ms/step | PyTorch train ms/step | ratio | kexue sample ms/pass | PyTorch sample ms/pass | ratio |")
    print("|---|---|---|---|---|---|---|---|---|")
    for net, name in [("mlp", "MLP"), ("unet", "U-Net 8×8×1")]:
        r = next(r["run"] for r in rows if r["run"]["net"] == net and r["run"]["impl"] == "kexue")
        kt, pt = stat(vals(net, "kexue", "train_ms_per_step")), stat(vals(net, "pytorch", "train_ms_per_step"))
        ks, ps = stat(vals(net, "kexue", "sample_ms_per_pass")), stat(vals(net, "pytorch", "sample_ms_per_pass"))
        print(f"| {name} | {r['params']:,} | {r['batch']} | {kt:.1f} | {pt:.1f} | {kt/pt:.1f}× | {ks:.2f} | {ps:.2f} | {ks/ps:.1f}× |")
    print()
PY
rm -f "$OUT"
