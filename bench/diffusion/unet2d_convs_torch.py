#!/usr/bin/env python3
"""PyTorch side of bench/diffusion/unet2d_convs.sh: F.conv2d at the DDPM CIFAR10 UNet2DModel's
convolution shapes, one JSON line per shape (same fields as the fused-ops example
unet2d_convs): wall and on-CPU time of the calling thread (median of REPS), multiply-add rate.

    unet2d_convs_torch.py [batch] [reps] [filter]
"""
import json
import os
import re
import sys
import time

import torch
import torch.nn.functional as F


def shapes():
    src = open(os.path.join(os.path.dirname(__file__), "../../crates/fused-ops/examples/unet2d_convs.rs")).read()
    block = src.split("SHAPES")[1].split("];")[0]
    return [tuple(int(v) for v in m) for m in re.findall(r"\((\d+), (\d+), (\d+), (\d+), (\d+), (\d+)\)", block)]


def main():
    batch = int(sys.argv[1]) if len(sys.argv) > 1 else 16
    reps = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    filt = sys.argv[3] if len(sys.argv) > 3 else ""
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "1")))
    g = torch.Generator().manual_seed(0)
    with torch.inference_mode():
        for cin, cout, side, k, stride, uses in shapes():
            name = f"{cin}->{cout} {side}x{side} k{k} s{stride}"
            if filt not in name:
                continue
            x = torch.randn((batch, cin, side, side), generator=g)
            w = torch.randn((cout, cin, k, k), generator=g) * 0.02
            b = torch.randn((cout,), generator=g)
            y = F.conv2d(x, w, b, stride=stride, padding=k // 2)
            wall, cpu = [], []
            for _ in range(reps):
                t0, c0 = time.perf_counter(), time.thread_time()
                F.conv2d(x, w, b, stride=stride, padding=k // 2)
                wall.append((time.perf_counter() - t0) * 1e3)
                cpu.append((time.thread_time() - c0) * 1e3)
            wall.sort()
            cpu.sort()
            macs = batch * cout * y.shape[2] * y.shape[3] * cin * k * k
            c = cpu[len(cpu) // 2]
            print(json.dumps({"shape": name, "uses": uses, "wall_ms": round(wall[len(wall) // 2], 2),
                              "cpu_ms": round(c, 2), "gmacs": round(macs / c / 1e6, 1)}))


if __name__ == "__main__":
    main()
