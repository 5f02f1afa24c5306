"""PyTorch twin of crates/fused-ops/examples/op_profile.rs: the same ops at the same shapes.

For each op: median ms of the forward on inputs with requires_grad (as in a training step) and
of forward + backward of L = sum(y * r) (the same loss the kexue side uses). One JSON object
per line, joined with the kexue rows by bench/diffusion/ops.sh on the op name.

usage: python ops_torch.py [reps]      (threads: BENCH_THREADS, default 2)
"""

import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def linear(net, b, i, o, silu):
    name = f"{net} linear+silu {i}→{o}" if silu else f"{net} linear {i}→{o}"
    f = (lambda x, w, bb: F.silu(F.linear(x, w, bb))) if silu else F.linear
    return name, f"[{b},{i}]", [(b, i), (o, i), (o,)], f


def norm(b, c, hw):
    return (f"unet groupnorm+silu {c}ch {hw}×{hw}", f"[{b},{c},{hw},{hw}]", [(b, c, hw, hw), (c,), (c,)],
            lambda x, w, bb: F.silu(F.group_norm(x, 8, w, bb, 1e-5)))


def conv(b, cin, cout, hw, k, stride):
    s = " s2" if stride == 2 else ""
    return (f"unet conv{k}×{k}{s} {cin}→{cout} {hw}×{hw}", f"[{b},{cin},{hw},{hw}]",
            [(b, cin, hw, hw), (cout, cin, k, k), (cout,)],
            lambda x, w, bb: F.conv2d(x, w, bb, stride=stride, padding=k // 2))


def cases():
    bm, bu = 1024, 128
    return [
        linear("mlp", bm, 66, 256, True),
        linear("mlp", bm, 256, 256, True),
        linear("mlp", bm, 256, 2, False),
        linear("unet", bu, 64, 128, True),
        linear("unet", bu, 128, 64, False),
        norm(bu, 32, 8), norm(bu, 96, 8), norm(bu, 64, 4), norm(bu, 128, 4),
        conv(bu, 32, 32, 8, 3, 1), conv(bu, 96, 32, 8, 3, 1), conv(bu, 96, 32, 8, 1, 1),
        conv(bu, 64, 64, 4, 3, 1), conv(bu, 128, 64, 4, 3, 1), conv(bu, 32, 32, 8, 3, 2),
        ("unet upsample nearest×2", "[128,64,4,4]", [(bu, 64, 4, 4)],
         lambda x: F.interpolate(x, scale_factor=2, mode="nearest")),
        ("unet cat channels", "[128,64,8,8]+[128,32,8,8]", [(bu, 64, 8, 8), (bu, 32, 8, 8)],
         lambda a, b: torch.cat([a, b], dim=1)),
        ("unet time-bias add", "[128,32,8,8]+[128,32]", [(bu, 32, 8, 8), (bu, 32)],
         lambda a, b: a + b[:, :, None, None]),
        ("unet residual add", "[128,32,8,8]", [(bu, 32, 8, 8), (bu, 32, 8, 8)], lambda a, b: a + b),
        ("unet loss mse", "[128,64]", [(bu, 64), (bu, 64)], lambda a, b: (a - b).pow(2).sum(1).mean()),
    ]


def main():
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    threads = int(os.environ.get("BENCH_THREADS", "2"))
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    for name, shape, shapes, f in cases():
        xs = [torch.randn(*s, requires_grad=True) for s in shapes]
        r = torch.randn_like(f(*xs))
        fwd, both = [], []
        for k in range(reps + 3):
            for x in xs:
                x.grad = None
            t0 = time.perf_counter()
            y = f(*xs)
            t1 = time.perf_counter()
            (y * r).sum().backward()
            t2 = time.perf_counter()
            if k >= 3:
                fwd.append((t1 - t0) * 1e3)
                both.append((t2 - t0) * 1e3)
        print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "op": name, "shape": shape,
                          "threads": threads, "fwd_ms": round(statistics.median(fwd), 4),
                          "fwdbwd_ms": round(statistics.median(both), 4)}), flush=True)


if __name__ == "__main__":
    main()
