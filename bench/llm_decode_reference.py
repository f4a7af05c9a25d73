#!/usr/bin/env python3
"""Plain-PyTorch decode reference for bench/llm_decode.cpp (issue 19): the model of bench/llm_reference.py,
decoded one token per step the way a careful PyTorch user would write it for inference.

- A static latent KV cache per layer, as DeepSeek-V3's inference/model.py keeps for its "absorb" attention:
  ĉ = RMSNorm(c_KV) [B, L, kv_lora_rank] and the RoPE'd k_pe [B, L, qk_rope_head_dim], written at the
  position in place (index_copy_), attention over all L rows with a length mask, so every step has one shape.
- Absorbed MLA: scores = (W_UK^T q_nope)·ĉ + q_pe·k_pe, output W_UV (p·ĉ) (einsums as model.py writes them).
- Matrices cast to bf16 once (gate, norms and softmax stay f32, as under autocast); the MoE weights every routed
  expert by its gate weight (0 when not selected) so no expert count is read on the host and the step can be
  captured; the position lives in a device tensor.
- --graphs 1 captures one step with torch.cuda.graph (after a warm-up on a side stream) and replays it.

Prints one JSON line (fields as bench/llm_decode.cpp's).
  python3 bench/llm_decode_reference.py --preset gpu100m --batch 1,64,512 --prompt 32 --new 128 --graphs 0,1
  python3 bench/llm_decode_reference.py --preset small --vocab 64 --batch 2 --prompt 4 --new 8 --device cpu --check 1
"""
import argparse, json, time

import torch
import torch.nn.functional as F

from llm_reference import PRESETS, Transformer, MoE, rope


class Decoder:
    """Static-shape one-token decode over a bf16 snapshot of a llm_reference.Transformer."""

    def __init__(self, m, batch, max_len, dt):
        a = m.a
        self.m, self.a, self.B, self.L, self.dt = m, a, batch, max_len, dt
        H, dn, dv, dc = a["n_heads"], a["qk_nope_head_dim"], a["v_head_dim"], a["kv_lora_rank"]
        dev = m.head.weight.device
        c = lambda w: w.detach().to(dt)
        self.layers = []
        for blk in m.layers:
            at, w = blk.attn, {}
            if a["q_lora_rank"] == 0:
                w["wq"] = c(at.wq.weight)
            else:
                w["wq_a"], w["wq_b"] = c(at.wq_a.weight), c(at.wq_b.weight)
            w["wkv_a"], w["wo"] = c(at.wkv_a.weight), c(at.wo.weight)
            kvb = c(at.wkv_b.weight).view(H, dn + dv, dc)
            w["w_uk"], w["w_uv"] = kvb[:, :dn], kvb[:, dn:]
            if isinstance(blk.ffn, MoE):
                w["e1"] = torch.stack([c(e.w1.weight) for e in blk.ffn.experts])  # [E,I,C]
                w["e3"] = torch.stack([c(e.w3.weight) for e in blk.ffn.experts])
                w["e2"] = torch.stack([c(e.w2.weight) for e in blk.ffn.experts])  # [E,C,I]
                s = blk.ffn.shared
                w["shared"] = (c(s.w1.weight), c(s.w2.weight), c(s.w3.weight))
            else:
                w["mlp"] = (c(blk.ffn.w1.weight), c(blk.ffn.w2.weight), c(blk.ffn.w3.weight))
            w["kv"] = torch.zeros(batch, max_len, dc, device=dev, dtype=dt)
            w["pe"] = torch.zeros(batch, max_len, a["qk_rope_head_dim"], device=dev, dtype=dt)
            self.layers.append(w)
        self.head = c(m.head.weight)
        self.rows = torch.arange(max_len, device=dev)
        self.scale = (a["qk_nope_head_dim"] + a["qk_rope_head_dim"]) ** -0.5

    @staticmethod
    def swiglu(x, w1, w2, w3):
        return F.linear(F.silu(F.linear(x, w1)) * F.linear(x, w3), w2)

    def attention(self, blk, w, x, at, cos, sin, mask):
        a, B = self.a, self.B
        H, dn, dc = a["n_heads"], a["qk_nope_head_dim"], a["kv_lora_rank"]
        x = x.to(self.dt)
        q = F.linear(x, w["wq"]) if "wq" in w else F.linear(blk.attn.q_norm(F.linear(x, w["wq_a"])), w["wq_b"])
        q = q.view(B, 1, H, -1)
        q_nope, q_pe = q[..., :dn], rope(q[..., dn:], cos, sin)
        kv = F.linear(x, w["wkv_a"])
        c = blk.attn.kv_norm(kv[..., :dc])
        k_pe = rope(kv[..., dc:].unsqueeze(2), cos, sin).squeeze(2)
        w["kv"].index_copy_(1, at, c)
        w["pe"].index_copy_(1, at, k_pe)
        q_lat = torch.einsum("bhd,hdc->bhc", q_nope[:, 0], w["w_uk"])
        s = torch.einsum("bhc,blc->bhl", q_lat, w["kv"]) + torch.einsum("bhr,blr->bhl", q_pe[:, 0], w["pe"])
        p = (s.float() * self.scale + mask).softmax(-1).to(self.dt)
        o = torch.einsum("bhd,hcd->bhc", torch.einsum("bhl,blc->bhc", p, w["kv"]), w["w_uv"])  # [B,H,d_v]
        return F.linear(o.reshape(B, 1, -1), w["wo"])

    def ffn(self, blk, w, x):
        if "mlp" not in w:
            B, T, C = x.shape
            flat = x.reshape(B * T, C)
            g, idx, _ = blk.ffn.gate(flat)
            dense = torch.zeros(B * T, self.a["n_routed_experts"], device=x.device).scatter(1, idx, g)  # [N,E]
            xs = flat.to(self.dt)
            h = F.silu(torch.matmul(xs, w["e1"].transpose(1, 2))) * torch.matmul(xs, w["e3"].transpose(1, 2))
            ys = torch.matmul(h, w["e2"].transpose(1, 2))                                          # [E,N,C]
            y = (ys.to(x.dtype) * dense.t().unsqueeze(-1).to(x.dtype)).sum(0)
            return (y + self.swiglu(xs, *w["shared"]).to(x.dtype)).view(B, T, C)
        return self.swiglu(x.to(self.dt), *w["mlp"]).to(x.dtype)

    def step(self, tok, pos):
        """Logits [B,V] f32 of one token per row (tok [B]) at the device position pos (0-dim int64)."""
        at = pos.view(1)
        cos, sin = self.m.cos.index_select(0, at), self.m.sin.index_select(0, at)
        mask = torch.zeros(self.L, device=tok.device).masked_fill(self.rows > pos, float("-inf"))
        h = self.m.embed(tok.view(self.B, 1))
        for blk, w in zip(self.m.layers, self.layers):
            h = h + self.attention(blk, w, blk.attn_norm(h), at, cos, sin, mask)
            h = h + self.ffn(blk, w, blk.ffn_norm(h))
        return F.linear(self.m.norm(h).to(self.dt), self.head).float().view(self.B, -1)

    @torch.no_grad()
    def prefill(self, prompt):
        """Positions 0..P-1, one at a time with the same step (a prefill is not what is measured)."""
        tok = None
        for t in range(prompt.shape[1]):
            tok = self.step(prompt[:, t].contiguous(), torch.tensor(t, device=prompt.device)).argmax(-1)
        return tok


