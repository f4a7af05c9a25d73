// D-PSGD — Lian et al. 2017, "Can Decentralized Algorithms Outperform Centralized Algorithms?",
// arXiv 1705.09056, Algorithm 1:
//   x_i^{t+1} = Σ_j w_ij x_j^t − η_t ∇F_i(x_i^t; ξ_i^t)
// i.e. the gradient is taken at the pre-gossip model and added after mixing ("combine then adapt"):
//   X^{t+1} = W X^t + (Y^t − X^t),  Y^t = one SGD step from X^t.
// Parts: StepRule (SGD, one step) + CombineFirstGossip + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDpsgd({
    .name = "dpsgd", .title = "D-PSGD", .source = "Lian et al. 2017, arXiv 1705.09056",
    .family = Family::Gossip,
    .build = [](Session& s) {
      return global_parts(s, step_rule(s, {.single_step = true}), std::make_unique<CombineFirstGossip>(s));
    }});

}  // namespace

}  // namespace plexus::fl
