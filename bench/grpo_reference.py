#!/usr/bin/env python3
"""Plain-PyTorch GRPO step, the reference for bench/grpo_bench.cpp (same model, batch and loss).

Model: the DeepSeek-V3 reference of bench/llm_reference.py (MLA naive path, DeepSeekMoE, no MTP). Rollouts
the way a plain PyTorch / HF-generate loop does them: a decompressed per-layer K/V cache (k [B,H,S,d_qk],
v [B,H,S,d_v], what HF's DeepseekV3 attention caches), torch.multinomial sampling on the device, and a check
of "all sequences finished" after every token. Then one GRPO update: per-token log-probs of policy and
frozen reference, group advantages (r - mean)/(std + 1e-4), clipped ratio (0.2 / 0.28) + beta*k3, dapo
aggregation, backward, clip 1.0, AdamW. bf16 autocast with f32 master weights, as plexus runs on CUDA.

  python3 bench/grpo_reference.py --preset gpu100m --prompts 16 --generations 8 --prompt-len 64 --completion 128
"""
import argparse, copy, json, os, sys, time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llm_reference import PRESETS, Transformer, rope  # noqa: E402


def attn_cached(m, x, cos, sin, cache, start):
    """MLA with a decompressed K/V cache for positions start..start+T-1. x [B,T,C]."""
    a, (B, T, _) = m.a, x.shape
    H, dn, dr, dv = a["n_heads"], a["qk_nope_head_dim"], a["qk_rope_head_dim"], a["v_head_dim"]
    q = m.wq(x) if a["q_lora_rank"] == 0 else m.wq_b(m.q_norm(m.wq_a(x)))
    q = q.view(B, T, H, m.dqk)
    q = torch.cat([q[..., :dn], rope(q[..., dn:], cos, sin)], -1)
    kv = m.wkv_a(x)
    c, k_pe = m.kv_norm(kv[..., :a["kv_lora_rank"]]), rope(kv[..., a["kv_lora_rank"]:].unsqueeze(2), cos, sin)
    kv = m.wkv_b(c).view(B, T, H, dn + dv)
    k = torch.cat([kv[..., :dn], k_pe.expand(B, T, H, dr)], -1)
    kc, vc = cache
    kc[:, :, start:start + T] = k.transpose(1, 2).to(kc.dtype)
    vc[:, :, start:start + T] = kv[..., dn:].transpose(1, 2).to(vc.dtype)
    S = start + T
    s = torch.matmul(q.transpose(1, 2), kc[:, :, :S].transpose(-1, -2)).float() * m.scale
    mask = torch.full((T, S), float("-inf"), device=x.device).triu(start + 1)
    p = (s + mask).softmax(-1).to(vc.dtype)
    o = torch.matmul(p, vc[:, :, :S]).transpose(1, 2).reshape(B, T, H * dv)
    return m.wo(o)


def forward_cached(model, tok, start, caches):
    T = tok.shape[1]
    cos, sin = model.cos[start:start + T], model.sin[start:start + T]
    h = model.embed(tok)
    for layer, cache in zip(model.layers, caches):
        h = h + attn_cached(layer.attn, layer.attn_norm(h), cos, sin, cache, start)
        h = h + layer.ffn(layer.ffn_norm(h))
    return model.head(model.norm(h)).float()


def logits_full(model, tok):
    T = tok.shape[1]
    mask = torch.full((T, T), float("-inf"), device=tok.device).triu(1)
    h = model.embed(tok)
    for layer in model.layers:
        h = layer(h, model.cos[:T], model.sin[:T], mask)
    return model.head(model.norm(h)).float()


