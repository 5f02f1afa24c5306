#!/usr/bin/env python3
"""Step-parity fixtures of kexue's sampler menu against diffusers' schedulers.

Drives each diffusers scheduler with a closed-form ε model (the exact ε* of a 2-D Gaussian
N(mean, diag(var))), on each scheduler's default linear schedule (T = 1000; β 1e-4..0.02, Heun 8.5e-4..0.012), and stores the
initial batch, every timestep / σ, every state returned by `step()` and every noise draw as
JSON under crates/diffusion/tests/data/menu/. The Rust test `crates/diffusion/tests/menu.rs`
replays them without Python.

diffusers computes its schedules in float32. To compare algorithms rather than float32
rounding, this script aliases torch.float32 and numpy.float32 to float64 before diffusers
runs, and checks that every state it returns is float64.

Run: /work/venv-torch/bin/python scripts/make_menu_fixtures.py
"""

import json
import os
import sys

import numpy as np
import torch

# Run diffusers in float64 (see the module docstring).
torch.set_default_dtype(torch.float64)
torch.float32 = torch.float64
np.float32 = np.float64

import diffusers  # noqa: E402
from diffusers import (  # noqa: E402
    DEISMultistepScheduler,
    DPMSolverMultistepScheduler,
    DPMSolverSinglestepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
    KDPM2AncestralDiscreteScheduler,
    KDPM2DiscreteScheduler,
    LMSDiscreteScheduler,
    PNDMScheduler,
    UniPCMultistepScheduler,
)

OUT = os.path.join(os.path.dirname(__file__), "..", "crates", "diffusion", "tests", "data", "menu")
MEAN = [0.5, -1.0]
VAR = [0.09, 2.0]
ROWS = 3

# Noise draws of the schedulers, recorded through their module's `randn_tensor`.
RECORDED = []


def recording_randn(shape, generator=None, device=None, dtype=None, layout=None):
    z = torch.randn(shape, generator=generator, dtype=torch.float64)
    RECORDED.append(z.reshape(-1).tolist())
    return z


for mod_name in [
    "scheduling_euler_ancestral_discrete",
    "scheduling_euler_discrete",
    "scheduling_dpmsolver_multistep",
    "scheduling_dpmsolver_singlestep",
    "scheduling_k_dpm_2_ancestral_discrete",
]:
    mod = sys.modules[f"diffusers.schedulers.{mod_name}"]
    mod.randn_tensor = recording_randn


def eps_star(x, alpha_bar):
    """E[ε | x_t] for x_t = √ᾱ x0 + √(1−ᾱ) ε, x0 ~ N(MEAN, diag VAR)."""
    m = torch.tensor(MEAN)
    v = torch.tensor(VAR)
    ab = torch.as_tensor(alpha_bar, dtype=torch.float64)
    sa, sb = ab.sqrt(), (1 - ab).sqrt()
    return sb * (x - sa * m) / (ab * v + (1 - ab))


def run(name, cls, kexue, k, space, config=None, step_kwargs=None):
    config = config or {}
    sched = cls(**config)
    sched.set_timesteps(k)
    if hasattr(sched, "sigmas"):
        assert torch.as_tensor(sched.sigmas).dtype == torch.float64, name
    gen = torch.Generator().manual_seed(0)
    x = torch.randn((ROWS, len(MEAN)), generator=gen, dtype=torch.float64)
    x = x * sched.init_noise_sigma
    x_init = x.reshape(-1).tolist()
    noise_gen = torch.Generator().manual_seed(1)
    RECORDED.clear()
    calls = []
    for t in sched.timesteps:
        x_in = sched.scale_model_input(x, t)
        kdpm2_first = None
        if cls is PNDMScheduler:
            alpha_bar = float(sched.alphas_cumprod[int(t)])
        elif cls is KDPM2DiscreteScheduler:
            # The model sees σ or the interpolated (midpoint) σ, as scale_model_input does.
            idx = sched.step_index
            kdpm2_first = (idx, sched.state_in_first_order)
            sigma = float(sched.sigmas[idx] if kdpm2_first[1] else sched.sigmas_interpol[idx])
            alpha_bar = 1.0 / (1.0 + sigma * sigma)
        elif cls is KDPM2AncestralDiscreteScheduler:
            # As scale_model_input: σ in the first-order state, else the interpolated σ of the
            # step begun at the previous index.
            idx = sched.step_index if sched.step_index is not None else 0
            first = sched.state_in_first_order
            kdpm2_first = (idx, first, "ancestral")
            sigma = float(sched.sigmas[idx] if first else sched.sigmas_interpol[idx - 1])
            alpha_bar = 1.0 / (1.0 + sigma * sigma)
        else:
            idx = sched.step_index if sched.step_index is not None else 0
            sigma = float(sched.sigmas[idx])
            alpha_bar = 1.0 / (1.0 + sigma * sigma)
        eps = eps_star(x_in, alpha_bar)
        kw = dict(step_kwargs or {})
        if cls in (EulerAncestralDiscreteScheduler, DPMSolverMultistepScheduler, DPMSolverSinglestepScheduler,
                   KDPM2AncestralDiscreteScheduler):
            kw["generator"] = noise_gen
        n_before = len(RECORDED)
        x = sched.step(eps, t, x, **kw).prev_sample
        assert x.dtype == torch.float64, name
        # NaN (diffusers' UniPC bh1 into σ = 0) is written as null: JSON has no NaN.
        xs = [None if v != v else v for v in x.reshape(-1).tolist()]
        call = {"timestep": float(t), "alpha_bar": alpha_bar, "x": xs}
        if kdpm2_first is not None and len(kdpm2_first) == 3:
            # First order ends at the interpolated σ of this step (0 on the last step, an
            # Euler step into the data); second order at σ_next (the state advanced the index).
            idx, first, _ = kdpm2_first
            call["sigma_next"] = float(sched.sigmas_interpol[idx] if first else sched.sigmas[idx])
        elif kdpm2_first is not None:
            idx, first = kdpm2_first
            call["sigma_next"] = float(sched.sigmas_interpol[idx + 1] if first else sched.sigmas[idx])
        elif space == "ve":
            call["sigma_next"] = float(sched.sigmas[sched.step_index])
        call["noise"] = RECORDED[n_before:]
        calls.append(call)
    fixture = {
        "name": name,
        "scheduler": cls.__name__,
        "config": config,
        "space": space,
        "kexue": kexue,
        "n_steps": k,
        "beta_start": sched.config.beta_start,
        "beta_end": sched.config.beta_end,
        "mean": MEAN,
        "var": VAR,
        "x_init": x_init,
        "init_sigma": float(sched.sigmas[0]) if space == "ve" else None,
        "calls": calls,
    }
    if config.get("rescale_betas_zero_snr"):
        fixture["alphas_cumprod"] = sched.alphas_cumprod.tolist()
    path = os.path.join(OUT, f"{name}.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"), allow_nan=False)
    print(f"{name}: {len(calls)} calls, {sum(len(c['noise']) for c in calls)} noise draws")


