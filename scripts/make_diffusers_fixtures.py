#!/usr/bin/env python3
"""Builds the diffusers fixtures of `crates/diffusion-nn/tests/it/diffusers.rs`.

Run once (needs `pip install torch diffusers safetensors numpy`; no download):

    python scripts/make_diffusers_fixtures.py crates/diffusion-nn/tests/data/diffusers

It writes three tiny seeded random-weight UNet2DModels as diffusers folders, the PyTorch outputs
for fixed inputs, the schedulers' alphas_cumprod and set_timesteps() for each spacing, and short
DDIMScheduler / DDPMScheduler trajectories on the fixture networks (fixed noise):

- ddpm/       model folder: DDPM-style (attention at one level, positional, default shift,
              downsample_padding 0, freq_shift 1) + scheduler_config.json (DDIMScheduler, leading)
- iddpm/      model folder: improved-DDPM style (scale_shift, resnet down/up-sampling, learned
              variance, 5 class embeddings, multi-head attention, cosine schedule)
- vpred/      pipeline folder (model_index.json, unet/, scheduler/): v_prediction, one channel,
              16x16, no middle attention, centred input, scaled_linear betas, trailing spacing
- schedules.safetensors   alphas_cumprod and timesteps of several scheduler configs
Each model folder also gets `expected.safetensors` (inputs, outputs, trajectories).
"""
import json
import os
import sys

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel
from diffusers.utils.torch_utils import randn_tensor
from safetensors.torch import save_file


