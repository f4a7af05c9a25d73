// The DeepSeek-V3 language model (model.py Transformer) with multi-token prediction and the training losses:
//   h = Block_{L-1}(…Block_0(Emb(t)));  logits = Head(RMSNorm(h))          (head not tied to the embedding)
//   L_total = CE(logits, next tokens) + λ/D Σ_k L^k_MTP + Σ_MoE-layers L_Bal
// Weights are f32 master copies; set_compute_dtype(kBFloat16) runs every matmul in bf16 (norms, softmax, the
// gate and the loss stay f32), the same split autocast makes.
#pragma once

#include <torch/torch.h>

#include <functional>

#include <vector>

#include "plexus/llm/block.h"
#include "plexus/llm/config.h"
#include "plexus/llm/mtp.h"
#include "plexus/llm/rope.h"

namespace plexus::llm {

/// Loss terms of one batch (scalars f32; `total` carries the gradient).
struct LossParts {
  torch::Tensor total, main, mtp, balance;
};

/// Expert-load statistics of one MoE layer for one step.
struct LoadStats {
  double max_over_mean = 0;  ///< max_i load_i / mean_i load_i (1 = perfectly balanced)
  double min_over_mean = 0;
};

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const ModelArgs& a);

  /// Normal(0, init_std) for every weight matrix and the embedding (V3 §4.2), ones for norms, zero biases;
  /// drawn from the stream (seed, "llm.init").
  void init_weights(uint64_t seed);

  /// Run matmuls in `dtype` (kFloat32 or kBFloat16).
  void set_compute_dtype(torch::Dtype dtype) { compute_dtype_ = dtype; }

  /// Final hidden states before the output norm (naive attention). Shapes: tokens [B,T] int64 → [B,T,C].
  torch::Tensor hidden(const torch::Tensor& tokens);

  /// Next-token logits for every position. Shapes: tokens [B,T] → [B,T,V] f32.
  torch::Tensor forward(const torch::Tensor& tokens);

  /// forward() from input embeddings instead of tokens, so a gradient can reach a relaxed (soft) prompt:
  /// forward(t) = forward_embedded(embed[t]). Shapes: h0 [B,T,C] (C = dim) → [B,T,V] f32.
  torch::Tensor forward_embedded(const torch::Tensor& h0);

  /// Logits for positions start_pos.. using and filling the latent caches (absorbed MLA).
  /// Shapes: tokens [B,T], caches one per layer → [B,T,V] f32.
  torch::Tensor forward_cached(const torch::Tensor& tokens, int64_t start_pos, std::vector<MlaCache>& caches);

  /// One latent cache per main layer. Units: (kv_lora_rank + qk_rope_head_dim) numbers per token per layer.
  std::vector<MlaCache> make_caches(int64_t batch, int64_t max_len);

  /// Training losses. Shapes: inputs, targets [B,T] int64 (targets = inputs shifted by one) → LossParts.
  LossParts loss(const torch::Tensor& inputs, const torch::Tensor& targets);

  /// Every MoE layer (main blocks, then MTP blocks).
  std::vector<Moe> moe_layers() const;

  /// End of a training step: read each MoE layer's accumulated load, apply the bias update with `gamma`
  /// (skipped when 0) and return the per-layer statistics. `reduce_load`, when given, replaces the loads
  /// [layers, E] f64 (expert-selection counts) in place first: data parallel sums them over the ranks so every
  /// rank updates the bias from the global batch's counts.
  std::vector<LoadStats> end_step_balance(double gamma,
                                          const std::function<void(torch::Tensor&)>& reduce_load = {});

  const ModelArgs& args() const { return a_; }

  /// Module::to, then the MLP and expert weights are packed again (a move gives every parameter new, separate
  /// data; packed.h says why packing matters).
  void to(torch::Device device, torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Dtype dtype, bool non_blocking = false) override;
  void to(torch::Device device, bool non_blocking = false) override;

  /// Pack every MLP's [W1; W3] and every MoE layer's expert weights (packed.h). The constructor and to() call it.
  void pack_parameters();

  /// The f32 weights a bf16 forward casts for its products, each read once per step, as ShadowWeights wants them
  /// (shadow.h): per MoE layer the packed expert stacks (MoeImpl::expert_masters), per dense or shared MLP its
  /// packed [W1; W3] and W2, and every other product matrix (MLA, the MTP projections). Not the embedding (a
  /// lookup), the gates (f32 products) or the head (read by the main and every MTP output: its gradients sum
  /// in f32 on the cast path). Views of the parameters' storage, without autograd.
  std::vector<torch::Tensor> matmul_weights() const;

  torch::Tensor embed;  ///< [V,C]
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
  torch::Tensor head;  ///< [V,C]
  torch::nn::ModuleList mtp;

 private:
  std::pair<torch::Tensor, torch::Tensor> rope(int64_t start, int64_t T, torch::Device dev);
  // The main blocks on input states h [B,T,C] (positions from 0) → [B,T,C].
  torch::Tensor blocks(torch::Tensor h);
  // The head's product of the normed states h [B,T,C] in the matmul dtype → [B,T,V] (the losses' logits).
  torch::Tensor head_product(const torch::Tensor& h, RMSNorm n);
  // head_product cast to f32 (the logits forward() and generation return).
  torch::Tensor logits_of(const torch::Tensor& h, RMSNorm n);
  ModelArgs a_;
  RopeTables rope_cpu_;
  RopeTables rope_dev_;
  torch::Dtype compute_dtype_ = torch::kFloat32;
};
TORCH_MODULE(Transformer);

}  // namespace plexus::llm