def kx(sampler, **kw):
    d = {"sampler": sampler}
    d.update(kw)
    return d


def main():
    os.makedirs(OUT, exist_ok=True)
    K = 10
    run("euler", EulerDiscreteScheduler, kx("euler"), K, "ve")
    run("euler-karras", EulerDiscreteScheduler, kx("euler", sigmas="karras"), K, "ve", {"use_karras_sigmas": True})
    run("euler-leading", EulerDiscreteScheduler, kx("euler", spacing="leading", steps_offset=1), K, "ve",
        {"timestep_spacing": "leading", "steps_offset": 1})
    run("euler-trailing-zsnr", EulerDiscreteScheduler, kx("euler", spacing="trailing", zero_snr=True), K, "ve",
        {"timestep_spacing": "trailing", "rescale_betas_zero_snr": True})
    run("euler-ancestral", EulerAncestralDiscreteScheduler, kx("euler-ancestral"), K, "ve")
    run("heun", HeunDiscreteScheduler, kx("heun"), K, "ve")
    run("heun-karras", HeunDiscreteScheduler, kx("heun", sigmas="karras"), 6, "ve", {"use_karras_sigmas": True})
    run("lms", LMSDiscreteScheduler, kx("lms"), K, "ve")
    run("dpm2", KDPM2DiscreteScheduler, kx("dpm2"), K, "ve")
    run("dpm2-ancestral", KDPM2AncestralDiscreteScheduler, kx("dpm2-ancestral"), K, "ve")
    run("dpm-solver++-2m", DPMSolverMultistepScheduler, kx("dpm-solver++-3m", order=2), K, "vp")
    run("dpm-solver++-2m-trailing", DPMSolverMultistepScheduler, kx("dpm-solver++-3m", order=2, spacing="trailing"),
        K, "vp", {"timestep_spacing": "trailing"})
    run("dpm-solver++-2m-leading", DPMSolverMultistepScheduler, kx("dpm-solver++-3m", order=2, spacing="leading",
        steps_offset=1), K, "vp", {"timestep_spacing": "leading", "steps_offset": 1})
    run("dpm-solver++-3m", DPMSolverMultistepScheduler, kx("dpm-solver++-3m"), K, "vp", {"solver_order": 3})
    run("dpm-solver++-3m-20", DPMSolverMultistepScheduler, kx("dpm-solver++-3m"), 20, "vp", {"solver_order": 3})
    run("dpm-solver++-sde", DPMSolverMultistepScheduler, kx("dpm-solver++-sde"), K, "vp",
        {"algorithm_type": "sde-dpmsolver++"})
    run("dpm-solver++-2s", DPMSolverSinglestepScheduler, kx("dpm-solver++-2s"), K, "vp")
    run("dpm-solver++-2s-odd", DPMSolverSinglestepScheduler, kx("dpm-solver++-2s"), 9, "vp")
    run("unipc", UniPCMultistepScheduler, kx("unipc"), K, "vp")
    run("unipc-bh1-3", UniPCMultistepScheduler, kx("unipc", order=3, unipc="bh1"), K, "vp",
        {"solver_order": 3, "solver_type": "bh1"})
    run("unipc-bh2-3-20", UniPCMultistepScheduler, kx("unipc", order=3), 20, "vp", {"solver_order": 3})
    run("deis", DEISMultistepScheduler, kx("deis"), K, "vp")
    run("deis-3", DEISMultistepScheduler, kx("deis", order=3), 20, "vp", {"solver_order": 3})
    run("pndm", PNDMScheduler, kx("pndm"), K, "vp")
    with open(os.path.join(OUT, "VERSION"), "w") as f:
        f.write(f"diffusers {diffusers.__version__}\ntorch {torch.__version__}\nnumpy {np.__version__}\n")


if __name__ == "__main__":
    main()
