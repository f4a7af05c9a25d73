// DFedAvg — Sun, Li, Wang 2022, "Decentralized Federated Averaging", arXiv 2104.11375 (IEEE TPAMI), Alg. 1
// without momentum:
//   y_i^{t,0} = x_i^t;  y_i^{t,k+1} = y_i^{t,k} − η_t ∇F_i(y_i^{t,k}; ξ)  for k < K
//   x_i^{t+1} = Σ_j w_ij y_j^{t,K}                                    ("adapt then combine")
// Parts: LocalTrainer SGD rule (K steps) + Gossip with Q = fl.gossip_steps (1 in the paper).
#include "plexus/fl/algorithm.h"

namespace plexus::fl {

AlgorithmSpec dfedavg_spec() {
  return {.name = "dfedavg", .title = "DFedAvg", .source = "Sun et al. 2022, arXiv 2104.11375",
          .communication = Communication::Gossip};
}

}  // namespace plexus::fl
