// FedAvg — McMahan et al. 2017, "Communication-Efficient Learning of Deep Networks from Decentralized Data",
// arXiv 1602.05629, Algorithm 1.
//   each round t: sample S_t (m = max(1, round(C·N)) clients, without replacement)
//     for i ∈ S_t: x_i ← x^t; K local SGD steps (momentum β, weight decay λ, lr η_t = η·decay^t)
//     x^{t+1} = Σ_{i∈S_t} (n_i / n_S) x_i                       (sample-size weights, as the reference code)
// Parts: StepRule (SGD) + ServerAverage + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kFedavg({
    .name = "fedavg", .title = "FedAvg", .source = "McMahan et al. 2017, arXiv 1602.05629",
    .family = Family::Server,
    .build = [](Session& s) { return global_parts(s, step_rule(s), std::make_unique<ServerAverage>(s)); }});

}  // namespace

}  // namespace plexus::fl