def check(args):
    """The decode path computes the training forward's function: logits at every position, f32."""
    torch.manual_seed(0)
    L = args.prompt + args.new
    m = Transformer(PRESETS[args.preset], args.vocab, 0, L).to(args.device).eval()
    dec = Decoder(m, args.batch, L, torch.float32)
    t = torch.randint(args.vocab, (args.batch, L), device=args.device)
    with torch.no_grad():
        full = m.loss_parts(t, t)["logits"]
        got = torch.stack([dec.step(t[:, p].contiguous(), torch.tensor(p, device=args.device)) for p in range(L)], 1)
    err = (full - got).abs().max().item()
    print(json.dumps({"impl": "pytorch", "mode": "check", "preset": args.preset, "max_abs_logit_diff": err}))
    if err > 1e-4:
        raise SystemExit(1)


def run(m, args, batch, graphs, dev):
    """One measurement: prefill, warm-up (or capture), then args.new timed greedy steps; one JSON line."""
    L = args.prompt + args.new
    dt = torch.bfloat16 if dev.type == "cuda" else torch.float32
    dec = Decoder(m, batch, L, dt)
    prompt = torch.randint(args.vocab, (batch, args.prompt), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    with torch.no_grad():
        t0 = time.perf_counter()
        tok = dec.prefill(prompt)
        sync()
        prefill_s = time.perf_counter() - t0
        pos = torch.tensor(args.prompt, device=dev)

        def body():
            tok.copy_(dec.step(tok, pos).argmax(-1))
            pos.add_(1)
        t0 = time.perf_counter()
        if graphs:
            s = torch.cuda.Stream()
            s.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(s):
                for _ in range(2):
                    body()
            torch.cuda.current_stream().wait_stream(s)
            g = torch.cuda.CUDAGraph()
            with torch.cuda.graph(g):
                body()
            step = g.replay
        else:
            body(), body()
            step = body
        sync()
        capture_s = time.perf_counter() - t0
        pos.fill_(args.prompt)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.new):
            step()
        sync()
        step_s = time.perf_counter() - t0
    print(json.dumps({"impl": "pytorch", "mode": "step", "torch": torch.__version__, "preset": args.preset,
                      "device": args.device, "graphs": bool(graphs), "batch": batch, "prompt": args.prompt,
                      "new_tokens": args.new, "prefill_ms": 1000 * prefill_s, "capture_ms": 1000 * capture_s,
                      "step_ms": 1000 * step_s / args.new, "decode_tokens_per_s": batch * args.new / step_s}),
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpu100m")
    ap.add_argument("--batch", default="1", help="comma-separated batch sizes, one JSON line each")
    ap.add_argument("--prompt", type=int, default=32)
    ap.add_argument("--new", type=int, default=128)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--graphs", default="1", help="comma-separated: 1 = torch.cuda.graph replay, 0 = eager")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--check", type=int, default=0, help="1: f32 decode logits vs the training forward, then exit")
    args = ap.parse_args()
    if args.check:
        args.batch = int(args.batch.split(",")[0])
        check(args)
        return
    torch.manual_seed(0)
    dev = torch.device(args.device)
    m = Transformer(PRESETS[args.preset], args.vocab, 0, args.prompt + args.new).to(dev).eval()
    for b in (int(x) for x in args.batch.split(",")):
        for g in (int(x) for x in args.graphs.split(",")):
            run(m, args, b, g, dev)


if __name__ == "__main__":
    main()
