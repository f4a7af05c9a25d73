// Fed-SMP — Hu, Guo, Gong 2022, "Federated Learning with Sparsified Model Perturbation", arXiv 2202.07178:
// DP-FedAvg whose client updates are sparsified before clipping and noising; the baselines of
// DP-FedSAM-top_k.
//   fed_smp_randk: Δ_i = rand_k(y_i − x^t) (k random coordinates, stream "dp_randk")
//   fed_smp_topk:  Δ_i = top_k(y_i − x^t)
//   then clip to C, add N(0, σ²C²/m) on the kept coordinates, average. Local rule: SGD.
#include "plexus/fl/algorithm.h"

namespace plexus::fl {

AlgorithmSpec fed_smp_randk_spec() {
  return {.name = "fed_smp_randk", .title = "Fed-SMP-rand_k", .source = "Hu et al. 2022, arXiv 2202.07178",
          .communication = Communication::Server, .dp = true, .sparsifier = Sparsifier::RandK};
}

AlgorithmSpec fed_smp_topk_spec() {
  return {.name = "fed_smp_topk", .title = "Fed-SMP-top_k", .source = "Hu et al. 2022, arXiv 2202.07178",
          .communication = Communication::Server, .dp = true, .sparsifier = Sparsifier::TopK};
}

}  // namespace plexus::fl