def randomize(model, seed):
    """Every parameter random (GroupNorm affine near 1/0, weights ~ N(0, 1/fan_in)), so that no
    layer is an identity and every tensor matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * r)
            elif name.endswith("bias") or p.dim() == 1:
                p.copy_(0.1 * r)
            elif "class_embedding" in name:
                p.copy_(r)
            else:
                fan_in = p[0].numel()
                p.copy_(r / fan_in**0.5)
    return model


def outputs(model, seed, labels=None):
    g = torch.Generator().manual_seed(seed)
    c, s = model.config.in_channels, model.config.sample_size
    x = torch.randn((3, c, s, s), generator=g)
    out = {"x": x}
    for k, ts in enumerate([[0, 499, 999], [7, 250, 998]]):
        t = torch.tensor(ts, dtype=torch.int64)
        with torch.no_grad():
            y = model(x, t, class_labels=labels).sample
        out[f"t{k}"] = t
        out[f"y{k}"] = y
    if labels is not None:
        out["labels"] = labels
    return out


def ddim_run(model, sched, k, seed, prefix):
    sched.set_timesteps(k)
    g = torch.Generator().manual_seed(seed)
    c, s = model.config.in_channels, model.config.sample_size
    x = torch.randn((2, c, s, s), generator=g)
    out = {f"{prefix}_x": x.clone(), f"{prefix}_timesteps": sched.timesteps.clone()}
    for i, t in enumerate(sched.timesteps):
        with torch.no_grad():
            y = model(x, t).sample
        x = sched.step(y, t, x, eta=0.0).prev_sample
        out[f"{prefix}_{i}"] = x.clone()
    return out


def ddpm_run(model, sched, k, seed, prefix, labels=None):
    sched.set_timesteps(k)
    g = torch.Generator().manual_seed(seed)
    c, s = model.config.in_channels, model.config.sample_size
    x = torch.randn((2, c, s, s), generator=g)
    out = {f"{prefix}_x": x.clone(), f"{prefix}_timesteps": sched.timesteps.clone()}
    for i, t in enumerate(sched.timesteps):
        with torch.no_grad():
            y = model(x, t, class_labels=labels).sample
        noise_seed = 1000 + i
        noise = randn_tensor(x.shape, generator=torch.Generator().manual_seed(noise_seed))
        x = sched.step(y, t, x, generator=torch.Generator().manual_seed(noise_seed)).prev_sample
        out[f"{prefix}_noise{i}"] = noise
        out[f"{prefix}_{i}"] = x.clone()
    if labels is not None:
        out[f"{prefix}_labels"] = labels
    return out


def save(tensors, path):
    save_file({k: v.contiguous() for k, v in tensors.items()}, path)


def main(root):
    os.makedirs(root, exist_ok=True)
    torch.set_num_threads(1)

    # 1. DDPM style (the DDPM CIFAR10 architecture in miniature).
    ddpm = randomize(
        UNet2DModel(
            sample_size=8,
            in_channels=3,
            out_channels=3,
            block_out_channels=(8, 16, 16),
            down_block_types=("DownBlock2D", "AttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "AttnUpBlock2D", "UpBlock2D"),
            layers_per_block=2,
            norm_num_groups=4,
            norm_eps=1e-6,
            attention_head_dim=None,
            downsample_padding=0,
            flip_sin_to_cos=False,
            freq_shift=1,
        ),
        1,
    ).eval()
    d = os.path.join(root, "ddpm")
    ddpm.save_pretrained(d)
    ddim = DDIMScheduler(num_train_timesteps=1000, beta_schedule="linear", clip_sample=True, steps_offset=1)
    ddim.save_config(d)
    exp = outputs(ddpm, 11)
    exp.update(ddim_run(ddpm, ddim, 5, 12, "ddim"))
    large = DDPMScheduler(num_train_timesteps=1000, variance_type="fixed_large", clip_sample=True)
    exp.update(ddpm_run(ddpm, large, 5, 13, "ddpm"))
    save(exp, os.path.join(d, "expected.safetensors"))

    # 2. Improved-DDPM style.
    iddpm = randomize(
        UNet2DModel(
            sample_size=8,
            in_channels=3,
            out_channels=6,
            block_out_channels=(8, 16),
            down_block_types=("ResnetDownsampleBlock2D", "AttnDownBlock2D"),
            up_block_types=("AttnUpBlock2D", "ResnetUpsampleBlock2D"),
            layers_per_block=1,
            norm_num_groups=4,
            attention_head_dim=4,
            resnet_time_scale_shift="scale_shift",
            downsample_type="resnet",
            upsample_type="resnet",
            num_class_embeds=5,
            mid_block_scale_factor=1.4142135623730951,
            flip_sin_to_cos=True,
            freq_shift=0,
        ),
        2,
    ).eval()
    d = os.path.join(root, "iddpm")
    iddpm.save_pretrained(d)
    learned = DDPMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        variance_type="learned_range",
        clip_sample=False,
    )
    learned.save_config(d)
    labels = torch.tensor([0, 2, 4], dtype=torch.int64)
    exp = outputs(iddpm, 21, labels)
    exp.update(ddpm_run(iddpm, learned, 4, 23, "learned", torch.tensor([1, 3], dtype=torch.int64)))
    save(exp, os.path.join(d, "expected.safetensors"))

    # 3. v-prediction pipeline folder.
    vnet = randomize(
        UNet2DModel(
            sample_size=16,
            in_channels=1,
            out_channels=1,
            block_out_channels=(8, 16),
            down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"),
            layers_per_block=1,
            norm_num_groups=4,
            add_attention=False,
            center_input_sample=True,
        ),
        3,
    ).eval()
    vsched = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="scaled_linear",
        beta_start=0.00085,
        beta_end=0.012,
        prediction_type="v_prediction",
        clip_sample=False,
        timestep_spacing="trailing",
    )
    d = os.path.join(root, "vpred")
    DDPMPipeline(unet=vnet, scheduler=vsched).save_pretrained(d)
    exp = outputs(vnet, 31)
    exp.update(ddim_run(vnet, vsched, 4, 32, "ddim"))
    save(exp, os.path.join(d, "expected.safetensors"))

    # 4. Schedules: alphas_cumprod and set_timesteps(K) per spacing.
    sched = {}
    configs = {
        "linear": dict(beta_schedule="linear"),
        "scaled": dict(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012),
        "cosine": dict(beta_schedule="squaredcos_cap_v2"),
        "short": dict(num_train_timesteps=100, beta_start=0.001, beta_end=0.03),
        "trained": dict(num_train_timesteps=10, trained_betas=[0.01 * (i + 1) for i in range(10)]),
    }
    index = {}
    for name, kw in configs.items():
        s = DDPMScheduler(**kw)
        sched[f"{name}_alphas_cumprod"] = s.alphas_cumprod
        index[name] = {k: v for k, v in s.config.items() if not k.startswith("_")}
        n = s.config.num_train_timesteps
        for spacing, offset in [("leading", 0), ("leading", 1), ("trailing", 0), ("linspace", 0)]:
            for k in [1, 3, 7, 10, n // 3]:
                s2 = DDPMScheduler(**kw, timestep_spacing=spacing, steps_offset=offset)
                s2.set_timesteps(k)
                sched[f"{name}_{spacing}{offset}_{k}"] = s2.timesteps.to(torch.int64)
    save(sched, os.path.join(root, "schedules.safetensors"))
    with open(os.path.join(root, "schedules.json"), "w") as f:
        json.dump(index, f, indent=1, default=float)
        f.write("\n")
    for name, m in [("ddpm", ddpm), ("iddpm", iddpm), ("vpred", vnet)]:
        print(name, sum(p.numel() for p in m.parameters()), "parameters")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "crates/diffusion-nn/tests/data/diffusers")
