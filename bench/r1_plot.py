#!/usr/bin/env python3
"""Plot GRPO runs' curves from their metrics.csv (plexus llm grpo / grpo_bench --pipeline grpo).

Two panels against the GRPO step: held-out pass@1 (the `test_pass1` rows, step 0 = the base model) and the
training reward averaged over a 10-step window.
    python3 bench/r1_plot.py OUT.png RUN_DIR [RUN_DIR ...]
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def curves(run):
    rows = list(csv.DictReader(open(os.path.join(run, "metrics.csv"))))
    test = [(int(r["step"]), float(r["test_pass1"])) for r in rows if r.get("test_pass1")]
    train = [(int(r["step"]), float(r["reward"])) for r in rows if r.get("reward")]
    w = 10
    smooth = [(train[i][0], sum(v for _, v in train[i - w + 1:i + 1]) / w) for i in range(w - 1, len(train))]
    return test, smooth


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: r1_plot.py OUT.png RUN_DIR [RUN_DIR ...]")
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in sys.argv[2:]:
        test, smooth = curves(run)
        name = os.path.basename(os.path.normpath(run))
        a.plot(*zip(*test), marker="o", ms=3, label=name)
        b.plot(*zip(*smooth), label=name)
    a.set(xlabel="GRPO step", ylabel="held-out pass@1 (k=4, T=0.6)", title="held-out accuracy")
    b.set(xlabel="GRPO step", ylabel="train reward (10-step mean)", title="training reward")
    for ax in (a, b):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(sys.argv[1], dpi=110)


if __name__ == "__main__":
    main()
