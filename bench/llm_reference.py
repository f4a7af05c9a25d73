#!/usr/bin/env python3
"""Eager-PyTorch reference of plexus's DeepSeek-V3 training step, written for the throughput benchmark.

Same architecture and step as bench/llm_bench.cpp (plexus presets in src/plexus/llm/config.cpp): MLA (naive
path, adjacent-pair RoPE on a shared k_pe, f32 softmax), dense SwiGLU lead layer, DeepSeekMoE (sigmoid gate,
selection-only bias, group-limited top-k, normalised weights x route_scale, sort/gather/index_add dispatch,
shared expert), sequence-wise balance loss, one MTP module, untied head, AdamW (0.9, 0.95, wd 0.1 on
matrices), clipping at 1.0, aux-loss-free bias update. bf16 via torch.autocast, f32 master weights.
Prints one JSON line.

  python3 bench/llm_reference.py --preset gpu100m --batch 32 --seq 512 --steps 30 --warmup 5
  python3 bench/llm_reference.py ... --compile 1   (torch.compile of the loss, with the grouped MoE dispatch)

--moe grouped (the default with --compile 1) replaces the per-expert loop, which reads each expert's row count
on the host (so dynamo recompiles for every new count pattern), by the same function without host reads: rows
sorted by expert are placed into 16-row-aligned groups and each projection is one torch._grouped_mm (bf16,
sm90); loads stay on the device. Same outputs up to float summation order (the choice plexus makes on CUDA).
"""
import argparse, json, math, time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {
    "gpu100m": dict(dim=768, inter_dim=2048, moe_inter_dim=256, n_layers=8, n_dense_layers=1, n_heads=8,
                    n_routed_experts=16, n_shared_experts=1, n_activated_experts=2, n_expert_groups=4,
                    n_limited_groups=2, route_scale=1.0, q_lora_rank=384, kv_lora_rank=256,
                    qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64),
    # ~0.9B total (≈0.2B active): the preset where a GPU can be kept busy (configs/dsv3_1b.toml, same values)
    "gpu1b": dict(dim=1024, inter_dim=4096, moe_inter_dim=512, n_layers=16, n_dense_layers=1, n_heads=16,
                  n_routed_experts=32, n_shared_experts=1, n_activated_experts=4, n_expert_groups=8,
                  n_limited_groups=4, route_scale=1.0, q_lora_rank=512, kv_lora_rank=256,
                  qk_nope_head_dim=64, qk_rope_head_dim=32, v_head_dim=64),
    "small": dict(dim=192, inter_dim=512, moe_inter_dim=96, n_layers=4, n_dense_layers=1, n_heads=4,
                  n_routed_experts=8, n_shared_experts=1, n_activated_experts=2, n_expert_groups=2,
                  n_limited_groups=1, route_scale=1.0, q_lora_rank=0, kv_lora_rank=64,
                  qk_nope_head_dim=32, qk_rope_head_dim=16, v_head_dim=32),
}


def lin(i, o):
    return nn.Linear(i, o, bias=False)


class RMSNorm(nn.Module):
    def __init__(self, d, eps=1e-6):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(d)), eps

    def forward(self, x):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight).to(x.dtype)


