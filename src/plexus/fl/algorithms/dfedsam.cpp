// DFedSAM — Shi et al. 2023, "Improving the Model Consistency of Decentralized Federated Learning",
// ICML 2023, arXiv 2302.04083, Algorithm 1:
//   y = x_i^t; for k < K:  g = ∇F_i(y; ξ);  e = ρ g/||g||₂;  y ← y − η_t ∇F_i(y + e; ξ)   (same ξ twice)
//   x_i^{t+1} = Σ_{j∈N(i)∪{i}} w_ij y_j                          (W symmetric doubly stochastic)
// Parts: StepRule (SAM) + Gossip with Q = 1 + GlobalEvaluator.
// optimizer; train.momentum and train.weight_decay default to 0 accordingly.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedsam({
    .name = "dfedsam", .title = "DFedSAM", .source = "Shi et al. 2023, ICML, arXiv 2302.04083",
    .family = Family::Gossip,
    .build = [](Session& s) { return global_parts(s, step_rule(s, {.sam = true}), std::make_unique<Gossip>(s)); }});

}  // namespace

}  // namespace plexus::fl
