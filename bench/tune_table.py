#!/usr/bin/env python3
"""Markdown tables of `plexus tune bench compare` JSON: before vs after, per problem and noise level.

    python3 bench/tune_table.py bench/out/tune_compare_before.json bench/out/tune_compare.json

Rows are matched by (problem, noise, method); a method missing on one side shows "–".
"""
import json
import sys


def rows(path):
    with open(path) as f:
        j = json.load(f)
    return {(r["problem"], r["noise"], r["method"]): r for r in j["rows"]}, j


def fmt(v, pct=False):
    if v is None:
        return "–"
    if pct:
        return f"{100 * v:.0f}%"
    return f"{v:.3g}" if abs(v) < 100 else f"{v:.1f}"


def main():
    before, jb = rows(sys.argv[1])
    after, ja = rows(sys.argv[2])
    keys = list(dict.fromkeys(list(before) + list(after)))
    settings = list(dict.fromkeys((k[0], k[1]) for k in keys))
    for prob, noise in settings:
        ref = next(r for k, r in {**before, **after}.items() if k[0] == prob and k[1] == noise)
        title = f"**{prob}**" + ("" if noise is None else f", noise {noise}")
        print(f"{title} — production regret {fmt(ref['production_regret'])}, budget {ref['budget_replays']} replays\n")
        print("| method | mean regret before | mean regret after (± s.e.) | worse than production before | after | found global mode before | after | guard shipped | replays after |")
        print("|---|---|---|---|---|---|---|---|---|")
        for k in keys:
            if (k[0], k[1]) != (prob, noise):
                continue
            b, a = before.get(k), after.get(k)
            g = lambda r, f: None if r is None else r.get(f)
            se = "" if a is None else f" ± {fmt(a['se_regret'])}"
            print(f"| {k[2]} | {fmt(g(b, 'mean_regret'))} | {fmt(g(a, 'mean_regret'))}{se} | {fmt(g(b, 'worse_than_production_share'), True)} | "
                  f"{fmt(g(a, 'worse_than_production_share'), True)} | {fmt(g(b, 'found_share'), True)} | {fmt(g(a, 'found_share'), True)} | "
                  f"{fmt(g(a, 'guard_shipped_share'), True)} | {fmt(g(a, 'mean_replays'))} |")
        print()


if __name__ == "__main__":
    main()
