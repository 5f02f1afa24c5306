#!/usr/bin/env python3
"""Records the golden outputs of `kexue diffusion` that `tests/it/diffusion_golden.rs` compares
against (issue 13: the application layer moved into the libraries without changing a number).

Usage: python3 make.py PATH/TO/kexue [NAME ...]

Each case writes NAME.json: {"args": [...], "stdout": "...", "npy": [...] (samples, when the
command writes --npy)}. In "args", {CKPT} is a fresh copy of models/digits (so no cache is
written into the shipped folder) and {OUT} a scratch folder; the same placeholders appear in
the recorded stdout. The first recording was made with the binary of commit 52ee792 (before
the move).
"""
import json, os, shutil, struct, subprocess, sys, tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "../../../../.."))
D = ["diffusion"]
CASES = {
    "lab-gauss": D + ["lab", "--data", "gauss", "--steps", "5", "--samples", "400", "--seed", "3", "--json"],
    "lab-gmm": D + ["lab", "--data", "gmm", "--steps", "5", "--samples", "300", "--seed", "1", "--json"],
    "lab-rademacher": D + ["lab", "--data", "rademacher", "--steps", "5", "--samples", "300", "--seed", "2", "--json"],
    "trajectory-rademacher": D + ["trajectory", "--data", "rademacher", "--steps", "6", "--total-steps", "200", "--samples", "500", "--seed", "4", "--json"],
    "trajectory-gmm": D + ["trajectory", "--data", "gmm", "--steps", "5", "--total-steps", "100", "--samples", "300", "--seed", "6", "--json"],
    "trajectory-ckpt": D + ["trajectory", "--ckpt", "{CKPT}", "--steps", "5", "--m", "300", "--samples", "40", "--json"],
    "sample-data-analytic-ddpm": D + ["sample", "--data", "gmm", "--sampler", "analytic-ddpm", "--steps", "8", "--n", "200", "--m", "100", "--seed", "5", "--npy", "{OUT}/x.npy"],
    "sample-data-dpm-solver": D + ["sample", "--data", "gmm", "--sampler", "dpm-solver++", "--steps", "10", "--n", "200", "--seed", "7", "--npy", "{OUT}/x.npy"],
    "sample-data-sn-ddpm": D + ["sample", "--data", "gauss", "--sampler", "sn-ddpm", "--steps", "8", "--n", "200", "--seed", "8", "--npy", "{OUT}/x.npy"],
    "sample-ckpt-analytic-ddpm": D + ["sample", "--ckpt", "{CKPT}", "--sampler", "analytic-ddpm", "--steps", "10", "--n", "16", "--m", "20", "--seed", "1", "--npy", "{OUT}/x.npy"],
    "sample-ckpt-ode-heun": D + ["sample", "--ckpt", "{CKPT}", "--sampler", "ode-heun", "--steps", "10", "--n", "16", "--seed", "2", "--npy", "{OUT}/x.npy"],
    "sample-ckpt-sn-ddim": D + ["sample", "--ckpt", "{CKPT}", "--sampler", "sn-ddim", "--steps", "10", "--n", "16", "--seed", "3", "--npy", "{OUT}/x.npy"],
    "eval-ckpt": D + ["eval", "--ckpt", "{CKPT}", "--steps", "5,10", "--samplers", "ddpm-tilde,analytic-ddpm,sn-ddpm", "--limit", "40", "--m", "20", "--json", "--out", "{OUT}/eval.json"],
    "likelihood-gauss": D + ["likelihood", "--data", "gauss", "--samples", "50", "--json"],
}


def read_npy(path):
    with open(path, "rb") as f:
        data = f.read()
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode()
    assert "'<f4'" in header, header
    body = data[10 + hlen:]
    return list(struct.unpack("<%df" % (len(body) // 4), body))


def run(binary, name):
    args = CASES[name]
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, out = os.path.join(tmp, "ckpt"), os.path.join(tmp, "out")
        shutil.copytree(os.path.join(ROOT, "models/digits"), ckpt)
        os.makedirs(out)
        real = [a.replace("{CKPT}", ckpt).replace("{OUT}", out) for a in args]
        res = subprocess.run([binary] + real, capture_output=True, text=True, cwd=ROOT)
        if res.returncode != 0:
            sys.exit(f"{name}: {res.stderr}")
        rec = {"args": args, "stdout": res.stdout.replace(ckpt, "{CKPT}").replace(out, "{OUT}")}
        npy = os.path.join(out, "x.npy")
        if os.path.exists(npy):
            rec["npy"] = read_npy(npy)
    with open(os.path.join(HERE, name + ".json"), "w") as f:
        json.dump(rec, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    binary = os.path.abspath(sys.argv[1])
    for name in sys.argv[2:] or CASES:
        run(binary, name)
        print("recorded", name)
