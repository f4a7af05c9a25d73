// One DeepSeek-V3 transformer block (model.py Block):
//   x ← x + MLA(RMSNorm_attn(x));   x ← x + FFN(RMSNorm_ffn(x))
// with FFN a dense SwiGLU for layer_id < n_dense_layers and DeepSeekMoE otherwise.
#pragma once

#include <torch/torch.h>

#include "plexus/llm/config.h"
#include "plexus/llm/layers.h"
#include "plexus/llm/mla.h"
#include "plexus/llm/moe.h"

namespace plexus::llm {

class BlockImpl : public torch::nn::Module {
 public:
  BlockImpl(const ModelArgs& a, int64_t layer_id);

  /// Training / full-sequence path (naive MLA). Shapes: x [B,T,C], cos/sin [T,d_r/2] → [B,T,C].
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

  /// forward() on the stream x + pending, with its own last addition left pending: returns (h, f), the block's
  /// output being h + f (f the FFN branch). The caller hands f to the next block, whose attention norm adds it
  /// to the stream in the same kernel as the norm (fused_ops.h add_rms_norm); `pending` undefined means none.
  /// Same values as forward(). Shapes: x, pending [B,T,C] → ([B,T,C] f32 stream, [B,T,C] branch).
  std::pair<torch::Tensor, torch::Tensor> forward_pending(const torch::Tensor& x, const torch::Tensor& pending,
                                                          const torch::Tensor& cos, const torch::Tensor& sin);

  /// Decoding path (absorbed MLA with the latent cache). Shapes as forward; positions start_pos.. .
  torch::Tensor forward_cached(const torch::Tensor& x, int64_t start_pos, const torch::Tensor& cos,
                               const torch::Tensor& sin, MlaCache& cache);

  /// The MoE of this block, or nullptr for a dense block.
  Moe moe() const { return moe_; }

  RMSNorm attn_norm{nullptr}, ffn_norm{nullptr};
  Mla attn{nullptr};

 private:
  torch::Tensor ffn(const torch::Tensor& h);
  Mlp mlp_{nullptr};
  Moe moe_{nullptr};
};
TORCH_MODULE(Block);

}  // namespace plexus::llm
