#!/usr/bin/env python3
"""Builds the export round-trip fixture of `crates/diffusion-nn/tests/it/export.rs` (issue 15).

Run once from the repository root, after `cargo build --release -p cli` (no download):

    /work/venv-torch/bin/python scripts/make_export_fixture.py crates/diffusion-nn/tests/data/export

1. trains a tiny diffusers-style U-Net with kexue for 3 steps on the digits
   (`kexue diffusion train --net diffusers-unet --unet-config DIR/tiny_unet.json`) into DIR/ckpt,
2. exports it with `kexue diffusion export` to a temporary folder,
3. loads that folder with `diffusers.DDPMPipeline.from_pretrained` and writes to
   DIR/expected.safetensors: fixed inputs `x` [3, 1, 8, 8] (seeded normal), `timesteps`
   (diffusers' τ = 0, 499, 999), the U-Net's outputs `out` on them, and the scheduler's
   `alphas_cumprod` (f32, N = 1000).

The Rust test compares kexue's own forward of DIR/ckpt with `out` and the checkpoint's schedule
with `alphas_cumprod`, without Python.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from diffusers import DDPMPipeline
from safetensors.torch import save_file

KEXUE = os.path.join("target", "release", "kexue")


def main(out_dir):
    ckpt = os.path.join(out_dir, "ckpt")
    shutil.rmtree(ckpt, ignore_errors=True)
    subprocess.run(
        [KEXUE, "diffusion", "train", "--data", "digits", "--net", "diffusers-unet",
         "--unet-config", os.path.join(out_dir, "tiny_unet.json"), "--out", ckpt,
         "--steps", "3", "--batch-size", "16", "--checkpoint-every", "3", "--lr", "1e-2"],
        check=True,
    )
    # Only the EMA weights are read by the test: drop the optimizer state to keep it small.
    with open(os.path.join(ckpt, "CURRENT")) as f:
        gen = os.path.join(ckpt, f.read().strip())
    os.remove(os.path.join(gen, "optim.safetensors"))
    with tempfile.TemporaryDirectory() as tmp:
        exported = os.path.join(tmp, "pipeline")
        subprocess.run([KEXUE, "diffusion", "export", "--ckpt", ckpt, "--out", exported],
                       check=True)
        pipe = DDPMPipeline.from_pretrained(exported)
        unet = pipe.unet.eval()
        g = torch.Generator().manual_seed(0)
        x = torch.randn((3, 1, 8, 8), generator=g)
        timesteps = torch.tensor([0, 499, 999])
        with torch.no_grad():
            out = unet(x, timesteps).sample
        tensors = {
            "x": x.contiguous(),
            "timesteps": timesteps.to(torch.int64),
            "out": out.contiguous(),
            "alphas_cumprod": pipe.scheduler.alphas_cumprod.to(torch.float32).contiguous(),
        }
        import diffusers
        save_file(tensors, os.path.join(out_dir, "expected.safetensors"),
                  metadata={"diffusers": diffusers.__version__, "torch": torch.__version__})
        print(json.dumps({"params": sum(p.numel() for p in unet.parameters()),
                          "gen": os.path.basename(gen)}))


if __name__ == "__main__":
    main(sys.argv[1])