@torch.no_grad()
def generate(model, prompts, L, dtype):
    a, (R, P) = model.a, prompts.shape
    dev = prompts.device
    caches = [(torch.zeros(R, a["n_heads"], P + L, a["qk_nope_head_dim"] + a["qk_rope_head_dim"], device=dev, dtype=dtype),
               torch.zeros(R, a["n_heads"], P + L, a["v_head_dim"], device=dev, dtype=dtype)) for _ in model.layers]
    out = torch.empty(R, P + L, dtype=torch.long, device=dev)
    out[:, :P] = prompts
    done = torch.zeros(R, dtype=torch.bool, device=dev)
    logits = forward_cached(model, prompts, 0, caches)[:, -1]
    for t in range(L):
        probs = torch.softmax(logits, -1)
        nxt = torch.multinomial(probs, 1).squeeze(1)
        out[:, P + t] = nxt
        done |= nxt == -1  # no stop token in the benchmark (same as plexus with stop_id = -1)
        if bool(done.all()):  # the per-token host check a plain loop makes
            break
        if t + 1 < L:
            logits = forward_cached(model, nxt.unsqueeze(1), P + t, caches)[:, -1]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="gpu100m")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=64)
    ap.add_argument("--completion", type=int, default=128)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=8192)
    ap.add_argument("--beta", type=float, default=0.04)
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args()
    a, dev = PRESETS[args.preset], torch.device(args.device)
    torch.manual_seed(0)
    B, G, P, L = args.prompts, args.generations, args.prompt_len, args.completion
    policy = Transformer(a, args.vocab, 0, P + L).to(dev)
    ref = copy.deepcopy(policy).eval()
    opt = torch.optim.AdamW(policy.parameters(), lr=1e-5, betas=(0.9, 0.99), eps=1e-8, weight_decay=0.0)
    bf16 = dev.type == "cuda"
    dtype = torch.bfloat16 if bf16 else torch.float32
    gen_ms = upd_ms = toks = 0.0
    for s in range(args.steps + args.warmup):
        prompts = torch.randint(3, args.vocab, (B, P), device=dev).repeat_interleave(G, 0)
        if bf16:
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            seq = generate(policy, prompts, L, dtype)
        if bf16:
            torch.cuda.synchronize()
        t1 = time.perf_counter()
        rewards = torch.randint(0, 2, (B, G), device=dev).float()
        adv = ((rewards - rewards.mean(1, keepdim=True)) / (rewards.std(1, keepdim=True) + 1e-4)).view(-1, 1)
        inp, tgt = seq[:, :-1], seq[:, 1:]
        mask = torch.zeros_like(tgt, dtype=torch.float32)
        mask[:, P - 1:] = 1.0
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                ref_lp = torch.log_softmax(logits_full(ref, inp), -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
            lp = torch.log_softmax(logits_full(policy, inp), -1).gather(-1, tgt.unsqueeze(-1)).squeeze(-1)
        ratio = torch.exp(lp - lp.detach())
        per_tok = -torch.min(ratio * adv, torch.clamp(ratio, 0.8, 1.28) * adv)
        x = ref_lp - lp
        per_tok = per_tok + args.beta * (torch.exp(x) - x - 1)
        loss = (per_tok * mask).sum() / mask.sum()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        for mod in policy.modules():  # RL keeps expert biases frozen; drop the MoE load bookkeeping
            if hasattr(mod, "load"):
                mod.load.zero_()
        if bf16:
            torch.cuda.synchronize()
        t2 = time.perf_counter()
        if s >= args.warmup:
            gen_ms += 1000 * (t1 - t0)
            upd_ms += 1000 * (t2 - t1)
            toks += B * G * L
    n = args.steps
    print(json.dumps({"impl": "pytorch-eager", "torch": torch.__version__, "preset": args.preset, "device": args.device,
                      "prompts": B, "generations": G, "prompt_len": P, "completion": L, "steps": n,
                      "rollout_tokens_per_s": toks / (gen_ms / 1000), "gen_ms": gen_ms / n, "update_ms": upd_ms / n,
                      "step_ms": (gen_ms + upd_ms) / n, "gen_fraction": gen_ms / (gen_ms + upd_ms)}))


if __name__ == "__main__":
    main()
