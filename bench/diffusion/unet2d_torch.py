#!/usr/bin/env python3
"""diffusers/PyTorch side of bench/diffusion/unet2d.sh.

    unet2d_torch.py make DIR           # DDPM-CIFAR10 UNet2DModel, seeded random weights, + DDPMScheduler
    unet2d_torch.py time DIR [batch] [passes] [sample_steps]   # one JSON line

`time` measures one forward pass at batch B (median of `passes`, after a warm-up) and a
`sample_steps`-step DDPMScheduler loop on B images (the sampling loop of DDPMPipeline: network
call + scheduler step), on torch.get_num_threads() = BENCH_THREADS threads.
"""
import json
import os
import sys
import time

import torch
from diffusers import DDPMScheduler, UNet2DModel


def make(d):
    torch.manual_seed(0)
    # google/ddpm-cifar10-32's config.json (Ho et al.'s CIFAR10 network).
    unet = UNet2DModel(
        sample_size=32,
        in_channels=3,
        out_channels=3,
        block_out_channels=(128, 256, 256, 256),
        down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
        layers_per_block=2,
        attention_head_dim=None,
        downsample_padding=0,
        flip_sin_to_cos=False,
        freq_shift=1,
        norm_eps=1e-6,
        norm_num_groups=32,
    )
    unet.save_pretrained(d)
    DDPMScheduler(num_train_timesteps=1000, variance_type="fixed_large", clip_sample=True).save_config(d)
    print(f"{d}: {sum(p.numel() for p in unet.parameters())} parameters", file=sys.stderr)


def timing(d, batch, passes, sample_steps):
    threads = int(os.environ.get("BENCH_THREADS", "1"))
    torch.set_num_threads(threads)
    unet = UNet2DModel.from_pretrained(d).eval()
    sched = DDPMScheduler.from_pretrained(d)
    c = unet.config
    g = torch.Generator().manual_seed(0)
    x = torch.randn((batch, c.in_channels, c.sample_size, c.sample_size), generator=g)
    t = torch.full((batch,), 499, dtype=torch.int64)
    fwd, fwd_cpu = [], []
    with torch.inference_mode():
        unet(x, t)
        for _ in range(passes):
            start, cpu0 = time.perf_counter(), time.process_time()
            unet(x, t)
            fwd.append((time.perf_counter() - start) * 1e3)
            fwd_cpu.append((time.process_time() - cpu0) * 1e3)
        sample_ms = float("nan")
        if sample_steps > 0:
            sched.set_timesteps(sample_steps)
            xs = torch.randn(x.shape, generator=g)
            start = time.perf_counter()
            for tau in sched.timesteps:
                y = unet(xs, tau).sample
                xs = sched.step(y, tau, xs, generator=g).prev_sample
            sample_ms = (time.perf_counter() - start) * 1e3
    fwd.sort()
    fwd_cpu.sort()
    print(json.dumps({
        "impl": "pytorch",
        "threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in unet.parameters()),
        "batch": batch,
        "forward_ms": round(fwd[len(fwd) // 2], 2),
        "forward_min_ms": round(fwd[0], 2),
        "forward_cpu_ms": round(fwd_cpu[len(fwd_cpu) // 2]),
        "sample_steps": sample_steps,
        "sample_ms": round(sample_ms, 1),
        "torch": torch.__version__,
    }))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        args = [int(a) for a in sys.argv[3:]] + [16, 5, 10][len(sys.argv) - 3:]
        timing(sys.argv[2], *args)
