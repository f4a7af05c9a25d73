// DP-FedAvg — McMahan, Ramage, Talwar, Zhang 2018, "Learning Differentially Private Recurrent Language
// Models", arXiv 1710.06963, Algorithm 1 (client-level DP), with noise added on the clients:
//   S_t sampled (fixed size m or Poisson q);  y_i = SGD^K(x^t) for i ∈ S_t
//   Δ_i = clip_C(y_i − x^t) + N(0, σ²C²/m · I);   x^{t+1} = x^t + (1/m) Σ Δ_i
// Parts: LocalTrainer SGD rule + DpAggregator (no sparsifier) + RDP accountant (ε per round).
#include "plexus/fl/algorithm.h"

namespace plexus::fl {

AlgorithmSpec dp_fedavg_spec() {
  return {.name = "dp_fedavg", .title = "DP-FedAvg", .source = "McMahan et al. 2018, arXiv 1710.06963",
          .communication = Communication::Server, .dp = true};
}

}  // namespace plexus::fl
