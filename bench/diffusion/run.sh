#!/usr/bin/env bash
# kexue (candle + fused CPU ops) vs kexue on candle's composed ops vs PyTorch on the reference
# ε-networks of issue 6, interleaved in one run.
#
#   bench/diffusion/run.sh [rounds] [train_steps] [passes]
#
# Creates bench/.venv-diffusion with `pip install torch` on first use, builds the kexue bench
# example, then runs ROUNDS rounds of (kexue mlp, kexue-composed mlp, torch mlp, the same for
# the unet), recording the 1-minute load average before each run, and prints Markdown tables of
# medians and ratios. `kexue` uses the fused ops of crates/fused-ops (the default);
# `kexue-composed` is the same binary with `--composed` (candle's own ops, the state before
# issue 8). IMPLS="kexue pytorch" leaves the composed runs out. Both sides use BENCH_THREADS
# threads (default 2; RAYON_NUM_THREADS, torch.set_num_threads) and the CPU only.
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
IMPLS=${IMPLS:-kexue kexue-composed pytorch}
NETS=${NETS:-mlp unet}
OUT=$(mktemp)
for round in $(seq 1 "$ROUNDS"); do
  for net in $NETS; do
    for impl in $IMPLS; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      if [ "$impl" = kexue ]; then
        line=$("$KEXUE" "$net" "$TRAIN_STEPS" "$PASSES")
      elif [ "$impl" = kexue-composed ]; then
        line=$("$KEXUE" "$net" "$TRAIN_STEPS" "$PASSES" --composed)
      else
        line=$("$VENV/bin/python" bench/diffusion/bench_torch.py "$net" "$TRAIN_STEPS" "$PASSES")
      fi
      echo "{\"round\": $round, \"load\": $load, \"run\": $line}" | tee -a "$OUT" >&2
    done
  done
done
python3 - "$OUT" "$BENCH_THREADS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
threads = sys.argv[2]
def vals(net, impl, key):
    return [r["run"][key] for r in rows if r["run"]["net"] == net and r["run"]["impl"] == impl]
impls = [i for i in ["kexue", "kexue-composed", "pytorch"] if any(r["run"]["impl"] == i for r in rows)]
nets = [n for n in ["mlp", "unet"] if any(r["run"]["net"] == n for r in rows)]
loads = [r["load"] for r in rows]
torch_v = next((r["run"].get("torch") for r in rows if r["run"]["impl"] == "pytorch"), "n/a")
print(f"threads {threads}; rounds: {max(r['round'] for r in rows)}; load average (1 min) before the runs: "
      f"min {min(loads):.2f}, median {statistics.median(loads):.2f}, max {max(loads):.2f}; torch {torch_v}")
print()
print("Per run (ms): train ms/step, sample ms/pass, 1-min load average before the run")
for r in rows:
    x = r["run"]
    print(f"- round {r['round']} {x['impl']:>14} {x['net']:>4}: train {x['train_ms_per_step']:9.1f}  sample {x['sample_ms_per_pass']:8.2f}  load {r['load']:.2f}")
print()
names = {"mlp": "MLP", "unet": "U-Net 8×8×1"}
for stat_name, stat in [("median", statistics.median), ("best (min)", min)]:
    print(f"{stat_name} over rounds, {threads} thread(s); ratio = kexue / PyTorch (> 1: kexue slower); "
          "composed = candle's own ops (before issue 8), fused = default")
    print()
    for what, key, fmt in [("train ms/step", "train_ms_per_step", ".1f"), ("sample ms/pass", "sample_ms_per_pass", ".2f")]:
        head = ["network", "batch"] + [f"{i} {what}" for i in impls]
        if "pytorch" in impls:
            head += [f"{i} / PyTorch" for i in impls if i != "pytorch"]
        if "kexue" in impls and "kexue-composed" in impls:
            head += ["fused speed-up"]
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for net in nets:
            r0 = next(r["run"] for r in rows if r["run"]["net"] == net)
            v = {i: stat(vals(net, i, key)) for i in impls if vals(net, i, key)}
            cells = [names[net], str(r0["batch"])] + [format(v[i], fmt) for i in impls]
            if "pytorch" in impls:
                cells += [f"{v[i] / v['pytorch']:.2f}×" for i in impls if i != "pytorch"]
            if "kexue" in v and "kexue-composed" in v:
                cells += [f"{v['kexue-composed'] / v['kexue']:.1f}×"]
            print("| " + " | ".join(cells) + " |")
        print()
PY
rm -f "$OUT"
