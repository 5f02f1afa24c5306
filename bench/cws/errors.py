"""Error analysis of kexue cws modes on a gold split (which gold words each mode misses).

Usage (from the repository root):
    python3 bench/cws/errors.py GOLD PRED_A PRED_B [--dict data/dict.txt] [--names A,B]

Compares two predictions of the same text (e.g. dict and neural mode) word by word: for each gold
word it records whether each prediction has the same span, and reports the recall of both by
word class (dictionary count bucket, length, Han vs digit/Latin/punctuation atoms, position in the
sentence), plus the words that B misses and A finds (the most frequent ones first).
"""
import argparse
import collections
import math
import re


def spans(words):
    out, k = [], 0
    for w in words:
        out.append((k, k + len(w), w))
        k += len(w)
    return out


def is_han(w):
    return all('\u3400' <= c <= '\u9fff' or '\uf900' <= c <= '\ufaff' for c in w)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("gold")
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--dict", default="data/dict.txt")
    ap.add_argument("--names", default="A,B")
    ap.add_argument("--show", type=int, default=40)
    o = ap.parse_args()
    na, nb = o.names.split(",")
    counts = {}
    for line in open(o.dict, encoding="utf-8"):
        f = line.split()
        if len(f) >= 2:
            counts[f[0]] = int(f[1])
    gold = [l.split() for l in open(o.gold, encoding="utf-8")]
    pa = [l.split() for l in open(o.a, encoding="utf-8")]
    pb = [l.split() for l in open(o.b, encoding="utf-8")]
    stats = collections.defaultdict(lambda: [0, 0, 0])  # class -> [n, hit a, hit b]
    b_only_miss = collections.Counter()
    a_only_miss = collections.Counter()
    # Over-merge / over-split of B's errors on Han gold words.
    kinds = collections.Counter()
    for g, a, b in zip(gold, pa, pb):
        sa = {(s, e) for s, e, _ in spans(a)}
        sb = {(s, e) for s, e, _ in spans(b)}
        bstarts = {s for s, _, _ in spans(b)} | {sum(map(len, b))}
        gs = spans(g)
        for i, (s, e, w) in enumerate(gs):
            ha, hb = (s, e) in sa, (s, e) in sb
            classes = ["all"]
            if not is_han(w):
                classes.append("atom (digit/Latin/punct)")
            else:
                c = counts.get(w)
                if c is None:
                    classes.append("Han OOV")
                else:
                    b = "count ≥ 10^4" if c >= 1e4 else "count 10^3..10^4" if c >= 1e3 else \
                        "count 10^2..10^3" if c >= 100 else "count < 100"
                    classes.append("Han IV " + b)
                L = len(w)
                classes.append("Han length %s" % (L if L < 4 else "4+"))
                if i == 0 or not is_han(g[i - 1]) or i + 1 == len(gs) or not is_han(g[i + 1]):
                    classes.append("Han next to a run boundary")
                else:
                    classes.append("Han inside a run")
                if not hb:
                    inner = any(s < k < e for k in bstarts)
                    kinds["split inside" if inner else "merged with a neighbour"] += 1
            for c in classes:
                st = stats[c]
                st[0] += 1
                st[1] += ha
                st[2] += hb
            if ha and not hb:
                b_only_miss[w] += 1
            if hb and not ha:
                a_only_miss[w] += 1
    print("| gold words | n | recall %s | recall %s |" % (na, nb))
    print("|---|---|---|---|")
    for c in sorted(stats, key=lambda c: (c != "all", c)):
        n, x, y = stats[c]
        print("| %s | %d | %.3f | %.3f |" % (c, n, x / n, y / n))
    print()
    print("%s misses on Han gold words: %s" % (nb, dict(kinds)))
    print("%d gold words %s finds and %s misses; %d the other way" %
          (sum(b_only_miss.values()), na, nb, sum(a_only_miss.values())))
    print("%s misses (found by %s):" % (nb, na), " ".join(
        "%s(%s)" % (w, counts.get(w, "OOV")) for w, _ in b_only_miss.most_common(o.show)))
    print("%s misses (found by %s):" % (na, nb), " ".join(
        "%s(%s)" % (w, counts.get(w, "OOV")) for w, _ in a_only_miss.most_common(o.show)))


if __name__ == "__main__":
    main()
