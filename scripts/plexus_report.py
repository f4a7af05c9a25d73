#!/usr/bin/env python3
"""Draw the plots of a plexus report (called by `plexus report`; usable on its own).

Usage: plexus_report.py REPORT_DIR
Reads REPORT_DIR/report_data.json, written by `plexus report`:
  {"plots": [{"name", "title", "xlabel", "ylabel",
              "series": [{"label", "x": [...], "mean": [...], "std": [...], "n": [...]}]}]}
and writes REPORT_DIR/plots/<name>.png and <name>.svg: one line per group (the mean over seeds) with a band of
mean ± std (sample std over the seeds reporting that point). Needs matplotlib (Debian: python3-matplotlib).
"""
import json
import os
import sys


def main(argv):
    if len(argv) != 2:
        print("usage: plexus_report.py REPORT_DIR", file=sys.stderr)
        return 2
    out = argv[1]
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only, no display
        import matplotlib.pyplot as plt
    except ImportError:
        print("error: io: matplotlib is not installed; install python3-matplotlib (scripts/bootstrap.sh)",
              file=sys.stderr)
        return 3
    with open(os.path.join(out, "report_data.json")) as f:
        data = json.load(f)
    os.makedirs(os.path.join(out, "plots"), exist_ok=True)
    # Same colour for the same group in every plot (groups appear in the same order in each).
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for plot in data["plots"]:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
        for k, s in enumerate(plot["series"]):
            c = colors[k % len(colors)]
            x, m, sd = s["x"], s["mean"], s["std"]
            ax.plot(x, m, color=c, label=s["label"], linewidth=1.6, marker="o" if len(x) <= 12 else None,
                    markersize=3)
            ax.fill_between(x, [a - b for a, b in zip(m, sd)], [a + b for a, b in zip(m, sd)], color=c, alpha=0.2,
                            linewidth=0)
        ax.set_title(plot["title"])
        ax.set_xlabel(plot["xlabel"])
        ax.set_ylabel(plot["ylabel"])
        ax.grid(True, alpha=0.3)
        if plot["series"]:
            ax.legend(fontsize=8, loc="best")
        fig.tight_layout()
        for ext in ("png", "svg"):
            path = os.path.join(out, "plots", plot["name"] + "." + ext)
            fig.savefig(path, dpi=120)
            print(path)
        plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
