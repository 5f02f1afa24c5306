"""kexue's Python package vs its peers, in one process (numbers for BENCHMARKS.md).

1. Per-step overhead of a Python eps_fn: `kexue.diffusion.sample` with a kexue checkpoint
   (the Rust predictor, no Python in the loop) vs the same network wrapped as a Python callable
   `lambda x, t: model(x, t)` (every step crosses into Python: GIL, array copies, checks), for
   2-D rows (reference MLP) and 3×32×32 images (reference U-Net), batch 1 and 256; plus a
   trivial numpy eps_fn (`zeros_like`), which isolates the crossing itself.
2. Segmentation chars/s from Python: `kexue.cws.lcut` (dict, neural, hybrid) vs `jieba.lcut`
   (HMM on, jieba's default) and `rjieba.cut`, on the development text repeated.
3. `kexue.probmap.probs` rows/s (Gumbel = softmax, Gauss) vs a numpy softmax, on batches.

Usage: python bench.py --mlp DIR --unet DIR [--repeat 40] (see run.sh, which makes DIRs).
"""

import argparse
import json
import os
import platform
import time

import numpy as np

import kexue
from kexue import cws, diffusion as kd, probmap


def best_of(fn, repeat=3):
    """Fastest of `repeat` runs (seconds)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def eps_overhead(model_dir, shape, batches, steps, repeat):
    model = kd.load(model_dir)
    assert tuple(model.shape) == shape, (model.shape, shape)
    sched = model.schedule
    rows = []
    for b in batches:
        kw = dict(sampler="ddim", steps=steps, seed=0, clip_x0=(-1.0, 1.0), batch=b)
        full = (b, *shape)
        t_rust = best_of(lambda: kd.sample(model, full, sched, **kw), repeat)
        t_py = best_of(lambda: kd.sample(lambda x, t: model(x, t), full, sched, **kw), repeat)
        t_triv = best_of(lambda: kd.sample(lambda x, t: np.zeros_like(x), full, sched, **kw), repeat)
        rows.append({
            "shape": "×".join(map(str, shape)), "batch": b, "steps": steps,
            "rust_ms_per_step": 1e3 * t_rust / steps,
            "python_ms_per_step": 1e3 * t_py / steps,
            "overhead_ms_per_step": 1e3 * (t_py - t_rust) / steps,
            "ratio": t_py / t_rust,
            "trivial_eps_ms_per_step": 1e3 * t_triv / steps,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def segmentation(text_lines, repeat):
    import jieba
    import rjieba

    jieba.setLogLevel(60)
    jieba.initialize()
    lines = text_lines * repeat
    n_chars = sum(len(l) for l in lines)
    # Warm-up loads kexue's shipped dictionary and model (not timed, as jieba.initialize()).
    for mode in ("dict", "neural", "hybrid"):
        cws.lcut(lines[0], mode=mode)
    systems = {
        "kexue.cws.lcut(mode='dict')": lambda l: cws.lcut(l, mode="dict"),
        "kexue.cws.lcut(mode='neural')": lambda l: cws.lcut(l, mode="neural"),
        "kexue.cws.lcut(mode='hybrid')": lambda l: cws.lcut(l, mode="hybrid"),
        "jieba.lcut (HMM)": jieba.lcut,
        "rjieba.cut (HMM)": rjieba.cut,
    }
    rows = []
    for name, f in systems.items():
        t0 = time.perf_counter()
        for l in lines:
            f(l)
        dt = time.perf_counter() - t0
        rows.append({"system": name, "chars": n_chars, "seconds": dt, "chars_per_s": n_chars / dt})
        print(json.dumps(rows[-1]), flush=True)
    base = next(r["chars_per_s"] for r in rows if r["system"].startswith("jieba"))
    for r in rows:
        r["vs_jieba"] = r["chars_per_s"] / base
    return rows


def softmax(x):
    z = x - x.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def probs_rows(repeat):
    rng = np.random.default_rng(0)
    rows = []
    for n, batch in [(10, 100_000), (100, 10_000), (1000, 1_000)]:
        mu = rng.normal(size=(batch, n))
        t_np = best_of(lambda: softmax(mu), repeat)
        t_gumbel = best_of(lambda: probmap.probs(mu, "gumbel"), repeat)
        t_gauss = best_of(lambda: probmap.probs(mu[: max(1, batch // 10)], "gauss"), repeat) * 10
        rows.append({
            "n": n, "batch": batch,
            "numpy_softmax_rows_per_s": batch / t_np,
            "kexue_gumbel_rows_per_s": batch / t_gumbel,
            "kexue_gauss_rows_per_s": batch / t_gauss,
            "gumbel_vs_numpy": t_np / t_gumbel,
        })
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mlp", required=True, help="2-D MLP checkpoint folder")
    p.add_argument("--unet", required=True, help="3×32×32 U-Net checkpoint folder")
    p.add_argument("--text", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "cws-dev", "raw.txt"))
    p.add_argument("--repeat", type=int, default=40, help="repetitions of the segmentation text")
    p.add_argument("--out", default=None, help="write all results as JSON here")
    a = p.parse_args()
    info = {"python": platform.python_version(), "numpy": np.__version__, "kexue": kexue.__version__,
            "cpus": os.cpu_count(), "loadavg": os.getloadavg()}
    print(json.dumps(info), flush=True)
    results = {"info": info}
    results["eps_2d"] = eps_overhead(a.mlp, (2,), [1, 256], steps=100, repeat=3)
    results["eps_image"] = eps_overhead(a.unet, (3, 32, 32), [1, 256], steps=2, repeat=1)
    lines = [l.rstrip("\n") for l in open(a.text, encoding="utf-8") if l.strip()]
    results["cws"] = segmentation(lines, a.repeat)
    results["probs"] = probs_rows(repeat=3)
    if a.out:
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
