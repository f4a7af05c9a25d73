// Evaluation that costs what it should (issue 10): each distinct model passes over each test example once.
//
// Letters: N clients, P parameters, n_test test examples, m_i = |local test set of client i| (indices into the
// test set, possibly overlapping across clients).
//   One model for everyone (server FL after aggregation: every row of X is the global model, and x̄ equals it):
//     one pass over the n_test examples records per-example correctness c_j and loss ℓ_j; client i's local
//     statistics are Σ_{j∈T_i} c_j, Σ_{j∈T_i} ℓ_j (a gather by index) and the global ones Σ_j c_j, Σ_j ℓ_j.
//     Cost n_test forwards instead of Σ_i m_i + n_test (100 clients × 100: 20,000 → 10,000).
//   Different models (gossip, personalized): all clients' models in one batched pass over their own local
//     test sets (BatchedTrainer::evaluate: grouped convolutions / bmm over the stacked rows), instead of N
//     small passes of batch m_i.
// The per-example pass splits the test set over the worker threads (each one model instance, one intra-op
// thread), or runs it as one batch stream when the process uses intra-op threads (batched mode).
#pragma once

#include <torch/torch.h>

#include <vector>

#include "plexus/data/dataset.h"
#include "plexus/fl/batched_trainer.h"
#include "plexus/fl/local_trainer.h"

namespace plexus::fl {

/// Per-example results of one model on every example of a dataset.
struct PerExample {
  torch::Tensor correct;  ///< [n] int64 (0/1), on the CPU
  torch::Tensor loss;     ///< [n] float64 cross-entropy (nats), on the CPU
  /// Statistics of the examples `idx` (repeats counted as often as they occur).
  EvalStats of(const std::vector<int64_t>& idx) const;
  /// Statistics of all examples.
  EvalStats all() const;
};

/// Examples per evaluation batch: batches start at multiples of it whatever the thread or rank count.
constexpr int64_t kEvalBatch = 1000;

/// Batches of `batch` examples in a dataset of n examples: ⌈n / batch⌉.
inline int64_t eval_batches(int64_t n, int64_t batch = kEvalBatch) { return (n + batch - 1) / batch; }

/// Correctness and loss of model row `x` [P] on every example of `data`, in batches of `batch`, the batches
/// spread over `workers` threads, each evaluated by `trainers[w]`. Only batches [first_batch, end_batch)
/// are evaluated when given (end_batch < 0: to the last); the other examples' entries stay 0 (a rank's share
/// of the test set, eval_ranks.h).
PerExample evaluate_per_example(const torch::Tensor& x, const data::Dataset& data, std::vector<LocalTrainer>& trainers,
                                int64_t workers, int64_t batch = kEvalBatch, int64_t first_batch = 0,
                                int64_t end_batch = -1);

/// Statistics of model row `x` [P] on all of `data` (split over workers as evaluate_per_example).
EvalStats evaluate_model(const torch::Tensor& x, const data::Dataset& data, std::vector<LocalTrainer>& trainers,
                         int64_t workers);

/// Local-test statistics of every client: row i of `X` [N,P] on `sets[i]` (indices into `data`).
/// `batched` (may be null): evaluate all rows in one batched pass; else one sequential pass per client,
/// clients spread over the workers. Shapes: X [N,P], sets N lists → N stats.
std::vector<EvalStats> evaluate_rows(const torch::Tensor& X, const data::Dataset& data,
                                     const std::vector<std::vector<int64_t>>& sets, std::vector<LocalTrainer>& trainers,
                                     int64_t workers, const BatchedTrainer* batched);

}  // namespace plexus::fl
