// DFedAvgM as a personalized-FL baseline — Sun, Li, Wang 2022, arXiv 2104.11375, Alg. 1, measured with the
// personalized metrics of run_pfl (each client's own model on its own test set, before and after training):
//   v ← β v + ∇F_i(y; ξ);  y ← y − η v   (K steps, whole model);  x_i ← Σ_j w_ij y_j (all columns)
// Same rule as fl/algorithms/dfedavgm.cpp (fl.algorithm = "dfedavgm", global-model runner).
#include "plexus/fl/pfl/pfl_spec.h"

namespace plexus::fl {

PflSpec pfl_dfedavgm_spec() {
  return {.name = "pfl_dfedavgm", .title = "DFedAvgM", .source = "Sun et al. 2022, arXiv 2104.11375",
          .comm = PflComm::Gossip, .training = PflTraining::Joint, .personal_head = false,
          .requires_momentum = true};
}

}  // namespace plexus::fl
