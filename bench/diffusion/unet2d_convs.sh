#!/usr/bin/env bash
# Per-shape conv2d forward, kexue's fused kernels vs PyTorch's F.conv2d, at the convolution
# shapes of the DDPM CIFAR10 UNet2DModel (issue 14), one thread, on-CPU time of the calling
# thread (steady under load): all kexue shapes, then all PyTorch shapes, in one run.
#
#   bench/diffusion/unet2d_convs.sh [batch] [reps] [filter]
#
# Prints a Markdown table: per shape the uses per forward pass, both CPU times (median of REPS),
# the multiply-add rates and the ratio, and the sum weighted by uses.
set -euo pipefail
cd "$(dirname "$0")/../.."
BATCH=${1:-16}
REPS=${2:-3}
FILTER=${3:-}
PY=${VENV:-/work/venv-torch}/bin/python
cargo build --release -q -p fused-ops --example unet2d_convs
export BENCH_THREADS=1 RAYON_NUM_THREADS=1
K=$(mktemp)
T=$(mktemp)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
target/release/examples/unet2d_convs "$BATCH" "$REPS" "$FILTER" > "$K"
"$PY" bench/diffusion/unet2d_convs_torch.py "$BATCH" "$REPS" "$FILTER" > "$T"
python3 - "$K" "$T" <<'PY'
import json, sys
ks = [json.loads(l) for l in open(sys.argv[1])]
ts = {r["shape"]: r for r in map(json.loads, open(sys.argv[2]))}
print("| shape | uses | kexue CPU ms | MAC/ns | PyTorch CPU ms | MAC/ns | ratio |")
print("|---|---|---|---|---|---|---|")
wk = wt = 0.0
for k in ks:
    t = ts[k["shape"]]
    wk += k["cpu_ms"] * k["uses"]
    wt += t["cpu_ms"] * t["uses"]
    print(f"| {k['shape']} | {k['uses']} | {k['cpu_ms']:.1f} | {k['gmacs']:.1f} | {t['cpu_ms']:.1f} | "
          f"{t['gmacs']:.1f} | {k['cpu_ms'] / t['cpu_ms']:.2f}× |")
print(f"| all, weighted by uses | | {wk:.0f} | | {wt:.0f} | | {wk / wt:.2f}× |")
PY
rm -f "$K" "$T"
