// Evaluation spread over the ranks of a multi-process FL run (docs/distributed.md "Evaluation across ranks").
//
// Rank k measures the clients of its block [begin(k), end(k)) (rank_blocks.h), whose rows it holds fresh (it
// trained them; the communicator left its own rows exact), and the k-th block of the test set's evaluation
// batches: with B = ⌈n_test/1000⌉ batches (fixed starts, batched_eval.h) rank k takes [⌊kB/R⌋, ⌊(k+1)B/R⌋).
// Only results travel, to rank 0:
//   per client   (correct, count, loss sum): 3 f64 per client (integers below 2^53 are exact in f64)
//   per example  (correct, loss):            2 f64 per test example
// Rank 0 then combines them exactly as one process does: the same per-client numbers in client order, and
// the same per-example losses summed by the same call over the whole vector, so the metrics are
// bit-identical. Float sums are never reduced across ranks (partial sums added over ranks would change the
// order of additions and the last bits).
// With no process group (one process) every method is the single-process computation, unchanged.
// Letters: N clients, P parameters, R ranks, k this rank, n the examples of a dataset.
#pragma once

#include <torch/torch.h>

#include <functional>
#include <vector>

#include "plexus/fl/batched_eval.h"
#include "plexus/fl/rank_blocks.h"

namespace plexus::dist {
class Group;
}

namespace plexus::fl {

class EvalRanks {
 public:
  /// One process: every client and example is evaluated here.
  EvalRanks() = default;
  /// Rank group.rank() of `blocks.ranks` ranks.
  EvalRanks(dist::Group& group, const RankBlocks& blocks);

  /// Rank 0 (or the only process): receives every result and computes the metrics.
  bool lead() const;
  /// This rank's clients [begin(n), end(n)) of n = N (every client in one process).
  int64_t begin(int64_t n) const;
  int64_t end(int64_t n) const;

  /// Statistics of every client: `eval(w, i)` is called on worker w for each client i of this rank (spread
  /// over `workers` threads); the results are gathered on rank 0. Returns N stats on rank 0; on other ranks
  /// only this rank's entries are filled. Throws: Error(Io) if a rank died or timed out.
  std::vector<EvalStats> clients(int64_t n, int64_t workers,
                                 const std::function<EvalStats(int64_t w, int64_t i)>& eval) const;
  /// Local-test statistics of every client as evaluate_rows (row i of X [N,P] on sets[i]), this rank's
  /// clients evaluated here (in one batched pass when `batched`), gathered on rank 0 (N stats there).
  std::vector<EvalStats> rows(const torch::Tensor& X, const data::Dataset& data,
                              const std::vector<std::vector<int64_t>>& sets, std::vector<LocalTrainer>& trainers,
                              int64_t workers, const BatchedTrainer* batched) const;
  /// Per-example results of model row `x` [P] on `data`: this rank evaluates its block of batches; rank 0
  /// receives the others' (n results there; elsewhere only this rank's examples are filled).
  PerExample per_example(const torch::Tensor& x, const data::Dataset& data, std::vector<LocalTrainer>& trainers,
                         int64_t workers) const;
  /// `value` as rank 0 has it, on every rank (a decision only rank 0 can take, e.g. "every row is the same").
  bool from_lead(bool value) const;
  /// Row `x` [P] as rank 0 has it, on every rank (e.g. the average model x̄, computed on rank 0).
  torch::Tensor from_lead(const torch::Tensor& x) const;

 private:
  dist::Group* group_ = nullptr;
  RankBlocks blocks_;
};

}  // namespace plexus::fl
