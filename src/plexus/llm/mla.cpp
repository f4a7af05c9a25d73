// Multi-head Latent Attention: naive and absorbed paths. See mla.h for the equations.
#include "plexus/llm/mla.h"

#include <limits>

#include "plexus/llm/fused_ops.h"
#include "plexus/llm/rope.h"

// at::scaled_dot_product_attention with a `scale` argument: PyTorch ≥ 2.1. Debian's LibTorch 1.13 takes the
// eager path (the same math: matmul, causal mask, f32 softmax, matmul).
#if defined(TORCH_VERSION_MAJOR) && (TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1))
#define PLEXUS_HAVE_SDPA 1
#else
#define PLEXUS_HAVE_SDPA 0
#endif

namespace plexus::llm {

MlaCache MlaCache::allocate(const ModelArgs& a, int64_t batch, int64_t max_len, torch::Device dev,
                            torch::Dtype dtype) {
  auto o = torch::TensorOptions().device(dev).dtype(dtype);
  return {torch::zeros({batch, max_len, a.kv_lora_rank}, o), torch::zeros({batch, max_len, a.qk_rope_head_dim}, o)};
}

torch::Tensor causal_mask(int64_t T, int64_t start, torch::Device dev) {
  auto o = torch::TensorOptions().device(dev).dtype(torch::kFloat32);
  return torch::full({T, start + T}, -std::numeric_limits<float>::infinity(), o).triu(start + 1);
}

MlaImpl::MlaImpl(const ModelArgs& a) : a_(a), scale_(a.softmax_scale()) {
  const int64_t H = a.n_heads;
  if (a.q_lora_rank == 0) {
    wq = register_linear(*this, "wq", a.dim, H * a.qk_head_dim());
  } else {
    wq_a = register_linear(*this, "wq_a", a.dim, a.q_lora_rank);
    q_norm = register_module("q_norm", RMSNorm(a.q_lora_rank, a.norm_eps));
    wq_b = register_linear(*this, "wq_b", a.q_lora_rank, H * a.qk_head_dim());
  }
  wkv_a = register_linear(*this, "wkv_a", a.dim, a.kv_lora_rank + a.qk_rope_head_dim);
  kv_norm = register_module("kv_norm", RMSNorm(a.kv_lora_rank, a.norm_eps));
  wkv_b = register_linear(*this, "wkv_b", a.kv_lora_rank, H * (a.qk_nope_head_dim + a.v_head_dim));
  wo = register_linear(*this, "wo", H * a.v_head_dim, a.dim);
}

torch::Tensor MlaImpl::query_product(const torch::Tensor& x) {
  const auto B = x.size(0), T = x.size(1);
  auto q = a_.q_lora_rank == 0 ? project(x, wq) : project(q_norm(project(x, wq_a)), wq_b);
  return q.view({B, T, a_.n_heads, a_.qk_head_dim()});
}

std::pair<torch::Tensor, torch::Tensor> MlaImpl::latent_parts(const torch::Tensor& x) {
  auto kv = project(x, wkv_a);                                              // [B,T,d_c+d_r]
  // split, not two narrows: the backward of split is one concatenation, that of each narrow a zero-filled
  // full-width tensor plus a strided copy, and the two are then added (three passes instead of one).
  auto parts = kv.split_with_sizes({a_.kv_lora_rank, a_.qk_rope_head_dim}, -1);
  return {kv_norm(parts[0]), parts[1]};
}

std::pair<torch::Tensor, torch::Tensor> MlaImpl::queries(const torch::Tensor& x, const torch::Tensor& cos,
                                                        const torch::Tensor& sin) {
  auto parts = query_product(x).split_with_sizes({a_.qk_nope_head_dim, a_.qk_rope_head_dim}, -1);
  return {parts[0], apply_rope(parts[1], cos, sin)};                       // [B,T,H,d_n], [B,T,H,d_r]
}

std::pair<torch::Tensor, torch::Tensor> MlaImpl::latents(const torch::Tensor& x, const torch::Tensor& cos,
                                                        const torch::Tensor& sin) {
  auto [c, k_pe] = latent_parts(x);
  return {c, apply_rope(k_pe.unsqueeze(2), cos, sin).squeeze(2)};          // [B,T,d_c], [B,T,d_r]
}

torch::Tensor MlaImpl::forward(const torch::Tensor& x_in, const torch::Tensor& cos, const torch::Tensor& sin) {
  const auto B = x_in.size(0), T = x_in.size(1), H = a_.n_heads;
  auto x = x_in.to(matmul_dtype());  // cast once for the q and kv projections
  // [q_nope | rope(q_pe)] and [k_nope | rope(k_pe)] built in one pass each (fused_ops.h).
  auto q = rope_queries(query_product(x), a_.qk_rope_head_dim, cos, sin).transpose(1, 2);  // [B,H,T,d_qk]
  auto [c, k_pe] = latent_parts(x);
  auto kv = project(c, wkv_b).view({B, T, H, a_.qk_nope_head_dim + a_.v_head_dim});  // c stays f32-normed
  auto parts = kv.split_with_sizes({a_.qk_nope_head_dim, a_.v_head_dim}, -1);  // split: see latent_parts()
  auto k = rope_keys(parts[0], k_pe, cos, sin).transpose(1, 2);            // [B,H,T,d_qk]
  auto o = attend(q, k, parts[1].transpose(1, 2));                          // [B,H,T,d_v]
  return project(o.transpose(1, 2).reshape({B, T, H * a_.v_head_dim}), wo);
}

bool have_sdpa() { return PLEXUS_HAVE_SDPA != 0; }

torch::Tensor MlaImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v) const {
#if PLEXUS_HAVE_SDPA
  if (a_.attn_implementation != "eager") {
    const auto dqk = q.size(-1), dv = v.size(-1);
    if (a_.attn_implementation == "sdpa_padded" && dv < dqk) {
      // Flash kernels need one head dim for q, k and v: zero columns of v give zero output columns.
      auto vp = torch::constant_pad_nd(v, {0, dqk - dv});
      return at::scaled_dot_product_attention(q, k, vp, {}, 0.0, /*is_causal=*/true, scale_).narrow(-1, 0, dv);
    }
    return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true, scale_);
  }
