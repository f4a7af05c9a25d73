// Multi-head Latent Attention (DeepSeek-V2 §2.1; V3 report §2.1.1 eq.1-11; model.py MLA).
//
//   q      = W_q x                       (q_lora_rank = 0)   or   W_qb RMSNorm(W_qa x)
//   q_h    = [q_nope_h ; RoPE(q_pe_h)]                       d_n + d_r per head
//   [c_KV ; k_pe] = W_kva x;  k_pe ← RoPE(k_pe)             one d_r rope key shared by all H heads
//   [k_nope_h ; v_h] = W_kvb RMSNorm(c_KV)                   W_kvb: d_c → H(d_n+d_v)
//   o_h    = Σ_j softmax_j(q_h·[k_nope_h,j ; k_pe,j]·scale + causal) v_h,j;   out = W_o [o_1..o_H]
//
// Two paths compute the same function:
// - naive (training): materialise k and v per head;
// - absorbed (decoding): with W_kvb viewed as [H, d_n+d_v, d_c] = [W_UK ; W_UV], scores are
//   (W_UK,hᵀ q_nope_h)·ĉ_j + q_pe_h·k_pe,j and o_h = W_UV,h Σ_j p_j ĉ_j, so only ĉ_j = RMSNorm(c_KV,j) (d_c numbers)
//   and k_pe,j (d_r numbers) are cached per token per layer: MQA with one 576-wide key at V3 sizes.
#pragma once

#include <torch/torch.h>

#include "plexus/llm/config.h"
#include "plexus/llm/layers.h"

namespace plexus::llm {

/// The latent KV cache of one layer: kv_lora_rank + qk_rope_head_dim numbers per token.
struct MlaCache {
  torch::Tensor kv;  ///< ĉ = RMSNorm(c_KV) [B, max_len, d_c]
  torch::Tensor pe;  ///< RoPE'd k_pe [B, max_len, d_r]
  /// Zero-filled cache for `batch` sequences of up to `max_len` tokens.
  static MlaCache allocate(const ModelArgs& a, int64_t batch, int64_t max_len, torch::Device dev,
                           torch::Dtype dtype);
};

class MlaImpl : public torch::nn::Module {
 public:
  explicit MlaImpl(const ModelArgs& a);

  /// Naive causal self-attention over the whole sequence (training path).
  /// Shapes: x [B,T,C], cos/sin [T, d_r/2] (positions 0..T-1) → [B,T,C].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  /// Absorbed attention for positions start_pos..start_pos+T-1: writes those tokens' latents into `cache`
  /// and attends causally to cache rows 0..start_pos+T-1.
  /// Shapes: x [B,T,C], cos/sin [T, d_r/2] for those positions → [B,T,C].
  torch::Tensor forward_absorbed(const torch::Tensor& x, int64_t start_pos, const torch::Tensor& cos,
                                 const torch::Tensor& sin, MlaCache& cache);

  torch::Tensor wq, wq_a, wq_b, wkv_a, wkv_b, wo;
  RMSNorm q_norm{nullptr}, kv_norm{nullptr};

  /// Causal softmax(q kᵀ·scale) v over positions 0..T−1. With attn_implementation "sdpa"/"sdpa_padded" and a
  /// LibTorch that has it, one fused scaled-dot-product-attention call (flash / memory-efficient / cuDNN,
  /// chosen by LibTorch; "sdpa_padded" zero-pads v to the q/k head dim, which flash kernels require);
  /// otherwise matmul + additive mask + f32 softmax + matmul.
  /// Shapes: q, k [B,H,T,d_qk], v [B,H,T,d_v] → [B,H,T,d_v]. Source: V3 model.py MLA (naive path).
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) const;

 private:
  /// The query product before RoPE, [B,T,H,d_n+d_r].
  torch::Tensor query_product(const torch::Tensor& x);
  /// ĉ = RMSNorm(c_KV) [B,T,d_c] and k_pe before RoPE [B,T,d_r] (a view of the wkv_a product).
  std::pair<torch::Tensor, torch::Tensor> latent_parts(const torch::Tensor& x);
  /// Queries split into q_nope [B,T,H,d_n] and RoPE'd q_pe [B,T,H,d_r].
  std::pair<torch::Tensor, torch::Tensor> queries(const torch::Tensor& x, const torch::Tensor& cos,
                                                  const torch::Tensor& sin);
  /// ĉ = RMSNorm(c_KV) [B,T,d_c] and RoPE'd k_pe [B,T,d_r].
  std::pair<torch::Tensor, torch::Tensor> latents(const torch::Tensor& x, const torch::Tensor& cos,
                                                  const torch::Tensor& sin);
  ModelArgs a_;
  double scale_;
};
TORCH_MODULE(Mla);

/// Whether this LibTorch has fused scaled-dot-product attention (PyTorch ≥ 2.1).
bool have_sdpa();

/// Additive causal mask for queries at positions start..start+T-1 over keys 0..start+T-1: 0 where the key
/// is visible, -inf after the query. Shapes: → [T, start+T] f32.
torch::Tensor causal_mask(int64_t T, int64_t start, torch::Device dev);

}  // namespace plexus::llm
