#!/usr/bin/env bash
# kexue vs diffusers/PyTorch on the DDPM CIFAR10 UNet2DModel (35.7M parameters, random weights
# made here at run time, never committed), interleaved in one run (issue 14).
#
#   bench/diffusion/unet2d.sh [rounds] [passes] [sample_steps]
#
# Uses the Python at $VENV (default /work/venv-torch: torch + diffusers) to write the folder
# artifacts/bench-unet2d/ddpm-cifar10-random once, builds the bench_unet2d example, then for
# each thread count in $THREADS (default "1 2") runs ROUNDS rounds of (kexue, pytorch): a forward
# pass at batch $BATCH (default 16, median of PASSES) and a SAMPLE_STEPS-step sampling run of
# BATCH images (kexue: Analytic-DDPM through the diffusion core; PyTorch: DDPMScheduler loop).
# Prints a Markdown table of medians and kexue/PyTorch ratios: wall time, and CPU time of the
# process per forward (user + system, all threads; it moves much less than wall time with the
# load of a shared machine, so it is the steadier comparison there). SAMPLE_STEPS=0 skips sampling.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS=${1:-3}
PASSES=${2:-5}
SAMPLE_STEPS=${3:-10}
BATCH=${BATCH:-16}
PY=${VENV:-/work/venv-torch}/bin/python
DIR=artifacts/bench-unet2d/ddpm-cifar10-random
if [ ! -f "$DIR/diffusion_pytorch_model.safetensors" ]; then
  mkdir -p "$DIR"
  "$PY" bench/diffusion/unet2d_torch.py make "$DIR"
fi
cargo build --release -q -p diffusion-nn --example bench_unet2d
KEXUE=target/release/examples/bench_unet2d
OUT=$(mktemp)
for threads in ${THREADS:-1 2}; do
  export BENCH_THREADS=$threads RAYON_NUM_THREADS=$threads
  for round in $(seq 1 "$ROUNDS"); do
    for impl in kexue pytorch; do
      load=$(cut -d' ' -f1 /proc/loadavg)
      if [ "$impl" = kexue ]; then
        line=$("$KEXUE" "$DIR" "$BATCH" "$PASSES" "$SAMPLE_STEPS")
      else
        line=$("$PY" bench/diffusion/unet2d_torch.py time "$DIR" "$BATCH" "$PASSES" "$SAMPLE_STEPS")
      fi
      echo "{\"round\": $round, \"load\": $load, \"run\": $line}" | tee -a "$OUT" >&2
    done
  done
done
python3 - "$OUT" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
loads = [r["load"] for r in rows]
tv = next((r["run"].get("torch") for r in rows if r["run"]["impl"] == "pytorch"), "n/a")
print(f"rounds {max(r['round'] for r in rows)}; load average before runs: min {min(loads):.2f}, "
      f"median {statistics.median(loads):.2f}, max {max(loads):.2f}; torch {tv}")
print("| threads | batch | kexue forward ms | PyTorch forward ms | ratio | kexue forward CPU ms | PyTorch forward CPU ms | CPU ratio | kexue sample ms | PyTorch sample ms | ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for th in sorted({r["run"]["threads"] for r in rows}):
    def med(impl, key):
        v = [r["run"][key] for r in rows if r["run"]["impl"] == impl and r["run"]["threads"] == th]
        return statistics.median(v) if v else float("nan")
    kf, pf = med("kexue", "forward_ms"), med("pytorch", "forward_ms")
    kc, pc = med("kexue", "forward_cpu_ms"), med("pytorch", "forward_cpu_ms")
    ks, ps = med("kexue", "sample_ms"), med("pytorch", "sample_ms")
    b = rows[0]["run"]["batch"]
    print(f"| {th} | {b} | {kf:.1f} | {pf:.1f} | {kf / pf:.2f}x | {kc:.0f} | {pc:.0f} | {kc / pc:.2f}x "
          f"| {ks:.0f} | {ps:.0f} | {ks / ps:.2f}x |")
PY
rm -f "$OUT"
