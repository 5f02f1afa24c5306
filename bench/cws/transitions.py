"""Copies a cws model folder and adds the closed-form tag transitions of the pseudo-corpus
(`Sampler::transition_logp`, words drawn ∝ count^temper from data/dict.txt) to its config.json,
for the learned-transition ablation. Usage: python3 bench/cws/transitions.py SRC DST TEMPER
"""
import json, math, sys, shutil, os

src, dst, temper = sys.argv[1], sys.argv[2], float(sys.argv[3])
def han(w): return all('\u3400' <= c <= '\u9fff' or '\uf900' <= c <= '\ufaff' or '\U00020000' <= c <= '\U0003134f' for c in w)
m = [0.0]*4
for line in open('data/dict.txt', encoding='utf-8'):
    f = line.split()
    if len(f) < 2: continue
    w, c = f[0], int(f[1])
    if c == 0 or not han(w): continue
    x = c ** temper; L = len(w)
    if L == 1: m[0] += x
    elif L == 2: m[1] += x
    else: m[2] += x; m[3] += x*(L-2)
p1, p2, p3, inner = m
ln = math.log
s = p1/(p1+p2+p3); be = p2/(p2+p3); me = p3/inner
t = [[0]*4 for _ in range(4)]
for fr in (2,3): t[fr][3] = ln(s); t[fr][0] = ln(1-s)
t[0][2] = ln(be); t[0][1] = ln(1-be); t[1][2] = ln(me); t[1][1] = ln(1-me)
shutil.copytree(src, dst, dirs_exist_ok=True)
cfgp = os.path.join(dst, 'config.json')
cfg = json.load(open(cfgp)); cfg['transitions'] = t
json.dump(cfg, open(cfgp, 'w'), indent=2)
print(t)
