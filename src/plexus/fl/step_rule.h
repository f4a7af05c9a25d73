// The step rule: K local minibatch steps of SGD (momentum β, weight decay λ) or SAM/ASAM on some columns of a
// client's row, from stream ("batch", client, round), at η_t = train.lr · train.lr_decay^t (LocalTrainer for
// the update equations). The local rule of FedAvg, FedSAM, DFedAvg(M), DFedSAM(-MGS), the DP algorithms, and
// of the whole-model (Local, FedPer, FedAvg-FT, DFedAvgM, Ditto's global model) and body-only (FedBABU)
// personalized algorithms; with `single_step`, exactly one step per round (D-PSGD).
//   K = train.local_steps, or train.local_epochs · ⌈n_i/B⌉; computation heterogeneity runs max(1, ⌈s_i K⌉)
//   with s_i ~ U[f, 1], f = personalization.steps_min_fraction (f = 1: every client runs K).
// The momentum buffer restarts at every round. FedProx and SCAFFOLD derive from it and add a gradient
// correction (StepPlan::correct).
#pragma once

#include <vector>

#include "plexus/fl/parts.h"
#include "plexus/fl/pfl/pfl_config.h"

namespace plexus::fl {

/// Train `client`'s row `x` [P] with `plans` in order — momentum row `m` [P] zeroed before each plan, minibatches
/// from stream ("batch", client, round) — on `trainer`. Returns the mean training loss (nats) of the last plan
/// (0 without plans). The sequential form of LocalRule::plans. Throws: Error(Infeasible) if training diverges.
double train_plans(const Session& s, LocalTrainer& trainer, int64_t client, int64_t round,
                   const std::vector<StepPlan>& plans, torch::Tensor x, torch::Tensor m);

class StepRule : public LocalRule {
 public:
  struct Options {
    bool sam = false;                  ///< SAM/ASAM (train.rho, train.adaptive) instead of SGD
    bool single_step = false;          ///< exactly one step per round (D-PSGD)
    std::vector<ColumnRange> update;   ///< columns trained (empty = every column)
  };
  StepRule(Session& s, Options o) : s_(s), o_(std::move(o)) {}

  double train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) override;
  /// One plan; nullopt when plan() carries a gradient correction (FedProx, SCAFFOLD).
  std::optional<std::vector<StepPlan>> plans(int64_t client, int64_t round, const torch::Tensor& x) const override;

 protected:
  /// The plan of `client` in `round` starting from its row `x` (steps, η_t, columns, SAM); subclasses add a
  /// gradient correction (FedProx, SCAFFOLD).
  virtual StepPlan plan(int64_t client, int64_t round, const torch::Tensor& x) const;
  /// The step count K_i of `client` (0 for a client without data).
  int64_t steps(int64_t client) const;

  Session& s_;
  Options o_;
};

/// Client `client`'s step multiplier s_i ∈ [f, 1] (f = steps_min_fraction; exactly 1 when f = 1).
/// Deterministic in (seed, client): stream "compute_heterogeneity".
double step_scale(const PersonalizationOptions& p, uint64_t seed, int64_t client);

/// max(1, ⌈scale · steps⌉) for steps > 0; 0 stays 0.
int64_t scaled_steps(int64_t steps, double scale);

}  // namespace plexus::fl
