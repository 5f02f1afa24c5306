"""Segment stdin with jieba (Python) or jieba-rs (the rjieba binding), accurate mode, HMM on,
one output line per input line.

Usage: jieba_seg.py [jieba|rjieba]   (default jieba)

Prints a JSON line with chars, seconds and chars_per_s to stderr (dictionary loading excluded,
as for `kexue cws seg --stats`)."""
import json
import sys
import time

which = sys.argv[1] if len(sys.argv) > 1 else "jieba"
if which == "rjieba":
    import rjieba

    rjieba.cut("预热")  # loads the dictionary

    def cut(s):
        return rjieba.cut(s, hmm=True)
else:
    import jieba

    jieba.setLogLevel(60)
    jieba.initialize()

    def cut(s):
        return jieba.cut(s, HMM=True)

out = sys.stdout
start = time.perf_counter()
chars = 0
for line in sys.stdin:
    line = line.rstrip("\n")
    chars += len(line)
    out.write(" ".join(w for w in cut(line) if not w.isspace()))
    out.write("\n")
out.flush()
seconds = time.perf_counter() - start
print(json.dumps({"chars": chars, "seconds": seconds, "chars_per_s": chars / seconds}), file=sys.stderr)
