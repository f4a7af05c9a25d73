// DeepSeekMoE with auxiliary-loss-free load balancing (V3 report §2.1.2 eq.12-20; model.py Gate / MoE).
//
// Gate (per token u, E routed experts with centroids e_i):
//   s_i = sigmoid(u·e_i)  (V3)  or softmax_i(u·e_i)  (V2)
//   selection uses s_i + b_i: with G groups, a group scores the sum of its top-2 biased affinities (V3;
//   max for softmax), only the top n_limited_groups groups stay; then top-K experts.
//   g_i = s_i / Σ_{j∈TopK} s_j  (sigmoid only)  · route_scale      — the bias b never enters g.
// MoE: y = Σ_shared FFN(u) + Σ_{i∈TopK} g_i FFN_i(u). Tokens are dispatched in batches: the N·K
// (token, expert) pairs are sorted by expert, each expert runs once on its gathered rows, and results are
// scattered back with index_add. No token is dropped.
// Balancing: after each optimizer step b_i ← b_i + γ·sign(mean_load − load_i) (eq.16 text), and the
// complementary sequence-wise loss L_Bal = α Σ_i f_i P_i with f_i = E/(K·T)·Σ_t 1[i∈TopK_t] and
// P_i = (1/T) Σ_t s_i,t / Σ_j s_j,t (eq.17-20). TopK in f_i is the routed set (with bias): the set whose
// load the loss is meant to balance (the paper's eq.18 writes the unbiased s; a documented choice).
#pragma once

#include <torch/torch.h>

#include "plexus/llm/config.h"
#include "plexus/llm/layers.h"
#include "plexus/llm/packed.h"

namespace plexus::llm {

/// A routed expert: the same SwiGLU as the dense FFN, of width moe_inter_dim (model.py Expert).
using Expert = Mlp;

/// Routing decision for N tokens.
struct Routing {
  torch::Tensor weights;  ///< g [N,K] f32 (unbiased affinities, normalised, × route_scale)
  torch::Tensor indices;  ///< [N,K] int64 expert ids
  torch::Tensor scores;   ///< s [N,E] f32 affinities before bias (for the sequence-wise loss)
};

class GateImpl : public torch::nn::Module {
 public:
  explicit GateImpl(const ModelArgs& a);
  /// Route tokens. Shapes: x [N,C] → Routing. Source: model.py Gate.forward; V3 eq.13-16.
  Routing forward(const torch::Tensor& x);
  torch::Tensor weight;  ///< expert centroids [E,C] (trained)
  torch::Tensor bias;    ///< b [E] f32 buffer: selection only, no gradient, updated by Transformer::end_step_balance

 private:
  ModelArgs a_;
};
TORCH_MODULE(Gate);

/// How MoeImpl::forward runs the routed experts: Auto = Grouped on CUDA where the grouped GEMM kernel exists
/// (bf16, LibTorch ≥ 2.8; no host sync, grouped_dispatch.h), PerExpert otherwise (one GEMM per expert, row
/// counts read on the host). Both give the same result up to the kernels' float summation order.
enum class MoeDispatch { Auto, PerExpert, Grouped };

class MoeImpl : public torch::nn::Module {
 public:
  explicit MoeImpl(const ModelArgs& a);

  /// Shapes: x [B,T,C] → [B,T,C]. In training mode it also records this step's expert load and the
  /// sequence-wise balance loss (read with balance_loss / take_load).
  torch::Tensor forward(const torch::Tensor& x);

  /// forward(x) given x_mm, x in matmul_dtype() (the same values rounded, e.g. from one RMSNorm that writes
  /// both): the gate scores x, the experts and the shared expert multiply x_mm. Shapes: x, x_mm [B,T,C] → [B,T,C].
  torch::Tensor forward_normed(const torch::Tensor& x, const torch::Tensor& x_mm);

