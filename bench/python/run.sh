#!/usr/bin/env bash
# Benchmarks of the Python package (BENCHMARKS.md, "Python package"): builds `kexue` and the
# extension in release, creates bench/.venv-python (numpy, maturin, jieba, rjieba), makes two
# one-step checkpoints (2-D MLP on moons; 3×32×32 U-Net on a synthetic CIFAR-format batch, the
# network's weights do not matter for timing) and runs bench.py under nice.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=artifacts/bench-python
mkdir -p "$out"
venv=bench/.venv-python
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/pip" install --quiet maturin numpy jieba rjieba
# --no-build-isolation uses the maturin installed above, which the build hook finds on PATH.
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pip" install --quiet --no-build-isolation ./crates/python
cargo build --release -p cli
kexue=target/release/kexue
if [ ! -f "$out/mlp/checkpoint.json" ]; then
  "$kexue" diffusion train --data moons --out "$out/mlp" --steps 1
fi
if [ ! -f "$out/unet/checkpoint.json" ]; then
  # 64 records of CIFAR-10's binary format: 1 label byte + 3072 pixel bytes.
  "$venv/bin/python" -c "import numpy as np; r = np.random.default_rng(0).integers(0, 256, size=(64, 3073), dtype=np.uint8); r[:, 0] %= 10; r.tofile('$out/fake_cifar.bin')"
  "$kexue" diffusion train --data "cifar10:$out/fake_cifar.bin" --out "$out/unet" --steps 1
fi
nice -n 10 "$venv/bin/python" bench/python/bench.py --mlp "$out/mlp" --unet "$out/unet" \
  --repeat "${REPEAT:-40}" --out "$out/results.json"
