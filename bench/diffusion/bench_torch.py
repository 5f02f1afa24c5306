"""PyTorch twin of crates/diffusion-nn/examples/bench_nets.rs (same networks, same batch sizes).

Times one training step (forward, L_simple with the squared norm summed over dimensions,
backward, global-norm clipping to 1, AdamW, EMA update) and one sampling pass (forward under
no_grad plus the DDPM update x <- a*x + b*eps + sigma*z) and prints one JSON line.

usage: python bench_torch.py mlp|unet [train_steps] [passes]
"""

import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def sinusoidal(t, dim):
    half = dim // 2
    freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float64) / half)
    args = t.double()[:, None] * freqs[None, :]
    return torch.cat([args.sin(), args.cos()], dim=1).float()


class Mlp(nn.Module):
    """concat(x[2], sin64(t)) -> 66->256 -> SiLU -> 3x(256->256 -> SiLU) -> 256->2."""

    def __init__(self, dim=2, hidden=256, depth=4, time_dim=64):
        super().__init__()
        self.time_dim = time_dim
        widths = [dim + time_dim] + [hidden] * depth
        self.layers = nn.ModuleList([nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:])])
        self.out = nn.Linear(hidden, dim)

    def forward(self, x, t):
        h = torch.cat([x, sinusoidal(t, self.time_dim)], dim=1)
        for layer in self.layers:
            h = F.silu(layer(h))
        return self.out(h)


class ResBlock(nn.Module):
    def __init__(self, cin, cout, temb, groups):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb_act):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.temb_proj(temb_act)[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        return (self.skip(x) if self.skip is not None else x) + h


class Unet(nn.Module):
    """Base 32, levels 8x8 (32) and 4x4 (64), two ResBlocks per level, concat skips."""

    def __init__(self, channels=1, size=8, base=32, mult=(1, 2), blocks=2, time_dim=64, temb=128, groups=8):
        super().__init__()
        self.channels, self.size, self.time_dim = channels, size, time_dim
        self.temb1, self.temb2 = nn.Linear(time_dim, temb), nn.Linear(temb, temb)
        self.conv_in = nn.Conv2d(channels, base, 3, padding=1)
        self.down, self.downsample, skips, ch = nn.ModuleList(), nn.ModuleList(), [], base
        for i, m in enumerate(mult):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(ch, m * base, temb, groups))
                ch = m * base
                skips.append(ch)
            self.down.append(level)
            self.downsample.append(nn.Conv2d(ch, ch, 3, stride=2, padding=1) if i + 1 < len(mult) else nn.Identity())
        self.up, self.upsample = nn.ModuleList(), nn.ModuleList()
        for i in reversed(range(len(mult))):
            level = nn.ModuleList()
            for _ in range(blocks):
                level.append(ResBlock(ch + skips.pop(), mult[i] * base, temb, groups))
                ch = mult[i] * base
            self.up.append(level)
            self.upsample.append(nn.Conv2d(ch, ch, 3, padding=1) if i > 0 else nn.Identity())
        self.norm_out = nn.GroupNorm(groups, ch)
        self.conv_out = nn.Conv2d(ch, channels, 3, padding=1)

    def forward(self, x, t):
        b = x.shape[0]
        temb_act = F.silu(self.temb2(F.silu(self.temb1(sinusoidal(t, self.time_dim)))))
        h = self.conv_in(x.view(b, self.channels, self.size, self.size))
        hs = []
        for level, down in zip(self.down, self.downsample):
            for block in level:
                h = block(h, temb_act)
                hs.append(h)
            h = down(h)
        for j, (level, up) in enumerate(zip(self.up, self.upsample)):
            for block in level:
                h = block(torch.cat([h, hs.pop()], dim=1), temb_act)
            if j + 1 < len(self.up):
                h = up(F.interpolate(h, scale_factor=2, mode="nearest"))
        h = self.conv_out(F.silu(self.norm_out(h)))
        return h.reshape(b, -1)


def main():
    net = sys.argv[1] if len(sys.argv) > 1 else "mlp"
    train_steps = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    passes = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    torch.manual_seed(0)
    torch.set_num_threads(int(__import__("os").environ.get("BENCH_THREADS", "2")))
    if net == "mlp":
        model, batch, dim = Mlp(), 1024, 2
    else:
        model, batch, dim = Unet(), 128, 64
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.0)
    ema = [p.detach().clone() for p in model.parameters()]
    n = 1000
    betas = torch.linspace(1e-4, 0.02, n, dtype=torch.float64)
    abar = torch.cumprod(1 - betas, 0)
    data = torch.rand(4096, dim) * 2 - 1
    times = []
    for step in range(5 + train_steps):
        t0 = time.perf_counter()
        idx = torch.randint(0, data.shape[0], (batch,))
        t = torch.randint(1, n + 1, (batch,))
        eps = torch.randn(batch, dim)
        ab = abar[t - 1].float()[:, None]
        x_t = ab.sqrt() * data[idx] + (1 - ab).sqrt() * eps
        loss = (model(x_t, t.double()) - eps).pow(2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for e, p in zip(ema, model.parameters()):
                e.mul_(0.999).add_(p.detach(), alpha=0.001)
        if step >= 5:
            times.append((time.perf_counter() - t0) * 1e3)
    pass_ms = []
    x = torch.randn(batch, dim)
    with torch.no_grad():
        for k in range(passes + 2):
            t0 = time.perf_counter()
            tt = torch.full((batch,), float(n - 10 * k))
            e = model(x, tt)
            x = 1.01 * x - 0.1 * e + 0.1 * torch.randn_like(x)
            if k >= 2:
                pass_ms.append((time.perf_counter() - t0) * 1e3)
    print(json.dumps({
        "impl": "pytorch", "torch": torch.__version__, "net": net, "params": params, "batch": batch,
        "train_ms_per_step": round(statistics.median(times), 3),
        "sample_ms_per_pass": round(statistics.median(pass_ms), 3),
        "train_steps": len(times), "passes": len(pass_ms),
    }))


if __name__ == "__main__":
    main()
