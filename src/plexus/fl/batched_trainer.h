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
//
// On CUDA the step can run as a captured CUDA graph (BatchedStepGraphs, batched_graphs.h): one launch per
// step instead of ~20 kernel launches per layer. Nothing inside a round waits for the GPU: the host uploads
// each chunk's mini-batch indices from pinned memory without blocking, and the loss sums come back once per
// round (train_sums + mean_losses), the round's only metric transfer.
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <memory>
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

class BatchedStepGraphs;

/// `v` as an int64 tensor on `device`. On CUDA it is staged in pinned host memory and copied without blocking
/// the host (a pageable copy would wait for all queued GPU work: a host synchronisation).
torch::Tensor upload_indices(const std::vector<int64_t>& v, torch::Device device);

class BatchedTrainer {
 public:
  BatchedTrainer() = default;
  /// `max_clients`: clients per batched computation (memory bound; 0 = device default: 32 on CPU, 1024 on CUDA).
  /// `cuda_graphs`: run each local step as a replayed CUDA graph (needs a CUDA device and a CUDA build:
  /// cuda_graphs_enabled in batched_round.h decides; results equal the eager step up to fp rounding).
  /// Throws: Error(Config) if the model has no batched forward (nn::has_batched_forward), or if cuda_graphs is
  /// set without a CUDA device or on a CPU-only build.
  BatchedTrainer(const nn::ModelOptions& model, const nn::ParamLayout& layout, torch::Device device,
                 int64_t max_clients = 0, bool cuda_graphs = false);

  /// For every job, what LocalTrainer::train(X[row], M[row], data, *idx, o, plan, *rng) does with
  /// plan.steps = job.steps, all jobs at once. X, M [N,P] are updated in place on the jobs' rows (M is not
  /// read when o.momentum = 0). Returns each job's mean training loss (nats) over its steps (0 for 0 steps).
  /// Throws: Error(Infeasible) if a loss becomes non-finite (diverged: lower train.lr).
  std::vector<double> train(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                            const std::vector<ClientJob>& jobs, const LocalOptions& o, const StepPlan& plan);

  /// train() without waiting for the GPU: returns each job's sum of step losses as a float32 tensor [jobs] on
  /// the device (queued work); mean_losses turns it into train()'s result.
  torch::Tensor train_sums(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                           const std::vector<ClientJob>& jobs, const LocalOptions& o, const StepPlan& plan);

  /// Mean loss per job from train_sums' result: sums[i] / steps[i] (0 for a job with no steps or no data).
  /// Throws: Error(Infeasible) if a sum is not finite (diverged: lower train.lr or set train.grad_clip).
  static std::vector<double> mean_losses(const torch::Tensor& sums, const std::vector<ClientJob>& jobs);

  /// Loss and per-row gradient of Σ_i mean-loss_i at rows W [n,P] on padded batches: x [B,n,C,H,W], y [n,B]
  /// int64, mask [n,B] float (1 = real sample). Returns (per-client mean losses [n], G [n,P]).
  std::pair<torch::Tensor, torch::Tensor> loss_and_grad(const torch::Tensor& W, const torch::Tensor& x,
                                                        const torch::Tensor& y, const torch::Tensor& mask) const;

  /// Accuracy and loss of every row of W [n,P] on its own example set idx[i] of `data`, batched over clients
  /// (chunks of max_clients models, padded to the chunk's largest set). Shapes: W [n,P], idx n lists.
  std::vector<EvalStats> evaluate(const torch::Tensor& W, const data::Dataset& data,
                                  const std::vector<const std::vector<int64_t>*>& idx) const;

  int64_t max_clients() const { return max_clients_; }

  /// Whether local steps run as CUDA graphs.
  bool cuda_graphs() const { return graphs_ != nullptr; }
  /// Graph captures and replays so far (0, 0 without graphs): for tests and logs.
  std::pair<int64_t, int64_t> graph_counts() const;

 private:
  // The tensors one local step reads and writes: state Wb, Mb [n,P] and loss_sum [n] (updated in place), and
  // the step's inputs idx [B·n] (sample-major dataset indices), mask [n,B] float, active [n,1] bool.
  struct StepTensors {
    torch::Tensor Wb, Mb, loss_sum, idx, mask, active, lr;  // lr: [1] float32, η of the plan
  };
  // One local step on `t` (the body a CUDA graph captures): gather, loss and gradient, SAM, clip, weight
  // decay, momentum, update. `every`: all clients active (unmasked update).
  void step(const StepTensors& t, const data::Dataset& data, const std::vector<int64_t>& xs, const LocalOptions& o,
            const StepPlan& plan, bool every) const;
  torch::Tensor train_chunk(torch::Tensor X, torch::Tensor M, const data::Dataset& data,
                            const std::vector<ClientJob>& jobs, const LocalOptions& o, const StepPlan& plan);
  std::shared_ptr<BatchedStepGraphs> graphs_;  // null: eager steps
  nn::BatchedForward forward_;
  nn::ParamLayout layout_;
  torch::Device device_ = torch::kCPU;
  int64_t max_clients_ = 32;
  int64_t eval_samples_ = 2048;  // samples (over all models) per evaluation forward
};

}  // namespace plexus::fl
