// FedSAM — FedAvg with SAM as the local optimizer (Qu et al. 2022, "Generalized Federated Learning via
// Sharpness Aware Minimization", arXiv 2206.02618; Caldarola et al. 2022, arXiv 2203.11834).
//   local step on minibatch ξ: g = ∇F_i(y; ξ); e = ρ g/||g||₂; y ← y − η ∇F_i(y + e; ξ)
//   (ASAM with train.adaptive = true: e = ρ T²g/||Tg||, T = |y|)
//   aggregation exactly as FedAvg. Differs from fedavg.cpp in the local rule only.
// Parts: StepRule (SAM/ASAM) + ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedsam({
    .name = "fedsam", .title = "FedSAM", .source = "Qu et al. 2022, arXiv 2206.02618",
    .family = Family::Server,
    .build = [](Session& s) {
      return global_parts(s, step_rule(s, {.sam = true}), std::make_unique<ServerAverage>(s));
    }});

}  // namespace

}  // namespace plexus::fl
