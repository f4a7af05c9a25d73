"""Where a training step's GPU time goes: sum the CUDA kernels of a Chrome trace written by PyTorch's profiler
(plexus: `llm_bench --profile T.json`; the reference: `llm_reference.py --profile T.json`) into classes.

  python3 bench/kernel_breakdown.py T.json [--steps N] [--top 15] [--label plexus]

Classes by kernel name: matmul (cuBLAS/cuBLASLt/CUTLASS/nvjet GEMMs, grouped GEMMs), attention (flash /
memory-efficient / cuDNN SDPA), optimizer (fused AdamW, foreach ops), and the rest as "other" (elementwise, norms,
reductions, copies, indexing). Prints one JSON line: ms per step per class, their shares of the summed kernel
time, the kernel time per step against the wall time if given, the top kernels by time, and (traces of eager
steps, whose kernels carry the id of the op that launched them) the "other" kernel time per launching op:
"aten::mul < MulBackward0" is a mul run by the autograd node MulBackward0.
"""
import argparse, bisect, collections, json, re

CLASSES = [
    ("attention", re.compile(r"flash|fmha|attention|sdpa|cudnn.*(mha|attn)", re.I)),
    ("matmul", re.compile(r"gemm|nvjet|cutlass|xmma|cublas|grouped_mm|wgmma|sm90_", re.I)),
    ("optimizer", re.compile(r"adam|foreach|multi_tensor", re.I)),
]


def kind(name):
    for cls, rx in CLASSES:
        if rx.search(name):
            return cls
    return "other"


def other_by_op(events, steps, top):
    """"other" kernel ms per step by the innermost CPU op that launched it (and its autograd node, if any)."""
    ops, nodes = {}, collections.defaultdict(list)
    for e in events:
        if e.get("cat") != "cpu_op" or "dur" not in e:
            continue
        if e["name"].startswith("autograd::engine::evaluate_function: "):
            nodes[e.get("tid")].append((e["ts"], e["ts"] + e["dur"], e["name"].split(": ", 1)[1]))
        ext = e.get("args", {}).get("External id")
        if ext is not None:
            ops[ext] = e
    for v in nodes.values():
        v.sort()
    def label(op):
        v = nodes.get(op.get("tid"), [])
        i = bisect.bisect_right(v, (op["ts"], float("inf"), "")) - 1
        while i >= 0 and v[i][1] < op["ts"] + op["dur"]:
            i -= 1
        return op["name"] + (f" < {v[i][2]}" if i >= 0 else "")
    per_op = collections.Counter()
    for e in events:
        if e.get("cat") != "kernel" or "dur" not in e or kind(e["name"]) != "other":
            continue
        op = ops.get(e.get("args", {}).get("External id"))
        per_op[label(op) if op else "(no op: graph replay or unlinked)"] += e["dur"]
    return [[n, round(v / 1e3 / steps, 3)] for n, v in per_op.most_common(top)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--steps", type=int, default=1, help="steps inside the trace (per-step figures)")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--label", default="")
    ap.add_argument("--step-ms", type=float, default=0.0, help="measured wall ms per step, for the busy share")
    ap.add_argument("--sequence", default="", help="also write every kernel in launch order (us, name) to this file")
    a = ap.parse_args()
    t = json.load(open(a.trace))
    events = t["traceEvents"] if isinstance(t, dict) else t
    per_class, per_name, count = collections.Counter(), collections.Counter(), 0
    for e in events:
        if e.get("cat") != "kernel" or "dur" not in e:
            continue
        count += 1
        per_class[kind(e["name"])] += e["dur"]
        per_name[e["name"][:90]] += e["dur"]
    total = sum(per_class.values())
    if a.sequence:  # the kernels in launch order: neighbours tell which op launched an unlinked kernel
        seq = sorted((e["ts"], e["dur"], e["name"]) for e in events if e.get("cat") == "kernel" and "dur" in e)
        with open(a.sequence, "w") as f:
            f.writelines(f"{d:.1f}\t{n[:140]}\n" for _, d, n in seq)
    if total == 0:
        raise SystemExit(f"error: {a.trace} holds no CUDA kernel events (was it traced on a GPU?)")
    ms = lambda us: round(us / 1e3 / a.steps, 3)
    out = {"label": a.label, "trace": a.trace, "steps": a.steps, "kernels_per_step": count // a.steps,
           "kernel_ms_per_step": ms(total),
           "ms_per_step": {k: ms(v) for k, v in per_class.most_common()},
           "share": {k: round(v / total, 3) for k, v in per_class.most_common()},
           "top": [[n, ms(v)] for n, v in per_name.most_common(a.top)]}
    try:
        by_op = other_by_op(events, a.steps, 25)
    except (KeyError, TypeError, ValueError) as err:  # an unexpected trace layout: keep the class sums
        by_op = [[f"(attribution failed: {err!r})", 0.0]]
    if by_op and not by_op[0][0].startswith("(no op"):
        out["other_by_op"] = by_op
    if a.step_ms:
        out["busy_share_of_wall"] = round(ms(total) / a.step_ms, 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