#endif
  const auto T = q.size(2);
  auto scores = torch::matmul(q, k.transpose(-1, -2)).to(torch::kFloat32) * scale_;  // [B,H,T,T]
  scores = scores + causal_mask(T, 0, q.device());
  auto p = torch::softmax(scores, -1).to(v.scalar_type());
  return torch::matmul(p, v);                                               // [B,H,T,d_v]
}

torch::Tensor MlaImpl::forward_absorbed(const torch::Tensor& x_in, int64_t start_pos, const torch::Tensor& cos,
                                        const torch::Tensor& sin, MlaCache& cache) {
  auto x = x_in.to(matmul_dtype());  // as forward(): every product below runs in the matmul dtype (bf16 on CUDA)
  const auto B = x.size(0), T = x.size(1), H = a_.n_heads, dc = a_.kv_lora_rank;
  const int64_t end = start_pos + T;
  auto [q_nope, q_pe] = queries(x, cos, sin);
  auto [c, k_pe] = latents(x, cos, sin);
  cache.kv.narrow(0, 0, B).narrow(1, start_pos, T).copy_(c);
  cache.pe.narrow(0, 0, B).narrow(1, start_pos, T).copy_(k_pe);
  auto kv_all = cache.kv.narrow(0, 0, B).narrow(1, 0, end).to(x.scalar_type());  // [B,S,d_c]
  auto pe_all = cache.pe.narrow(0, 0, B).narrow(1, 0, end).to(x.scalar_type());  // [B,S,d_r]

  auto w = wkv_b.to(x.scalar_type()).view({H, a_.qk_nope_head_dim + a_.v_head_dim, dc});
  auto w_uk = w.narrow(1, 0, a_.qk_nope_head_dim);                          // [H,d_n,d_c]
  auto w_uv = w.narrow(1, a_.qk_nope_head_dim, a_.v_head_dim);              // [H,d_v,d_c]
  // q̃_h = W_UK,hᵀ q_nope_h:  [H, B·T, d_n] @ [H, d_n, d_c] → [H, B·T, d_c]
  auto q_lat = torch::bmm(q_nope.permute({2, 0, 1, 3}).reshape({H, B * T, a_.qk_nope_head_dim}), w_uk);
  q_lat = q_lat.view({H, B, T, dc}).permute({1, 2, 0, 3}).reshape({B, T * H, dc});  // [B, T·H, d_c]
  auto scores = torch::bmm(q_lat, kv_all.transpose(1, 2)) +
                torch::bmm(q_pe.reshape({B, T * H, a_.qk_rope_head_dim}), pe_all.transpose(1, 2));  // [B,T·H,S]
  scores = scores.to(torch::kFloat32).view({B, T, H, end}) * scale_;
  scores = scores + causal_mask(T, start_pos, x.device()).view({1, T, 1, end});
  auto p = torch::softmax(scores, -1).to(x.scalar_type()).view({B, T * H, end});
  auto o_lat = torch::bmm(p, kv_all);                                       // [B, T·H, d_c]
  // o_h = W_UV,h õ_h:  [H, B·T, d_c] @ [H, d_c, d_v] → [H, B·T, d_v]
  auto o = torch::bmm(o_lat.view({B, T, H, dc}).permute({2, 0, 1, 3}).reshape({H, B * T, dc}),
                      w_uv.transpose(1, 2));
  o = o.view({H, B, T, a_.v_head_dim}).permute({1, 2, 0, 3}).reshape({B, T, H * a_.v_head_dim});
  return project(o, wo);
}

}  // namespace plexus::llm
