// Batched clients: the local steps of many clients as one computation over their stacked rows (issue 10).
//
// Letters: n clients in the batch, P parameters, B batch size, K_i client i's step count.
// The same update rules as LocalTrainer (local_trainer.h: SGD + momentum + weight decay, SAM, ASAM, gradient
// clipping, column ranges for head/body splits), written as row operations on Wb [n,P]:
//   G = ∂/∂Wb Σ_i L_i(w_i; ξ_i)        one batched forward/backward (nn::BatchedForward); row i = ∇L_i
//   SAM:  s_i = ρ / ||T_i g_i||,  E = s ⊙ T² G  (T = |Wb| for ASAM, 1 for SAM; on the perturbed columns)
//   clip: G_i ← G_i · min(1, c / ||G_i||)  (per row, over the updated columns)
//   SGD:  G += λ Wb;  M ← β M + G;  Wb ← Wb − η M  (updated columns only)
// Clients with fewer steps or a short last batch are handled by masks: a padded sample has weight 0 in its
// client's mean loss, and a client past its K_i steps has its row (and momentum) left untouched.
// Each client draws its mini-batches from its own Rng stream exactly as the sequential engine does, so the
// batches — and the results, up to floating-point summation order — do not depend on batching.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "plexus/core/rng.h"
#include "plexus/data/dataset.h"
#include "plexus/fl/local_trainer.h"
#include "plexus/nn/functional_models.h"

namespace plexus::fl {

/// One client's share of a batched training call.
struct ClientJob {
  int64_t row = 0;                         ///< row of X (and M) holding the client's model
  const std::vector<int64_t>* idx = nullptr;  ///< the client's training indices into the dataset
  int64_t steps = 0;                       ///< K_i local steps (0 = the row stays as it is)
  Rng* rng = nullptr;                      ///< the client's batch stream (advanced as LocalTrainer::train does)
};

class BatchedTrainer {
 public:
  BatchedTrainer() = default;
  /// `max_clients`: clients per batched computation (memory bound; 0 = device default: 32 on CPU, 1024 on CUDA).
  /// Throws: Error(Config) if the model has no batched forward (nn::has_batched_forward).
  BatchedTrainer(const nn::ModelOptions& model, const nn::ParamLayout& layout, torch::Device device,
                 int64_t max_clients = 0);

  /// For every job, what LocalTrainer::train(X[row], M[row], data, *idx, o, plan, *rng) does with
  /// plan.steps = job.steps, all jobs at once. X, M [N,P] are updated in place on the jobs' rows (M is not
  /// read when o.momentum = 0). Returns each job's mean training loss (nats) over its steps (0 for 0 steps).
  /// Throws: Error(Infeasible) if a loss becomes non-finite (diverged: lower train.lr).
  std::vector<double> train(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                            const std::vector<ClientJob>& jobs, const LocalOptions& o, const StepPlan& plan);

  /// Loss and per-row gradient of Σ_i mean-loss_i at rows W [n,P] on padded batches: x [B,n,C,H,W], y [n,B]
  /// int64, mask [n,B] float (1 = real sample). Returns (per-client mean losses [n], G [n,P]).
  std::pair<torch::Tensor, torch::Tensor> loss_and_grad(const torch::Tensor& W, const torch::Tensor& x,
                                                        const torch::Tensor& y, const torch::Tensor& mask) const;

  /// Accuracy and loss of every row of W [n,P] on its own example set idx[i] of `data`, batched over clients
  /// (chunks of max_clients models, padded to the chunk's largest set). Shapes: W [n,P], idx n lists.
  std::vector<EvalStats> evaluate(const torch::Tensor& W, const data::Dataset& data,
                                  const std::vector<const std::vector<int64_t>*>& idx) const;

  int64_t max_clients() const { return max_clients_; }

 private:
  std::vector<double> train_chunk(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                                  const std::vector<ClientJob>& jobs, const LocalOptions& o, const StepPlan& plan);
  nn::BatchedForward forward_;
  nn::ParamLayout layout_;
  torch::Device device_ = torch::kCPU;
  int64_t max_clients_ = 32;
  int64_t eval_samples_ = 2048;  // samples (over all models) per evaluation forward
};

}  // namespace plexus::fl
