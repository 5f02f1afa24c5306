"""Side-by-side benchmark of `kexue cws seg` (dict / neural / hybrid / search) against jieba
(Python, HMM on) and jieba-rs (through its `rjieba` Python binding), in one run.

Run from the repository root:  bench/cws/run.sh

- Quality: word-span P/R/F1, OOV and IV recall (words with a Han character only; the word list is
  data/dict.txt) on both hand-segmented splits, data/cws-dev (development) and data/cws-test
  (held out), every system scored by `kexue cws score`. Search mode emits overlapping sub-words,
  so it has no F1 (speed only).
- Speed: characters per second on the development text repeated REPEAT times, measured inside
  each process after loading (model/dictionary load excluded), with 1 and 2 threads
  (`--threads`; the Python segmenters are single-threaded, so they get one row).
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
SPLITS = {"dev": os.path.join(ROOT, "data", "cws-dev"), "test": os.path.join(ROOT, "data", "cws-test")}
WORDS = os.path.join(ROOT, "data", "dict.txt")
REPEAT = int(os.environ.get("REPEAT", "200"))
SEG = os.path.join(ROOT, "bench", "cws", "jieba_seg.py")


def kexue(mode, threads):
    return [KEXUE, "cws", "seg", "--mode", mode, "--stats", "--threads", str(threads)]


SYSTEMS = [
    # name, command for 1 thread, command for 2 threads (None: single-threaded), scored
    ("kexue dict", kexue("dict", 1), kexue("dict", 2), True),
    ("kexue neural", kexue("neural", 1), kexue("neural", 2), True),
    ("kexue hybrid", kexue("hybrid", 1), kexue("hybrid", 2), True),
    ("kexue search", kexue("search", 1), kexue("search", 2), False),
    ("jieba (Python, HMM)", [PY, SEG, "jieba"], None, True),
    ("jieba-rs (rjieba, HMM)", [PY, SEG, "rjieba"], None, True),
]


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
    with open(os.path.join(SPLITS["dev"], "raw.txt"), encoding="utf-8") as f:
        raw = f.read()
    with open(big, "w", encoding="utf-8") as f:
        for _ in range(REPEAT):
            f.write(raw)
    print(f"speed text: data/cws-dev/raw.txt x{REPEAT}")
    print("| system | dev F1 | dev OOV-R | dev IV-R | test F1 | test OOV-R | test IV-R | chars/s, 1 thread | chars/s, 2 threads | 2/1 | peak RSS (MiB) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    base = None
    for name, cmd1, cmd2, scored in SYSTEMS:
        cells = []
        for split, d in SPLITS.items():
            if not scored:
                cells += ["–", "–", "–"]
                continue
            pred = os.path.join(tmp, "pred.txt")
            run(cmd1, os.path.join(d, "raw.txt"), pred)
            s = json.loads(subprocess.check_output(
                [KEXUE, "cws", "score", os.path.join(d, "gold.txt"), pred, "--words", WORDS, "--json"]))
            cells += [f"{s['f1']:.4f}", f"{s['oov_recall']:.4f}", f"{s['iv_recall']:.4f}"]
        st1, rss1 = run(cmd1, big, os.path.join(tmp, "big.out"))
        c1 = st1["chars_per_s"]
        if cmd2:
            st2, rss2 = run(cmd2, big, os.path.join(tmp, "big2.out"))
            c2 = st2["chars_per_s"]
            two, ratio = f"{c2/1e6:.2f} M", f"{c2/c1:.2f}x"
            rss = max(rss1, rss2)
        else:
            two, ratio, rss = "–", "–", rss1
        print(f"| {name} | " + " | ".join(cells) + f" | {c1/1e6:.2f} M | {two} | {ratio} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
