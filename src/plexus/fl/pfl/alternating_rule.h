// Partial personalization: a client's row x_i = (u_i, v_i) of X [N,P] is split into the shared body u_i and the
// personal head v_i (ParamLayout tags), and the alternating local rule of DFedAlt, DFedSalt, DFedPGP and FedRep.
//
// Letters: B batch size; n_i client i's sample count; one epoch = ⌈n_i/B⌉ minibatch steps.
// Alternating round t (Source: arXiv 2305.15157 Alg. 1; reference trainer order: head first):
//   head plan: SGD on v only, K_v epochs, η_v = lr_head · lr_decay^t        (u frozen)
//   body plan: SGD (DFedSalt: SAM perturbing u only) on u only, K_u epochs, η_u = lr_body · lr_decay^t
// The momentum buffer restarts before each plan (the reference code builds one optimizer per step). Both plans
// draw minibatches from one stream ("batch", client, round). Computation heterogeneity: every step budget K of
// client i becomes max(1, ⌈s_i K⌉) (step_rule.h).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

#include "plexus/fl/parts.h"
#include "plexus/fl/pfl/pfl_config.h"

namespace plexus::fl {

/// The column sets of one run: body (shared-tagged), head (personal-tagged), and communicated columns
/// (the body when the head is personal, else every column).
struct PflColumns {
  std::vector<ColumnRange> body, head, communicated;
};

/// Column sets on `layout` (whose personal tags mark the head); `personal_head`: the head is never communicated.
/// Throws: Error(Config) if the head or the body is empty (e.g. a head prefix that covers the whole model).
PflColumns pfl_columns(const nn::ParamLayout& layout, bool personal_head);

/// The plans of one alternating round, in order (head, then body); zero-step plans are dropped.
/// n = the client's sample count, `scale` its step multiplier s_i, `body_sam`: SAM on the body step (DFedSalt).
std::vector<StepPlan> alternating_plans(const PersonalizationOptions& p, const LocalOptions& o, const PflColumns& cols,
                                        int64_t n, int64_t round, double scale, bool body_sam);

/// The alternating local rule (head then body).
class AlternatingRule : public LocalRule {
 public:
  AlternatingRule(Session& s, PflColumns cols, bool body_sam) : s_(s), cols_(std::move(cols)), body_sam_(body_sam) {}
  /// Returns the mean training loss (nats) of the last plan.
  double train(LocalTrainer& trainer, int64_t client, int64_t round, torch::Tensor x, torch::Tensor m) override;
  /// alternating_plans of the client (head, then body).
  std::optional<std::vector<StepPlan>> plans(int64_t client, int64_t round, const torch::Tensor& x) const override;

 private:
  Session& s_;
  PflColumns cols_;
  bool body_sam_;
};

}  // namespace plexus::fl
