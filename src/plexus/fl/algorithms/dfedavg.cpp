// DFedAvg — Sun, Li, Wang 2022, "Decentralized Federated Averaging", arXiv 2104.11375 (IEEE TPAMI), Alg. 1
// without momentum:
//   y_i^{t,0} = x_i^t;  y_i^{t,k+1} = y_i^{t,k} − η_t ∇F_i(y_i^{t,k}; ξ)  for k < K
//   x_i^{t+1} = Σ_j w_ij y_j^{t,K}                                    ("adapt then combine")
// Parts: StepRule (SGD, K steps) + Gossip (Q = fl.gossip_steps, 1 in the paper) + GlobalEvaluator.
#include "plexus/fl/compose.h"

namespace plexus::fl {

namespace {

const AlgorithmRegistrar kDfedavg({
    .name = "dfedavg", .title = "DFedAvg", .source = "Sun et al. 2022, arXiv 2104.11375",
    .family = Family::Gossip,
    .build = [](Session& s) { return global_parts(s, step_rule(s), std::make_unique<Gossip>(s)); }});

}  // namespace

}  // namespace plexus::fl
