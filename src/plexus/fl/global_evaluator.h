// The evaluator of server and gossip FL, run after communication in evaluated rounds:
//   local accuracy: each client's model x_i on its own local test set → mean and std over clients
//   global accuracy and loss: the average model x̄ = (1/N) Σ_i x_i on the whole test set
// When every row is the same model (server FL after aggregation) that model is evaluated once, per example,
// and each client's local accuracy is gathered from those results by index (batched_eval.h); otherwise the
// rows are evaluated on their own test sets (batched when the session has the batched engine) and x̄ once.
//   consensus distance (1/N) Σ_i ||x_i − x̄||² (DFedSAM's consistency measure), every round
// Columns: local_acc_mean, local_acc_std, global_acc, global_loss, consensus_distance.
// Summary: final_local_acc_mean, final_local_acc_std, final_global_acc, final_consensus_distance,
// best_local_acc_mean, best_round.
#pragma once

#include <cmath>

#include "plexus/fl/parts.h"

namespace plexus::fl {

class GlobalEvaluator : public Evaluator {
 public:
  explicit GlobalEvaluator(Session& s) : s_(s) {}
  void after_communication(int64_t round, bool evaluate) override;
  void columns(Row& row) const override;
  void summary(Row& sum, const Rows& rows) const override;
  std::string progress(bool evaluated) const override;

 private:
  Session& s_;
  double local_mean_ = NAN, local_std_ = NAN, global_acc_ = NAN, global_loss_ = NAN, consensus_ = NAN;
};

}  // namespace plexus::fl
