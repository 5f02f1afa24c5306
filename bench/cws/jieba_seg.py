"""Segment stdin with jieba (default accurate mode, HMM on), one output line per input line.

Prints a JSON line with chars, seconds and chars_per_s to stderr (dictionary loading excluded,
as for `kexue cws seg --stats`)."""
import json
import sys
import time

import jieba

jieba.setLogLevel(60)
jieba.initialize()
out = sys.stdout
start = time.perf_counter()
chars = 0
for line in sys.stdin:
    line = line.rstrip("\n")
    chars += len(line)
    out.write(" ".join(w for w in jieba.cut(line) if not w.isspace()))
    out.write("\n")
out.flush()
seconds = time.perf_counter() - start
print(json.dumps({"chars": chars, "seconds": seconds, "chars_per_s": chars / seconds}), file=sys.stderr)