def rope(x, cos, sin):  # x [B,T,H,D], adjacent pairs
    B, T, H, D = x.shape
    xf = x.float().view(B, T, H, D // 2, 2)
    x0, x1 = xf[..., 0], xf[..., 1]
    c, s = cos.view(1, T, 1, D // 2), sin.view(1, T, 1, D // 2)
    return torch.stack([x0 * c - x1 * s, x0 * s + x1 * c], -1).view(B, T, H, D).to(x.dtype)


class MLA(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a, H = a, a["n_heads"]
        self.dqk = a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
        if a["q_lora_rank"] == 0:
            self.wq = lin(a["dim"], H * self.dqk)
        else:
            self.wq_a, self.q_norm = lin(a["dim"], a["q_lora_rank"]), RMSNorm(a["q_lora_rank"])
            self.wq_b = lin(a["q_lora_rank"], H * self.dqk)
        self.wkv_a = lin(a["dim"], a["kv_lora_rank"] + a["qk_rope_head_dim"])
        self.kv_norm = RMSNorm(a["kv_lora_rank"])
        self.wkv_b = lin(a["kv_lora_rank"], H * (a["qk_nope_head_dim"] + a["v_head_dim"]))
        self.wo = lin(H * a["v_head_dim"], a["dim"])
        self.scale = self.dqk ** -0.5

    def forward(self, x, cos, sin, mask):
        a, (B, T, _) = self.a, x.shape
        H, dn, dr, dv = a["n_heads"], a["qk_nope_head_dim"], a["qk_rope_head_dim"], a["v_head_dim"]
        q = self.wq(x) if a["q_lora_rank"] == 0 else self.wq_b(self.q_norm(self.wq_a(x)))
        q = q.view(B, T, H, self.dqk)
        q = torch.cat([q[..., :dn], rope(q[..., dn:], cos, sin)], -1)
        kv = self.wkv_a(x)
        c, k_pe = self.kv_norm(kv[..., :a["kv_lora_rank"]]), rope(kv[..., a["kv_lora_rank"]:].unsqueeze(2), cos, sin)
        kv = self.wkv_b(c).view(B, T, H, dn + dv)
        k = torch.cat([kv[..., :dn], k_pe.expand(B, T, H, dr)], -1)
        v = kv[..., dn:]
        s = torch.matmul(q.transpose(1, 2), k.transpose(1, 2).transpose(-1, -2)).float() * self.scale + mask
        p = s.softmax(-1).to(v.dtype)
        o = torch.matmul(p, v.transpose(1, 2)).transpose(1, 2).reshape(B, T, H * dv)
        return self.wo(o)


class MLP(nn.Module):
    def __init__(self, d, i):
        super().__init__()
        self.w1, self.w2, self.w3 = lin(d, i), lin(i, d), lin(d, i)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Gate(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.weight = nn.Parameter(torch.empty(a["n_routed_experts"], a["dim"]))
        self.register_buffer("bias", torch.zeros(a["n_routed_experts"]))

    def forward(self, x):
        a, N = self.a, x.shape[0]
        E, G, K = a["n_routed_experts"], a["n_expert_groups"], a["n_activated_experts"]
        with torch.autocast("cuda", enabled=False):
            s = torch.sigmoid(F.linear(x.float(), self.weight))
        sel = (s + self.bias).detach()
        if G > 1:
            g = sel.view(N, G, E // G)
            gs = g.topk(min(2, E // G), -1)[0].sum(-1)
            keep = gs.topk(a["n_limited_groups"], -1)[1]
            drop = torch.ones(N, G, dtype=torch.bool, device=x.device).scatter(1, keep, False)
            sel = g.masked_fill(drop.unsqueeze(-1), float("-inf")).view(N, E)
        idx = sel.topk(K, -1)[1]
        w = s.gather(1, idx)
        w = w / w.sum(-1, keepdim=True) * a["route_scale"]
        return w, idx, s


class MoE(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.gate = Gate(a)
        self.experts = nn.ModuleList([MLP(a["dim"], a["moe_inter_dim"]) for _ in range(a["n_routed_experts"])])
        self.shared = MLP(a["dim"], a["n_shared_experts"] * a["moe_inter_dim"])
        # expert loads since the last bias update (not in the state dict: bench/llm_parity.py dumps weights)
        self.register_buffer("load", torch.zeros(a["n_routed_experts"], dtype=torch.float64), persistent=False)
        self.bal = None
        self.grouped = False  # --moe grouped: no host read of expert counts (torch.compile-able)

    def routed_grouped(self, xs, se, counts):
        """Experts on expert-sorted rows xs [NK,C] (expert ids se [NK], counts [E]) via torch._grouped_mm."""
        NK, C = xs.shape
        E, A = counts.numel(), 16
        padded = (counts + A - 1) // A * A  # group sizes rounded up to the kernel's 16-row alignment
        ends = padded.cumsum(0)
        starts, first = ends - padded, counts.cumsum(0) - counts
        pos = starts[se] + torch.arange(NK, device=xs.device) - first[se]  # row of each sorted row in the buffer
        xp = xs.new_zeros(NK + E * (A - 1), C).index_copy(0, pos, xs).to(torch.bfloat16)
        offs = ends.to(torch.int32)
        w = lambda name: torch.stack([getattr(e, name).weight for e in self.experts]).to(torch.bfloat16)
        h = F.silu(torch._grouped_mm(xp, w("w1").transpose(1, 2), offs=offs)) * \
            torch._grouped_mm(xp, w("w3").transpose(1, 2), offs=offs)
        return torch._grouped_mm(h, w("w2").transpose(1, 2), offs=offs).index_select(0, pos)

    def forward(self, x):
        a, (B, T, C) = self.a, x.shape
        E, K = a["n_routed_experts"], a["n_activated_experts"]
        flat = x.reshape(B * T, C)
        w, idx, s = self.gate(flat)
        pe = idx.reshape(-1)
        order = pe.sort(stable=True)[1]
        token = order // K
        xs = flat.index_select(0, token)
        ws = w.reshape(-1).index_select(0, order).to(x.dtype).unsqueeze(1)
        if self.grouped:
            counts = torch.zeros(E, dtype=torch.long, device=x.device).scatter_add_(0, pe, torch.ones_like(pe))
            ys = self.routed_grouped(xs, pe[order], counts).to(x.dtype) * ws
        else:
            counts = torch.bincount(pe, minlength=E).cpu()
            outs, off = [], 0
            for e, c in enumerate(counts.tolist()):
                if c:
                    outs.append(self.experts[e](xs[off:off + c]))
                    off += c
            ys = torch.cat(outs, 0) * ws
        y = torch.zeros_like(flat).index_add_(0, token, ys.to(flat.dtype)) + self.shared(flat)
        self.load += counts.to(self.load.device).double()
        cnt = torch.zeros(B, E, device=x.device).scatter_add_(1, idx.view(B, T * K), torch.ones(B, T * K, device=x.device))
        f = cnt * (E / (K * T))
        P = (s.view(B, T, E) / s.view(B, T, E).sum(-1, keepdim=True)).mean(1)
        self.bal = 1e-4 * (f * P).sum(-1).mean()
        return y.view(B, T, C)


class Block(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        self.attn_norm, self.attn, self.ffn_norm = RMSNorm(a["dim"]), MLA(a), RMSNorm(a["dim"])
        self.ffn = MLP(a["dim"], a["inter_dim"]) if layer < a["n_dense_layers"] else MoE(a)

    def forward(self, x, cos, sin, mask):
        h = x + self.attn(self.attn_norm(x), cos, sin, mask)
        return h + self.ffn(self.ffn_norm(h))


class MTP(nn.Module):
    def __init__(self, a, layer):
        super().__init__()
        self.hnorm, self.enorm, self.norm = RMSNorm(a["dim"]), RMSNorm(a["dim"]), RMSNorm(a["dim"])
        self.eh_proj = lin(2 * a["dim"], a["dim"])
        self.block = Block(a, layer)


class Transformer(nn.Module):
    def __init__(self, a, vocab, mtp, max_len):
        super().__init__()
        self.a, self.V = a, vocab
        self.embed = nn.Embedding(vocab, a["dim"])
        self.layers = nn.ModuleList([Block(a, l) for l in range(a["n_layers"])])
        self.norm, self.head = RMSNorm(a["dim"]), lin(a["dim"], vocab)
        self.mtp = nn.ModuleList([MTP(a, a["n_layers"] + k) for k in range(mtp)])
        d = a["qk_rope_head_dim"]
        f = 1.0 / (10000.0 ** (torch.arange(0, d, 2, dtype=torch.float64) / d))
        ang = torch.outer(torch.arange(max_len, dtype=torch.float64), f)
        self.register_buffer("cos", ang.cos().float(), persistent=False)
        self.register_buffer("sin", ang.sin().float(), persistent=False)
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, 0.0, 0.02)

    def loss(self, inp, tgt):
        p = self.loss_parts(inp, tgt)
        return p["total"], p["main"]

    def loss_parts(self, inp, tgt):
        """The loss terms and the main logits [B,T,V] f32 (bench/llm_parity.py compares them with plexus)."""
        B, T = inp.shape
        cos, sin = self.cos[:T], self.sin[:T]
        mask = torch.full((T, T), float("-inf"), device=inp.device).triu(1)
        h = self.embed(inp)
        for l in self.layers:
            h = l(h, cos, sin, mask)
        logits = self.head(self.norm(h)).float()
        main = F.cross_entropy(logits.view(-1, self.V), tgt.reshape(-1))
        mtp = torch.zeros((), device=inp.device)
        for k, m in enumerate(self.mtp, start=1):
            Tk = T - k
            e = self.embed(inp[:, k:])
            h = m.eh_proj(torch.cat([m.hnorm(h[:, :Tk]), m.enorm(e)], -1))
            h = m.block(h, cos[:Tk], sin[:Tk], mask[:Tk, :Tk])
            lk = self.head(m.norm(h)).float().view(-1, self.V)
            mtp = mtp + F.cross_entropy(lk, tgt[:, k:].reshape(-1), reduction="sum") / (B * T)
        if self.mtp:
            mtp = mtp * 0.3 / len(self.mtp)
        bal = sum(m.bal for m in self.modules() if isinstance(m, MoE))
        return dict(total=main + mtp + bal, main=main, mtp=mtp, balance=bal, logits=logits)

    @torch.no_grad()
    def update_bias(self, gamma):
        for m in self.modules():
            if isinstance(m, MoE):
                l = m.load
                m.gate.bias += (torch.sign(l.mean() - l) * gamma).to(m.gate.bias)
                l.zero_()


def flops_per_token(a, V, T, mtp):  # same rule as plexus::llm::train_flops_per_token
    H, dqk = a["n_heads"], a["qk_nope_head_dim"] + a["qk_rope_head_dim"]
    attn = (a["dim"] * H * dqk if a["q_lora_rank"] == 0 else a["dim"] * a["q_lora_rank"] + a["q_lora_rank"] * H * dqk)
    attn += a["dim"] * (a["kv_lora_rank"] + a["qk_rope_head_dim"]) + a["kv_lora_rank"] * H * (a["qk_nope_head_dim"] + a["v_head_dim"])
    attn += H * a["v_head_dim"] * a["dim"]
    moe = (a["n_activated_experts"] + a["n_shared_experts"]) * 3 * a["dim"] * a["moe_inter_dim"] + a["n_routed_experts"] * a["dim"]
    n = V * a["dim"]
    for l in range(a["n_layers"]):
        n += attn + (3 * a["dim"] * a["inter_dim"] if l < a["n_dense_layers"] else moe)
    n += mtp * (attn + moe + 2 * a["dim"] ** 2 + V * a["dim"])
    return 6 * n + 6 * (a["n_layers"] + mtp) * H * T * (dqk + a["v_head_dim"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpu100m")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=512)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--mtp", type=int, default=1)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--peak-tflops", type=float, default=989.0)
    ap.add_argument("--phases", type=int, default=0)
    ap.add_argument("--compile", type=int, default=0, help="1: torch.compile the loss (what a careful user adds)")
    ap.add_argument("--moe", default="auto", choices=["auto", "loop", "grouped"],
                    help="MoE dispatch: loop (per expert, counts read on the host), grouped (torch._grouped_mm, "
                         "no host read); auto = grouped with --compile 1, else loop")
    ap.add_argument("--profile", default="",
                    help="after the timed steps, run 3 more under torch.profiler and write their Chrome trace to "
                         "this path (for bench/kernel_breakdown.py --steps 3); the timing is unaffected")
    args = ap.parse_args()
    a = PRESETS[args.preset]
    torch.manual_seed(0)
    dev = torch.device(args.device)
    m = Transformer(a, args.vocab, args.mtp, args.seq).to(dev)
    moe = args.moe if args.moe != "auto" else ("grouped" if args.compile else "loop")
    for mod in m.modules():
        if isinstance(mod, MoE):
            mod.grouped = moe == "grouped"
    decay = [p for p in m.parameters() if p.dim() >= 2]
    no_decay = [p for p in m.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
    traced = 3 if args.profile else 0  # steps after the timed ones, under the profiler
    data = torch.randint(args.vocab, (args.steps + args.warmup + traced, args.batch, args.seq + 1))
    loss_fn = torch.compile(m.loss) if args.compile else m.loss  # compiled during the warm-up steps
    timed, first, last = 0.0, 0.0, 0.0
    use_bf16 = dev.type == "cuda"
    ph = [0.0] * 4  # forward, backward, clip+AdamW, bias update (only with --phases 1: synchronised)

    def mark(t, i, on):
        if not args.phases:
            return t
        if use_bf16:
            torch.cuda.synchronize()
        now = time.perf_counter()
        if on:
            ph[i] += now - t
        return now
    prof = None
    for s in range(args.steps + args.warmup + traced):
        if s == args.warmup and use_bf16:
            torch.cuda.synchronize()
        if s == args.warmup + args.steps and traced:
            acts = [torch.profiler.ProfilerActivity.CPU] + ([torch.profiler.ProfilerActivity.CUDA] if use_bf16 else [])
            prof = torch.profiler.profile(activities=acts)
            prof.__enter__()
        t0 = time.perf_counter()
        on, tp = args.warmup <= s < args.warmup + args.steps, t0
        b = data[s].to(dev)
        opt.zero_grad()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            total, main_loss = loss_fn(b[:, :-1], b[:, 1:])
        tp = mark(tp, 0, on)
        total.backward()
        tp = mark(tp, 1, on)
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()
        tp = mark(tp, 2, on)
        m.update_bias(0.001)
        tp = mark(tp, 3, on)
        loss = main_loss.item()
        if use_bf16:
            torch.cuda.synchronize()
        if on:
            timed += time.perf_counter() - t0
            last = loss
        first = loss if s == 0 else first
    if prof is not None:
        prof.__exit__(None, None, None)
        prof.export_chrome_trace(args.profile)
    tok_s = args.batch * args.seq * args.steps / timed
    fpt = flops_per_token(a, args.vocab, args.seq, args.mtp)
    print(json.dumps({"impl": "pytorch-compile" if args.compile else "pytorch-eager", "moe": moe,
                      "torch": torch.__version__, "preset": args.preset,
                      "device": args.device, "batch": args.batch, "seq": args.seq, "steps": args.steps,
                      "params_total": sum(p.numel() for p in m.parameters()), "flops_per_token": fpt,
                      "step_ms": 1000 * timed / args.steps, "tokens_per_s": tok_s,
                      "mfu": fpt * tok_s / (args.peak_tflops * 1e12) if use_bf16 else 0.0,
                      "loss_first": first, "loss_last": last,
                      "phases_ms": [1000 * p / args.steps for p in ph]}))


if __name__ == "__main__":
    main()
