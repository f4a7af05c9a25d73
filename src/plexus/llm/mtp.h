// Multi-token prediction module k (V3 report §2.2 eq.21-25, Fig.3):
//   h'_i^k = M_k [RMSNorm(h_i^{k-1}) ; RMSNorm(Emb(t_{i+k}))]        M_k = eh_proj ∈ R^{C×2C}
//   h^k    = TRM_k(h'^k)                                              a full MLA+MoE block, causal
//   P^k_{i+k+1} = softmax(Head(RMSNorm(h_i^k)))                       embedding and head shared with the model
// With inputs t_0..t_{T-1} and targets t_1..t_T, depth k uses positions i < T-k, the embedding of
// inputs[i+k] and the target targets[i+k] = t_{i+k+1}: see mtp_slices. Loss L^k is the summed CE over those
// positions divided by B·T (eq.24's 1/T), L_MTP = λ/D Σ_k L^k (eq.25).
// The paper's concatenation order [h ; emb] is used (public engines store [emb ; h]; it matters only when
// loading released weights). Each module has its own norm before the shared head, as the released weights do.
#pragma once

#include <torch/torch.h>

#include "plexus/llm/block.h"

namespace plexus::llm {

class MtpImpl : public torch::nn::Module {
 public:
  /// `layer_id` numbers the block after the main ones (n_layers + k - 1), so it is an MoE block.
  MtpImpl(const ModelArgs& a, int64_t layer_id);

  /// Shapes: h_prev [B,T',C] (h^{k-1} truncated to T' = T-k), emb [B,T',C] (Emb(t_{i+k})),
  /// cos/sin [T', d_r/2] → h^k [B,T',C] (before the head's norm).
  torch::Tensor forward(const torch::Tensor& h_prev, const torch::Tensor& emb, const torch::Tensor& cos,
                        const torch::Tensor& sin);

  RMSNorm hnorm{nullptr}, enorm{nullptr}, norm{nullptr};
  torch::Tensor eh_proj;  ///< M_k [C, 2C]
  Block block{nullptr};
};
TORCH_MODULE(Mtp);

/// The (input, target) columns MTP depth k trains on: inputs[:, k:T] (embedded) and targets[:, k:T].
/// Shapes: inputs, targets [B,T] → 2 × [B, T-k]. Throws: Error(Internal) if k >= T.
std::pair<torch::Tensor, torch::Tensor> mtp_slices(const torch::Tensor& inputs, const torch::Tensor& targets,
                                                   int64_t k);

}  // namespace plexus::llm
