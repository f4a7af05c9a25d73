// DFedAvgM — Sun, Li, Wang 2022, arXiv 2104.11375, Algorithm 1 (DFedAvg with local heavy-ball momentum):
//   v ← β v + ∇F_i(y; ξ);  y ← y − η_t v      for K local steps (v reset to 0 each round)
//   x_i^{t+1} = Σ_j w_ij y_j^{t,K}
// Parts: as dfedavg.cpp, with train.momentum = β > 0 required.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedavgm({
    .name = "dfedavgm", .title = "DFedAvgM", .source = "Sun et al. 2022, arXiv 2104.11375",
    .family = Family::Gossip,
    .check = require_momentum,
    .build = [](Session& s) { return global_parts(s, step_rule(s), std::make_unique<Gossip>(s)); }});

}  // namespace

}  // namespace plexus::fl
