"""Dev/test F1 and OOV recall of kexue cws modes for one model folder (ablation helper).

Usage (from the repository root):
    python3 bench/cws/eval.py [--model DIR] [--lambda L] [--split dev|test|both] [--modes neural,hybrid,dict]

Every prediction is scored by `kexue cws score --words data/dict.txt --json`. No tuning happens
here: it only reports.
"""
import argparse
import json
import os
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEXUE = os.environ.get("KEXUE", os.path.join(ROOT, "target", "release", "kexue"))
SPLITS = {"dev": "data/cws-dev", "test": "data/cws-test"}


def score(mode, split, model, lam):
    d = os.path.join(ROOT, SPLITS[split])
    cmd = [KEXUE, "cws", "seg", "--mode", mode, os.path.join(d, "raw.txt")]
    if model and mode != "dict":
        cmd += ["--model", model]
    if lam is not None and mode == "hybrid":
        cmd += ["--lambda", str(lam)]
    with tempfile.NamedTemporaryFile("w+b", suffix=".txt") as f:
        subprocess.run(cmd, stdout=f, check=True)
        f.flush()
        out = subprocess.check_output([KEXUE, "cws", "score", os.path.join(d, "gold.txt"), f.name,
                                       "--words", os.path.join(ROOT, "data", "dict.txt"), "--json"])
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--lambda", dest="lam", type=float)
    ap.add_argument("--split", default="dev")
    ap.add_argument("--modes", default="neural,hybrid,dict")
    a = ap.parse_args()
    splits = ["dev", "test"] if a.split == "both" else [a.split]
    for split in splits:
        for mode in a.modes.split(","):
            s = score(mode, split, a.model, a.lam)
            print(json.dumps({"split": split, "mode": mode, "f1": round(s["f1"], 4),
                              "oov_recall": round(s["oov_recall"], 4), "iv_recall": round(s["iv_recall"], 4)}))


if __name__ == "__main__":
    main()
