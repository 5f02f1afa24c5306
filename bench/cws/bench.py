"""Side-by-side benchmark of `kexue cws seg` (dict / neural / hybrid) and jieba (Python).

Run from the repository root:  bench/cws/run.sh   (creates bench/.venv-cws with jieba 0.42.1)

- Quality: word-span F1 (and P, R, OOV/IV recall against data/dict.txt) on the hand-segmented
  development set data/cws-dev/gold.txt, every system scored by `kexue cws score`.
- Speed: characters per second on the development text repeated REPEAT times, measured inside
  each process after loading (model/dictionary load excluded), single process.
- Peak memory: maximum resident set size of each process (os.wait4), load included.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEXUE = os.path.join(ROOT, "target", "release", "kexue")
PY = sys.executable
GOLD = os.path.join(ROOT, "data", "cws-dev", "gold.txt")
RAW = os.path.join(ROOT, "data", "cws-dev", "raw.txt")
REPEAT = int(os.environ.get("REPEAT", "400"))

SYSTEMS = {
    "kexue dict": [KEXUE, "cws", "seg", "--mode", "dict", "--stats"],
    "kexue neural": [KEXUE, "cws", "seg", "--mode", "neural", "--stats"],
    "kexue hybrid": [KEXUE, "cws", "seg", "--mode", "hybrid", "--stats"],
    "jieba (Python, HMM)": [PY, os.path.join(ROOT, "bench", "cws", "jieba_seg.py")],
}


def run(cmd, inp, out):
    """Runs cmd with stdin/stdout files; returns (stats JSON from stderr, peak RSS in MiB)."""
    with open(inp, "rb") as fi, open(out, "wb") as fo:
        p = subprocess.Popen(cmd, stdin=fi, stdout=fo, stderr=subprocess.PIPE)
        err = p.stderr.read()
        _, status, usage = os.wait4(p.pid, 0)
    if status != 0:
        sys.exit(f"{cmd} failed: {err.decode(errors='replace')}")
    stats = json.loads(err.decode().strip().splitlines()[-1])
    return stats, usage.ru_maxrss / 1024.0


def main():
    tmp = tempfile.mkdtemp(prefix="cws-bench-")
    big = os.path.join(tmp, "big.txt")
    with open(RAW, encoding="utf-8") as f:
        raw = f.read()
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(REPEAT):
            f.write(raw)
    rows = []
    for name, cmd in SYSTEMS.items():
        pred = os.path.join(tmp, "pred.txt")
        run(cmd, RAW, pred)
        score = json.loads(subprocess.check_output(
            [KEXUE, "cws", "score", GOLD, pred, "--words", os.path.join(ROOT, "data", "dict.txt"), "--json"]))
        stats, rss = run(cmd, big, os.path.join(tmp, "big.out"))
        rows.append((name, score, stats, rss))
    print(f"dev set: {GOLD} ; speed text: dev text x{REPEAT} = {rows[0][2]['chars']} chars")
    print("| system | P | R | F1 | OOV-R | IV-R | chars/s | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    jieba_speed = rows[-1][2]["chars_per_s"]
    for name, s, st, rss in rows:
        cps = st["chars_per_s"]
        print(f"| {name} | {s['precision']:.4f} | {s['recall']:.4f} | {s['f1']:.4f} | "
              f"{s['oov_recall']:.4f} | {s['iv_recall']:.4f} | {cps/1e6:.2f} M ({cps/jieba_speed:.1f}x jieba) | {rss:.0f} |")


if __name__ == "__main__":
    main()
