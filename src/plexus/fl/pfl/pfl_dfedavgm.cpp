// DFedAvgM as a personalized-FL baseline — Sun, Li, Wang 2022, arXiv 2104.11375, Alg. 1, measured with the
// personalized metrics (PersonalizedEvaluator: each client's own model on its own test set, before and after
// training):
//   v ← β v + ∇F_i(y; ξ);  y ← y − η v   (K steps, whole model);  x_i ← Σ_j w_ij y_j (all columns)
// Same rule as fl/algorithms/dfedavgm.cpp (fl.algorithm = "dfedavgm", measured by the GlobalEvaluator).
// Parts: StepRule (SGD with momentum, every column) + GossipColumns (every column) +
// PersonalizedEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kPflDfedavgm({
    .name = "pfl_dfedavgm", .title = "DFedAvgM", .source = "Sun et al. 2022, arXiv 2104.11375",
    .family = Family::Personalized,
    .check = require_momentum,
    .build = [](Session& s) {
      auto cols = pfl_columns(s.layout, /*personal_head=*/false);
      return personalized_parts(s, step_rule(s), std::make_unique<GossipColumns>(s, cols.communicated));
    }});

}  // namespace

}  // namespace plexus::fl
