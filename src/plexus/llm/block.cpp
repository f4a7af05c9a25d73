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

torch::Tensor BlockImpl::normed_ffn(const torch::Tensor& h) {
  // The dense MLP multiplies its input in the matmul dtype only: normed straight into it. The MoE gate scores the
  // f32 values and the experts multiply the matmul-dtype ones: one norm gives both.
  if (mlp_) return mlp_->forward(ffn_norm->forward_to(h, matmul_dtype()));
  auto [x, x_mm] = ffn_norm->forward_both(h, matmul_dtype());
  return moe_->forward_normed(x, x_mm);
}

torch::Tensor BlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // The attention input goes straight to bf16 matmuls: normed in the matmul dtype (no separate cast). The FFN
  // input stays in x's dtype, since the gate scores it in f32.
  auto h = residual_add(x, attn->forward(attn_norm->forward_to(x, matmul_dtype()), cos, sin));
  return residual_add(h, normed_ffn(h));
}

torch::Tensor BlockImpl::forward_cached(const torch::Tensor& x, int64_t start_pos, const torch::Tensor& cos,
                                        const torch::Tensor& sin, MlaCache& cache) {
  auto h = x + attn->forward_absorbed(attn_norm(x), start_pos, cos, sin, cache);
  // Decode steps on CUDA take the sync-free dense MoE (a few tokens; see MoeImpl::forward_dense).
  if (moe_ && h.is_cuda() && h.size(0) * h.size(1) <= 1024) return h + moe_->forward_dense(ffn_norm(h));
  return h + ffn(ffn_norm(h));
}

}  // namespace plexus::llm