  /// The same function without reading expert counts on the host (no device sync): every routed expert
  /// runs on every token and its output is weighted by the gate weight (0 for experts not selected), so the
  /// result equals forward() (tested). Costs E/K times the routed FLOPs: used for the few tokens of a decode
  /// step on CUDA, where the host round trip of the sparse dispatch dominates. No load/balance bookkeeping.
  /// Shapes: x [B,T,C] → [B,T,C].
  torch::Tensor forward_dense(const torch::Tensor& x);

  /// α·Σ f_i P_i of the last training forward, averaged over its sequences (0 if α = 0 or in eval mode).
  torch::Tensor balance_loss() const { return balance_loss_; }

  /// Tokens routed to each expert since the last call (summed over forwards in training mode), then reset.
  /// Shapes: → [E] f64 on the device the model ran on (CPU before any forward).
  torch::Tensor take_load();

  Gate gate{nullptr};
  torch::nn::ModuleList experts;
  Mlp shared{nullptr};
  MoeDispatch dispatch = MoeDispatch::Auto;  ///< tests force Grouped on the CPU (loop fallback of grouped_mm)

  /// Keep all routed experts' weights side by side ([W1; W3] of expert 0, of expert 1, …; then every W2), so the
  /// grouped GEMMs read them without a per-step stack (packed.h). Each expert's own pair stays consecutive.
  void pack();

  /// The packed expert weights as the f32 tensors the grouped GEMMs read (no autograd): [W1; W3] [E,2I,C] and
  /// W2 [E,C,I], views of the parameters' storage; empty when they are not packed. For ShadowWeights (shadow.h).
  std::vector<torch::Tensor> expert_masters() const;

 private:
  bool use_grouped(const torch::Tensor& x) const;
  /// Σ_k g_{t,k} FFN_{e(t,k)}(u_t) for every token. Shapes: flat [N, C] in the matmul dtype, weights [N, K]
  /// (gate weights), order [N·K] (pairs sorted by expert), sorted_expert [N·K], counts [E], out_dtype → [N, C].
  /// Per expert: gather, one GEMM per expert (host-read counts), index_add back (the CPU path).
  torch::Tensor routed_per_expert(const torch::Tensor& flat, const torch::Tensor& weights,
                                  const torch::Tensor& order, const torch::Tensor& counts, torch::Dtype out_dtype);
  /// Grouped: the expert-sorted buffer and grouped GEMMs, gathers both ways (grouped_dispatch.h).
  torch::Tensor routed_grouped(const torch::Tensor& flat, const torch::Tensor& weights,
                               const torch::Tensor& sorted_expert, const torch::Tensor& order,
                               const torch::Tensor& counts, torch::Dtype out_dtype);
  /// The routed experts' weights stacked and cast: [W1; W3] [E,2I,C], W2 [E,C,I] (autograd flows to each expert).
  std::pair<torch::Tensor, torch::Tensor> stacked_expert_weights(torch::Dtype dt) const;
  ModelArgs a_;
  PackedParams w13_, w2_;  // every expert's (w1, w3) pair in expert order, and every w2
  torch::Tensor balance_loss_;
  torch::Tensor load_;  // [E] f64 accumulator, on the device of the last forward
};
TORCH_MODULE(Moe);

/// The bias change γ·sign(mean(load) − load) of each layer. Shapes: load [E] or [layers, E] (mean over the
/// last dim) → same shape, f64, on load's device.
/// Source: V3 report §2.1.2.
torch::Tensor bias_update_step(const torch::Tensor& load, double gamma);

/// Sequence-wise balance loss α Σ_i f_i P_i averaged over the B sequences (V3 eq.17-20).
/// Shapes: scores [B,T,E] (unbiased affinities), indices [B,T,K] → scalar f32.
torch::Tensor sequence_balance_loss(const torch::Tensor& scores, const torch::Tensor& indices, int64_t n_experts,
                                    double alpha);

}  // namespace plexus::llm
