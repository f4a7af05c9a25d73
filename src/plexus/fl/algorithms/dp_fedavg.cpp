// DP-FedAvg — McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private Recurrent Language
// Models", arXiv 1710.06963, Algorithm 1 (client-level DP), with noise added on the clients:
//   S_t sampled (fixed size m or Poisson q);  y_i = SGD^K(x^t) for i ∈ S_t
//   Δ_i = clip_C(y_i − x^t) + N(0, σ²C²/m · I);   x^{t+1} = x^t + (1/m) Σ Δ_i
// Parts: StepRule (SGD) + DpWrapper (no sparsifier) around ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDpFedavg({
    .name = "dp_fedavg", .title = "DP-FedAvg", .source = "McMahan et al. 2018, arXiv 1710.06963",
    .family = Family::Private,
    .build = [](Session& s) { return global_parts(s, step_rule(s), dp_server_average(s, Sparsifier::None)); }});

}  // namespace

}  // namespace plexus::fl
