#!/usr/bin/env python3
"""Fed-BBPT evidence: accuracy against rounds and against client API queries, mean ± std over seeds, from the run
directories bench/bbpt_table.sh wrote; prints a markdown table (zero-shot, final, best; queries and bytes per
client per round). Usage: python3 bench/bbpt_plot.py RUNS_DIR OUT.png"""
import glob, json, os, re, sys
from collections import defaultdict

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

runs, out = sys.argv[1], sys.argv[2]
groups = defaultdict(list)
for d in sorted(glob.glob(os.path.join(runs, "bbpt-*-s*"))):
    if not os.path.exists(os.path.join(d, "summary.json")):
        continue
    label = re.sub(r"-s\d+$", "", os.path.basename(d)).split("-", 2)[2]
    rows = [json.loads(l) for l in open(os.path.join(d, "metrics.jsonl"))]
    groups[label].append((json.load(open(os.path.join(d, "summary.json"))), rows))

def acc_key(label):  # the deployed prompt: the averaged one (federated) or each client's own (local-only)
    return "local_acc_mean" if label == "bbpt_local" else "global_acc"

fig, ax = plt.subplots(1, 2, figsize=(11, 4))
print("| algorithm | seeds | zero-shot acc | final acc | best acc | client queries, whole run | queries / client / round | API bytes / client / round | model bytes / client / round |")
print("|---|---|---|---|---|---|---|---|---|")
for label, runs_ in sorted(groups.items()):
    key = acc_key(label)
    zk = "zero_shot_local_acc_mean" if key == "local_acc_mean" else "zero_shot_global_acc"
    ev = [[r for r in rows if r[key] is not None] for _, rows in runs_]
    n = min(len(e) for e in ev)
    acc = np.array([[r[key] for r in e[:n]] for e in ev])
    zero = np.array([s[zk] for s, _ in runs_])
    x_round = [0] + [r["round"] for r in ev[0][:n]]
    x_query = [0] + [float(np.mean([e[i]["queries_total"] for e in ev])) for i in range(n)]
    mean = np.concatenate([[zero.mean()], acc.mean(0)])
    std = np.concatenate([[zero.std()], acc.std(0)])
    for a, xs in ((ax[0], x_round), (ax[1], x_query)):
        a.plot(xs, mean, marker="o", ms=3, label=label)
        a.fill_between(xs, mean - std, mean + std, alpha=0.2)
    best = np.array([max(r[key] for r in e) for e in ev])
    allrows = [r for _, rows in runs_ for r in rows]
    qpc = np.mean([r["queries_per_client"] for r in allrows])
    bpc = np.mean([r["api_bytes_per_client"] for r in allrows])
    mpc = np.mean([r["model_bytes_per_client"] for r in allrows])
    qt = np.mean([rows[-1]["queries_total"] for _, rows in runs_])
    print(f"| {label} | {len(runs_)} | {zero.mean():.4f} ± {zero.std():.4f} | {acc[:, -1].mean():.4f} ± {acc[:, -1].std():.4f} "
          f"| {best.mean():.4f} ± {best.std():.4f} | {qt:,.0f} | {qpc:.1f} | {bpc/1e6:.2f} MB | {mpc:,.0f} B |")
ax[0].set_xlabel("round"); ax[1].set_xlabel("client API queries (all clients)")
for a in ax:
    a.set_ylabel("test accuracy"); a.grid(alpha=0.3); a.legend(fontsize=8)
fig.suptitle(f"Fed-BBPT and baselines ({os.path.basename(runs.rstrip('/'))}); mean ± std over seeds")
fig.tight_layout(); fig.savefig(out, dpi=110)
print(f"\nplot: {out}")
