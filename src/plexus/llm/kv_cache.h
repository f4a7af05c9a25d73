// Static-shape decoding over a preallocated latent KV cache, the form a CUDA graph can capture (issue 19).
//
// What is cached: MLA's absorbed path (mla.h) needs per token and layer only ĉ = RMSNorm(c_KV) (kv_lora_rank
// numbers) and the RoPE'd shared key k_pe (qk_rope_head_dim numbers) — the compressed latent DeepSeek-V2 §2.1.3
// and V3's inference/model.py (attn_impl "absorb": kv_cache + pe_cache) keep. plexus already decodes with this
// cache (TransformerImpl::forward_cached), so the static decoder reuses its layout, MlaCache [B, max_len, ·]
// per layer: 288 numbers per token per layer at gpu100m sizes instead of 2·H·(d_qk + d_v)/2 = 1,536 for full
// per-head k and v.
//
// What is static: forward_cached narrows the cache to the first start+T rows, so every step has a new shape
// and the position is a host integer. StaticDecoder::step instead takes the position as a device int64
// scalar and
//   - writes row `pos` of each layer's cache in place (index_copy_),
//   - attends over all max_len rows with an additive length mask (0 for rows ≤ pos, −inf after them),
//   - reads its RoPE angles with index_select at `pos`,
// so the kernels and every tensor shape are the same at every position: captured once, replayed per token.
// Masked rows get probability exactly 0 (exp(−inf)), so the result is forward_cached's up to the float order
// of the longer softmax sum (greedy tokens are identical; tests/llm/decode_test.cpp).
//
// Weights: the decoder snapshots every matrix in the compute dtype once (bf16 on CUDA), so a step reads each
// weight once instead of casting the f32 master copy per call (what project() does in training), and stacks
// the routed experts [E,·,·] once. On CUDA the MoE runs every expert on every token weighted by the gate
// (MoeImpl::forward_dense: no host read of expert counts, so it can be captured); on the CPU it keeps the
// sparse dispatch (MoeImpl::forward) and matches forward_cached exactly.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "plexus/llm/model.h"

namespace plexus::llm {

/// A decode session of `batch` rows of up to `max_len` tokens over a snapshot of a model's weights.
/// Letters: B rows, L = max_len, V vocabulary, C model dim, d_c kv_lora_rank, d_r qk_rope_head_dim.
class StaticDecoder {
 public:
  /// Snapshots the weights of `model` (which must stay alive: norms, gates and the CPU MoE are used in place)
  /// and allocates the caches on the model's device in its compute dtype (model->make_caches).
  /// Throws: Error(Config) if max_len exceeds model.max_seq_len.
  StaticDecoder(Transformer& model, int64_t batch, int64_t max_len);

  /// Positions 0..T−1 of every row in one eager pass (forward_cached; dynamic shape, not captured), filling the
  /// cache rows 0..T−1. Shapes: tokens [B,T] int64 on the model's device → logits [B,T,V] f32.
  torch::Tensor prefill(const torch::Tensor& tokens);

  /// One token per row at position `pos`: writes cache row pos and attends over rows 0..pos. No host read, no
  /// allocation that depends on pos: safe inside a CUDA graph. Shapes: tok [B] int64, pos [] int64 (both on the
  /// model's device, pos < max_len) → logits [B,V] f32. Source: MlaImpl::forward_absorbed with T = 1.
  torch::Tensor step(const torch::Tensor& tok, const torch::Tensor& pos);

  int64_t batch() const { return B_; }
  int64_t max_len() const { return L_; }
  /// The per-layer latent caches ([B, L, d_c] and [B, L, d_r] in the compute dtype).
  std::vector<MlaCache>& caches() { return caches_; }

 private:
  // One layer's weights for decoding, in the compute dtype (dt_).
  struct LayerWeights {
    torch::Tensor wq, wq_a, wq_b, wkv_a, w_uk, w_uv_t, wo;  // w_uk [H,d_n,d_c], w_uv_t [H,d_c,d_v]
    torch::Tensor w1, w2, w3;                               // dense FFN (layer < n_dense_layers)
    torch::Tensor e1_t, e3_t, e2_t;                         // routed experts [E,C,I], [E,C,I], [E,I,C]
    torch::Tensor s1, s2, s3;                               // shared expert
  };
  torch::Tensor attention(int64_t l, const torch::Tensor& x, const torch::Tensor& pos, const torch::Tensor& cos,
                          const torch::Tensor& sin, const torch::Tensor& mask);
  torch::Tensor ffn(int64_t l, const torch::Tensor& x);

  Transformer model_;
  ModelArgs a_;
  int64_t B_, L_;
  torch::Dtype dt_;
  std::vector<MlaCache> caches_;
  std::vector<LayerWeights> w_;
  torch::Tensor head_;                // [V,C] in dt_
  torch::Tensor cos_, sin_;           // [max_seq_len, d_r/2] f32 on the device
  torch::Tensor rows_;                // arange(L) int64 on the device (for the length mask)
};

}  // namespace plexus::llm
