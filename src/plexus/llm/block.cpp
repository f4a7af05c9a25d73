// Transformer block: pre-norm MLA then pre-norm dense FFN or MoE. See block.h.
#include "plexus/llm/block.h"

#include "plexus/llm/fused_ops.h"

namespace plexus::llm {

BlockImpl::BlockImpl(const ModelArgs& a, int64_t layer_id) {
  attn_norm = register_module("attn_norm", RMSNorm(a.dim, a.norm_eps));
  attn = register_module("attn", Mla(a));
  ffn_norm = register_module("ffn_norm", RMSNorm(a.dim, a.norm_eps));
  if (layer_id < a.n_dense_layers) {
    mlp_ = register_module("ffn", Mlp(a.dim, a.inter_dim));
  } else {
    moe_ = register_module("ffn", Moe(a));
  }
}

torch::Tensor BlockImpl::ffn(const torch::Tensor& h) {
  return mlp_ ? mlp_->forward(h) : moe_->forward(h);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  auto [h, f] = forward_pending(x, {}, cos, sin);
  return residual_add(h, f);
}

std::pair<torch::Tensor, torch::Tensor> BlockImpl::forward_pending(const torch::Tensor& x,
                                                                   const torch::Tensor& pending,
                                                                   const torch::Tensor& cos,
                                                                   const torch::Tensor& sin) {
  const auto mm = matmul_dtype();
  // The attention input goes straight to the matmul dtype (normed into it, no separate cast).
  torch::Tensor h = x, n;
  if (pending.defined()) {
    auto s = attn_norm->forward_added(x, pending, mm, /*with_f32=*/false);
    h = s.h, n = s.n;
  } else {
    n = attn_norm->forward_to(x, mm);
  }
  auto a = attn->forward(n, cos, sin);
  // The dense MLP multiplies its input in the matmul dtype only. The MoE gate scores the f32 values and the
  // experts multiply the matmul-dtype ones: one norm gives both.
  auto s = ffn_norm->forward_added(h, a, mm, /*with_f32=*/!mlp_);
  return {s.h, mlp_ ? mlp_->forward(s.n) : moe_->forward_normed(s.n_f32, s.n)};
}

torch::Tensor BlockImpl::forward_cached(const torch::Tensor& x, int64_t start_pos, const torch::Tensor& cos,
                                        const torch::Tensor& sin, MlaCache& cache) {
  auto h = x + attn->forward_absorbed(attn_norm(x), start_pos, cos, sin, cache);
  // Decode steps on CUDA take the sync-free dense MoE (a few tokens; see MoeImpl::forward_dense).
  if (moe_ && h.is_cuda() && h.size(0) * h.size(1) <= 1024) return h + moe_->forward_dense(ffn_norm(h));
  return h + ffn(ffn_norm(h));
}

}  // namespace plexus::llm
